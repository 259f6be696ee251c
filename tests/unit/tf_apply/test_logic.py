from __future__ import annotations

import json
from typing import cast

import pytest
from pipes_common.errors import PipeError
from testbed.reports_stub import validate
from tf_apply import insights, planstore, redact, summary, terraform, tfoutputs
from tf_apply.planstore import PlanRecord, StateRef
from tf_apply.s3 import Spaces

LOCK_DETAIL = """Error message: operation error S3: PutObject, https response error StatusCode: 412
Lock Info:
  ID:        d09065ae-ec7b-f67b-0d7c-e4f131064da7
  Path:      bucket1/x/terraform.tfstate
  Operation: OperationTypeApply
  Who:       root@runner
  Version:   1.11.4
  Created:   2026-11-26 09:49:51.558721972 +0000 UTC
  Info:

Terraform acquires a state lock to protect the state from being written"""


def test_lock_info_and_message() -> None:
    info = terraform.parse_lock_info(LOCK_DETAIL)
    assert info is not None
    assert (info.id, info.who, info.operation, info.path) == (
        "d09065ae-ec7b-f67b-0d7c-e4f131064da7", "root@runner", "OperationTypeApply",
        "bucket1/x/terraform.tfstate")
    message = terraform.lock_error(info, "5m", "infra").message
    assert "terraform -chdir=infra force-unlock -force d09065ae-ec7b-f67b-0d7c-e4f131064da7" in message
    assert "LOCK_TIMEOUT (5m)" in message and "root@runner" in message
    assert terraform.parse_lock_info("no lock here") is None


def test_version_error() -> None:
    text = ('Error: Unsupported Terraform Core version\n\n  on main.tf line 2, in terraform:\n'
            '   2:   required_version = "~> 1.5.0"\n\nThis configuration does not support ...')
    err = terraform.version_error(text, "1.11.4")
    assert err is not None
    assert "(~> 1.5.0)" in err.message and "1.11.4" in err.message and "main.tf line 2" in err.message
    assert terraform.version_error("Error: something else", "1.11.4") is None


def test_summary_from_plan_json() -> None:
    plan = {"resource_changes": [
        {"address": "a.x", "mode": "managed", "change": {"actions": ["create"]}},
        {"address": "a.y", "mode": "managed", "change": {"actions": ["update"]}},
        {"address": "a.z", "mode": "managed", "change": {"actions": ["delete", "create"]}},
        {"address": "a.w", "mode": "managed", "change": {"actions": ["create", "delete"]}},
        {"address": "a.v", "mode": "managed", "change": {"actions": ["delete"]}},
        {"address": "a.u", "mode": "managed", "change": {"actions": ["no-op"]}},
        {"address": "data.d", "mode": "data", "change": {"actions": ["read"]}},
    ]}
    sm = summary.from_plan_json(plan)
    assert sm.counts == {"create": 1, "update": 1, "replace": 2, "delete": 1}
    table = sm.table()
    assert table[1].strip().startswith("- delete")  # deletions first
    assert table[-1].strip() == "Plan: 1 to create, 1 to update, 2 to replace, 1 to delete"
    assert summary.from_plan_json({}).table() == [
        "No changes: the infrastructure matches the configuration."]


def test_summary_from_events() -> None:
    events = [{"type": "planned_change", "change": {"resource": {"addr": "a.x"}, "action": "create"}},
              {"type": "planned_change", "change": {"resource": {"addr": "a.y"}, "action": "replace"}},
              {"type": "planned_change", "change": {"resource": {"addr": "a.z"}, "action": "noop"}},
              {"type": "change_summary", "changes": {"add": 2}}]
    assert summary.from_events(events).counts == {"create": 1, "update": 0, "replace": 1, "delete": 0}


def test_redact_plan_json() -> None:
    secret = "hunter2-very-secret"
    plan = {
        "configuration": {"root_module": {"variables": {"pw": {"sensitive": True}, "n": {}}}},
        "variables": {"pw": {"value": secret}, "n": {"value": "visible"}},
        "resource_changes": [{"address": "a.x", "change": {
            "actions": ["create"], "before": None,
            "after": {"input": {"password": secret, "size": 1}},
            "after_sensitive": {"input": {"password": True}}, "before_sensitive": False}}],
        "output_changes": {"pw": {"actions": ["create"], "after": secret, "after_sensitive": True}},
        "planned_values": {"outputs": {"pw": {"sensitive": True, "value": secret}},
                           "root_module": {"resources": [{"values": {"input": secret},
                                                          "sensitive_values": {"input": True}}]}},
        "somewhere_else": {"copy": secret},
    }
    text = redact.plan_json(plan)
    assert secret not in text
    doc = json.loads(text)
    assert doc["variables"]["n"]["value"] == "visible"
    assert doc["resource_changes"][0]["change"]["after"]["input"]["size"] == 1
    assert doc["somewhere_else"]["copy"] == redact.REDACTED


def test_outputs_split_masks_sensitive() -> None:
    from pipes_common import secrets
    outs = tfoutputs.split({"a": {"sensitive": False, "value": {"k": [1, 2]}},
                            "pw": {"sensitive": True, "value": "sens-value-123"},
                            "pw2": {"sensitive": True}})
    assert outs.values == {"a": {"k": [1, 2]}}
    assert outs.sensitive == ["pw", "pw2"]
    assert "sens-value-123" not in secrets.mask("x sens-value-123 y")


def record(state: StateRef) -> PlanRecord:
    return PlanRecord("p1", "k", "default", state, "0" * 64, "1.11.4", "now", None, None,
                      {"create": 1}, True)


def test_check_fresh() -> None:
    none = StateRef(None, None, None)
    s1 = StateRef(3, "lin", '"etag1"')
    planstore.check_fresh(record(none), none)
    planstore.check_fresh(record(s1), s1)
    with pytest.raises(PipeError, match="no state, and now there is one"):
        planstore.check_fresh(record(none), s1)
    with pytest.raises(PipeError, match="serial 4"):
        planstore.check_fresh(record(s1), StateRef(4, "lin", '"etag2"'))
    with pytest.raises(PipeError, match="ETag"):  # same serial, rewritten object
        planstore.check_fresh(record(s1), StateRef(3, "lin", '"etag3"'))
    with pytest.raises(PipeError, match="deleted"):
        planstore.check_fresh(record(s1), none)
    again = PlanRecord.from_json(record(s1).to_json().encode())
    assert again == record(s1)


def test_insights_body_follows_the_contract() -> None:
    sm = summary.Summary([("a.x", "create"), ("a.y", "delete")])
    body = insights.report_body(sm, mode="plan", workspace="default", working_dir="infra",
                                plan_id="abc", link="https://bitbucket.org/acme/web")
    assert validate({**body, "external_id": "x"}) is None
    assert insights.report_id("default", "infra/prod") == "tf-apply-infra-prod-default"


def test_in_pipelines() -> None:
    from pipes_common.bitbucket import StepContext
    env = {"CI": "true", "BITBUCKET_BUILD_NUMBER": "7", "BITBUCKET_COMMIT": "abc1234",
           "BITBUCKET_REPO_SLUG": "web", "BITBUCKET_WORKSPACE": "acme", "BITBUCKET_CLONE_DIR": "/tmp"}
    assert insights.in_pipelines(StepContext.from_env(env))
    for gone in ("CI", "BITBUCKET_BUILD_NUMBER", "BITBUCKET_COMMIT"):
        partial = {k: v for k, v in env.items() if k != gone}
        assert not insights.in_pipelines(StepContext.from_env(partial))


def test_summary_table_is_capped() -> None:
    sm = summary.Summary([(f"a.x[{i}]", "create") for i in range(150)] + [("a.gone", "delete")])
    table = sm.table(limit=100)
    assert table[1].strip() == "- delete a.gone"
    assert len(table) == 1 + 100 + 2
    assert "... and 51 more" in table[-2]


def test_each_claim_carries_its_own_token() -> None:
    """Two runs' claims never have the same body, even in the same second and build: a retried
    conditional create recognises its own claim only by its exact body (Spaces.put)."""
    bodies: list[bytes] = []

    class Recorder:
        def put(self, key: str, body: bytes, **_: object) -> str:
            bodies.append(body)
            return '"etag"'

    store = planstore.PlanStore(cast(Spaces, Recorder()), "web/terraform.tfstate.plans/default/")
    store.claim("p", "7")
    store.claim("p", "7")
    assert bodies[0] != bodies[1]
    assert [json.loads(b)["build"] for b in bodies] == ["7", "7"]
