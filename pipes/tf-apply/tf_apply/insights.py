"""The plan summary as a Bitbucket Code Insights report, through bitbucket-pipes-toolkit.

Only inside Bitbucket Pipelines (CI, BITBUCKET_BUILD_NUMBER, BITBUCKET_COMMIT, repository and
workspace all set): there the toolkit reaches the API without credentials through the Pipelines
proxy, which a pipe finds on the step's Docker host (``http://host.docker.internal:29418``, as
bitbucket-pipes-toolkit's ``CodeInsights`` defaults to for pipes; ``localhost`` is the pipe's own
container); BITBUCKET_API_PROXY names another one.  Anywhere else it is skipped with one line.  A report that
cannot be sent is a warning, never a failure of the pipe.  Requests go out on the shared session
(:mod:`pipes_common.httpclient`): a proxy that refuses the connection is a warning at once, 5xx and
429 answers are retried within :data:`RETRY_BUDGET`.
"""
from __future__ import annotations

import re
from typing import Any

import requests
from bitbucket_pipes_toolkit import CodeInsights
from pipes_common import httpclient
from pipes_common.bitbucket import StepContext
from pipes_common.log import get_logger

from .summary import Summary

REPORT_TYPE = "TEST"  # the reports API knows SECURITY, COVERAGE, TEST and BUG
RETRY_BUDGET = 10.0  # seconds: the most one report request waits for retries of 429/5xx answers


def in_pipelines(ctx: StepContext) -> bool:
    return (ctx.ci and bool(ctx.build_number) and bool(ctx.commit) and bool(ctx.repo_slug)
            and bool(ctx.workspace))


class _Http:
    """Stands in for the toolkit's handler, which exits the process on a network error."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout

    def make_session_request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        kwargs.pop("timeout", None)
        kwargs.pop("error_base_message", None)
        with httpclient.session(budget=RETRY_BUDGET) as session:
            return session.request(method, url, timeout=self.timeout, **kwargs)


class _ProxiedInsights(CodeInsights):  # type: ignore[misc]
    def __init__(self, repo: str, workspace: str, proxy: str, timeout: float) -> None:
        super().__init__(repo, workspace, auth_type="authless")
        self._proxy = proxy
        self.http_client = _Http(timeout)

    def _get_http_proxies(self) -> dict[str, str]:
        return {"http": self._proxy, "https": self._proxy}


def report_id(workspace: str, working_dir: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", f"{working_dir}-{workspace}").strip("-").lower()
    return f"tf-apply-{slug or 'root'}"[:100]


def report_body(summary: Summary, *, mode: str, workspace: str, working_dir: str,
                plan_id: str | None, link: str | None, result: str = "PASSED",
                details: str | None = None) -> dict[str, Any]:
    counts = summary.counts
    data: list[dict[str, Any]] = [
        {"title": "To create", "type": "NUMBER", "value": counts["create"]},
        {"title": "To update", "type": "NUMBER", "value": counts["update"]},
        {"title": "To replace", "type": "NUMBER", "value": counts["replace"]},
        {"title": "To delete", "type": "NUMBER", "value": counts["delete"]},
        {"title": "Workspace", "type": "TEXT", "value": workspace},
    ]
    if plan_id:
        data.append({"title": "Plan id", "type": "TEXT", "value": plan_id})
    body: dict[str, Any] = {
        "title": f"Terraform {mode}: {working_dir} ({workspace})"[:450],
        "details": details or (f"Plan: {summary.headline()}." + (
            f" Saved as plan id {plan_id}." if plan_id else "")),
        "report_type": REPORT_TYPE,
        "reporter": "tf-apply pipe",
        "result": result,
        "data": data,
    }
    if link:
        body["link"] = link
    return body


def send(ctx: StepContext, proxy: str, body: dict[str, Any],
         rid: str, timeout: float = 10.0,
         annotations: list[dict[str, Any]] | None = None) -> bool:
    log = get_logger()
    if not in_pipelines(ctx):
        log.info("Code Insights report skipped: not running in Bitbucket Pipelines.")
        return False
    assert ctx.repo_slug and ctx.workspace and ctx.commit
    client = _ProxiedInsights(ctx.repo_slug, ctx.workspace, proxy, timeout)
    try:
        client.create_report(ctx.commit, {**body, "external_id": rid})
        for start in range(0, len(annotations or []), 100):  # at most 100 per request
            client.create_bulk_annotations(ctx.commit, rid, (annotations or [])[start:start + 100])
    except (requests.RequestException, SystemExit) as err:
        log.warning("Code Insights report not sent (%s); the plan itself is fine.",
                    type(err).__name__ if not isinstance(err, requests.HTTPError)
                    else f"HTTP {err.response.status_code if err.response is not None else '?'}")
        return False
    log.info("Code Insights report %s sent%s.", rid,
             f" with {len(annotations)} annotations" if annotations else "")
    return True
