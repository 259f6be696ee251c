"""Saved plans in Spaces: the plan binary, its redacted JSON, and the record of the state it was
made against, under ``<STATE_KEY>.plans/<workspace>/<plan id>/``.

Applying a saved plan re-checks the state (serial, lineage and the state object's ETag: a plan made
against no state is stale as soon as a state exists, which closes Terraform's first-apply hole),
checks the plan's sha256, and claims the plan with a conditional write of ``applied.json`` before
applying, so a plan is applied at most once.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from pipes_common.errors import PipeError

from .s3 import PreconditionFailed, Spaces

PLAN_FILE = "plan.tfplan"
PLAN_JSON = "plan.json"
RECORD = "record.json"
APPLIED = "applied.json"


@dataclass(frozen=True)
class StateRef:
    """What identifies the state a plan was made against (all None when there is no state)."""
    serial: int | None
    lineage: str | None
    etag: str | None

    @property
    def exists(self) -> bool:
        return self.etag is not None

    def describe(self) -> str:
        if not self.exists:
            return "no state"
        return f"serial {self.serial}, lineage {self.lineage}, ETag {self.etag}"


def read_state(spaces: Spaces, key: str) -> StateRef:
    obj = spaces.get(key)
    if obj is None:
        return StateRef(None, None, None)
    try:
        doc = json.loads(obj.body)
        return StateRef(int(doc.get("serial")), str(doc.get("lineage")), obj.etag)
    except (ValueError, TypeError):
        raise PipeError(f"The state object {key} is not a Terraform state (not JSON with serial "
                        "and lineage): check STATE_KEY and WORKSPACE") from None


@dataclass(frozen=True)
class PlanRecord:
    plan_id: str
    state_object: str
    workspace: str
    state: StateRef
    sha256: str
    terraform_version: str
    created: str
    commit: str | None
    build_number: str | None
    counts: dict[str, int]
    has_changes: bool

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, raw: bytes) -> PlanRecord:
        doc: dict[str, Any] = json.loads(raw)
        doc["state"] = StateRef(**doc["state"])
        return cls(**doc)


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class PlanStore:
    def __init__(self, spaces: Spaces, prefix: str) -> None:
        self.spaces = spaces
        self.prefix = prefix

    def key(self, plan_id: str, name: str) -> str:
        return f"{self.prefix}{plan_id}/{name}"

    def applied(self, plan_id: str) -> dict[str, Any] | None:
        obj = self.spaces.get(self.key(plan_id, APPLIED))
        if obj is None:
            return None
        try:
            data: dict[str, Any] = json.loads(obj.body)
            return data
        except ValueError:
            return {"status": "unknown"}

    def save(self, record: PlanRecord, plan_bytes: bytes, plan_json: str) -> None:
        """Store the plan; refuses a plan id that was already applied (ids are single-use)."""
        done = self.applied(record.plan_id)
        if done is not None:
            raise PipeError(f"PLAN_ID: the plan '{record.plan_id}' was already applied "
                            f"({_when(done)}); a plan id is used once: pick another PLAN_ID")
        self.spaces.put(self.key(record.plan_id, PLAN_FILE), plan_bytes)
        self.spaces.put(self.key(record.plan_id, PLAN_JSON), plan_json.encode(),
                        content_type="application/json")
        # the record last: a plan without a record cannot be applied
        self.spaces.put(self.key(record.plan_id, RECORD), record.to_json().encode(),
                        content_type="application/json")

    def load(self, plan_id: str) -> tuple[PlanRecord, bytes]:
        """The record and the plan binary, checked: not applied yet, sha256 matching."""
        obj = self.spaces.get(self.key(plan_id, RECORD))
        if obj is None:
            raise PipeError(f"PLAN_ID: no saved plan '{plan_id}' for this state "
                            f"({self.prefix}{plan_id}/): run the pipe with MODE: plan first (it "
                            "prints the plan id), and use the same STATE_KEY, WORKSPACE and "
                            "WORKING_DIR")
        try:
            record = PlanRecord.from_json(obj.body)
        except (ValueError, TypeError, KeyError):
            raise PipeError(f"The record of the saved plan '{plan_id}' is damaged: make a new "
                            "plan with MODE: plan") from None
        done = self.applied(plan_id)
        if done is not None:
            raise PipeError(f"PLAN_ID: the plan '{plan_id}' was already applied ({_when(done)}): "
                            "a saved plan is applied once; make a new plan with MODE: plan")
        plan = self.spaces.get(self.key(plan_id, PLAN_FILE))
        if plan is None:
            raise PipeError(f"The plan file of '{plan_id}' is missing from Spaces: make a new "
                            "plan with MODE: plan")
        digest = hashlib.sha256(plan.body).hexdigest()
        if digest != record.sha256:
            raise PipeError(f"The saved plan '{plan_id}' does not match its record (sha256 "
                            f"{digest[:12]}… instead of {record.sha256[:12]}…): it was changed "
                            "after planning; refusing to apply it. Make a new plan")
        return record, plan.body

    def claim(self, plan_id: str, build: str | None) -> None:
        """Mark the plan used before applying it; only one run can win this (If-None-Match)."""
        body = json.dumps({"status": "applying", "started": now(), "build": build}).encode()
        try:
            self.spaces.put(self.key(plan_id, APPLIED), body, if_none_match=True,
                            content_type="application/json")
        except PreconditionFailed:
            raise PipeError(f"PLAN_ID: the plan '{plan_id}' is being applied or was applied by "
                            "another run: a saved plan is applied once") from None

    def release(self, plan_id: str) -> None:
        """Undo :meth:`claim` after an apply that wrote nothing (e.g. the lock was held)."""
        self.spaces.delete(self.key(plan_id, APPLIED))

    def finish(self, plan_id: str, build: str | None, status: str) -> None:
        body = json.dumps({"status": status, "finished": now(), "build": build}).encode()
        self.spaces.put(self.key(plan_id, APPLIED), body, content_type="application/json")


def _when(done: dict[str, Any]) -> str:
    status = done.get("status", "applied")
    at = done.get("finished") or done.get("started") or "?"
    build = f", build {done['build']}" if done.get("build") else ""
    return f"{status} at {at}{build}"


def check_fresh(record: PlanRecord, current: StateRef) -> None:
    """Refuse a plan whose state has moved on since it was made."""
    if record.state == current:
        return
    if not record.state.exists:
        why = (f"it was made when there was no state, and now there is one "
               f"({current.describe()}): applying it again would create everything twice")
    elif not current.exists:
        why = "the state it was made against has been deleted"
    else:
        why = f"it was made against {record.state.describe()}, the state is now {current.describe()}"
    raise PipeError(f"PLAN_ID: the saved plan '{record.plan_id}' is stale: {why}. The state was "
                    "not touched. Make a new plan with MODE: plan and apply that one")
