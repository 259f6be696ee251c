"""flux-bump's signature gate (issue 23): what VERIFY_KEYS (and VERIFY_ATTESTATION) add to a bump.

Images pushed to the test bed's registry, each signed and attested by cosign 2.5.0.  What the
gate adds is measured where it runs, before the clone: the registry check of 1 and of 10 images
as a run makes it (a new registry client, each tag looked up, then ``signatures.require`` on its
digest; the registry check's own module is left out, so its login code may change), without
the gate, with ``VERIFY_KEYS``, and with ``VERIFY_ATTESTATION`` too, in an order that
alternates, many times; the cost per image is the difference of the medians divided by the
number of images.  Whole pipe runs on this shared 2-core machine vary by more than a second from
one run to the next, which would hide a difference of this size.  The one-off cost of loading
the gate's module and ``cryptography`` (once per run, not per image) is measured apart, in fresh
interpreters that loaded the registry check's other modules first.
The goal: at most 0.3 s per image.  Results go into docs/BENCHMARKS.md under
``## Signed images in flux-bump``.

    ./dev bench flux_bump_signed [--runs 30] [--no-write]
"""
from __future__ import annotations

import argparse
import contextlib
import io
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from flux_bump import signatures
from pipes_common.registry import RegistryClient
from testbed import oci
from testbed.registry import LocalRegistry
from testbed.signed_images import Signer, key_pair

from bench import report

HEADING = "## Signed images in flux-bump"
USER, PASSWORD = "bench-push", "bench-push-password"
MODES = ("no gate", "VERIFY_KEYS", "VERIFY_KEYS + VERIFY_ATTESTATION")
GOAL = 0.3
IMPORTS = 10  # fresh interpreters per import measurement


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--no-write", action="store_true", help="print, do not update BENCHMARKS.md")
    args = parser.parse_args()
    load = report.load_average()
    work = Path(tempfile.mkdtemp(prefix="bench-signed-"))
    seconds: dict[tuple[int, str], list[float]] = {}
    try:
        with LocalRegistry("bench-token", USER, PASSWORD, workdir=work) as registry:
            signer = Signer(registry.host, USER, PASSWORD, work / "cosign")
            keys = key_pair(work / "keys")
            names = [f"acme/app-{n:02d}" for n in range(10)]
            for name in names:
                image = oci.push_image(signer.session(), signer.base, name, "1.0.0")
                signer.sign(keys, name, image.digest)
                signer.attest(keys, name, image.digest)
            gates = {MODES[0]: None,
                     MODES[1]: signatures.Gate(signatures.load_keys(keys.pem)),
                     MODES[2]: signatures.Gate(signatures.load_keys(keys.pem), attestation=True)}
            for run in range(args.runs):
                for count in (1, 10):
                    for mode in MODES if run % 2 == 0 else tuple(reversed(MODES)):
                        started = time.perf_counter()
                        with contextlib.redirect_stdout(io.StringIO()):
                            _check(registry.host, names[:count], gates[mode])
                        seconds.setdefault((count, mode), []).append(time.perf_counter() - started)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    loading = _import_cost()
    med = {key: statistics.median(values) for key, values in seconds.items()}
    rows, worst = [], 0.0
    for count in (1, 10):
        for mode in MODES:
            added = (med[(count, mode)] - med[(count, MODES[0])]) / count
            if mode != MODES[0]:
                worst = max(worst, added)
            rows.append(f"| {count} | {mode} | {med[(count, mode)] * 1000:.1f} ms | "
                        + ("–" if mode == MODES[0] else f"{added * 1000:+.1f} ms") + " |")
    verdict = "met" if worst + loading <= GOAL else "NOT met"
    text = (f"{HEADING}\n\n"
            f"Command: `{report.command_line('flux_bump_signed', ['--runs', str(args.runs)])}` "
            f"({report.now_utc()}; {platform.machine()}, {report.Machine.here().describe()}, "
            f"load average {load} at the start; the test bed's registry on loopback, htpasswd "
            "auth; each image signed and attested by cosign 2.5.0: one signature layer, one "
            "attestation layer).\n\n"
            "The registry check of a run (a new registry client, each tag looked up, then the "
            "gate, `signatures.require`, on its digest), "
            f"medians of {args.runs} paired calls in alternating order:\n\n"
            "| images | gate | registry check (median) | added per image |\n|---|---|---|---|\n"
            + "\n".join(rows) + "\n\n"
            f"Loading the gate (its module and `cryptography`), once per run: {loading * 1000:.0f} ms "
            f"(median of {IMPORTS} fresh interpreters).\n\n"
            f"Goal: the gate adds at most {GOAL} s per image to a bump: {verdict} (worst "
            f"{worst * 1000:.1f} ms per image, {(worst + loading) * 1000:.0f} ms for a one-image "
            "bump with the one-off loading). Per image the gate reads the `.sig` manifest, each "
            "signature blob and the referrers (404 on this registry), and with "
            "`VERIFY_ATTESTATION` the `.att` manifest and its blobs, on the registry client "
            "already open for the tag check.\n")
    print(text)
    if not args.no_write:
        report.write_heading_section(text)
    return 0


def _check(host: str, names: list[str], gate: signatures.Gate | None) -> None:
    """What a run's registry check does for ``names`` (a new client, as each run has; each tag
    looked up), and the gate on each digest when there is one."""
    client = RegistryClient(host, USER, PASSWORD)
    for name in names:
        found = client.head_manifest(name, "1.0.0")
        assert found is not None
        if gate is not None:
            signatures.require(client, name, f"{host}/{name}", found.digest, gate)


def _import_cost() -> float:
    """Median seconds a fresh interpreter that already loaded the registry check's other modules
    takes to import the gate's module (and with it ``cryptography``)."""
    code = ("import time, pipes_common.registry, pipes_common.docr, pipes_common.cosign\n"
            "started = time.perf_counter()\nimport flux_bump.signatures\n"
            "print(time.perf_counter() - started)")
    runs = [float(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                                 text=True).stdout) for _ in range(IMPORTS)]
    return statistics.median(runs)


if __name__ == "__main__":
    raise SystemExit(main())
