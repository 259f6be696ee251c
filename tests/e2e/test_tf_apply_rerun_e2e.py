"""Re-running tf-apply steps with ``PLAN_ID: $BITBUCKET_COMMIT`` (the documented pattern), through
the pipe image as Bitbucket runs it: a plan step re-run works, an apply re-run after success is a
no-op that says so, and after an apply that failed having written the state the plan step plans
again under the same id - never a plan applied twice, never a stale one."""
from __future__ import annotations

import pytest
from testbed.pipes import PipeRun, read_handoff

from .tf_apply_bed import Bed, bed, one_failure_line, sha

__all__ = ["bed"]  # the fixture


@pytest.mark.parametrize("bed", ["flaky"], indirect=True)
def test_rerun_plan_and_apply_steps(bed: Bed) -> None:
    commit = sha()

    def step(mode: str) -> PipeRun:
        return bed.run(commit, "main", MODE=mode, PLAN_ID=commit)

    first = step("plan")
    assert first.code == 0, first.output
    again = step("plan")  # the plan step re-run before the apply: planned again, replaces it
    assert again.code == 0 and "this one replaces it (generation 2)" in again.output, again.output

    (bed.build / "infra" / "FAIL").write_text("the second resource fails\n")
    failed = step("apply")
    one_failure_line(failed, "terraform apply failed")
    assert "the saved plan" in failed.output and "is stale now" in failed.output
    etag = bed.state_etag()
    assert etag is not None  # the first resource was created: the state was written

    rerun = step("apply")  # re-run of the failed apply step: the plan is stale now
    one_failure_line(rerun, "PLAN_ID", "failed while being applied", "run the plan step again")
    assert bed.state_etag() == etag

    (bed.build / "infra" / "FAIL").unlink()  # the cause of the failure is gone
    replanned = step("plan")  # the plan step re-run: plans again under the same id
    assert replanned.code == 0, replanned.output
    assert "generation 3" in replanned.output, replanned.output
    applied = step("apply")
    assert applied.code == 0 and f"Applied saved plan {commit}" in applied.last_line(), applied.output
    etag = bed.state_etag()

    noop = step("apply")  # re-run of the apply step after success
    assert noop.code == 0, noop.output
    assert f"The saved plan {commit} was already applied" in noop.last_line()
    assert "nothing to do" in noop.last_line()
    assert read_handoff(bed.build, "tf-apply")["applied"] is False
    assert bed.state_etag() == etag

    whole = step("plan")  # the whole pipeline re-run after success: its plan step
    assert whole.code == 0, whole.output
    assert "was already applied" in whole.last_line() and "no changes" in whole.last_line()
    assert step("apply").code == 0
    assert bed.state_etag() == etag
    bed.no_leaks()
