"""``MODE: plan``: a saved plan in Spaces, its summary, and in a pull request its comment."""
from __future__ import annotations

import hashlib
from typing import Any

from pipes_common import log as plog
from pipes_common import secrets
from pipes_common.bitbucket import StepContext
from pipes_common.errors import PipeError

from . import bbcomment, changes, insights, planstore, prcomment, redact, summary
from .run import Result, Run, common_args, log_summary, publish, report
from .settings import Settings


def run_plan(run: Run) -> int:
    s, tf, spaces = run.s, run.tf, run.store
    assert s.plan_id
    log = plog.get_logger()
    store = planstore.PlanStore(spaces, s.plans_prefix)
    previous, done = earlier_plan(store, s.plan_id)
    before = planstore.read_state(spaces, s.state_object)
    plan_file = run.work / planstore.PLAN_FILE
    result = tf.run_json(["plan", *common_args(s), "-detailed-exitcode", f"-out={plan_file}",
                          *s.extra_args], ok_codes=(0, 2))
    after = planstore.read_state(spaces, s.state_object)
    if after != before:
        raise PipeError("The state changed while the plan was made (another run applied): run "
                        "the plan again")
    plan_doc = tf.show_json(plan_file)
    sm = summary.from_plan_json(plan_doc)
    if done is not None and done.get("status") == "applied" and result.code == 0:
        return nothing_new(run, sm, done)
    plan_bytes = plan_file.read_bytes()
    record = planstore.PlanRecord(
        plan_id=s.plan_id, state_object=s.state_object, workspace=s.workspace, state=after,
        sha256=hashlib.sha256(plan_bytes).hexdigest(),
        terraform_version=str(plan_doc.get("terraform_version") or tf.version()),
        created=planstore.now(), commit=s.commit, build_number=s.build_number,
        counts=sm.counts, has_changes=result.code == 2, pr_id=s.pr_id,
        generation=1 if previous is None else previous.generation + 1, branch=s.branch)
    if s.signing_key:
        record = planstore.sign(record, s.signing_key)
    if previous is not None:
        log.info("A plan was saved under PLAN_ID %s before (%s): this one replaces it "
                 "(generation %d), and only this one can be applied.", s.plan_id,
                 planstore.when(done) if done else "not applied", record.generation)
    key = changes.new_key()
    comparable = changes.document(changes.of_plan(plan_doc, key), key)  # before redacting
    redacted, sensitive = redact.plan_json_and_values(plan_doc)  # plan_doc is redacted too
    store.save(record, plan_bytes, redacted, comparable)
    if s.pr_id:
        store.mark_reviewed(record)
        log.info("Stored as the plan of pull request #%s (commit %s): an apply after the merge "
                 "compares its plan with this one.", s.pr_id, (s.commit or "?")[:12])
    log_summary(sm)
    log.info("Saved plan stored at %s%s/ (made against %s%s).", s.plans_prefix, s.plan_id,
             after.describe(), ", signed with PLAN_SIGNING_KEY" if record.signature else "")
    report(run, sm, s.plan_id)
    publish(run, Result(sm=sm, plan_id=s.plan_id))
    comment(run, sm, plan_doc, sensitive)
    plog.success(f"Plan saved as PLAN_ID {s.plan_id}: {sm.headline()}"
                 + ("" if result.code == 2 else " (no changes)"))
    return 0


def earlier_plan(store: planstore.PlanStore, plan_id: str
                 ) -> tuple[planstore.PlanRecord | None, dict[str, Any] | None]:
    """The plan saved under ``plan_id`` before (a re-run of the step) and its claim.  A plan
    being applied is never replaced; an applied or failed one is kept, and a new plan under the
    same id gets the next generation, with a claim of its own."""
    previous = store.record(plan_id)
    done = None if previous is None else store.applied(plan_id, previous.generation)
    if done is not None and done.get("status") not in ("applied", "failed"):
        raise PipeError(f"PLAN_ID: the plan '{plan_id}' is being applied by another run "
                        f"({planstore.when(done)}): wait for it to finish, then run this step "
                        "again")
    return previous, done


def nothing_new(run: Run, sm: summary.Summary, done: dict[str, Any]) -> int:
    """A re-run of a plan step whose plan was applied, with nothing to change since: the same
    result as the first run, and nothing saved (the applied plan stays the id's plan)."""
    s = run.s
    log_summary(sm)
    publish(run, Result(sm=sm, plan_id=s.plan_id))
    plog.success(f"Plan {s.plan_id} was already applied ({planstore.when(done)}) and the "
                 "infrastructure matches the configuration: no changes, nothing new to save")
    return 0


def comment_target(s: Settings, ctx: StepContext) -> tuple[bbcomment.CommentClient, str, str] | None:
    """The client, workspace and repository of the pull request comment; None, with one warning
    line saying why, when it cannot be written."""
    log = plog.get_logger()
    if not s.bb_token:
        log.warning("Pull request comment skipped: BITBUCKET_ACCESS_TOKEN is not set (pass an "
                    "access token with the pull request write scope, or set COMMENT: false).")
        return None
    if not ctx.workspace or not ctx.repo_slug:
        log.warning("Pull request comment skipped: BITBUCKET_WORKSPACE or BITBUCKET_REPO_SLUG "
                    "is not set (not running in Bitbucket Pipelines).")
        return None
    return bbcomment.CommentClient(s.bb_token, s.bb_api_url), ctx.workspace, ctx.repo_slug


def comment(run: Run, sm: summary.Summary, plan_doc: dict[str, Any], sensitive: set[str]) -> None:
    """In a pull-request pipeline: the plan as the pull request's one comment for this working
    directory and workspace (created, or updated on later pushes)."""
    s, ctx = run.s, run.ctx
    if not s.pr_id or not s.comment:
        return
    if run.sink is not None:  # one of many roots: one comment for all of them (:mod:`many`)
        for value in sensitive:
            secrets.register(value)
        text = redact.redact_text(run.tf.show_text(run.work / planstore.PLAN_FILE), sensitive)
        drift = len(plan_doc.get("resource_drift") or [])  # changed outside Terraform
        run.sink.sections.append(prcomment.Section(where_of(run), sm,
                                                   prcomment.output_changes(plan_doc), text, drift))
        return
    target = comment_target(s, ctx)
    if target is None:
        return
    client, workspace, repo_slug = target
    log = plog.get_logger()
    for value in sensitive:
        secrets.register(value)
    where = where_of(run)
    text = redact.redact_text(run.tf.show_text(run.work / planstore.PLAN_FILE), sensitive)
    markdown = prcomment.body(sm, prcomment.output_changes(plan_doc), text, where)
    try:
        posted = client.upsert(workspace, repo_slug, s.pr_id,
                               prcomment.marker(s.working_dir_rel, s.workspace), markdown)
    except bbcomment.TransientError as err:
        log.warning("Pull request comment not posted: %s; the plan itself is fine.", err)
        return
    log.info("Pull request #%s: plan comment %s %s.", s.pr_id, posted.comment_id,
             "created" if posted.created else "updated")


def where_of(run: Run) -> prcomment.Where:
    """Where the full plan of this run is: the stored plan, its report, the pipeline log."""
    s = run.s
    return prcomment.Where(
        working_dir=s.working_dir_rel, workspace=s.workspace, commit=s.commit,
        build_url=run.ctx.build_url, plan_id=s.plan_id,
        plan_location=f"s3://{s.bucket}/{s.plans_prefix}{s.plan_id}/plan.json",
        report_id=insights.report_id(s.workspace, s.working_dir_rel) if s.code_insights else None)
