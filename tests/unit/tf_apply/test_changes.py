"""The comparison of a reviewed plan with the plan made after the merge (tf_apply.changes)."""
from __future__ import annotations

import copy
import json
from typing import Any

from tf_apply import changes

KEY = changes.new_key()


def plan(size: int, before_size: int = 1, password: str = "pw-1") -> dict[str, Any]:
    return {"resource_changes": [
        {"address": "terraform_data.db", "mode": "managed", "change": {
            "actions": ["update"],
            "before": {"id": "x", "input": {"password": password, "size": before_size},
                       "output": {"password": password, "size": before_size}},
            "after": {"id": "x", "input": {"password": password, "size": size}},
            "after_unknown": {"output": True},
            "before_sensitive": {"input": {"password": True}},  # output carries it unmarked
            "after_sensitive": {"input": {"password": True}}}},
        {"address": "data.x.y", "mode": "data", "change": {"actions": ["read"]}},
        {"address": "terraform_data.same", "mode": "managed", "change": {"actions": ["no-op"]}},
    ]}


def test_equal_plans_have_no_differences_and_unknowns_match() -> None:
    a, b = changes.of_plan(plan(2), KEY), changes.of_plan(plan(2), KEY)
    assert changes.differences(a, b) == []
    attrs = a["terraform_data.db"]["attributes"]
    assert attrs["input.size"] == ["1", "2"]
    assert attrs["output"][1] == changes.UNKNOWN and "output.size" in attrs
    assert list(a) == ["terraform_data.db"]  # data reads and no-ops are not changes


def test_another_merge_in_between_is_a_difference() -> None:
    found = changes.differences(changes.of_plan(plan(2), KEY),
                                changes.of_plan(plan(2, before_size=3), KEY))
    assert "terraform_data.db.input.size: reviewed 1 -> 2, now 3 -> 2" in found


def test_sensitive_values_compared_never_kept_or_shown() -> None:
    reviewed = changes.of_plan(plan(2, password="hunter2-secret"), KEY)
    now = changes.of_plan(plan(2, password="other-secret"), KEY)
    text = changes.document(reviewed, KEY) + json.dumps(now)
    assert "hunter2-secret" not in text and "other-secret" not in text
    found = changes.differences(reviewed, now)
    assert found and all("secret" not in line for line in found)
    assert ("terraform_data.db.output.password: reviewed (sensitive value) -> (known after apply), "
            "now (sensitive value) -> (known after apply) (a sensitive value differs)") in found


def test_actions_and_addresses() -> None:
    reviewed = changes.of_plan(plan(2), KEY)
    replaced = copy.deepcopy(plan(2))
    replaced["resource_changes"][0]["change"]["actions"] = ["delete", "create"]
    assert "terraform_data.db: reviewed update, now delete/create" in changes.differences(
        reviewed, changes.of_plan(replaced, KEY))
    assert changes.differences(reviewed, {}) == ["terraform_data.db: reviewed update, now no change"]
    assert changes.differences({}, reviewed) == [
        "terraform_data.db: now update, not in the reviewed plan"]
