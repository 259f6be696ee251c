"""The saved-plan store and the apply of a saved plan against fakes of the pipe's ports (Spaces
and the terraform CLI): what is checked, claimed, applied and recorded, and in which order."""
from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pipes_common.bitbucket import StepContext
from pipes_common.errors import PipeError
from tf_apply import applying, planstore
from tf_apply.planstore import PlanRecord, PlanStore, StateRef
from tf_apply.run import Run
from tf_apply.s3 import PreconditionFailed, S3Object
from tf_apply.settings import Settings
from tf_apply.terraform import JsonRun

STATE_KEY = "web/infra/terraform.tfstate"
PREFIX = f"{STATE_KEY}.plans/default/"
PLAN = b"PK\x03\x04 a plan"


class FakeSpaces:
    """An S3 bucket in a dict: ETags are the md5 of the body, If-None-Match is honoured."""

    endpoint = "http://127.0.0.1:1"

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.log: list[tuple[str, str]] = []

    def get(self, key: str) -> S3Object | None:
        self.log.append(("GET", key))
        body = self.objects.get(key)
        return None if body is None else S3Object(key, body, hashlib.md5(body).hexdigest())

    def put(self, key: str, body: bytes, *, if_none_match: bool = False,
            content_type: str = "application/octet-stream") -> str:
        self.log.append(("PUT*" if if_none_match else "PUT", key))
        if if_none_match and key in self.objects:
            raise PreconditionFailed(key)
        self.objects[key] = body
        return hashlib.md5(body).hexdigest()

    def delete(self, key: str) -> None:
        self.log.append(("DELETE", key))
        self.objects.pop(key, None)

    def state(self, serial: int, lineage: str = "lin-1") -> None:
        self.objects[STATE_KEY] = json.dumps({"serial": serial, "lineage": lineage}).encode()


@dataclass
class FakeTerraform:
    """The terraform port: ``apply`` runs ``effect`` (e.g. writes a state) and may fail."""

    effect: Callable[[], None] = lambda: None
    fail: bool = False
    commands: list[list[str]] = field(default_factory=list)

    def version(self) -> str:
        return "1.11.4"

    def run_json(self, args: Sequence[str], ok_codes: Sequence[int] = (0,)) -> JsonRun:
        self.commands.append(list(args))
        self.effect()
        if self.fail:
            raise PipeError("terraform apply failed: boom")
        return JsonRun(0, [{"type": "change_summary", "changes": {"add": 1, "change": 0, "remove": 0}},
                           {"type": "outputs", "outputs": {"app": {"value": "web-2", "sensitive": False}}}])


def settings(tmp_path: Path) -> Settings:
    return Settings(
        access_key="k", secret_key="s", bucket="b", region="nyc3", endpoint="http://127.0.0.1:1",
        path_style=True, state_key=STATE_KEY, clone_dir=tmp_path, working_dir=tmp_path,
        working_dir_rel=".", mode="apply", plan_id="p1", workspace="default", var_files=[],
        tf_vars={}, targets=[], locking="auto", lock_timeout="300s", do_token=None, extra_args=[],
        code_insights=False, api_proxy="http://localhost:29418",
        debug=False, comment=True, refresh_only=False, fail_on_drift=True,
        bb_api_url="https://api.bitbucket.org", require_reviewed=False, commit="c" * 40, build_number="7",
        branch="main")


def context(tmp_path: Path) -> StepContext:
    return StepContext.from_env({"BITBUCKET_CLONE_DIR": str(tmp_path), "BITBUCKET_BUILD_NUMBER": "7",
                                 "BITBUCKET_PIPE_SHARED_STORAGE_DIR": str(tmp_path / "shared")})


def saved(spaces: FakeSpaces, state: StateRef, plan: bytes = PLAN) -> PlanRecord:
    record = PlanRecord(plan_id="p1", state_object=STATE_KEY, workspace="default", state=state,
                        sha256=hashlib.sha256(PLAN).hexdigest(), terraform_version="1.11.4",
                        created="2026-01-01T00:00:00Z", commit="c" * 40, build_number="6",
                        counts={"create": 1, "update": 0, "replace": 0, "delete": 0}, has_changes=True,
                        branch="main")
    PlanStore(spaces, PREFIX).save(record, plan, "{}")  # type: ignore[arg-type]
    return record


def applied(spaces: FakeSpaces) -> dict[str, Any] | None:
    body = spaces.objects.get(f"{PREFIX}p1/applied.json")
    return None if body is None else dict(json.loads(body))


def run_saved(tmp_path: Path, spaces: FakeSpaces, tf: FakeTerraform, **more: Any) -> int:
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    s = dataclasses.replace(settings(tmp_path), **more)
    return applying.run_saved(Run(s, context(tmp_path), tf, work,  # type: ignore[arg-type]
                                  spaces, conditional_writes=True))  # type: ignore[arg-type]


# -- the store ---------------------------------------------------------------------------------

def test_save_writes_the_record_last_and_load_checks_the_digest() -> None:
    spaces = FakeSpaces()
    record = saved(spaces, StateRef(None, None, None))
    assert [k.rsplit("/", 1)[1] for m, k in spaces.log if m == "PUT"] == [
        "plan.tfplan", "plan.json", "record.json"]
    store = PlanStore(spaces, PREFIX)  # type: ignore[arg-type]
    assert store.load("p1") == (record, PLAN)
    spaces.objects[f"{PREFIX}p1/plan.tfplan"] = PLAN + b"\0"
    with pytest.raises(PipeError, match="does not match its record"):
        store.load("p1")


def test_an_applied_generation_cannot_be_saved_again_a_new_one_has_its_own_claim() -> None:
    spaces = FakeSpaces()
    record = saved(spaces, StateRef(None, None, None))
    store = PlanStore(spaces, PREFIX)  # type: ignore[arg-type]
    store.finish("p1", "7", "applied")
    with pytest.raises(PipeError, match="claimed by another run"):
        saved(spaces, StateRef(None, None, None))
    again = dataclasses.replace(record, generation=2)
    store.save(again, PLAN, "{}")
    assert store.record("p1") == again and store.applied("p1", 2) is None
    assert store.claim_key("p1", 2) == f"{PREFIX}p1/applied-2.json"
    assert store.applied("p1", 1) is not None  # the applied generation stays applied


@pytest.mark.parametrize(("current", "why"), [
    (StateRef(3, "lin-1", "e1"), None),
    (StateRef(4, "lin-1", "e2"), "serial 4"),
    (StateRef(3, "lin-2", "e1"), "lineage lin-2"),  # the lineage alone differs
    (StateRef(3, "lin-1", "e9"), "ETag e9"),
    (StateRef(None, None, None), "has been deleted"),
])
def test_check_fresh_compares_serial_lineage_and_etag(current: StateRef, why: str | None) -> None:
    record = saved(FakeSpaces(), StateRef(3, "lin-1", "e1"))
    if why is None:
        planstore.check_fresh(record, current)
        return
    with pytest.raises(PipeError, match=f"stale: .*{why}"):
        planstore.check_fresh(record, current)


def test_a_plan_made_without_state_is_stale_once_one_exists() -> None:
    record = saved(FakeSpaces(), StateRef(None, None, None))
    with pytest.raises(PipeError, match="made when there was no state"):
        planstore.check_fresh(record, StateRef(1, "lin-1", "e1"))


# -- applying a saved plan (tf_apply.applying.run_saved) -----------------------------------------

def fresh_store(spaces: FakeSpaces) -> None:
    spaces.state(3)
    current = planstore.read_state(spaces, STATE_KEY)  # type: ignore[arg-type]
    saved(spaces, current)


def test_apply_claims_first_then_applies_the_saved_file(tmp_path: Path) -> None:
    spaces = FakeSpaces()
    fresh_store(spaces)
    claims: list[dict[str, Any] | None] = []

    def apply_writes_a_state() -> None:
        claims.append(applied(spaces))
        spaces.state(4)

    tf = FakeTerraform(effect=apply_writes_a_state)
    assert run_saved(tmp_path, spaces, tf) == 0
    assert claims[0] is not None and claims[0]["status"] == "applying"  # claimed before terraform ran
    assert ("PUT*", f"{PREFIX}p1/applied.json") in spaces.log  # the claim is a conditional write
    (command,) = tf.commands
    assert command[0] == "apply" and "-input=false" in command and command[-1].endswith("plan.tfplan")
    assert Path(command[-1]).read_bytes() == PLAN  # exactly the saved plan
    done = applied(spaces)
    assert done is not None and (done["status"], done["build"]) == ("applied", "7")
    assert "TF_APPLY_OUT_APP=web-2" in (tmp_path / ".do-pipes" / "tf-apply.env").read_text()


def test_stale_plan_is_neither_claimed_nor_applied(tmp_path: Path) -> None:
    spaces = FakeSpaces()
    fresh_store(spaces)
    spaces.state(3, lineage="lin-other")  # same serial, another lineage
    tf = FakeTerraform()
    with pytest.raises(PipeError, match="stale"):
        run_saved(tmp_path, spaces, tf)
    assert tf.commands == [] and applied(spaces) is None


def test_failed_apply_that_wrote_nothing_releases_the_claim(tmp_path: Path) -> None:
    spaces = FakeSpaces()
    fresh_store(spaces)
    with pytest.raises(PipeError, match="boom"):
        run_saved(tmp_path, spaces, FakeTerraform(fail=True))
    assert applied(spaces) is None  # the plan can be applied again
    assert ("DELETE", f"{PREFIX}p1/applied.json") in spaces.log


def test_failed_apply_that_wrote_the_state_marks_the_plan_failed(tmp_path: Path) -> None:
    spaces = FakeSpaces()
    fresh_store(spaces)
    with pytest.raises(PipeError, match="boom"):
        run_saved(tmp_path, spaces, FakeTerraform(effect=lambda: spaces.state(4), fail=True))
    done = applied(spaces)
    assert done is not None and done["status"] == "failed"


# -- re-runs of the apply step (issue 12) -----------------------------------------------------

class OutputsTerraform(FakeTerraform):
    def output_json(self) -> dict[str, Any]:
        return {"app": {"value": "web-2", "sensitive": False}}


def test_apply_rerun_after_success_is_a_noop_that_says_so(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    spaces = FakeSpaces()
    fresh_store(spaces)
    assert run_saved(tmp_path, spaces, FakeTerraform(effect=lambda: spaces.state(4))) == 0
    tf = OutputsTerraform()
    assert run_saved(tmp_path, spaces, tf) == 0
    assert tf.commands == []  # nothing planned or applied again
    assert "was already applied (applied at" in capsys.readouterr().out
    env = (tmp_path / ".do-pipes" / "tf-apply.env").read_text()
    assert "TF_APPLY_APPLIED=false" in env and "TF_APPLY_OUT_APP=web-2" in env


def test_apply_rerun_after_a_failure_that_wrote_state_refuses_until_planned_again(
        tmp_path: Path) -> None:
    spaces = FakeSpaces()
    fresh_store(spaces)
    with pytest.raises(PipeError, match="boom"):
        run_saved(tmp_path, spaces, FakeTerraform(effect=lambda: spaces.state(4), fail=True))
    tf = FakeTerraform()
    with pytest.raises(PipeError, match=r"run the plan step again .*same PLAN_ID"):
        run_saved(tmp_path, spaces, tf)
    assert tf.commands == []
    # the plan step again: generation 2 against the state as it is now, applied once
    record = PlanStore(spaces, PREFIX).record("p1")  # type: ignore[arg-type]
    assert record is not None
    current = planstore.read_state(spaces, STATE_KEY)  # type: ignore[arg-type]
    PlanStore(spaces, PREFIX).save(dataclasses.replace(record, generation=2, state=current),  # type: ignore[arg-type]
                                   PLAN, "{}")
    assert run_saved(tmp_path, spaces, FakeTerraform(effect=lambda: spaces.state(5))) == 0
    assert json.loads(spaces.objects[f"{PREFIX}p1/applied-2.json"])["status"] == "applied"
    assert json.loads(spaces.objects[f"{PREFIX}p1/applied.json"])["status"] == "failed"


# -- who made the plan, and its signature --------------------------------------------------------

def resave(spaces: FakeSpaces, **changes: Any) -> PlanRecord:
    """The saved plan's record rewritten (as a step that can write the Space can)."""
    store = PlanStore(spaces, PREFIX)  # type: ignore[arg-type]
    record = dataclasses.replace(store.load("p1")[0], **changes)
    spaces.objects[f"{PREFIX}p1/record.json"] = record.to_json().encode()
    return record


@pytest.mark.parametrize(("maker", "named"), [
    ({"commit": "d" * 40, "branch": "feature-7", "pr_id": "7"}, "pull request #7"),
    ({"commit": "d" * 40}, "commit dddddddddddd on branch main"),
    ({"branch": "feature-7", "pr_id": "7"}, "on branch feature-7"),  # same commit, a PR pipeline
    ({"branch": None}, "on no branch"),  # a record of an older tf-apply
])
def test_pr_plan_under_mains_plan_id_is_refused_at_apply(tmp_path: Path, maker: dict[str, Any],
                                                         named: str) -> None:
    """A pull-request pipeline planning with MODE plan and PLAN_ID: <main's commit> replaces the
    record; main's apply step refuses it, naming who made it, and touches nothing."""
    spaces = FakeSpaces()
    fresh_store(spaces)
    resave(spaces, **maker)
    tf = FakeTerraform()
    with pytest.raises(PipeError, match=rf"^PLAN_ID: the saved plan 'p1' was made by .*{named}"):
        run_saved(tmp_path, spaces, tf)
    assert tf.commands == [] and applied(spaces) is None


def test_forged_record_without_the_key_is_refused(tmp_path: Path) -> None:
    """With PLAN_SIGNING_KEY at apply, a record that is unsigned, signed with another key, or
    changed after signing (another plan's sha256) is refused; the genuine one is applied."""
    key = "k" * 40
    spaces = FakeSpaces()
    fresh_store(spaces)
    tf = FakeTerraform()
    with pytest.raises(PipeError, match=r"^PLAN_SIGNING_KEY: the saved plan 'p1' is not signed"):
        run_saved(tmp_path, spaces, tf, signing_key=key)
    genuine = planstore.sign(PlanStore(spaces, PREFIX).load("p1")[0], key)  # type: ignore[arg-type]
    for forged in (planstore.sign(genuine, "o" * 40),
                   dataclasses.replace(genuine, sha256=hashlib.sha256(b"other").hexdigest())):
        spaces.objects[f"{PREFIX}p1/record.json"] = forged.to_json().encode()
        if forged.sha256 != genuine.sha256:
            spaces.objects[f"{PREFIX}p1/plan.tfplan"] = b"other"
        with pytest.raises(PipeError, match=r"^PLAN_SIGNING_KEY: .* does not verify"):
            run_saved(tmp_path, spaces, tf, signing_key=key)
    assert tf.commands == [] and applied(spaces) is None
    spaces.objects[f"{PREFIX}p1/plan.tfplan"] = PLAN
    spaces.objects[f"{PREFIX}p1/record.json"] = genuine.to_json().encode()
    assert run_saved(tmp_path, spaces, tf, signing_key=key) == 0
    assert len(tf.commands) == 1 and (applied(spaces) or {}).get("status") == "applied"
