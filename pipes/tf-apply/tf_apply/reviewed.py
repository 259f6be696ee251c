"""The plan reviewed in the pull request that this commit merged, found after the merge.

The merge commit is not the commit that was planned, so the link goes through Bitbucket: the
pull requests of the commit (:meth:`bbcomment.CommentClient.pull_requests_of_commit`), the one
merged into this branch (its ``merge_commit``, or its last commit for a fast-forward), then the
plan that pull request's last push stored (:meth:`planstore.PlanStore.mark_reviewed`).  Anything
missing on the way is a reason (:attr:`Lookup.why`), which ``REQUIRE_REVIEWED_PLAN`` turns into a
refusal or a note.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipes_common.bitbucket import StepContext
from pipes_common.errors import PipeError

from . import bbcomment, planstore
from .run import Run
from .settings import Settings


@dataclass(frozen=True)
class Reviewed:
    pr_id: int
    commit: str          # the pull request's last commit, which was planned
    plan_id: str
    changes: dict[str, Any]
    key: str             # the digest key of the sensitive values (:mod:`changes`)
    generation: int = 1  # of the plan under its id (:class:`planstore.PlanRecord`)


@dataclass(frozen=True)
class Lookup:
    reviewed: Reviewed | None = None
    why: str = ""                       # why none was found
    done: dict[str, Any] | None = None  # the claim of a reviewed plan already applied


def _hash(node: Any) -> str:
    return str(((node or {}).get("commit") or {}).get("hash") or "") if isinstance(node, dict) else ""


def _same(a: str, b: str) -> bool:
    return bool(a) and bool(b) and (a.startswith(b) or b.startswith(a))


def merged_into(prs: list[dict[str, Any]], commit: str, branch: str | None) -> dict[str, Any] | None:
    """The pull request merged into ``branch`` whose merge (or last) commit is ``commit``."""
    merged = [pr for pr in prs if pr.get("state") == "MERGED" and (
        not branch or ((pr.get("destination") or {}).get("branch") or {}).get("name") == branch)]
    for pr in merged:
        if _same(str((pr.get("merge_commit") or {}).get("hash") or ""), commit):
            return pr
    for pr in merged:
        if _same(_hash(pr.get("source")), commit):
            return pr
    return merged[0] if len(merged) == 1 else None


def merged_pull_request(s: Settings, ctx: StepContext) -> tuple[dict[str, Any] | None, str]:
    """The pull request this commit merged into its branch, or None and why there is none."""
    if not s.bb_token:
        return None, ("BITBUCKET_ACCESS_TOKEN is not set, so the pull request of this commit "
                      "cannot be looked up")
    if not (ctx.workspace and ctx.repo_slug and s.commit):
        return None, ("not running in Bitbucket Pipelines (no BITBUCKET_WORKSPACE, "
                      "BITBUCKET_REPO_SLUG or BITBUCKET_COMMIT)")
    client = bbcomment.CommentClient(s.bb_token, s.bb_api_url)
    try:
        prs = client.pull_requests_of_commit(ctx.workspace, ctx.repo_slug, s.commit)
    except bbcomment.TransientError as err:
        raise PipeError(f"BITBUCKET_ACCESS_TOKEN: could not look up the pull request of commit "
                        f"{s.commit[:12]}: {err}. The state was not touched: run the step again "
                        "in a minute") from None
    pr = merged_into(prs, s.commit, ctx.branch)
    if pr is None:
        return None, (f"commit {s.commit[:12]} is not the merge of a pull request"
                      + (f" into {ctx.branch}" if ctx.branch else "")
                      + ("" if prs else f": Bitbucket links no pull request to it. A direct "
                         f"push is never reviewed; after a merge, {bbcomment.COMMIT_LINKS_APP}"
                         f" may not be installed yet ({bbcomment.INSTALL_APP}, then run this "
                         "step again in a few minutes)"))
    return pr, ""


def head_of(pr: dict[str, Any]) -> str:
    """The pull request's last commit (abbreviated, as Bitbucket gives it)."""
    return _hash(pr.get("source"))


def same_commit(a: str, b: str) -> bool:
    return _same(a, b)


def find(run: Run) -> Lookup:
    s, ctx = run.s, run.ctx
    pr, why = merged_pull_request(s, ctx)
    if pr is None:
        return Lookup(why=why)
    pr_id = int(pr.get("id") or 0)
    store = planstore.PlanStore(run.store, s.plans_prefix)
    pointer = store.review(pr_id)
    where = f"{s.working_dir_rel} ({s.workspace})"
    if pointer is None:
        return Lookup(why=f"pull request #{pr_id} has no stored plan for {where}: its pipeline "
                          "did not run MODE plan with this STATE_KEY and WORKSPACE")
    planned, head = str(pointer.get("commit") or ""), _hash(pr.get("source"))
    if head and not _same(planned, head):
        return Lookup(why=f"the last plan of pull request #{pr_id} is of commit {planned[:12]}, "
                          f"not of its last commit {head[:12]} (the plan step of the last push "
                          "did not finish)")
    plan_id = str(pointer.get("plan_id") or "")
    record = store.record(plan_id)
    if record is None:
        return Lookup(why=f"the plan of pull request #{pr_id} ({plan_id}) has no record")
    if record.pr_id != str(pr_id) or not _same(str(record.commit or ""), planned):
        return Lookup(why=f"the plan stored for pull request #{pr_id} ({plan_id}) was made by "
                          f"{record.made_by()}, not by pull request #{pr_id}'s commit "
                          f"{planned[:12]}")
    generation = record.generation
    done = store.applied(plan_id, generation)
    if done is not None and done.get("status") == "applied":
        return Lookup(done={**done, "pr_id": pr_id, "commit": planned, "plan_id": plan_id})
    if done is not None:
        return Lookup(why=f"the plan reviewed in pull request #{pr_id} cannot be applied as "
                          f"reviewed any more ({planstore.when(done)})")
    doc = store.changes(plan_id)
    if doc is None or not isinstance(doc.get("resources"), dict) or not doc.get("key"):
        return Lookup(why=f"the plan of pull request #{pr_id} ({plan_id}) has no comparable "
                          "changes stored (made by an older tf-apply)")
    return Lookup(reviewed=Reviewed(pr_id, planned, plan_id, doc["resources"], str(doc["key"]),
                                    generation))
