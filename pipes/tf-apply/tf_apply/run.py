"""One run of the pipe: what every mode works with, and how each hands its results over.

A :class:`Run` holds the settings, the step context, the terraform CLI, a private work folder and,
once the backend is up, the Spaces client and the probe's answer.  The helpers below are the
steps every mode shares: Terraform's common arguments, the summary in the log, the Code Insights
report and the outputs for later steps.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pipes_common import log as plog
from pipes_common import outputs
from pipes_common.bitbucket import StepContext
from pipes_common.contracts import TfApplyOutputs

from . import __version__, insights, prcomment, summary, tfoutputs
from .settings import Settings
from .terraform import JsonRun, Terraform

if TYPE_CHECKING:
    from .s3 import Spaces


@dataclass
class Sink:
    """Where a root's results go when one step runs many roots (:mod:`many`): kept for the one
    hand-off, the one pull request comment and the one drift report, instead of written."""
    results: list[Result] = field(default_factory=list)
    sections: list[prcomment.Section] = field(default_factory=list)


@dataclass
class Run:
    s: Settings
    ctx: StepContext
    tf: Terraform
    work: Path
    spaces: Spaces | None = None
    conditional_writes: bool = False  # the probe ran and the store honours If-None-Match
    sink: Sink | None = None  # one of many roots (WORKING_DIRS)

    @property
    def store(self) -> Spaces:
        """The Spaces client (the modes that need one get it from the start-up)."""
        assert self.spaces is not None
        return self.spaces


@dataclass(frozen=True)
class Result:
    """What a run hands over besides Terraform's outputs (see :class:`TfApplyOutputs`)."""
    sm: summary.Summary | None = None
    outs: tfoutputs.Outputs | None = None
    plan_id: str | None = None
    applied: bool | None = None
    refused: str = ""
    reviewed_pr: int | None = None
    reviewed_commit: str = ""
    drifted: bool | None = None  # MODE drift: whether drift was found


def common_args(s: Settings) -> list[str]:
    args = ["-input=false", "-no-color", f"-lock-timeout={s.lock_timeout}"]
    if s.locking == "off":
        args.append("-lock=false")
    args += [f"-var-file={f}" for f in s.var_files]
    args += [f"-target={t}" for t in s.targets]
    return args


def log_summary(sm: summary.Summary) -> None:
    log = plog.get_logger()
    for line in sm.table():
        log.info("%s", line)


def report(run: Run, sm: summary.Summary, plan_id: str | None) -> None:
    s = run.s
    if not s.code_insights:
        return
    body = insights.report_body(sm, mode=s.mode, workspace=s.workspace,
                                working_dir=s.working_dir_rel, plan_id=plan_id, link=run.ctx.build_url)
    if run.sink is not None and plan_id:  # one of many roots: the comment points here for its plan
        body["data"].append({"title": "Stored plan", "type": "TEXT",
                             "value": f"s3://{s.bucket}/{s.plans_prefix}{plan_id}/plan.json"})
    insights.send(run.ctx, s.api_proxy, body,
                  insights.report_id(s.workspace, s.working_dir_rel))


def publish(run: Run, result: Result) -> None:
    """The outputs file for ``jq`` (when Terraform's outputs were read) and the typed hand-off."""
    s, sm, outs = run.s, result.sm, result.outs
    if run.sink is not None:
        run.sink.results.append(result)
        return
    if outs is not None:
        tfoutputs.write_json(run.ctx, outs)
    outputs.publish(run.ctx, TfApplyOutputs(
        mode=s.mode, workspace=s.workspace, state_key=s.state_key, plan_id=result.plan_id or "",
        has_changes=None if sm is None else sm.has_changes,
        counts={} if sm is None else sm.counts,
        outputs=None if outs is None else outs.values,
        sensitive_outputs=() if outs is None else tuple(outs.sensitive),
        applied=result.applied, refused=result.refused, reviewed_pr=result.reviewed_pr,
        reviewed_commit=result.reviewed_commit), __version__)


def outputs_of(run: JsonRun) -> tfoutputs.Outputs:
    events = run.of_type("outputs")
    return tfoutputs.split(dict(events[-1].get("outputs") or {}) if events else {})
