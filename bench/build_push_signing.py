"""build-push signing benchmark: what SIGNING_KEY adds to a push.

The work signing adds to a run, measured on the test bed's registry (CNCF distribution with
htpasswd auth, on loopback; no Docker engine is involved, so it is the same on both engine lanes):

(s1) importing the signing modules (cryptography, PyNaCl): a Python process importing
     ``build_push.settings`` (which imports them) against one importing everything else it
     imports, paired, order alternating (every run pays it, with SIGNING_KEY or not);
(s2) loading the key: a ``cosign generate-key-pair`` key with a password (scrypt N=65536, r=8,
     p=1, then the secretbox), the slowest form the pipe reads; (s2p) a plain PKCS#8 PEM, the
     fastest;
(s3) signing a pushed single image: the manifest read, the signature layer's blob, config and
     manifest written and read back (``signatures.targets`` + ``signatures.sign_each``, as the
     pipe does), with a new
     registry client (its first request authenticates, as the pipe's does not need to again);
(s4) the same for a two-platform index (index and both platforms: three signatures, written at
     the same time).

Each is the median of ``--runs`` runs (default 10), every run on a newly pushed image.  Goal:
s1 + s2 + s3 ≤ 0.5 s (the single image), and s1 + s2 + s4 ≤ 0.5 s; the same with s2p.  The SBOM (syft reading the
image) is not in the goal: it costs what reading the image's layers costs.

Usage (from the repository root):  ./dev bench build_push_signing [--runs N] [--no-write]
"""
from __future__ import annotations

import argparse
import platform
import secrets as pysecrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from build_push import signatures, signkey
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pipes_common.registry import RegistryClient
from testbed import cosign, oci
from testbed.registry import LocalRegistry

from bench import report

HEADING = "## build-push signing"
GOAL = 0.5
WITH = "build_push.settings"  # imports build_push.signkey: cryptography and PyNaCl
WITHOUT = ("build_push.buildkit, build_push.buildsecrets, build_push.inputs, build_push.sshkeys, "
           "build_push.tags")  # what build_push.settings imports besides


def _import_seconds(module: str) -> float:
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", f"import {module}"], check=True)
    return time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--no-write", action="store_true", help="print, do not update BENCHMARKS.md")
    args = parser.parse_args()
    runs: dict[str, list[float]] = {"s1": [], "s2": [], "s2p": [], "s3": [], "s4": []}
    with tempfile.TemporaryDirectory(prefix="bench-signing-") as tmp:
        password = pysecrets.token_hex(12)
        private, _ = cosign.generate_key_pair(Path(tmp) / "key", password)
        key_text = private.read_text()
        plain = ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()).decode()
        with LocalRegistry("bench-token", "bench-user", "bench-password",
                           workdir=Path(tmp)) as registry:
            session = requests.Session()
            session.auth = ("bench-user", "bench-password")
            base = f"http://{registry.host}"
            for run in range(args.runs):
                order = [WITH, WITHOUT] if run % 2 == 0 else [WITHOUT, WITH]
                imported = {module: _import_seconds(module) for module in order}
                runs["s1"].append(imported[WITH] - imported[WITHOUT])

                started = time.monotonic()
                key = signkey.load(key_text, password)
                runs["s2"].append(time.monotonic() - started)
                started = time.monotonic()
                signkey.load(plain, None)
                runs["s2p"].append(time.monotonic() - started)

                repo = f"acme/bench-{run}"
                image = oci.push_image(session, base, repo, "v1")
                for name, digest in (("s3", image.digest), ("s4", _index(session, base, repo))):
                    client = RegistryClient(registry.host, "bench-user", "bench-password")
                    started = time.monotonic()
                    wanted = signatures.targets(client, repo, digest)
                    done, failed = signatures.sign_each(client, key, f"{registry.host}/{repo}",
                                                        repo, wanted)
                    assert failed is None and len(done) == len(wanted), failed
                    runs[name].append(time.monotonic() - started)
                report.say(f"  run {run + 1}: " + ", ".join(f"{k} {v[-1]:.3f}s" for k, v in runs.items()))
    med = {k: report.median(v) for k, v in runs.items()}
    single = med["s1"] + med["s2"] + med["s3"]
    index = med["s1"] + med["s2"] + med["s4"]
    verdict = "met" if single <= GOAL and index <= GOAL else "NOT met"
    single_p = med["s1"] + med["s2p"] + med["s3"]
    index_p = med["s1"] + med["s2p"] + med["s4"]
    verdict_p = "met" if single_p <= GOAL and index_p <= GOAL else "NOT met"
    rows = [
        ["(s1) importing cryptography and PyNaCl", f"{med['s1']:.3f} s",
         f"{min(runs['s1']):.3f}–{max(runs['s1']):.3f} s"],
        ["(s2) loading a cosign key (scrypt + secretbox)", f"{med['s2']:.3f} s",
         f"{min(runs['s2']):.3f}–{max(runs['s2']):.3f} s"],
        ["(s2p) loading a plain PKCS#8 key", f"{med['s2p']:.3f} s",
         f"{min(runs['s2p']):.3f}–{max(runs['s2p']):.3f} s"],
        ["(s3) signing a single image (1 signature)", f"{med['s3']:.3f} s",
         f"{min(runs['s3']):.3f}–{max(runs['s3']):.3f} s"],
        ["(s4) signing a two-platform index (3 signatures)", f"{med['s4']:.3f} s",
         f"{min(runs['s4']):.3f}–{max(runs['s4']):.3f} s"],
        ["**added to a push, cosign key: s1 + s2 + s3 (single) / s1 + s2 + s4 (index)**",
         f"**{single:.3f} s / {index:.3f} s**", f"goal ≤ {GOAL} s: **{verdict}**"],
        ["**added to a push, PKCS#8 key: s1 + s2p + s3 (single) / s1 + s2p + s4 (index)**",
         f"**{single_p:.3f} s / {index_p:.3f} s**", f"goal ≤ {GOAL} s: **{verdict_p}**"],
    ]
    text = (f"{HEADING}\n\n"
            f"Command (from the repository root): `{report.command_line('build_push_signing', sys.argv[1:])}` "
            f"({platform.machine()}, {report.Machine.here().describe()}, load {report.load_average()}, "
            f"{report.now_utc()}). Lane: none needed (the test bed's registry, CNCF distribution with "
            "htpasswd auth, on loopback; no Docker engine), so the figure holds on both engine lanes.\n\n"
            + report.markdown_table(["measure", f"median of {args.runs}", "min–max"], rows)
            + "\n\nWhat `SIGNING_KEY` adds to a run of build-push, after the push: the imports, the key, "
            "and for each pushed manifest one blob upload, one config upload, one manifest written and "
            "read back (the platforms of an index at the same time). A cosign key costs its scrypt "
            "(N=65536, r=8: 64 MiB, memory-hard by design; `cosign sign` pays the same), a PKCS#8 key "
            "nothing measurable. The SBOM of `SBOM` with `SIGNING_KEY` is not in the figure: syft reads every "
            "layer of the image, so it costs what the image's size costs.\n")
    print(text)
    if not args.no_write:
        report.write_heading_section(text)
    return 0


def _index(session: requests.Session, base: str, repo: str) -> str:
    amd, arm = (oci.push_image(session, base, repo, tag) for tag in ("amd", "arm"))
    return oci.push_index(session, base, repo, "multi", [
        (amd, {"os": "linux", "architecture": "amd64"}),
        (arm, {"os": "linux", "architecture": "arm64"})])


if __name__ == "__main__":
    raise SystemExit(main())
