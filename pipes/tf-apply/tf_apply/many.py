"""Many roots in one step (``WORKING_DIRS``): found, given their state keys, chosen
(``CHANGED_ONLY``), run in parallel, reported once.

1. :mod:`roots` finds the roots and their local modules; two roots with one state key stop the
   step before anything runs.
2. :mod:`affected` says which roots run and why; the log names every root run and skipped.
3. Up to ``PARALLELISM`` roots run at once, each exactly as a step of ``WORKING_DIR`` runs it
   (:func:`oneroot.run_root`) with its own settings, its own private folder and ``TF_DATA_DIR``;
   their ``terraform init`` take turns on the shared plugin cache.  What a root prints is prefixed
   with ``[root]`` and written a whole line at a time (:class:`RootLines`).  A root that fails
   does not stop the others unless ``FAIL_FAST``.
4. What the roots found is handed over once: one pull request comment (a table and a section per
   root), one drift report, one hand-off with ``roots`` and the outputs of each root.  The step
   fails when any root failed.
"""
from __future__ import annotations

import io
import json
import os
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any, TextIO

from pipes_common import log as plog
from pipes_common import outputs, reach
from pipes_common.bitbucket import StepContext
from pipes_common.contracts import TfApplyOutputs
from pipes_common.errors import PipeError
from pipes_common.fsutil import atomic_write

from . import (
    PIPE,
    __version__,
    affected,
    backend,
    bbcomment,
    insights,
    oneroot,
    planning,
    planstore,
    prcomment,
    reviewed,
    roots,
)
from .run import Result, Sink
from .s3 import Spaces
from .settings import Settings
from .summary import ACTIONS


class RootLines(io.TextIOBase):
    """``sys.stdout`` while roots run: each thread's text is held until its line is whole, then
    written with that thread's prefix under one lock, so two roots' lines never mix."""

    def __init__(self, target: TextIO) -> None:
        self._target = target
        self._lock = threading.Lock()
        self._local = threading.local()

    def writable(self) -> bool:
        return True

    def prefix(self, text: str) -> None:
        self._local.prefix = text

    def write(self, text: str) -> int:
        pending = getattr(self._local, "pending", "") + text
        if "\n" in pending:
            head, _, pending = pending.rpartition("\n")
            self._emit(head.split("\n"))
        self._local.pending = pending
        return len(text)

    def _emit(self, lines: list[str]) -> None:
        prefix = getattr(self._local, "prefix", "")
        block = "".join(f"{prefix}{line}\n" for line in lines)
        with self._lock:
            self._target.write(block)
            self._target.flush()

    def flush(self) -> None:
        pending = getattr(self._local, "pending", "")
        if pending:
            self._local.pending = ""
            self._emit([pending])


@dataclass
class Outcome:
    rel: str
    s: Settings
    ran: bool = False
    code: int = 0
    error: str = ""
    sink: Sink = field(default_factory=Sink)

    @property
    def failed(self) -> bool:
        return self.ran and self.code != 0

    @property
    def result(self) -> Result | None:
        return self.sink.results[-1] if self.sink.results else None


def root_settings(s: Settings, root: roots.Root) -> Settings:
    """The settings of one root: its folder, state key and var files; its own reports (drift:
    one report for all roots instead)."""
    working = (s.clone_dir / root.rel).resolve()
    for name in s.var_files:
        if not (working / name).is_file():
            raise PipeError(f"VAR_FILES: '{name}' was not found in the root {root.rel}: with "
                            "WORKING_DIRS each VAR_FILES path is relative to each root and must "
                            "exist in every root")
    return replace(s, working_dir=working, working_dir_rel=root.rel, state_key=root.state_key,
                   code_insights=s.code_insights and s.mode != "drift", working_dirs=())


def var_file_paths(s: Settings, root: roots.Root) -> list[str]:
    return [PurePosixPath(os.path.normpath(f"{root.rel}/{name}")).as_posix() for name in s.var_files]


def choose(s: Settings, found: list[roots.Root], per: dict[str, Settings]) -> list[affected.Decision]:
    """Which roots run, and why (``CHANGED_ONLY``)."""
    if not s.changed_only:
        return [affected.Decision(r, True, "runs: CHANGED_ONLY is false") for r in found]
    if s.pr_id:
        if not s.pr_destination:
            files: set[str] | str = ("no BITBUCKET_PR_DESTINATION_COMMIT or "
                                     "BITBUCKET_PR_DESTINATION_BRANCH in the step")
        else:
            files = affected.changed_files(s.clone_dir, s.pr_destination, "HEAD", merge_base=True)
        since = f"in pull request #{s.pr_id}"
        return [affected.decide(r, files, var_file_paths(s, r), since) for r in found]
    reach.check(s.endpoint, backend.endpoint_variable(s))
    spaces = Spaces(s)
    by_commit: dict[str, set[str] | str] = {}
    decisions = []
    for r in found:
        commit = affected.last_apply(spaces, per[r.rel].plans_prefix)
        if commit is None:
            decisions.append(affected.Decision(r, True, "runs: no successful apply of it is "
                                                        "recorded"))
            continue
        if commit not in by_commit:
            by_commit[commit] = affected.changed_files(s.clone_dir, commit, "HEAD")
        decisions.append(affected.decide(r, by_commit[commit], var_file_paths(s, r),
                                         f"since its last apply (commit {commit[:12]})"))
    return decisions


def unchanged_by_merge(s: Settings, ctx: StepContext, decisions: list[affected.Decision],
                       per: dict[str, Settings]) -> list[affected.Decision]:
    """After a merge: a root for which the merged pull request's last push planned nothing,
    because it changed nothing the root uses, is skipped (its review is that there is nothing to
    apply); every other root is matched to its own reviewed plan when it runs."""
    if not s.bb_token or not any(d.runs for d in decisions):
        return decisions
    pr, _ = reviewed.merged_pull_request(s, ctx)
    if pr is None:
        return decisions  # each root says why when it looks for its reviewed plan
    pr_id, head = int(pr.get("id") or 0), reviewed.head_of(pr)
    reach.check(s.endpoint, backend.endpoint_variable(s))
    spaces = Spaces(s)
    out = []
    for d in decisions:
        pointer = planstore.PlanStore(spaces, per[d.root.rel].plans_prefix).review(pr_id) \
            if d.runs else None
        commit = str((pointer or {}).get("commit") or "")
        if pointer and pointer.get("unchanged") and reviewed.same_commit(commit, head):
            d = affected.Decision(d.root, False, f"skipped: pull request #{pr_id} changed nothing "
                                                 f"it uses (its last push, commit {commit[:12]}, "
                                                 "planned nothing for it)")
        out.append(d)
    return out


def run_many(s: Settings, ctx: StepContext) -> int:
    log = plog.get_logger()
    found = roots.with_state_keys(roots.discover(s.clone_dir, list(s.working_dirs)),
                                  s.state_key_template, ctx.repo_slug)
    per = {r.rel: root_settings(s, r) for r in found}
    log.info("MODE %s over %d roots (WORKING_DIRS), states in s3://%s at %s", s.mode, len(found),
             s.bucket, s.endpoint)
    for r in found:
        log.info("root %s: state %s%s", r.rel, r.state_key,
                 f", modules {', '.join(r.modules)}" if r.modules else "")
    decisions = choose(s, found, per)
    if s.mode == "apply" and not s.plan_id and not s.pr_id:
        decisions = unchanged_by_merge(s, ctx, decisions, per)
    for d in decisions:
        log.info("root %s %s", d.root.rel, d.why)
    chosen = [d.root for d in decisions if d.runs]
    skipped = [(d.root.rel, d.why) for d in decisions if not d.runs]
    if s.mode == "plan" and s.pr_id and skipped:
        # what the apply after the merge finds for these roots: reviewed, with nothing to plan
        spaces = Spaces(s)
        for rel, _ in skipped:
            planstore.PlanStore(spaces, per[rel].plans_prefix).mark_unchanged(
                s.pr_id, s.commit, s.build_number)
    with tempfile.TemporaryDirectory(prefix="tf-apply-") as tmp:
        done = run_roots(s, ctx, [per[r.rel] for r in chosen], Path(tmp))
    return finish(s, ctx, done, skipped)


def run_roots(s: Settings, ctx: StepContext, chosen: list[Settings], work: Path) -> list[Outcome]:
    """Each root on a thread of a pool of ``PARALLELISM``; their lines prefixed, never mixed."""
    init_lock = threading.Lock()
    stop = threading.Event()
    lines = RootLines(sys.stdout)
    saved = sys.stdout
    sys.stdout = lines
    try:
        with ThreadPoolExecutor(max_workers=s.parallelism, thread_name_prefix="root") as pool:
            futures = [pool.submit(one_root, rs, ctx, work / str(index), init_lock, stop, lines)
                       for index, rs in enumerate(chosen)]
            return [f.result() for f in futures]
    finally:
        sys.stdout = saved


def one_root(rs: Settings, ctx: StepContext, work: Path, init_lock: threading.Lock,
             stop: threading.Event, lines: RootLines) -> Outcome:
    log = plog.get_logger()
    lines.prefix(f"[{rs.working_dir_rel}] ")
    outcome = Outcome(rs.working_dir_rel, rs)
    if stop.is_set():
        outcome.error = "not started: another root failed and FAIL_FAST is true"
        log.info("Not started: another root failed (FAIL_FAST).")
        lines.flush()
        return outcome
    outcome.ran = True
    try:
        work.mkdir(parents=True)
        outcome.code = oneroot.run_root(rs, ctx, work, outcome.sink, init_lock, work / "tf-data")
        if rs.mode == "apply" and outcome.code == 0:
            affected.record_apply(Spaces(rs), rs.plans_prefix, rs.commit, rs.build_number,
                                  planstore.now())
    except PipeError as err:
        outcome.code = err.exit_code or 1
        outcome.error = err.message
        log.error("%s", err.message)
    except Exception as err:  # a bug of ours in one root: the others go on, the step fails
        outcome.code = 1
        outcome.error = f"unexpected error ({type(err).__name__}): {err}"
        log.error("%s", outcome.error)
    if outcome.code and rs.fail_fast:
        stop.set()
    lines.flush()
    return outcome


def finish(s: Settings, ctx: StepContext, done: list[Outcome],
           skipped: list[tuple[str, str]]) -> int:
    """The one comment, the one drift report, the hand-off, and the step's last line."""
    log = plog.get_logger()
    failed = [o for o in done if o.failed]
    not_started = [o for o in done if not o.ran]
    if s.mode == "plan":
        comment(s, ctx, done, skipped)
    drifted = [o for o in done if o.result is not None and o.result.drifted]
    if s.mode == "drift":
        drift_report(s, ctx, done, drifted)
    publish_all(s, ctx, done, skipped)
    for o in done:
        state = ("not started" if not o.ran else "failed: " + o.error if o.failed else "ok")
        log.info("root %s: %s", o.rel, state)
    if not done:
        plog.success(f"No root changed: nothing to {s.mode} ({len(skipped)} roots skipped)")
        return 0
    real_failures = [o for o in failed if not (s.mode == "drift" and o.result is not None
                                              and o.result.drifted)]
    if real_failures or not_started:
        names = ", ".join(f"{o.rel} ({o.error})" for o in real_failures)
        more = f"; {len(not_started)} not started (FAIL_FAST)" if not_started else ""
        raise PipeError(f"{len(real_failures)} of {len(done)} roots failed: {names}{more}. The "
                        "other roots finished; see each root's lines above")
    if drifted and s.fail_on_drift:
        raise PipeError(f"Drift in {len(drifted)} of {len(done)} roots: "
                        + ", ".join(o.rel for o in drifted)
                        + " (FAIL_ON_DRIFT is true: set it to false to only report drift)")
    plog.success(f"{len(done)} roots: {s.mode} done" + (f", {len(skipped)} skipped" if skipped
                                                         else ""))
    return 0


def comment(s: Settings, ctx: StepContext, done: list[Outcome],
            skipped: list[tuple[str, str]]) -> None:
    """In a pull-request pipeline: the one comment of every root's plan (created or updated)."""
    log = plog.get_logger()
    if not s.pr_id or not s.comment:
        return
    target = planning.comment_target(s, ctx)
    if target is None:
        return
    client, workspace, repo_slug = target
    sections = [sec for o in done for sec in o.sink.sections]
    failed = {o.rel: (o.error or "failed")[:200] for o in done if o.failed or not o.ran}
    text = prcomment.many_body(sections, skipped, failed, s.workspace, s.commit, ctx.build_url)
    try:
        posted = client.upsert(workspace, repo_slug, s.pr_id, prcomment.many_marker(s.workspace),
                               text)
    except bbcomment.TransientError as err:
        log.warning("Pull request comment not posted: %s; the plans themselves are fine.", err)
        return
    log.info("Pull request #%s: plan comment %s %s (%d roots).", s.pr_id, posted.comment_id,
             "created" if posted.created else "updated", len(sections))


def drift_report(s: Settings, ctx: StepContext, done: list[Outcome], drifted: list[Outcome]) -> None:
    """One line per drifted root in the log, and one Code Insights report for all of them."""
    log = plog.get_logger()
    lines = []
    for o in drifted:
        assert o.result is not None and o.result.sm is not None
        lines.append(f"{o.rel}: {o.result.sm.headline()}")
    for line in lines:
        log.warning("drift: %s", line)
    if not s.code_insights:
        return
    details = (f"Drift in {len(drifted)} of {len(done)} roots: " + "; ".join(lines)
               if drifted else f"No drift in {len(done)} roots.")
    body: dict[str, Any] = {
        "title": f"Terraform drift: {len(done)} roots ({s.workspace})"[:450],
        "details": details[:2000], "report_type": insights.REPORT_TYPE,
        "reporter": "tf-apply pipe", "result": "FAILED" if drifted else "PASSED",
        "data": [{"title": "Roots", "type": "NUMBER", "value": len(done)},
                 {"title": "Drifted", "type": "NUMBER", "value": len(drifted)}]}
    if ctx.build_url:
        body["link"] = ctx.build_url
    insights.send(ctx, s.api_proxy, body, insights.report_id(s.workspace, "roots") + "-drift")


def root_values(o: Outcome) -> dict[str, Any]:
    """One root's part of the hand-off."""
    r = o.result
    values: dict[str, Any] = {"status": "failed" if o.failed else "ok" if o.ran else "not-started",
                              "state_key": o.s.state_key}
    if r is None:
        return values
    if r.plan_id:
        values["plan_id"] = r.plan_id
    if r.applied is not None:
        values["applied"] = r.applied
    if r.refused:
        values["refused"] = r.refused
    if r.sm is not None:
        values["has_changes"] = r.sm.has_changes
        values.update(r.sm.counts)
    if r.outs is not None:
        values.update({f"out_{name}": value for name, value in r.outs.values.items()})
    return values


def publish_all(s: Settings, ctx: StepContext, done: list[Outcome],
                skipped: list[tuple[str, str]]) -> None:
    """The one hand-off: ``roots`` (those that ran), and per root its status, counts and outputs;
    Terraform's outputs of every root in ``.do-pipes/tf-apply-outputs.json`` for ``jq``."""
    results = [o.result for o in done if o.result is not None]
    counts = {a: sum((r.sm.counts[a] for r in results if r.sm is not None), 0) for a in ACTIONS}
    any_plan = any(r.sm is not None for r in results)
    with_outs = {o.rel: o.result.outs for o in done if o.result is not None and o.result.outs}
    if with_outs:
        doc = {rel: {"outputs": outs.values, "sensitive_outputs": outs.sensitive}
               for rel, outs in with_outs.items()}
        atomic_write(ctx.clone_dir / ".do-pipes" / f"{PIPE}-outputs.json",
                     json.dumps({"roots": doc}, indent=2, sort_keys=True) + "\n",
                     root=ctx.clone_dir)
    outputs.publish(ctx, TfApplyOutputs(
        mode=s.mode, workspace=s.workspace, state_key="", plan_id=s.plan_id or "",
        has_changes=any(r.sm.has_changes for r in results if r.sm is not None) if any_plan else None,
        counts=counts if any_plan else {},
        roots=tuple(o.rel for o in done), skipped_roots=tuple(rel for rel, _ in skipped),
        root_values={o.rel: root_values(o) for o in done}), __version__)
