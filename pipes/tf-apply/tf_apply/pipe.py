"""tf-apply: orchestration (variables -> backend -> locking probe -> terraform -> summary/outputs).

Start-up time is part of every step this pipe runs in, so nothing slow is imported before
``terraform init`` starts: the Spaces client (boto3) is imported and the locking probe run in a
thread while init works, and the saved-plan store and Code Insights only when a run needs them.
"""
from __future__ import annotations

import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipes_common import log as plog
from pipes_common import outputs, reach, runner
from pipes_common.bitbucket import StepContext
from pipes_common.errors import PipeError
from pipes_common.fsutil import atomic_write
from pipes_common.handoff import TfApplyOutputs

from . import __version__, backend, summary, tfoutputs
from .schema import RULES, SCHEMA
from .settings import Settings, build
from .terraform import JsonRun, Terraform

if TYPE_CHECKING:
    from .probe import Later
    from .s3 import Spaces


def _common_args(s: Settings) -> list[str]:
    args = ["-input=false", "-no-color", f"-lock-timeout={s.lock_timeout}"]
    if s.locking == "off":
        args.append("-lock=false")
    args += [f"-var-file={f}" for f in s.var_files]
    args += [f"-target={t}" for t in s.targets]
    return args


def _log_summary(sm: summary.Summary) -> None:
    log = plog.get_logger()
    for line in sm.table():
        log.info("%s", line)


def _report(s: Settings, ctx: StepContext, sm: summary.Summary, plan_id: str | None) -> None:
    if not s.code_insights:
        return
    from . import insights  # the toolkit and requests: only for a run that sends a report

    body = insights.report_body(sm, mode=s.mode, workspace=s.workspace,
                                working_dir=s.working_dir_rel, plan_id=plan_id, link=ctx.build_url)
    insights.send(os.environ, ctx, s.api_proxy, body, insights.report_id(s.workspace, s.working_dir_rel))


def _publish(ctx: StepContext, s: Settings, sm: summary.Summary | None,
             outs: tfoutputs.Outputs | None, plan_id: str | None = None) -> None:
    if outs is not None:
        tfoutputs.write_json(ctx, outs)
    outputs.publish(ctx, TfApplyOutputs(
        mode=s.mode, workspace=s.workspace, state_key=s.state_key, plan_id=plan_id or "",
        has_changes=None if sm is None else sm.has_changes,
        counts={} if sm is None else sm.counts,
        outputs=None if outs is None else outs.values,
        sensitive_outputs=() if outs is None else tuple(outs.sensitive)), __version__)


def _outputs_of(run: JsonRun) -> tfoutputs.Outputs:
    events = run.of_type("outputs")
    return tfoutputs.split(dict(events[-1].get("outputs") or {}) if events else {})


def _spaces_and_locking(s: Settings, later: Later) -> tuple[Spaces | None, bool]:
    """The locking check, and the Spaces client when the run needs one: run in a thread while
    ``terraform init`` works (init takes no lock), so that its import of boto3 and its calls
    overlap init.  The probe object's delete is left to ``later``.

    Also returns whether the store was probed and honours conditional writes: the claim of a saved
    plan needs the answer, so applying one probes the store whatever ``LOCKING`` says."""
    probing = s.locking == "auto" and s.mode in ("plan", "apply", "destroy")
    spaces = None
    if probing or s.mode == "plan" or s.plan_id:
        from .s3 import Spaces

        spaces = Spaces(s)
    conditional = False
    if s.mode in ("plan", "apply", "destroy"):
        conditional = _check_locking(s, spaces, later)
    if s.mode == "apply" and s.plan_id and not conditional:
        from . import probe

        assert spaces is not None
        conditional = probe.conditional_writes_work(spaces, s.state_object, later)
    return spaces, conditional


def _check_locking(s: Settings, spaces: Spaces | None, later: Later) -> bool:
    """Check the locking LOCKING asks for; True when the probe ran and passed."""
    log = plog.get_logger()
    if s.locking == "auto":
        from . import probe

        assert spaces is not None
        probe.check(spaces, s.state_object, later)
        return True
    if s.locking == "lockfile":
        log.info("LOCKING is lockfile: using Terraform's lock file without probing the store.")
    else:
        for _ in range(2):
            log.warning("LOCKING is off: NOTHING stops two runs from writing this state at once. "
                        "Serialise the steps yourself (deployments with concurrency control).")
    return False


def run_plan(s: Settings, ctx: StepContext, tf: Terraform, spaces: Spaces, work: Path) -> int:
    import hashlib

    from . import planstore, redact

    assert s.plan_id
    log = plog.get_logger()
    store = planstore.PlanStore(spaces, s.plans_prefix)
    if store.applied(s.plan_id) is not None:
        raise PipeError(f"PLAN_ID: a plan '{s.plan_id}' was already applied: plan ids are "
                        "single-use; set another PLAN_ID")
    before = planstore.read_state(spaces, s.state_object)
    plan_file = work / planstore.PLAN_FILE
    run = tf.run_json(["plan", *_common_args(s), "-detailed-exitcode", f"-out={plan_file}",
                       *s.extra_args], ok_codes=(0, 2))
    after = planstore.read_state(spaces, s.state_object)
    if after != before:
        raise PipeError("The state changed while the plan was made (another run applied): run "
                        "the plan again")
    plan_doc = tf.show_json(plan_file)
    sm = summary.from_plan_json(plan_doc)
    plan_bytes = plan_file.read_bytes()
    record = planstore.PlanRecord(
        plan_id=s.plan_id, state_object=s.state_object, workspace=s.workspace, state=after,
        sha256=hashlib.sha256(plan_bytes).hexdigest(),
        terraform_version=str(plan_doc.get("terraform_version") or tf.version()),
        created=planstore.now(), commit=s.commit, build_number=s.build_number,
        counts=sm.counts, has_changes=run.code == 2)
    redacted, sensitive = redact.plan_json_and_values(plan_doc)  # plan_doc is redacted too
    store.save(record, plan_bytes, redacted)
    _log_summary(sm)
    log.info("Saved plan stored at %s%s/ (made against %s).", s.plans_prefix, s.plan_id,
             after.describe())
    _report(s, ctx, sm, s.plan_id)
    _publish(ctx, s, sm, None, s.plan_id)
    _comment(s, ctx, tf, sm, plan_doc, plan_file, sensitive)
    plog.success(f"Plan saved as PLAN_ID {s.plan_id}: {sm.headline()}"
                 + ("" if run.code == 2 else " (no changes)"))
    return 0


def _comment(s: Settings, ctx: StepContext, tf: Terraform, sm: summary.Summary,
             plan_doc: dict[str, Any], plan_file: Path, sensitive: set[str]) -> None:
    """In a pull-request pipeline: the plan as the pull request's one comment for this working
    directory and workspace (created, or updated on later pushes)."""
    if not s.pr_id or not s.comment:
        return
    log = plog.get_logger()
    if not s.bb_token:
        log.warning("Pull request comment skipped: BITBUCKET_ACCESS_TOKEN is not set (pass an "
                    "access token with the pull request write scope, or set COMMENT: false).")
        return
    if not ctx.workspace or not ctx.repo_slug:
        log.warning("Pull request comment skipped: BITBUCKET_WORKSPACE or BITBUCKET_REPO_SLUG "
                    "is not set (not running in Bitbucket Pipelines).")
        return
    from pipes_common import secrets

    from . import bbcomment, insights, prcomment, redact

    for value in sensitive:
        secrets.register(value)
    where = prcomment.Where(
        working_dir=s.working_dir_rel, workspace=s.workspace, commit=s.commit,
        build_url=ctx.build_url, plan_id=s.plan_id,
        plan_location=f"s3://{s.bucket}/{s.plans_prefix}{s.plan_id}/plan.json",
        report_id=insights.report_id(s.workspace, s.working_dir_rel) if s.code_insights else None)
    text = redact.redact_text(tf.show_text(plan_file), sensitive)
    markdown = prcomment.body(sm, prcomment.output_changes(plan_doc), text, where)
    client = bbcomment.CommentClient(s.bb_token, s.bb_api_url)
    try:
        posted = client.upsert(ctx.workspace, ctx.repo_slug, s.pr_id,
                               prcomment.marker(s.working_dir_rel, s.workspace), markdown)
    except bbcomment.TransientError as err:
        log.warning("Pull request comment not posted: %s; the plan itself is fine.", err)
        return
    log.info("Pull request #%s: plan comment %s %s.", s.pr_id, posted.comment_id,
             "created" if posted.created else "updated")


def run_validate(s: Settings, ctx: StepContext, tf: Terraform) -> int:
    """``terraform validate -json`` and ``fmt -check -recursive``: every finding logged with
    file and line and sent as a Code Insights annotation; errors or unformatted files fail."""
    from . import validation

    log = plog.get_logger()
    findings = validation.from_diagnostics(tf.validate_json(), s.working_dir_rel)
    findings += validation.from_fmt(tf.fmt_check(), s.working_dir_rel)
    for finding in findings:
        (log.warning if finding.kind == "warning" else log.info)("%s", finding.text())
    errors = sum(1 for f in findings if f.kind == "error")
    unformatted = sum(1 for f in findings if f.kind == "format")
    failed = bool(errors or unformatted)
    headline = (f"{errors} validation errors, {unformatted} unformatted files, "
                f"{len(findings) - errors - unformatted} warnings")
    if s.code_insights:
        from . import insights

        body = insights.report_body(
            summary.Summary(), mode="validate", workspace=s.workspace,
            working_dir=s.working_dir_rel, plan_id=None, link=ctx.build_url,
            result="FAILED" if failed else "PASSED", details=headline + ".")
        body["data"] = [{"title": "Errors", "type": "NUMBER", "value": errors},
                        {"title": "Unformatted files", "type": "NUMBER", "value": unformatted}]
        insights.send(os.environ, ctx, s.api_proxy, body,
                      insights.report_id(s.workspace, s.working_dir_rel) + "-validate",
                      annotations=validation.annotation_bodies(findings))
    if failed:
        first = next(f for f in findings if f.kind in ("error", "format"))
        raise PipeError(f"Configuration in {s.working_dir_rel}: {headline} (first: "
                        f"{first.where()}: {first.summary})")
    plog.success(f"Configuration in {s.working_dir_rel} is valid and formatted")
    return 0


def run_drift(s: Settings, ctx: StepContext, tf: Terraform) -> int:
    """Plan with ``-detailed-exitcode`` (``-refresh-only`` with REFRESH_ONLY): exit 2 is drift."""
    log = plog.get_logger()
    run = tf.run_json(["plan", *_common_args(s), "-detailed-exitcode",
                       *(["-refresh-only"] if s.refresh_only else []), *s.extra_args],
                      ok_codes=(0, 2))
    sm = summary.drift_from_events(run.events)
    # exit 2 with no resource changed: only outputs differ; with -refresh-only that comes from
    # the configuration (not from outside Terraform), so it is no drift there
    drifted = run.code == 2 and (sm.has_changes or not s.refresh_only)
    what = "changes outside Terraform" if s.refresh_only else "differences from the configuration"
    if run.code == 2 and not sm.has_changes:
        log.info("Only outputs differ%s.", " (from the configuration: not drift with "
                 "REFRESH_ONLY)" if s.refresh_only else "")
        what += ", outputs only"
    _log_summary(sm)
    if s.code_insights:
        from . import insights

        body = insights.report_body(
            sm, mode="drift", workspace=s.workspace, working_dir=s.working_dir_rel, plan_id=None,
            link=ctx.build_url, result="FAILED" if drifted else "PASSED",
            details=(f"Drift ({what}): {sm.headline()}." if drifted else "No drift."))
        insights.send(os.environ, ctx, s.api_proxy, body,
                      insights.report_id(s.workspace, s.working_dir_rel) + "-drift")
    _publish(ctx, s, sm, None)
    if not drifted:
        plog.success(f"No drift in {s.working_dir_rel} ({s.workspace})")
        return 0
    message = f"Drift in {s.working_dir_rel} ({s.workspace}), {what}: {sm.headline()}"
    if s.fail_on_drift:
        raise PipeError(f"{message} (FAIL_ON_DRIFT is true: set it to false to only report "
                        "drift)")
    log.warning("%s.", message)
    plog.success("Drift reported (FAIL_ON_DRIFT is false)")
    return 0


def run_saved(s: Settings, ctx: StepContext, tf: Terraform, spaces: Spaces, work: Path,
              conditional_writes: bool) -> int:
    from . import planstore

    assert s.plan_id
    log = plog.get_logger()
    store = planstore.PlanStore(spaces, s.plans_prefix)
    record, plan_bytes = store.load(s.plan_id)
    if record.workspace != s.workspace or record.state_object != s.state_object:
        raise PipeError(f"PLAN_ID: the plan '{s.plan_id}' was made for {record.state_object}, not "
                        f"{s.state_object}: use the same STATE_KEY and WORKSPACE as the plan step")
    if record.terraform_version != tf.version():
        raise PipeError(f"PLAN_ID: the plan '{s.plan_id}' was made with Terraform "
                        f"{record.terraform_version}, this pipe bundles {tf.version()}: use the "
                        "same tf-apply version for plan and apply")
    current = planstore.read_state(spaces, s.state_object)
    planstore.check_fresh(record, current)
    plan_file = work / planstore.PLAN_FILE
    atomic_write(plan_file, plan_bytes, mode=0o600)
    log.info("Saved plan '%s' is current (%s, sha256 %s…).", s.plan_id, current.describe(),
             record.sha256[:12])
    exclusive = planstore.claim_mode(conditional_writes, s.locking, spaces.endpoint, s.plan_id)
    store.claim(s.plan_id, s.build_number, exclusive=exclusive)
    try:
        run = tf.run_json(["apply", "-input=false", "-no-color", f"-lock-timeout={s.lock_timeout}",
                           *(["-lock=false"] if s.locking == "off" else []), *s.extra_args,
                           str(plan_file)])
    except PipeError:
        if planstore.read_state(spaces, s.state_object) == record.state:
            store.release(s.plan_id)  # nothing was written: the plan is still good to apply
            log.info("The state is unchanged: the saved plan '%s' can be applied again.", s.plan_id)
        else:
            store.finish(s.plan_id, s.build_number, "failed")
        raise
    store.finish(s.plan_id, s.build_number, "applied")
    return _applied(s, ctx, run, f"Applied saved plan {s.plan_id}")


def _applied(s: Settings, ctx: StepContext, run: JsonRun, what: str) -> int:
    sm = summary.from_events(run.events)
    _log_summary(sm)
    outs = _outputs_of(run)
    _publish(ctx, s, sm, outs, s.plan_id)
    for name in outs.sensitive:
        plog.get_logger().info("output %s is sensitive: not shown, not written", name)
    plog.success(f"{what}: {sm.headline()}")
    return 0


def main() -> int:
    log = plog.get_logger()
    values, ctx = runner.start(SCHEMA, RULES)
    s = build(values, ctx)
    started = time.monotonic()
    env = backend.terraform_env(s)
    backend.plugin_cache_dir(s).mkdir(parents=True, exist_ok=True)
    tf = Terraform(s.working_dir, env, s.working_dir_rel, s.lock_timeout)
    log.info("MODE %s, state s3://%s/%s at %s", s.mode, s.bucket, s.state_object, s.endpoint)

    # the pool outlives init: it deletes the probe object while Terraform goes on
    with tempfile.TemporaryDirectory(prefix="tf-apply-") as tmp, \
            ThreadPoolExecutor(max_workers=1) as pool:
        work = Path(tmp)
        if s.mode == "validate":
            tf.init(None)
            return run_validate(s, ctx, tf)
        # an unreachable store is one line now, not after Terraform's own retries
        reach.check(s.endpoint, backend.endpoint_variable(s))
        backend_file = atomic_write(work / "backend.hcl", backend.backend_config(s), mode=0o600)
        ready = pool.submit(_spaces_and_locking, s, pool.submit)
        try:
            tf.init(backend_file)
        except PipeError:
            if isinstance(ready.exception(), PipeError):
                ready.result()  # the probe's message is the more precise one
            raise
        spaces, conditional_writes = ready.result()
        log.info("Initialised (%.1fs).", time.monotonic() - started)
        tf.workspace(s.workspace, create=s.mode in ("plan", "apply"))
        if s.mode == "drift":
            return run_drift(s, ctx, tf)
        if s.mode == "output":
            outs = tfoutputs.split(tf.output_json())
            _publish(ctx, s, None, outs)
            plog.success(f"{len(outs.values)} outputs read ({len(outs.sensitive)} sensitive, "
                         "not shown)")
            return 0
        if s.mode == "plan":
            assert spaces is not None
            return run_plan(s, ctx, tf, spaces, work)
        if s.plan_id:
            assert spaces is not None
            return run_saved(s, ctx, tf, spaces, work, conditional_writes)
        args = ["apply", *_common_args(s), "-auto-approve"]
        if s.mode == "destroy":
            args.append("-destroy")
        run = tf.run_json([*args, *s.extra_args])
        sm = summary.from_events(run.events)
        if s.mode == "apply":
            _report(s, ctx, sm, None)
        return _applied(s, ctx, run, "Destroyed" if s.mode == "destroy" else "Applied")
