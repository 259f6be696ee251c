"""``MODE: validate`` and ``MODE: drift``: checks that change nothing, reported with file and line
or as a drift report."""
from __future__ import annotations

from pipes_common import log as plog
from pipes_common.errors import PipeError

from . import insights, summary, validation
from .run import Result, Run, common_args, log_summary, publish


def run_validate(run: Run) -> int:
    """``terraform validate -json`` and ``fmt -check -recursive``: every finding logged with
    file and line and sent as a Code Insights annotation; errors or unformatted files fail."""
    s, tf, ctx = run.s, run.tf, run.ctx
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
        body = insights.report_body(
            summary.Summary(), mode="validate", workspace=s.workspace,
            working_dir=s.working_dir_rel, plan_id=None, link=ctx.build_url,
            result="FAILED" if failed else "PASSED", details=headline + ".")
        body["data"] = [{"title": "Errors", "type": "NUMBER", "value": errors},
                        {"title": "Unformatted files", "type": "NUMBER", "value": unformatted}]
        insights.send(ctx, s.api_proxy, body,
                      insights.report_id(s.workspace, s.working_dir_rel) + "-validate",
                      annotations=validation.annotation_bodies(findings))
    if failed:
        first = next(f for f in findings if f.kind in ("error", "format"))
        raise PipeError(f"Configuration in {s.working_dir_rel}: {headline} (first: "
                        f"{first.where()}: {first.summary})")
    plog.success(f"Configuration in {s.working_dir_rel} is valid and formatted")
    return 0


def run_drift(run: Run) -> int:
    """Plan with ``-detailed-exitcode`` (``-refresh-only`` with REFRESH_ONLY): exit 2 is drift."""
    s, ctx = run.s, run.ctx
    log = plog.get_logger()
    result = run.tf.run_json(["plan", *common_args(s), "-detailed-exitcode",
                              *(["-refresh-only"] if s.refresh_only else []), *s.extra_args],
                             ok_codes=(0, 2))
    sm = summary.drift_from_events(result.events)
    # exit 2 with no resource changed: only outputs differ; with -refresh-only that comes from
    # the configuration (not from outside Terraform), so it is no drift there
    drifted = result.code == 2 and (sm.has_changes or not s.refresh_only)
    what = "changes outside Terraform" if s.refresh_only else "differences from the configuration"
    if result.code == 2 and not sm.has_changes:
        log.info("Only outputs differ%s.", " (from the configuration: not drift with "
                 "REFRESH_ONLY)" if s.refresh_only else "")
        what += ", outputs only"
    log_summary(sm)
    if s.code_insights:
        body = insights.report_body(
            sm, mode="drift", workspace=s.workspace, working_dir=s.working_dir_rel, plan_id=None,
            link=ctx.build_url, result="FAILED" if drifted else "PASSED",
            details=(f"Drift ({what}): {sm.headline()}." if drifted else "No drift."))
        insights.send(ctx, s.api_proxy, body,
                      insights.report_id(s.workspace, s.working_dir_rel) + "-drift")
    publish(run, Result(sm=sm, drifted=drifted))
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
