"""The Bitbucket Pipelines API proxy, stubbed: Code Insights reports only.

In a Pipelines step a pipe reaches the Bitbucket API without credentials through an HTTP proxy
(bitbucket-pipes-toolkit's ``authless`` mode: ``http://api.bitbucket.org/2.0/...`` sent to the
proxy at port 29418 of ``host.docker.internal`` from a pipe, of ``localhost`` from a step script).
On the test bed it listens on the pipe host's address at that fixed port
(``testbed.pipe_host.PROXY_PORT``), or on a free loopback port for tests that run a pipe as a
process.  This stub is that proxy, answering the reports endpoint as Bitbucket Cloud's published
REST API (``Reports`` group) defines it:

``PUT /2.0/repositories/{workspace}/{repo_slug}/commit/{commit}/reports/{reportId}`` with a
report: ``title``, ``details`` and ``report_type`` (SECURITY, COVERAGE, TEST or BUG) required;
``result`` PASSED, FAILED or PENDING; ``data`` a list of at most 10 ``{title, type, value}`` with
type BOOLEAN, DATE, DURATION, LINK, NUMBER, PERCENTAGE or TEXT.  200 returns the stored report
(``type: report``, ``uuid``, ``created_on``, ``updated_on``); errors are ``{"type": "error",
"error": {"message": ...}}``.

``POST .../reports/{reportId}/annotations`` with a list of at most 100 annotations (bulk):
``external_id`` and ``summary`` required, ``annotation_type`` VULNERABILITY, CODE_SMELL or BUG,
``severity`` LOW, MEDIUM, HIGH or CRITICAL, ``result`` PASSED, FAILED, SKIPPED or IGNORED,
``path``, ``line`` (at least 1), ``details``; 404 when the report does not exist; 200 returns the
stored annotations.
"""
from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from .httpserve import LoopbackHTTPServer, LoopbackService, QuietHandler

API_HOST = "api.bitbucket.org"
REPORT_PATH = re.compile(r"^/2\.0/repositories/([^/]+)/([^/]+)/commit/([0-9a-f]{7,40})/reports/([^/]+)$")
REPORT_TYPES = {"SECURITY", "COVERAGE", "TEST", "BUG"}
RESULTS = {"PASSED", "FAILED", "PENDING"}
DATA_TYPES = {"BOOLEAN", "DATE", "DURATION", "LINK", "NUMBER", "PERCENTAGE", "TEXT"}
ANNOTATIONS_PATH = re.compile(
    r"^/2\.0/repositories/([^/]+)/([^/]+)/commit/([0-9a-f]{7,40})/reports/([^/]+)/annotations$")
ANNOTATION_TYPES = {"VULNERABILITY", "CODE_SMELL", "BUG"}
SEVERITIES = {"LOW", "MEDIUM", "HIGH", "CRITICAL"}
ANNOTATION_RESULTS = {"PASSED", "FAILED", "SKIPPED", "IGNORED"}


@dataclass
class ReportsState:
    reports: dict[tuple[str, str, str, str], dict[str, Any]] = field(default_factory=dict)
    annotations: dict[tuple[str, str, str, str], list[dict[str, Any]]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)


def validate(report: Any) -> str | None:
    """The error message Bitbucket would give for ``report``, or None when it is valid."""
    if not isinstance(report, dict):
        return "The request body must be a JSON object"
    for name in ("title", "details", "report_type"):
        if not report.get(name):
            return f"{name}: This field is required."
    if report["report_type"] not in REPORT_TYPES:
        return f"report_type: '{report['report_type']}' is not a valid choice."
    if "result" in report and report["result"] not in RESULTS:
        return f"result: '{report['result']}' is not a valid choice."
    data = report.get("data", [])
    if not isinstance(data, list) or len(data) > 10:
        return "data: at most 10 data elements are allowed."
    for item in data:
        if not isinstance(item, dict) or not item.get("title") or item.get("type") not in DATA_TYPES \
                or "value" not in item:
            return "data: each element needs a title, a valid type and a value."
    return None


def validate_annotation(item: Any) -> str | None:
    """The error Bitbucket would give for one annotation of a bulk request, or None."""
    if not isinstance(item, dict):
        return "Each annotation must be a JSON object"
    for name in ("external_id", "summary"):
        if not item.get(name):
            return f"{name}: This field is required."
    checks = (("annotation_type", ANNOTATION_TYPES), ("severity", SEVERITIES),
              ("result", ANNOTATION_RESULTS))
    for name, allowed in checks:
        if name in item and item[name] not in allowed:
            return f"{name}: '{item[name]}' is not a valid choice."
    if "line" in item and (not isinstance(item["line"], int) or item["line"] < 1):
        return "line: Ensure this value is greater than or equal to 1."
    return None


class _Handler(QuietHandler):
    server: _Server

    def _error(self, status: int, message: str) -> None:
        self.send_json(status, {"type": "error", "error": {"message": message}})

    def do_PUT(self) -> None:
        url = urlsplit(self.path)  # a proxy receives the absolute URL
        self.server.state.requests.append(("PUT", self.path))
        if url.hostname != API_HOST:
            return self._error(502, f"the stub proxies {API_HOST} only")
        match = REPORT_PATH.match(url.path)
        if not match:
            return self._error(404, "Resource not found")
        length = int(self.headers.get("Content-Length") or 0)
        try:
            report = json.loads(self.rfile.read(length) or b"null")
        except ValueError:
            return self._error(400, "The request body is not valid JSON")
        problem = validate(report)
        if problem:
            return self._error(400, problem)
        key = (match.group(1), match.group(2), match.group(3), match.group(4))
        stamp = datetime.now(UTC).isoformat()
        old = self.server.state.reports.get(key, {})
        stored = {**report, "type": "report", "uuid": old.get("uuid", "{" + str(uuid.uuid4()) + "}"),
                  "created_on": old.get("created_on", stamp), "updated_on": stamp}
        stored.setdefault("external_id", match.group(4))
        self.server.state.reports[key] = stored
        return self.send_json(200, stored)

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        self.server.state.requests.append(("POST", self.path))
        if url.hostname != API_HOST:
            return self._error(502, f"the stub proxies {API_HOST} only")
        match = ANNOTATIONS_PATH.match(url.path)
        if not match:
            return self._error(404, "Resource not found")
        key = (match.group(1), match.group(2), match.group(3), match.group(4))
        if key not in self.server.state.reports:
            return self._error(404, f"Report {match.group(4)} not found")
        try:
            items = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"null")
        except ValueError:
            return self._error(400, "The request body is not valid JSON")
        if not isinstance(items, list) or not 1 <= len(items) <= 100:
            return self._error(400, "Send a list of 1 to 100 annotations")
        for item in items:
            problem = validate_annotation(item)
            if problem:
                return self._error(400, problem)
        stored = [{**item, "type": "report_annotation", "uuid": "{" + str(uuid.uuid4()) + "}"}
                  for item in items]
        self.server.state.annotations.setdefault(key, []).extend(stored)
        return self.send_json(200, stored)

    def do_GET(self) -> None:
        self.server.state.requests.append(("GET", self.path))
        self._error(404, "Resource not found")


class _Server(LoopbackHTTPServer):
    state: ReportsState


class BitbucketReportsStub(LoopbackService[_Server]):
    """``with BitbucketReportsStub() as stub:`` listens on ``stub.proxy_url`` (a free loopback
    port, or ``host``:``port`` when given)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.state = ReportsState()
        self.proxy_url = ""
        self._bind = (host, port)

    def _new_server(self) -> _Server:
        server = _Server(_Handler, *self._bind)
        server.state = self.state
        self.proxy_url = server.url
        return server
