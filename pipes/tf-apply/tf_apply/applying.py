"""``MODE: apply`` and ``destroy``: a saved plan applied once, or the configuration applied."""
from __future__ import annotations

import copy
from pathlib import Path
from typing import TYPE_CHECKING

from pipes_common import log as plog
from pipes_common import secrets
from pipes_common.errors import PipeError
from pipes_common.fsutil import atomic_write

from . import bbcomment, changes, planstore, prcomment, probe, redact, reviewed, summary, tfoutputs
from .run import Result, Run, common_args, log_summary, outputs_of, publish, report
from .terraform import JsonRun

if TYPE_CHECKING:
    from .reviewed import Reviewed


def run_apply(run: Run) -> int:
    """Apply (or destroy) the configuration as it is now; MODE apply first looks for the plan
    reviewed in the pull request this commit merged, and applies only what matches it."""
    s = run.s
    if s.mode == "apply":
        lookup = reviewed.find(run)
        if lookup.done is not None:
            done = lookup.done
            return already_applied(run, done, f"The plan reviewed in pull request "
                                              f"#{done['pr_id']} (commit {str(done['commit'])[:12]})")
        if lookup.reviewed is not None:
            return apply_reviewed(run, lookup.reviewed)
        no_reviewed_plan(run, lookup.why)
    args = ["apply", *common_args(s), "-auto-approve"]
    if s.mode == "destroy":
        args.append("-destroy")
    result = run.tf.run_json([*args, *s.extra_args])
    if s.mode == "apply":
        report(run, summary.from_events(result.events), None)
    return applied(run, result, "Destroyed" if s.mode == "destroy" else "Applied")


def run_saved(run: Run) -> int:
    """Apply the saved plan ``PLAN_ID``: checked fresh, claimed, applied, recorded."""
    s, tf, spaces = run.s, run.tf, run.store
    assert s.plan_id
    log = plog.get_logger()
    store = planstore.PlanStore(spaces, s.plans_prefix)
    record, plan_bytes = store.load(s.plan_id)
    if s.signing_key:
        planstore.check_signature(record, s.signing_key)
    planstore.check_maker(record, s.commit, s.branch, s.pr_id)
    done = store.applied(s.plan_id, record.generation)
    if done is not None:
        return rerun_of_saved(run, done)
    if record.workspace != s.workspace or record.state_object != s.state_object:
        raise PipeError(f"PLAN_ID: the plan '{s.plan_id}' was made for {record.state_object}, not "
                        f"{s.state_object}: use the same STATE_KEY and WORKSPACE as the plan step")
    if record.terraform_version != tf.version():
        raise PipeError(f"PLAN_ID: the plan '{s.plan_id}' was made with Terraform "
                        f"{record.terraform_version}, this pipe bundles {tf.version()}: use the "
                        "same tf-apply version for plan and apply")
    current = planstore.read_state(spaces, s.state_object)
    planstore.check_fresh(record, current)
    plan_file = run.work / planstore.PLAN_FILE
    atomic_write(plan_file, plan_bytes, mode=0o600)
    log.info("Saved plan '%s' is current (%s, sha256 %s…).", s.plan_id, current.describe(),
             record.sha256[:12])
    exclusive = planstore.claim_mode(run.conditional_writes, s.locking, spaces.endpoint, s.plan_id)
    generation = record.generation
    store.claim(s.plan_id, s.build_number, exclusive=exclusive, generation=generation)
    try:
        result = apply_plan_file(run, plan_file)
    except PipeError:
        if planstore.read_state(spaces, s.state_object) == record.state:
            store.release(s.plan_id, generation)  # nothing was written: the plan is still good to apply
            log.info("The state is unchanged: the saved plan '%s' can be applied again.", s.plan_id)
        else:
            store.finish(s.plan_id, s.build_number, "failed", generation)
            log.info("The apply wrote the state before it failed: the saved plan '%s' is stale "
                     "now; run the plan step again (same PLAN_ID), then this step.", s.plan_id)
        raise
    store.finish(s.plan_id, s.build_number, "applied", generation)
    return applied(run, result, f"Applied saved plan {s.plan_id}")


def rerun_of_saved(run: Run, done: dict[str, object]) -> int:
    """The saved plan was claimed before: applied (a re-run after success: nothing to do),
    failed after writing the state (stale: plan again), or being applied by another run."""
    s = run.s
    status = done.get("status")
    if status == "applied":
        return already_applied(run, done, f"The saved plan {s.plan_id}")
    if status == "failed":
        raise PipeError(f"PLAN_ID: the saved plan '{s.plan_id}' failed while being applied "
                        f"({planstore.when(done)}) after writing the state, so it is stale and "
                        "never applied again: run the plan step again (it plans again under the "
                        "same PLAN_ID), then this step")
    raise PipeError(f"PLAN_ID: the plan '{s.plan_id}' is being applied or was applied by another "
                    f"run ({planstore.when(done)}): a saved plan is applied once")


def applied(run: Run, result: JsonRun, what: str, extra: Result | None = None) -> int:
    sm = summary.from_events(result.events)
    log_summary(sm)
    outs = outputs_of(result)
    more = extra or Result()
    publish(run, Result(sm=sm, outs=outs, plan_id=run.s.plan_id,
                        applied=True if run.s.mode == "apply" else None,
                        reviewed_pr=more.reviewed_pr, reviewed_commit=more.reviewed_commit))
    for name in outs.sensitive:
        plog.get_logger().info("output %s is sensitive: not shown, not written", name)
    plog.success(f"{what}: {sm.headline()}")
    return 0


def no_reviewed_plan(run: Run, why: str) -> None:
    """REQUIRE_REVIEWED_PLAN true: refuse; false: say so, and apply as it is."""
    if run.s.require_reviewed:
        publish(run, Result(applied=False, refused="no-reviewed-plan"))
        raise PipeError(f"REQUIRE_REVIEWED_PLAN: no reviewed plan for commit "
                        f"{(run.s.commit or '?')[:12]} ({why}). Nothing was applied: plan in the "
                        "pull request's pipeline (MODE: plan with BITBUCKET_ACCESS_TOKEN) and "
                        "merge it, or set REQUIRE_REVIEWED_PLAN: 'false'")
    plog.get_logger().info("No reviewed plan (%s): applying the configuration as it is now "
                           "(REQUIRE_REVIEWED_PLAN is false).", why)


def already_applied(run: Run, done: dict[str, object], what: str) -> int:
    """A re-run after the plan was applied: nothing to do; Terraform's outputs handed over
    again, as the first run did."""
    outs = tfoutputs.split(run.tf.output_json())
    reviewed_pr = done.get("pr_id")
    publish(run, Result(outs=outs, plan_id=run.s.plan_id, applied=False,
                        reviewed_pr=None if reviewed_pr is None else int(str(reviewed_pr)),
                        reviewed_commit=str(done.get("commit") or "")))
    plog.success(f"{what} was already applied ({planstore.when(done)}): nothing to do")
    return 0


def apply_reviewed(run: Run, rv: Reviewed) -> int:
    """Plan again, compare with the reviewed plan; equal: apply this plan, else refuse."""
    s, tf, spaces = run.s, run.tf, run.store
    log = plog.get_logger()
    plan_file = run.work / "merged.tfplan"
    tf.run_json(["plan", *common_args(s), "-detailed-exitcode", f"-out={plan_file}",
                 *s.extra_args], ok_codes=(0, 2))
    doc = tf.show_json(plan_file)
    _mask_sensitive(doc)
    sm = summary.from_plan_json(doc)
    found = changes.differences(rv.changes, changes.of_plan(doc, rv.key))
    reviewed = Result(sm=sm, reviewed_pr=rv.pr_id, reviewed_commit=rv.commit)
    if found:
        for line in found:
            log.warning("plan-changed: %s", line)
        refused_comment(run, rv, found)
        publish(run, Result(sm=sm, applied=False, refused="plan-changed", reviewed_pr=rv.pr_id,
                            reviewed_commit=rv.commit))
        raise PipeError(f"plan-changed: the plan of commit {(s.commit or '?')[:12]} differs from "
                        f"the one reviewed in pull request #{rv.pr_id} (commit {rv.commit[:12]}) "
                        f"in {len(found)} places, listed above; nothing was applied and the state "
                        "was not touched. Plan again in a new pull request and merge it")
    log.info("The plan matches the plan reviewed in pull request #%s (commit %s, plan id %s).",
             rv.pr_id, rv.commit[:12], rv.plan_id)
    store = planstore.PlanStore(spaces, s.plans_prefix)
    before = planstore.read_state(spaces, s.state_object)
    probed = run.conditional_writes or _probe(run)
    store.claim(rv.plan_id, s.build_number, generation=rv.generation,
                exclusive=planstore.claim_mode(probed, s.locking, spaces.endpoint, rv.plan_id))
    try:
        result = apply_plan_file(run, plan_file)
    except PipeError:
        if planstore.read_state(spaces, s.state_object) == before:
            store.release(rv.plan_id, rv.generation)  # nothing written: the review still holds
        else:
            store.finish(rv.plan_id, s.build_number, "failed", rv.generation)
        raise
    store.finish(rv.plan_id, s.build_number, "applied", rv.generation)
    return applied(run, result, f"Applied the plan reviewed in pull request #{rv.pr_id} (commit "
                   f"{rv.commit[:12]})", reviewed)


def apply_plan_file(run: Run, plan_file: Path) -> JsonRun:
    """``terraform apply`` of a saved plan file (its variables and targets are in the plan)."""
    s = run.s
    return run.tf.run_json(["apply", "-input=false", "-no-color", f"-lock-timeout={s.lock_timeout}",
                            *(["-lock=false"] if s.locking == "off" else []), *s.extra_args,
                            str(plan_file)])


def _mask_sensitive(doc: dict[str, object]) -> None:
    """Every value the plan marks sensitive is masked in anything the pipe prints."""
    for value in redact.plan_json_and_values(copy.deepcopy(doc))[1]:
        secrets.register(value)


def _probe(run: Run) -> bool:
    return probe.conditional_writes_work(run.store, run.s.state_object)


def refused_comment(run: Run, rv: Reviewed, found: list[str]) -> None:
    """Tell the pull request its plan was not applied; a failure here is only a warning (the
    refusal is the message that matters)."""
    s, ctx = run.s, run.ctx
    log = plog.get_logger()
    if not s.comment or not s.bb_token or not ctx.workspace or not ctx.repo_slug:
        return
    where = prcomment.Where(working_dir=s.working_dir_rel, workspace=s.workspace, commit=s.commit,
                            build_url=ctx.build_url, plan_id=rv.plan_id, plan_location=None,
                            report_id=None)
    text = prcomment.refused_body(found, where, s.commit or "?", rv.commit)
    try:
        posted = bbcomment.CommentClient(s.bb_token, s.bb_api_url).upsert(
            ctx.workspace, ctx.repo_slug, str(rv.pr_id),
            prcomment.refused_marker(s.working_dir_rel, s.workspace), text)
    except PipeError as err:  # the shared client's errors, refusals and transient ones alike
        log.warning("Pull request #%s not told of the refusal: %s", rv.pr_id, err)
        return
    log.info("Pull request #%s: refusal comment %s %s.", rv.pr_id, posted.comment_id,
             "created" if posted.created else "updated")
