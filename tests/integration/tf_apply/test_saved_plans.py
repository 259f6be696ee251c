"""Saved plans: apply exactly what was planned, once, and never against a state that moved on."""
from __future__ import annotations

import json

from testbed import dotenv

from .conftest import Stack, assert_failed_cleanly

# the fixed names of the README; TF_APPLY_OUT_<NAME> is one per output (its example: _URL)
# written by MODE apply only (REFUSED and REVIEWED_* only when they have a value)
APPLY_ONLY = {"TF_APPLY_APPLIED", "TF_APPLY_REFUSED", "TF_APPLY_REVIEWED_PR",
              "TF_APPLY_REVIEWED_COMMIT"}
FIXED = {n for n in dotenv.documented("tf-apply")
         if not n.startswith("TF_APPLY_OUT_")} - APPLY_ONLY

KEY = "web/infra/terraform.tfstate"
PLANS = f"{KEY}.plans/default"


def test_plan_then_apply_once(stack: Stack) -> None:
    plan = stack.run(MODE="plan")  # PLAN_ID defaults to the commit
    assert plan.code == 0, plan.output
    plan_id = stack.shared()["plan_id"]
    objects = stack.objects()
    assert {f"{PLANS}/{plan_id}/{n}" for n in ("plan.tfplan", "plan.json", "record.json")} <= set(objects)
    record = json.loads(objects[f"{PLANS}/{plan_id}/record.json"])
    assert record["state"] == {"serial": None, "lineage": None, "etag": None}
    assert record["counts"]["create"] == 2
    # the stored JSON plan is Terraform's, with the sensitive values taken out
    plan_json = json.loads(objects[f"{PLANS}/{plan_id}/plan.json"])
    assert plan_json["resource_changes"][0]["change"]["actions"] == ["create"]
    assert stack.canaries.db_password not in objects[f"{PLANS}/{plan_id}/plan.json"].decode()
    assert stack.state(KEY) is None  # planning wrote no state
    sourced = dotenv.source(stack.build / ".do-pipes" / "tf-apply.env")
    assert set(sourced) >= FIXED, sourced
    assert (sourced["TF_APPLY_PLAN_ID"], sourced["TF_APPLY_HAS_CHANGES"]) == (plan_id, "true")
    assert [sourced[f"TF_APPLY_{k}"] for k in ("CREATE", "UPDATE", "REPLACE", "DELETE")] == ["2", "0", "0", "0"]

    applied = stack.run(MODE="apply", PLAN_ID=plan_id)
    assert applied.code == 0, applied.output
    assert f"Applied saved plan {plan_id}" in applied.last_line()
    assert stack.outputs_file()["outputs"]["app"] == "web-1"
    sourced = dotenv.source(stack.build / ".do-pipes" / "tf-apply.env")
    assert set(sourced) >= FIXED, sourced
    assert (sourced["TF_APPLY_OUT_APP"], sourced["TF_APPLY_CREATE"]) == ("web-1", "2")
    assert sourced["TF_APPLY_APPLIED"] == "true" and dotenv.documented("tf-apply") >= APPLY_ONLY
    assert sourced["TF_APPLY_SENSITIVE_OUTPUTS"] == "db_password"
    assert "TF_APPLY_OUT_DB_PASSWORD" not in sourced
    assert json.loads(stack.objects()[f"{PLANS}/{plan_id}/applied.json"])["status"] == "applied"

    etag = stack.state_etag(KEY)
    # a re-run of the apply step: never applied twice, a no-op that says so
    twice = stack.run(MODE="apply", PLAN_ID=plan_id)
    assert twice.code == 0, twice.output
    assert "already applied" in twice.last_line() and "nothing to do" in twice.last_line()
    assert stack.state_etag(KEY) == etag

    # a re-run of the plan step: nothing changed since, so nothing new is saved under the id
    reuse = stack.run(MODE="plan", PLAN_ID=plan_id)
    assert reuse.code == 0, reuse.output
    assert "already applied" in reuse.last_line() and "no changes" in reuse.last_line()
    assert f"{PLANS}/{plan_id}/applied-2.json" not in stack.objects()
    assert stack.state_etag(KEY) == etag
    stack.assert_no_leaks()


def test_stale_plan_first_apply_hole(stack: Stack) -> None:
    """Two plans made against no state: the second must not create everything again."""
    assert stack.run(MODE="plan", PLAN_ID="first").code == 0
    assert stack.run(MODE="plan", PLAN_ID="second").code == 0
    assert stack.run(MODE="apply", PLAN_ID="first").code == 0
    etag, state = stack.state_etag(KEY), stack.state(KEY)
    assert state is not None

    stale = stack.run(MODE="apply", PLAN_ID="second")
    assert_failed_cleanly(stale, "stale", "no state", "state was not touched")
    assert stack.state_etag(KEY) == etag and stack.state(KEY) == state
    assert f"{PLANS}/second/applied.json" not in stack.objects()
    stack.assert_no_leaks()


def test_stale_plan_changed_serial(stack: Stack) -> None:
    assert stack.run(MODE="apply").code == 0
    assert stack.run(MODE="plan", PLAN_ID="bigger", VARS="size=2").code == 0
    assert stack.run(MODE="apply", VARS="size=3").code == 0  # someone applied in between
    etag, state = stack.state_etag(KEY), stack.state(KEY)
    assert state is not None

    stale = stack.run(MODE="apply", PLAN_ID="bigger")
    assert_failed_cleanly(stale, "stale", f"serial {state['serial']}", "state was not touched")
    assert stack.state_etag(KEY) == etag and stack.state(KEY) == state
    assert stack.outputs_file()["outputs"]["app"] == "web-3"


def test_stale_plan_lineage_only(stack: Stack) -> None:
    """Another state with the same serial (a state pushed from elsewhere): the lineage differs."""
    assert stack.run(MODE="apply").code == 0
    assert stack.run(MODE="plan", PLAN_ID="lineage", VARS="size=2").code == 0
    state = stack.state(KEY)
    assert state is not None
    other = dict(state, lineage="00000000-1111-2222-3333-444444444444")  # same serial
    stack.s3.client.put_object(Bucket=stack.bucket, Key=KEY, Body=json.dumps(other).encode())
    etag = stack.state_etag(KEY)

    stale = stack.run(MODE="apply", PLAN_ID="lineage")
    assert_failed_cleanly(stale, "stale", f"serial {state['serial']}, lineage {other['lineage']}",
                          f"lineage {state['lineage']}", "state was not touched")
    assert stack.state_etag(KEY) == etag and stack.state(KEY) == other
    assert f"{PLANS}/lineage/applied.json" not in stack.objects()


def test_unknown_plan_id(stack: Stack) -> None:
    run = stack.run(MODE="apply", PLAN_ID="nosuchplan")
    assert_failed_cleanly(run, "PLAN_ID", "nosuchplan", "MODE: plan")
    assert stack.state(KEY) is None


def test_tampered_plan_refused(stack: Stack) -> None:
    assert stack.run(MODE="plan", PLAN_ID="t").code == 0
    key = f"{PLANS}/t/plan.tfplan"
    body = stack.objects()[key]
    stack.s3.client.put_object(Bucket=stack.bucket, Key=key, Body=body + b"\0")
    run = stack.run(MODE="apply", PLAN_ID="t")
    assert_failed_cleanly(run, "sha256", "refusing")
    assert stack.state(KEY) is None


def test_saved_plan_kept_when_the_lock_is_held(stack: Stack) -> None:
    """An apply that could not take the lock wrote nothing: the plan stays applicable."""
    assert stack.run(MODE="plan", PLAN_ID="later").code == 0
    lock = {"ID": "11111111-2222-3333-4444-555555555555", "Operation": "OperationTypeApply",
            "Info": "", "Who": "deployer@other-runner", "Version": "1.11.4",
            "Created": "2026-01-01T00:00:00Z", "Path": f"{stack.bucket}/{KEY}"}
    stack.s3.client.put_object(Bucket=stack.bucket, Key=f"{KEY}.tflock", Body=json.dumps(lock).encode())
    blocked = stack.run(MODE="apply", PLAN_ID="later", LOCK_TIMEOUT="1")
    assert_failed_cleanly(blocked, "deployer@other-runner", lock["ID"], "force-unlock -force")
    assert "can be applied again" in blocked.output
    assert f"{PLANS}/later/applied.json" not in stack.objects()
    assert stack.state(KEY) is None

    stack.s3.client.delete_object(Bucket=stack.bucket, Key=f"{KEY}.tflock")  # the holder finished
    applied = stack.run(MODE="apply", PLAN_ID="later")
    assert applied.code == 0, applied.output
    assert stack.outputs_file()["outputs"]["app"] == "web-1"
