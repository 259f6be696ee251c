"""Real locks: Terraform's lock file in moto's S3, the pipe's probe, a store that ignores
conditional writes (a proxy stripping If-None-Match)."""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable

from testbed.pipes import PipeRun
from testbed.s3 import HeaderStrippingProxy, MotoS3

from .conftest import WORKING_DIR, Stack, assert_failed_cleanly

KEY = "web/infra/terraform.tfstate"


def test_concurrent_apply_is_blocked_and_reported(make_stack: Callable[..., Stack]) -> None:
    """A first run holds the lock (its apply waits on a gate file the test opens) for as long as
    the second run tries: no race between an apply time and the second run's LOCK_TIMEOUT."""
    stack = make_stack("gated")
    gate = stack.build / "gate"
    gate.touch()
    assert stack.run(VARS=f"run=seed\ngate={gate}").code == 0  # a state exists: we can check it is untouched
    gate.unlink()
    etag_before = stack.state_etag(KEY)
    first: list[PipeRun] = []
    holder = threading.Thread(target=lambda: first.append(stack.run(VARS=f"run=first\ngate={gate}")))
    holder.start()
    try:
        deadline = time.monotonic() + 120
        while f"{KEY}.tflock" not in stack.s3.keys(stack.bucket):  # wait for the lock to be held
            assert time.monotonic() < deadline and holder.is_alive(), first[0].output if first else "?"
            time.sleep(0.1)
        assert stack.state_etag(KEY) == etag_before
        second = stack.run(VARS=f"run=second\ngate={gate}", LOCK_TIMEOUT="2s")
        assert holder.is_alive() and not first, "the first run held the lock all along"
        lock_file_during = f"{KEY}.tflock" in stack.s3.keys(stack.bucket)
        etag_during = stack.state_etag(KEY)
    finally:
        gate.touch()  # the first run may finish now
        holder.join(300)

    assert_failed_cleanly(second, "locked by another run", "LOCK_TIMEOUT (2s)", "force-unlock -force",
                          "state was not touched", "OperationTypeApply")
    assert lock_file_during  # the second run did not remove the first run's lock
    assert etag_during == etag_before  # nor write the state
    assert first and first[0].code == 0, first[0].output if first else "no first run"
    state = stack.state(KEY)
    assert state is not None and state["outputs"]["run"]["value"] == "first"  # the first run's apply
    assert f"{KEY}.tflock" not in stack.objects()
    stack.assert_no_leaks()


def test_probe_fails_when_store_ignores_if_none_match(make_stack: Callable[..., Stack],
                                                      moto_s3: MotoS3) -> None:
    with HeaderStrippingProxy(moto_s3.url) as proxy:
        stack = make_stack(endpoint=proxy.url)
        run = stack.run()
        assert_failed_cleanly(run, "LOCKING", "ignores conditional writes", "If-None-Match")
        assert [m for m, _ in proxy.seen].count("PUT") == 2  # the two probe writes, nothing else
        assert stack.objects() == {}  # the probe object was cleaned up; no state written

        # LOCKING: off is the user's explicit choice: it runs, warning loudly
        off = stack.run(LOCKING="off")
        assert off.code == 0, off.output
        assert off.output.count("LOCKING is off") >= 2
        assert stack.state(KEY) is not None
        assert not [k for k in stack.objects() if k.endswith(".tflock")]
        stack.assert_no_leaks()


def test_lockfile_mode_skips_probe(make_stack: Callable[..., Stack], moto_s3: MotoS3) -> None:
    """LOCKING: lockfile still hands Terraform ``use_lockfile``: its lock file is written with
    If-None-Match (seen by a recording proxy) and the backend configuration holds it; only the
    probe is left out."""
    with HeaderStrippingProxy(moto_s3.url, strip=()) as proxy:
        stack = make_stack(endpoint=proxy.url)
        run = stack.run(LOCKING="lockfile")
        assert run.code == 0, run.output
        lock = f"/{stack.bucket}/{KEY}.tflock"
        conditional = [(m, p.split("?")[0]) for m, p in proxy.conditional]
        assert ("PUT", lock) in conditional, conditional  # Terraform's lock, written conditionally
        assert ("DELETE", lock) in [(m, p.split("?")[0]) for m, p in proxy.seen]  # and released
        assert not [p for _, p in proxy.seen if "lockprobe" in p], "no probe object"
    backend = json.loads((stack.build / WORKING_DIR / ".terraform" / "terraform.tfstate").read_text())
    assert backend["backend"]["config"]["use_lockfile"] is True
    assert "Locking probe" not in run.output
    assert "without probing" in run.output


def test_locking_off_passes_no_lockfile(make_stack: Callable[..., Stack], moto_s3: MotoS3) -> None:
    with HeaderStrippingProxy(moto_s3.url, strip=()) as proxy:
        stack = make_stack(endpoint=proxy.url)
        run = stack.run(LOCKING="off")
        assert run.code == 0, run.output
        assert not [p for _, p in proxy.seen if ".tflock" in p]
    backend = json.loads((stack.build / WORKING_DIR / ".terraform" / "terraform.tfstate").read_text())
    assert backend["backend"]["config"]["use_lockfile"] in (None, False)
