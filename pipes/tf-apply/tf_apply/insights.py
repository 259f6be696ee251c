"""The plan summary as a Bitbucket Code Insights report, sent through the Pipelines API proxy.

Only inside Bitbucket Pipelines (CI, BITBUCKET_BUILD_NUMBER, BITBUCKET_COMMIT, repository and
workspace all set): there a pipe reaches the API without credentials through the Pipelines proxy,
an HTTP proxy on the step's Docker host (``http://host.docker.internal:29418``; ``localhost`` is
the pipe's own container) that takes ``http://api.bitbucket.org/2.0/...`` and adds the step's
credentials; BITBUCKET_API_PROXY names another one.  Anywhere else it is skipped with one line.  The
requests go through the one Bitbucket client (:mod:`pipes_common.bbapi`): a proxy that refuses the
connection is a warning at once, 5xx and 429 answers to the report's PUT are retried within
:data:`RETRY_BUDGET`.  A report that cannot be sent is a warning, never a failure of the pipe.
"""
from __future__ import annotations

import re
from typing import Any

from pipes_common import bbapi, httpclient
from pipes_common.bitbucket import StepContext
from pipes_common.log import get_logger

from .summary import Summary

REPORT_TYPE = "TEST"  # the reports API knows SECURITY, COVERAGE, TEST and BUG
RETRY_BUDGET = 10.0  # seconds: the most one report request waits for retries of 429/5xx answers
PROXIED_API_URL = "http://api.bitbucket.org"  # plain HTTP to the proxy, which sends it on over TLS
MAX_ANNOTATIONS = 100  # per request of the bulk annotations call


def in_pipelines(ctx: StepContext) -> bool:
    return (ctx.ci and bool(ctx.build_number) and bool(ctx.commit) and bool(ctx.repo_slug)
            and bool(ctx.workspace))


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
    api = bbapi.BitbucketApi(bbapi.proxied("BITBUCKET_API_PROXY"), PROXIED_API_URL,
                             timeout=timeout, session=httpclient.session(budget=RETRY_BUDGET))
    report = bbapi.repo_path(ctx.workspace, ctx.repo_slug, "commit", ctx.commit, "reports", rid)
    proxies = {"http": proxy, "https": proxy}
    items = annotations or []
    try:
        api.request("PUT", report, json={**body, "external_id": rid}, proxies=proxies)
        for start in range(0, len(items), MAX_ANNOTATIONS):
            api.request("POST", f"{report}/annotations", json=items[start:start + MAX_ANNOTATIONS],
                        proxies=proxies)
    except httpclient.ApiError as err:  # an answer that is not a success, or none at all
        why = err.reason if isinstance(err, httpclient.Unreachable) else f"HTTP {err.status}"
        log.warning("Code Insights report not sent (%s); the plan itself is fine.", why)
        return False
    log.info("Code Insights report %s sent%s.", rid,
             f" with {len(annotations)} annotations" if annotations else "")
    return True
