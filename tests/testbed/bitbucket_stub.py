"""A Bitbucket Cloud REST stub for pull requests, following the published 2.0 contract.

- ``GET  /2.0/repositories/{workspace}/{repo_slug}/pullrequests``: paginated ``{"size", "page",
  "pagelen", "values"}``; ``state`` query parameter (repeatable, default OPEN) and BBQL ``q`` with
  ``field = "value"`` terms joined by ``AND`` (fields: ``source.branch.name``,
  ``destination.branch.name``, ``state``, ``id``, ``title``).
- ``POST /2.0/repositories/{workspace}/{repo_slug}/pullrequests``: ``title`` and
  ``source.branch.name`` required; ``201`` with the pull request (``links.html.href``,
  ``links.self.href``, ``source``/``destination`` with branch, commit and repository).
- ``GET  /2.0/repositories/{workspace}/{repo_slug}/pullrequests/{id}``.
- ``GET  /2.0/repositories/{workspace}/{repo_slug}``: the repository (``type``, ``full_name``,
  ``slug``, ``name``, ``is_private``, ``mainbranch``, ``links.html.href``); ``404`` "Repository
  {workspace}/{repo_slug} not found" when ``repo_exists`` says it does not exist.
- ``PUT  /2.0/repositories/{workspace}/{repo_slug}/pullrequests/{id}``: mutates the pull request
  ("only open pull requests can be mutated"): ``title``, ``description``, ``destination``,
  ``reviewers`` (the list given replaces the old one) and ``close_source_branch``; ``200`` with it.
- ``GET  /2.0/repositories/{workspace}/{repo_slug}/commit/{commit}/pullrequests``: see
  ``bitbucket_commits``; pull request comments: see ``bitbucket_comments``.
- ``GET  /2.0/repositories/{workspace}/{repo_slug}/refs/branches``: paginated ``values`` of
  ``{"type": "branch", "name"}`` (``pagelen`` up to 100, ``next`` while more), from ``branches``.
- ``reviewers`` in a POST or PUT body: a list of account objects naming ``account_id`` or
  ``uuid``; the answer lists them as ``{"type": "user", "account_id", "uuid", "display_name"}``.
  With ``accounts`` set (account id -> uuid), an unknown reviewer is a ``400``.
Auth, the forms Atlassian documents for the REST API: ``Authorization: Bearer <token>`` for a
repository, project or workspace access token (``tokens``), and HTTP Basic ``<email>:<API token>``
for an Atlassian API token (``api_tokens``, email -> token; a username instead of the email, or an
app password, is a ``401``).  A credential in ``no_write`` (without the pull-request write scope)
gets ``403`` "Your credentials lack one or more required privilege scopes." on POST and PUT.
Errors are ``{"type": "error", "error": {"message"}}``.
The stub refuses a second open pull request for the same source and destination (so a client
that does not look for the open one first is caught) and a source branch that does not exist
when ``branch_exists`` says so.
"""
from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from . import bitbucket_comments, bitbucket_commits
from .httpserve import QuietHandler, StateServer, StateStub

_REPO = re.compile(r"^/2\.0/repositories/([^/]+)/([^/]+)/?$")
_BRANCHES = re.compile(r"^/2\.0/repositories/([^/]+)/([^/]+)/refs/branches/?$")
_PATH = re.compile(r"^/2\.0/repositories/([^/]+)/([^/]+)/pullrequests(?:/(\d+))?/?$")
_TERM = re.compile(r'^\s*([a-z_.]+)\s*(=|!=|~)\s*"((?:[^"\\]|\\.)*)"\s*$')
FIELDS = {"source.branch.name", "destination.branch.name", "state", "id", "title"}


@dataclass
class BitbucketState:
    tokens: set[str]
    pullrequests: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    branch_exists: Callable[[str, str, str], bool] | None = None
    repo_exists: Callable[[str, str], bool] | None = None  # None: every repository exists
    accounts: dict[str, str] | None = None  # account_id -> uuid of the workspace's users
    api_tokens: dict[str, str] = field(default_factory=dict)  # Atlassian account email -> API token
    branches: dict[str, list[str]] = field(default_factory=dict)  # full name -> its branches (refs/branches)
    no_write: set[str] = field(default_factory=set)  # tokens without the pull-request write scope
    # an outage: every POST of a pull request is answered with this status (a 5xx), without
    # creating it, or after creating it when ``post_error_after_create`` (the answer was lost)
    post_error: int | None = None
    post_error_after_create: bool = False
    bodies: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (method, JSON body)
    # --- pull request comments (tf-apply): testbed/bitbucket_comments.py ---
    comments: bitbucket_comments.CommentStore = field(
        default_factory=bitbucket_comments.CommentStore)
    # --- end of pull request comments ---
    # the pull requests of a commit (tf-apply): testbed/bitbucket_commits.py
    commit_links: bitbucket_commits.CommitLinks = field(
        default_factory=bitbucket_commits.CommitLinks)

    def reset(self) -> None:
        self.pullrequests.clear()
        self.requests.clear()
        self.bodies.clear()
        self.branch_exists = None
        self.repo_exists = None
        self.accounts = None
        self.api_tokens.clear()
        self.branches.clear()
        self.no_write.clear()
        self.post_error = None
        self.post_error_after_create = False
        self.comments.reset()  # pull request comments (tf-apply)
        self.commit_links.reset()  # the pull requests of a commit (tf-apply)


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


def _reviewers(state: BitbucketState, given: Any) -> list[dict[str, Any]] | str:
    """The reviewer accounts of a request body, or the error message of a bad list."""
    if not isinstance(given, list):
        return "reviewers: expected a list of accounts"
    out: list[dict[str, Any]] = []
    for item in given:
        if not isinstance(item, dict) or not (item.get("account_id") or item.get("uuid")):
            return "reviewers: each reviewer needs an account_id or a uuid"
        account_id, uuid = item.get("account_id"), item.get("uuid")
        if state.accounts is not None:
            by_uuid = {u: a for a, u in state.accounts.items()}
            if account_id is not None and account_id not in state.accounts:
                return f"reviewers: {account_id} is not a valid user"
            if uuid is not None and uuid not in by_uuid:
                return f"reviewers: {uuid} is not a valid user"
            account_id = account_id or by_uuid[str(uuid)]
            uuid = uuid or state.accounts[str(account_id)]
        out.append({"type": "user", "account_id": account_id, "uuid": uuid,
                    "display_name": account_id or uuid})
    return out


class _Handler(QuietHandler):
    server: StateServer[BitbucketState]
    json_content_type = "application/json; charset=utf-8"

    def _credential(self) -> str | None:
        """The token the request authenticates with, or None."""
        state = self.server.state
        header = self.headers.get("Authorization", "")
        if header.startswith("Bearer ") and header[7:] in state.tokens:
            return header[7:]
        if header.startswith("Basic "):
            try:
                email, _, token = base64.b64decode(header[6:]).decode().partition(":")
            except ValueError:
                return None
            if "@" in email and state.api_tokens.get(email) == token:
                return token
        return None

    def _auth(self) -> bool:
        return self._credential() is not None

    def _may_write(self) -> bool:
        return self._credential() not in self.server.state.no_write

    def _route(self) -> tuple[str, str, int | None] | None:
        match = _PATH.match(urlsplit(self.path).path)
        if match is None:
            return None
        return unquote(match.group(1)), unquote(match.group(2)), (
            int(match.group(3)) if match.group(3) else None)

    def do_GET(self) -> None:
        if bitbucket_comments.handle(self, "GET"):  # pull request comments (tf-apply)
            return
        if bitbucket_commits.handle(self):  # the pull requests of a commit (tf-apply)
            return
        state = self.server.state
        state.requests.append(("GET", self.path))
        if not self._auth():
            return self.send_json(401, _error("Token is invalid, expired or not supported for this endpoint."))
        repo = _REPO.match(urlsplit(self.path).path)
        if repo is not None:
            return self._repository(unquote(repo.group(1)), unquote(repo.group(2)))
        listing = _BRANCHES.match(urlsplit(self.path).path)
        if listing is not None:
            return self._branches(f"{unquote(listing.group(1))}/{unquote(listing.group(2))}")
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

    def _branches(self, full: str) -> None:
        state = self.server.state
        if full not in state.branches:
            return self.send_json(404, _error(f"Repository {full} not found"))
        query = parse_qs(urlsplit(self.path).query)
        pagelen = min(int(query.get("pagelen", ["10"])[0]), 100)
        page = int(query.get("page", ["1"])[0])
        names = sorted(state.branches[full])
        body: dict[str, Any] = {"size": len(names), "page": page, "pagelen": pagelen,
                                "values": [{"type": "branch", "name": n}
                                           for n in names[(page - 1) * pagelen: page * pagelen]]}
        if page * pagelen < len(names):
            body["next"] = f"{self.server.url}{urlsplit(self.path).path}?pagelen={pagelen}&page={page + 1}"
        return self.send_json(200, body)

    def _repository(self, workspace: str, slug: str) -> None:
        state = self.server.state
        full = f"{workspace}/{slug}"
        if state.repo_exists is not None and not state.repo_exists(workspace, slug):
            return self.send_json(404, _error(f"Repository {full} not found"))
        return self.send_json(200, {
            "type": "repository", "full_name": full, "slug": slug, "name": slug,
            "is_private": True, "scm": "git", "mainbranch": {"type": "branch", "name": "main"},
            "links": {"html": {"href": f"https://bitbucket.org/{full}"},
                      "self": {"href": f"{self.server.url}/2.0/repositories/{full}"}}})

    def do_POST(self) -> None:
        if bitbucket_comments.handle(self, "POST"):  # pull request comments (tf-apply)
            return
        state = self.server.state
        state.requests.append(("POST", self.path))
        if not self._auth():
            return self.send_json(401, _error("Token is invalid, expired or not supported for this endpoint."))
        if not self._may_write():
            return self.send_json(403, _error("Your credentials lack one or more required "
                                              "privilege scopes."))
        route = self._route()
        if route is None or route[2] is not None:
            return self.send_json(404, _error("Resource not found"))
        workspace, slug, _ = route
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        except ValueError:
            return self.send_json(400, _error("Malformed JSON body"))
        state.bodies.append(("POST", body))
        if state.post_error is not None and not state.post_error_after_create:
            return self.send_json(state.post_error, _error("Something went wrong"))
        reviewers = _reviewers(state, body.get("reviewers", []))
        if isinstance(reviewers, str):
            return self.send_json(400, _error(reviewers))
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
            "reviewers": reviewers, "participants": [],
            "comment_count": 0, "task_count": 0, "reason": "",
            "created_on": now, "updated_on": now,
            "links": {
                "self": {"href": f"{self.server.url}/2.0/repositories/{full}/pullrequests/{number}"},
                "html": {"href": f"https://bitbucket.org/{full}/pull-requests/{number}"},
            },
        }
        state.pullrequests.append(pr)
        if state.post_error is not None:
            return self.send_json(state.post_error, _error("Something went wrong"))
        return self.send_json(201, pr)

    def do_PUT(self) -> None:
        if bitbucket_comments.handle(self, "PUT"):  # pull request comments (tf-apply)
            return
        state = self.server.state
        state.requests.append(("PUT", self.path))
        if not self._auth():
            return self.send_json(401, _error("Token is invalid, expired or not supported for this endpoint."))
        if not self._may_write():
            return self.send_json(403, _error("Your credentials lack one or more required "
                                              "privilege scopes."))
        route = self._route()
        if route is None or route[2] is None:
            return self.send_json(404, _error("Resource not found"))
        workspace, slug, number = route
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        except ValueError:
            return self.send_json(400, _error("Malformed JSON body"))
        state.bodies.append(("PUT", body))
        full = f"{workspace}/{slug}"
        found = [pr for pr in state.pullrequests
                 if pr["id"] == number and pr["destination"]["repository"]["full_name"] == full]
        if not found:
            return self.send_json(404, _error(f"Pull request {number} not found"))
        pr = found[0]
        if pr["state"] != "OPEN":
            return self.send_json(400, _error("Only open pull requests can be mutated."))
        if "reviewers" in body:
            reviewers = _reviewers(state, body["reviewers"])
            if isinstance(reviewers, str):
                return self.send_json(400, _error(reviewers))
            pr["reviewers"] = reviewers
        if "title" in body:
            if not body["title"]:
                return self.send_json(400, _error("title: This field is required."))
            pr["title"] = body["title"]
        for key in ("description", "close_source_branch"):
            if key in body:
                pr[key] = body[key]
        dest = ((body.get("destination") or {}).get("branch") or {}).get("name")
        if dest:
            pr["destination"]["branch"]["name"] = dest
        pr["updated_on"] = datetime.now(UTC).isoformat()
        return self.send_json(200, pr)


class BitbucketStub(StateStub[BitbucketState]):
    """``with BitbucketStub(state) as stub:`` serves the API on ``stub.url``."""

    handler = _Handler
