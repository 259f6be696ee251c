"""Real locks: Terraform's lock file in moto's S3, the pipe's probe, a store that ignores
conditional writes (a proxy stripping If-None-Match)."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable

from testbed.pipes import PipeRun
from testbed.s3 import HeaderStrippingProxy, MotoS3

from .conftest import Stack, assert_failed_cleanly

KEY = "web/infra/terraform.tfstate"


def test_concurrent_apply_is_blocked_and_reported(make_stack: Callable[..., Stack]) -> None:
    stack = make_stack("slow")
    assert stack.run(VARS="seconds=0").code == 0  # a state exists: we can check it is untouched
    etag_before = stack.state_etag(KEY)
    first: list[PipeRun] = []
    holder = threading.Thread(target=lambda: first.append(stack.run(VARS="seconds=8")))
    holder.start()
    deadline = time.monotonic() + 30
    while f"{KEY}.tflock" not in stack.s3.keys(stack.bucket):
        assert time.monotonic() < deadline and holder.is_alive(), first[0].output if first else "?"
        time.sleep(0.1)
    assert stack.state_etag(KEY) == etag_before
    second = stack.run(VARS="seconds=1", LOCK_TIMEOUT="2s")
    lock_file_during = f"{KEY}.tflock" in stack.s3.keys(stack.bucket)
    etag_during = stack.state_etag(KEY)
    holder.join(60)

    assert_failed_cleanly(second, "locked by another run", "LOCK_TIMEOUT (2s)", "force-unlock -force",
                          "state was not touched", "OperationTypeApply")
    assert lock_file_during  # the second run did not remove the first run's lock
    assert etag_during == etag_before  # nor write the state
    assert first and first[0].code == 0, first[0].output if first else "no first run"
    state = stack.state(KEY)
    assert state is not None and state["outputs"]["slept"]["value"] == 8  # the first run's apply
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


def test_lockfile_mode_skips_probe(stack: Stack) -> None:
    run = stack.run(LOCKING="lockfile")
    assert run.code == 0, run.output
    assert "Locking probe" not in run.output
    assert "without probing" in run.output
