"""LOCK_TIMEOUT is what Terraform waits for a held lock: a second run started while the first holds
the lock keeps trying and applies once the first has released it (the ✖ line of a run that gives
up is in test_locking.py; this is the wait itself, seen in the requests Terraform makes)."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable

from testbed.pipes import PipeRun
from testbed.s3 import HeaderStrippingProxy, MotoS3

from .conftest import Stack

KEY = "web/infra/terraform.tfstate"


def _lock_writes(proxy: HeaderStrippingProxy) -> int:
    return sum(1 for method, path in proxy.seen if method == "PUT" and path.split("?")[0].endswith(f"{KEY}.tflock"))


def test_a_second_run_waits_for_the_lock_and_applies_once_it_is_released(
        make_stack: Callable[..., Stack], moto_s3: MotoS3) -> None:
    with HeaderStrippingProxy(moto_s3.url, strip=()) as proxy:  # records, strips nothing
        stack = make_stack("gated", endpoint=proxy.url)
        gate = stack.build / "gate"
        first: list[PipeRun] = []
        second: list[PipeRun] = []
        holder = threading.Thread(target=lambda: first.append(stack.run(VARS=f"run=first\ngate={gate}")))
        waiter = threading.Thread(target=lambda: second.append(
            stack.run(VARS=f"run=second\ngate={gate}", LOCK_TIMEOUT="240s")))
        holder.start()
        try:
            deadline = time.monotonic() + 180
            while _lock_writes(proxy) < 1:  # the first run holds the lock
                assert time.monotonic() < deadline and holder.is_alive(), first[0].output if first else "?"
                time.sleep(0.1)
            waiter.start()
            # the second run asks for the lock, is refused, and asks again: it waits, it did not give up
            while _lock_writes(proxy) < 3:
                assert time.monotonic() < deadline, "the second run never asked for the lock twice"
                assert waiter.is_alive(), second[0].output if second else "?"
                time.sleep(0.1)
            assert holder.is_alive() and not first, "the first run held the lock all along"
        finally:
            gate.touch()  # the first run finishes and releases the lock
            holder.join(300)
            if waiter.is_alive() or waiter.ident is not None:
                waiter.join(300)

    assert first and first[0].code == 0, first[0].output if first else "no first run"
    assert second and second[0].code == 0, second[0].output if second else "no second run"
    state = stack.state(KEY)
    assert state is not None and state["outputs"]["run"]["value"] == "second"  # applied after the first
    assert f"{KEY}.tflock" not in stack.objects()
    stack.assert_no_leaks()
