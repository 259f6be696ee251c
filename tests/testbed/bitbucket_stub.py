"""A Bitbucket Cloud REST stub for pull requests, following the published 2.0 contract.

- ``GET  /2.0/repositories/{workspace}/{repo_slug}/pullrequests``: paginated ``{"size", "page",
  "pagelen", "values"}``; ``state`` query parameter (repeatable, default OPEN) and BBQL ``q`` with
  ``field = "value"`` terms joined by ``AND`` (fields: ``source.branch.name``,
  ``destination.branch.name``, ``state``, ``id``, ``title``).
- ``POST /2.0/repositories/{workspace}/{repo_slug}/pullrequests``: ``title`` and
  ``source.branch.name`` required; ``201`` with the pull request (``links.html.href``,
  ``links.self.href``, ``source``/``destination`` with branch, commit and repository).
- ``GET  /2.0/repositories/{workspace}/{repo_slug}/pullrequests/{id}``.
Auth: ``Authorization: Bearer <token>``; errors are ``{"type": "error", "error": {"message"}}``.
The stub refuses a second open pull request for the same source and destination (so a client
that does not look for the open one first is caught) and a source branch that does not exist
when ``branch_exists`` says so.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from . import bitbucket_comments
from .httpserve import QuietHandler, StateServer, StateStub

_PATH = re.compile(r"^/2\.0/repositories/([^/]+)/([^/]+)/pullrequests(?:/(\d+))?/?$")
_TERM = re.compile(r'^\s*([a-z_.]+)\s*(=|!=|~)\s*"((?:[^"\\]|\\.)*)"\s*$')
FIELDS = {"source.branch.name", "destination.branch.name", "state", "id", "title"}


@dataclass
class BitbucketState:
    tokens: set[str]
    pullrequests: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    branch_exists: Callable[[str, str, str], bool] | None = None
    # --- pull request comments (tf-apply): testbed/bitbucket_comments.py ---
    comments: bitbucket_comments.CommentStore = field(
        default_factory=bitbucket_comments.CommentStore)
    # --- end of pull request comments ---

    def reset(self) -> None:
        self.pullrequests.clear()
        self.requests.clear()
        self.branch_exists = None
        self.comments.reset()  # pull request comments (tf-apply)


def _error(message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"message": message}}


def _value(pr: dict[str, Any], name: str) -> str:
    node: Any = pr
    for part in name.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return "" if node is None else str(node)


def _matches(pr: dict[str, Any], query: str) -> bool:
    for term in re.split(r"\s+AND\s+", query.strip(), flags=re.I):
        match = _TERM.match(term)
        if match is None or match.group(1) not in FIELDS:
            raise ValueError(f"Invalid query term: {term}")
        name, op, wanted = match.group(1), match.group(2), match.group(3).replace('\\"', '"')
        actual = _value(pr, name)
        if (op == "=" and actual != wanted) or (op == "!=" and actual == wanted) or (
                op == "~" and wanted.lower() not in actual.lower()):
            return False
    return True


class _Handler(QuietHandler):
    server: StateServer[BitbucketState]
    json_content_type = "application/json; charset=utf-8"

    def _auth(self) -> bool:
        header = self.headers.get("Authorization", "")
        return header.startswith("Bearer ") and header[7:] in self.server.state.tokens

    def _route(self) -> tuple[str, str, int | None] | None:
        match = _PATH.match(urlsplit(self.path).path)
        if match is None:
            return None
        return unquote(match.group(1)), unquote(match.group(2)), (
            int(match.group(3)) if match.group(3) else None)

    # --- pull request comments (tf-apply): testbed/bitbucket_comments.py answers them ---
    def do_PUT(self) -> None:
        if not bitbucket_comments.handle(self, "PUT"):
            self.send_json(404, _error("Resource not found"))
    # --- end of pull request comments ---

    def do_GET(self) -> None:
        if bitbucket_comments.handle(self, "GET"):  # pull request comments (tf-apply)
            return
        state = self.server.state
        state.requests.append(("GET", self.path))
        if not self._auth():
            return self.send_json(401, _error("Token is invalid, expired or not supported for this endpoint."))
        route = self._route()
        if route is None:
            return self.send_json(404, _error("Resource not found"))
        workspace, slug, number = route
        mine = [pr for pr in state.pullrequests
                if pr["destination"]["repository"]["full_name"] == f"{workspace}/{slug}"]
        if number is not None:
            for pr in mine:
                if pr["id"] == number:
                    return self.send_json(200, pr)
            return self.send_json(404, _error(f"Pull request {number} not found"))
        query = parse_qs(urlsplit(self.path).query)
        states = [s.upper() for s in query.get("state", ["OPEN"])]
        try:
            values = [pr for pr in mine if pr["state"] in states
                      and all(_matches(pr, q) for q in query.get("q", []))]
        except ValueError as err:
            return self.send_json(400, _error(str(err)))
        pagelen = min(int(query.get("pagelen", ["10"])[0]), 50)
        page = int(query.get("page", ["1"])[0])
        chunk = values[(page - 1) * pagelen: page * pagelen]
        body: dict[str, Any] = {"size": len(values), "page": page, "pagelen": pagelen,
                                "values": chunk}
        if page * pagelen < len(values):
            body["next"] = f"{self.server.url}{urlsplit(self.path).path}?page={page + 1}"
        return self.send_json(200, body)

    def do_POST(self) -> None:
        if bitbucket_comments.handle(self, "POST"):  # pull request comments (tf-apply)
            return
        state = self.server.state
        state.requests.append(("POST", self.path))
        if not self._auth():
            return self.send_json(401, _error("Token is invalid, expired or not supported for this endpoint."))
        route = self._route()
        if route is None or route[2] is not None:
            return self.send_json(404, _error("Resource not found"))
        workspace, slug, _ = route
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        except ValueError:
            return self.send_json(400, _error("Malformed JSON body"))
        title = body.get("title")
        source = ((body.get("source") or {}).get("branch") or {}).get("name")
        dest = ((body.get("destination") or {}).get("branch") or {}).get("name") or "main"
        if not title:
            return self.send_json(400, {"type": "error", "error": {
                "message": "title: This field is required.", "fields": {"title": ["This field is required."]}}})
        if not source:
            return self.send_json(400, _error("source: This field is required."))
        if state.branch_exists is not None and not state.branch_exists(workspace, slug, source):
            return self.send_json(400, _error(f"source: Branch not found: {source}"))
        full = f"{workspace}/{slug}"
        for pr in state.pullrequests:
            if (pr["state"] == "OPEN" and pr["source"]["branch"]["name"] == source
                    and pr["destination"]["branch"]["name"] == dest
                    and pr["destination"]["repository"]["full_name"] == full):
                return self.send_json(400, _error("There is already an open pull request from "
                                                 f"{source} to {dest}"))
        number = len(state.pullrequests) + 1
        now = datetime.now(UTC).isoformat()
        repo = {"type": "repository", "full_name": full, "name": slug,
                "links": {"html": {"href": f"https://bitbucket.org/{full}"}}}
        pr = {
            "type": "pullrequest", "id": number, "title": title,
            "description": body.get("description", ""), "state": "OPEN",
            "author": {"type": "user", "display_name": "flux-bump"},
            "source": {"branch": {"name": source}, "commit": {"hash": "0" * 12}, "repository": repo},
            "destination": {"branch": {"name": dest}, "commit": {"hash": "0" * 12},
                            "repository": repo},
            "close_source_branch": bool(body.get("close_source_branch", False)),
            "comment_count": 0, "task_count": 0, "reason": "",
            "created_on": now, "updated_on": now,
            "links": {
                "self": {"href": f"{self.server.url}/2.0/repositories/{full}/pullrequests/{number}"},
                "html": {"href": f"https://bitbucket.org/{full}/pull-requests/{number}"},
            },
        }
        state.pullrequests.append(pr)
        return self.send_json(201, pr)


class BitbucketStub(StateStub[BitbucketState]):
    """``with BitbucketStub(state) as stub:`` serves the API on ``stub.url``."""

    handler = _Handler
