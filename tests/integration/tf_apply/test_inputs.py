"""Bad input: one ✖ line naming the variable and the fix, exit 1, no traceback, no secret."""
from __future__ import annotations

import pytest
from testbed.leaks import assert_absent

from .conftest import Stack, assert_failed_cleanly

CASES = [
    ({"SPACES_ACCESS_KEY_ID": "<unset>"}, ("SPACES_ACCESS_KEY_ID is required",)),
    ({"SPACES_SECRET_ACCESS_KEY": ""}, ("SPACES_SECRET_ACCESS_KEY",)),
    ({"SPACES_BUCKET": "<unset>"}, ("SPACES_BUCKET is required",)),
    ({"MODE": "yolo"}, ("MODE must be one of: plan, apply, destroy, validate, output",)),
    ({"WORKING_DIR": "nope/infra"}, ("WORKING_DIR", "nope/infra", "not a folder")),
    ({"WORKING_DIR": "../etc"}, ("WORKING_DIR", "inside the repository")),
    ({"VARS": "size 3"}, ("VARS: entry 0", "name=value")),
    ({"VARS_COUNT": "2", "VARS_0": "a=1"}, ("VARS_COUNT is 2 but VARS_1 is not set",)),
    ({"LOCK_TIMEOUT": "soon"}, ("LOCK_TIMEOUT", "'soon'", "300s")),
    ({"LOCKING": "maybe"}, ("LOCKING must be one of: auto, lockfile, off",)),
    ({"VAR_FILES": "missing.tfvars"}, ("VAR_FILES", "missing.tfvars")),
    ({"PLAN_ID": "../x", "MODE": "apply"}, ("PLAN_ID '../x' is not a plan id",)),
    ({"PLAN_ID": "x", "MODE": "destroy"}, ("PLAN_ID: only used with MODE plan or apply",)),
    ({"SPACES_BUCKET": "Not_A_Bucket"}, ("SPACES_BUCKET 'Not_A_Bucket' is not a bucket name",)),
]


@pytest.mark.parametrize(("variables", "needles"), CASES,
                         ids=[",".join(v) + "=" + "|".join(v.values()) for v, _ in CASES])
def test_bad_input(stack: Stack, variables: dict[str, str], needles: tuple[str, ...]) -> None:
    run = stack.run(**variables)
    assert_failed_cleanly(run, *needles)
    for secret in stack.canaries.all():
        assert_absent(secret, text=run.output)
    assert stack.objects() == {}


def test_wrong_bucket(stack: Stack) -> None:
    run = stack.run(SPACES_BUCKET="no-such-space")
    assert_failed_cleanly(run, "SPACES_BUCKET", "no-such-space")


def test_debug_keeps_secrets_masked(stack: Stack) -> None:
    run = stack.run(DEBUG="true")
    assert run.code == 0, run.output
    assert "$ terraform" in run.output  # the commands are shown
    stack.assert_no_leaks()
