"""Saved plans in Spaces: the plan binary, its redacted JSON, and the record of the state it was
made against, under ``<STATE_KEY>.plans/<workspace>/<plan id>/``.

Applying a saved plan re-checks the state (serial, lineage and the state object's ETag: a plan made
against no state is stale as soon as a state exists), checks the plan's sha256, and claims the plan
by writing ``applied.json`` before applying, so that a plan is applied at most once.

Why the claim holds, and where it cannot
----------------------------------------
"At most once" needs one atomic decision between two runs that both found the plan unclaimed and
fresh.  An object store offers exactly one such primitive: a create that fails when the object
exists (``PUT`` with ``If-None-Match: *``, answered 412).  On a store that honours it, the claim is
that conditional create, and it is sound on its own: of any number of runs, one gets 200, the
others 412.  (A create that the client retried, because the answer to its first attempt was lost,
can meet its own first attempt and get 412: only then is the object read back, and it is ours only
if it holds this run's random claim token, byte for byte - see :meth:`s3.Spaces.put`.  On such a
store the object can only have been created by one conditional create, so this is sound.)

A store can ignore the header and overwrite.  Nothing the pipe can do with plain reads and writes
replaces it: reading ``applied.json`` back after writing a unique token is not sound, because a
concurrent writer can overwrite it after our read (both runs then see their own token at the moment
they look), and any "write, wait, read again" scheme only narrows that window.  The only other
exclusion in play is Terraform's: ``terraform apply <planfile>`` takes the state lock, then refuses
the plan if the state's lineage or serial differ from the ones the plan was made against ("Saved
plan is stale"; also for a plan made against no state, checked with Terraform 1.11), and an apply
that changed anything writes a new serial before it unlocks.  Under a lock that really excludes,
that alone lets one apply of a plan through.  But the lock Terraform takes on Spaces is its lock
file, ``use_lockfile``, which is itself a conditional create: on a store that ignores
``If-None-Match`` that lock does not exclude either, so it cannot stand in for the claim.

So the claim is decided by the store's answer to the probe (:mod:`probe`), run before the claim
when the locking check has not already run it (:func:`claim_mode`):

- the store honours conditional writes: the claim is the conditional create (and Terraform's
  stale-plan refusal under its lock file is a second, independent guard);
- it ignores them and ``LOCKING`` is ``auto``: the locking check has already stopped the run;
- it ignores them and ``LOCKING`` is ``lockfile``: refused, with one line naming the fix, before
  anything is written;
- it ignores them and ``LOCKING`` is ``off``: the user has declared that their pipelines never run
  two steps on this state at once (Bitbucket deployments with concurrency control), which is the
  exclusion the claim needs; the claim is a plain write that a later run finds, said so in one
  warning line.  Without that serialisation, two runs could apply the plan twice, just as two
  plain applies could both write the state: that is what ``LOCKING: off`` already warns about.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import secrets as pysecrets
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any

from pipes_common.errors import PipeError
from pipes_common.log import get_logger

from .s3 import PreconditionFailed, Spaces

PLAN_FILE = "plan.tfplan"
PLAN_JSON = "plan.json"
RECORD = "record.json"
APPLIED = "applied.json"
CHANGES = "changes.json"  # the plan's changes, comparable (:mod:`changes`), no sensitive value
REVIEWS = "reviews"  # reviews/pr-<id>.json: the last plan made in pull request <id>


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
    pr_id: str | None = None  # planned in this pull request's pipeline
    generation: int = 1  # the how-many-th plan under this id (a re-run plans again: +1)
    branch: str | None = None  # BITBUCKET_BRANCH of the step that planned
    signature: str | None = None  # HMAC-SHA256 with PLAN_SIGNING_KEY over the rest (:func:`sign`)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    def made_by(self) -> str:
        """Who made the plan, as its record says: commit, branch, pull request and build."""
        what = [f"commit {(self.commit or 'unknown')[:12]}",
                f"on branch {self.branch}" if self.branch else "on no branch"]
        more = [f"pull request #{self.pr_id}" if self.pr_id else "",
                f"build {self.build_number}" if self.build_number else "", self.created]
        return " ".join(what) + f" ({', '.join(m for m in more if m)})"

    @classmethod
    def from_json(cls, raw: bytes) -> PlanRecord:
        doc: dict[str, Any] = json.loads(raw)
        doc["state"] = StateRef(**doc["state"])
        return cls(**doc)


SIGNED = b"tf-apply saved plan record 1\n"  # what the signature is over starts with this


def _signature(record: PlanRecord, key: str) -> str:
    fields = asdict(record)
    fields.pop("signature")
    text = json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(key.encode(), SIGNED + text, hashlib.sha256).hexdigest()


def sign(record: PlanRecord, key: str) -> PlanRecord:
    """The record signed with ``PLAN_SIGNING_KEY``: an HMAC-SHA256 over every field, the plan's
    sha256 and who made it included, so that a step that can write the Space but does not hold
    the key cannot make a record the apply accepts."""
    return replace(record, signature=_signature(record, key))


def check_signature(record: PlanRecord, key: str) -> None:
    """With ``PLAN_SIGNING_KEY`` set, a record not signed with it is refused."""
    fix = (f"its record says it was made by {record.made_by()}. Nothing was applied: plan again "
           "in a step that holds PLAN_SIGNING_KEY (never a pull-request pipeline), then apply")
    if not record.signature:
        raise PipeError(f"PLAN_SIGNING_KEY: the saved plan '{record.plan_id}' is not signed; {fix}")
    if not hmac.compare_digest(record.signature, _signature(record, key)):
        raise PipeError(f"PLAN_SIGNING_KEY: the saved plan '{record.plan_id}' has a signature that "
                        "PLAN_SIGNING_KEY does not verify (the record was changed, or signed with "
                        f"another key); {fix}")


def check_maker(record: PlanRecord, commit: str | None, branch: str | None,
                pr_id: str | None) -> None:
    """A saved plan is applied only by a step of the commit, branch and pull request (or none)
    that made it: a pull-request pipeline planning under another commit's PLAN_ID does not get
    its configuration applied by that commit's deployment."""
    if (record.commit, record.branch, record.pr_id) == (commit, branch, pr_id):
        return
    pr = f" (pull request #{pr_id})" if pr_id else ""
    raise PipeError(f"PLAN_ID: the saved plan '{record.plan_id}' was made by {record.made_by()}, "
                    f"not by this step's commit {(commit or 'unknown')[:12]} on branch "
                    f"{branch or '(none)'}{pr}: a saved plan is applied only by the commit and "
                    "branch that planned it. Nothing was applied: run the plan step in this "
                    "pipeline (MODE: plan, PLAN_ID: $BITBUCKET_COMMIT), then this step")


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class PlanStore:
    def __init__(self, spaces: Spaces, prefix: str) -> None:
        self.spaces = spaces
        self.prefix = prefix

    def key(self, plan_id: str, name: str) -> str:
        return f"{self.prefix}{plan_id}/{name}"

    def claim_key(self, plan_id: str, generation: int = 1) -> str:
        """The claim of one generation of a plan id: each plan made under the id has its own, so
        a plan made again (a re-run) is claimed afresh and an applied one never again."""
        name = APPLIED if generation == 1 else f"applied-{generation}.json"
        return self.key(plan_id, name)

    def applied(self, plan_id: str, generation: int = 1) -> dict[str, Any] | None:
        """The claim of that generation of the plan (``status``: applying, applied, failed)."""
        obj = self.spaces.get(self.claim_key(plan_id, generation))
        if obj is None:
            return None
        try:
            data: dict[str, Any] = json.loads(obj.body)
            return data
        except ValueError:
            return {"status": "unknown"}

    def save(self, record: PlanRecord, plan_bytes: bytes, plan_json: str,
             changes_json: str | None = None) -> None:
        """Store the plan; refuses a generation that was already claimed."""
        done = self.applied(record.plan_id, record.generation)
        if done is not None:
            raise PipeError(f"PLAN_ID: the plan '{record.plan_id}' (generation "
                            f"{record.generation}) was claimed by another run while this one was "
                            f"made ({when(done)}): run the plan step again")
        self.spaces.put(self.key(record.plan_id, PLAN_FILE), plan_bytes)
        self.spaces.put(self.key(record.plan_id, PLAN_JSON), plan_json.encode(),
                        content_type="application/json")
        if changes_json is not None:
            self.spaces.put(self.key(record.plan_id, CHANGES), changes_json.encode(),
                            content_type="application/json")
        # the record last: a plan without a record cannot be applied
        self.spaces.put(self.key(record.plan_id, RECORD), record.to_json().encode(),
                        content_type="application/json")

    def mark_reviewed(self, record: PlanRecord) -> None:
        """Point pull request ``record.pr_id`` at this plan: the one made for its last push."""
        assert record.pr_id
        doc = {"plan_id": record.plan_id, "commit": record.commit, "pr_id": record.pr_id,
               "created": record.created, "build": record.build_number}
        self.spaces.put(f"{self.prefix}{REVIEWS}/pr-{record.pr_id}.json",
                        json.dumps(doc, indent=2, sort_keys=True).encode(),
                        content_type="application/json")

    def mark_unchanged(self, pr_id: str, commit: str | None, build: str | None) -> None:
        """Point pull request ``pr_id`` at no plan: its last push (``commit``) changed nothing
        this root uses, so its pipeline planned nothing for it (many roots, ``CHANGED_ONLY``)."""
        doc = {"unchanged": True, "commit": commit, "pr_id": pr_id, "created": now(),
               "build": build}
        self.spaces.put(f"{self.prefix}{REVIEWS}/pr-{pr_id}.json",
                        json.dumps(doc, indent=2, sort_keys=True).encode(),
                        content_type="application/json")

    def review(self, pr_id: int) -> dict[str, Any] | None:
        """What :meth:`mark_reviewed` wrote for pull request ``pr_id``, or None."""
        return self.spaces.get_json(f"{self.prefix}{REVIEWS}/pr-{pr_id}.json")

    def record(self, plan_id: str) -> PlanRecord | None:
        obj = self.spaces.get(self.key(plan_id, RECORD))
        if obj is None:
            return None
        try:
            return PlanRecord.from_json(obj.body)
        except (ValueError, TypeError, KeyError):
            return None

    def changes(self, plan_id: str) -> dict[str, Any] | None:
        return self.spaces.get_json(self.key(plan_id, CHANGES))

    def load(self, plan_id: str) -> tuple[PlanRecord, bytes]:
        """The record and the plan binary, checked: sha256 matching (whether it was applied is
        the caller's question: :meth:`applied` of ``record.generation``)."""
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

    def claim(self, plan_id: str, build: str | None, *, exclusive: bool = True,
              generation: int = 1) -> None:
        """Mark the plan used before applying it.

        ``exclusive``: a conditional create (``If-None-Match: *``), which only one run can win on
        a store that honours it.  Otherwise a plain write, for a store that ignores the condition
        and runs serialised by the user (see the module docstring and :func:`claim_mode`)."""
        # the token makes this run's claim tell from any other's (:meth:`Spaces.put` reads a
        # retried conditional write back)
        body = json.dumps({"status": "applying", "started": now(), "build": build,
                           "claim": pysecrets.token_hex(16)}).encode()
        try:
            self.spaces.put(self.claim_key(plan_id, generation), body, if_none_match=exclusive,
                            content_type="application/json")
        except PreconditionFailed:
            raise PipeError(f"PLAN_ID: the plan '{plan_id}' is being applied or was applied by "
                            "another run: a saved plan is applied once") from None

    def release(self, plan_id: str, generation: int = 1) -> None:
        """Undo :meth:`claim` after an apply that wrote nothing (e.g. the lock was held)."""
        self.spaces.delete(self.claim_key(plan_id, generation))

    def finish(self, plan_id: str, build: str | None, status: str, generation: int = 1) -> None:
        body = json.dumps({"status": status, "finished": now(), "build": build}).encode()
        self.spaces.put(self.claim_key(plan_id, generation), body,
                        content_type="application/json")


def when(done: dict[str, Any]) -> str:
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


def claim_mode(conditional_writes: bool, locking: str, endpoint: str, plan_id: str) -> bool:
    """Whether the claim of a saved plan is a conditional create (True) or a plain write (False,
    only under ``LOCKING: off``); raises when nothing can make the claim hold.

    ``conditional_writes`` is the probe's answer for this store (:mod:`probe`)."""
    if conditional_writes:
        return True
    if locking == "off":
        get_logger().warning(
            "The store at %s ignores conditional writes (If-None-Match): the claim of the saved "
            "plan '%s' is a plain write that holds only because, with LOCKING off, your "
            "pipelines never run two steps on this state at once.", endpoint, plan_id)
        return False
    raise PipeError(f"PLAN_ID: the store at {endpoint} ignores conditional writes (If-None-Match), "
                    "so nothing can make sure a saved plan is applied once, and Terraform's lock "
                    "file does not lock there either: use a store that honours them, or set "
                    "LOCKING: 'off' only if your pipelines never run two steps on this state at "
                    "once (Bitbucket deployments with concurrency control)")
