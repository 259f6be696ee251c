"""Pull request comments for the Bitbucket stub (mounted by ``bitbucket_stub``), after the
published Bitbucket Cloud 2.0 contract:

- ``GET  /2.0/repositories/{workspace}/{repo_slug}/pullrequests/{id}/comments``: paginated
  ``{"size", "page", "pagelen", "values", "next"}`` (``pagelen`` default 10, at most 100), oldest
  first.
- ``POST /2.0/repositories/{workspace}/{repo_slug}/pullrequests/{id}/comments`` with
  ``{"content": {"raw": "<markdown>"}}``: ``201`` and the comment.
- ``PUT  /2.0/repositories/{workspace}/{repo_slug}/pullrequests/{id}/comments/{comment_id}``: the
  same body, ``200`` and the updated comment.
A comment is ``{"type": "pullrequest_comment", "id", "content": {"raw", "markup": "markdown",
"html"}, "user", "created_on", "updated_on", "deleted", "pending", "pullrequest": {"id"}, "links"}``;
``user`` is its author, ``{"type": "user", "uuid", "display_name"}``: for an access token, the
token's own bot account (one per token, here a uuid derived from the token). Only the author may
edit a comment: a ``PUT`` on someone else's is ``403``.
Errors: ``401`` for a missing or unknown credential (the stub's own check: a Bearer access
token or a Basic Atlassian API token), ``403`` for one in the stub's ``no_write`` (writes
only), ``404`` for an unknown pull request or comment,
``400`` for a body without ``content.raw`` or longer than :data:`MAX_RAW`; ``faults`` are served
first, one per request (e.g. ``(429, {"Retry-After": "1"})``).
"""
from __future__ import annotations

import html
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

if TYPE_CHECKING:
    from .bitbucket_stub import _Handler

_PATH = re.compile(
    r"^/2\.0/repositories/([^/]+)/([^/]+)/pullrequests/(\d+)/comments(?:/(\d+))?/?$")
MAX_RAW = 32768  # characters of content.raw the stub accepts (Bitbucket Cloud's comment limit)


@dataclass
class CommentStore:
    comments: list[dict[str, Any]] = field(default_factory=list)
    faults: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    requests: list[tuple[str, str, dict[str, Any] | None]] = field(default_factory=list)

    def reset(self) -> None:
        self.comments.clear()
        self.faults.clear()
        self.requests.clear()

    def add(self, workspace: str, slug: str, pr_id: int, raw: str, base_url: str = "",
            author: str = "tf-apply token", author_uuid: str | None = None) -> dict[str, Any]:
        """Store a new comment (what a POST does; tests also seed comments with it, by an author
        whose uuid derives from ``author`` unless given)."""
        now = datetime.now(UTC).isoformat()
        number = len(self.comments) + 1
        full = f"{workspace}/{slug}"
        comment = {"_where": (workspace, slug, pr_id), "type": "pullrequest_comment",
                   "id": number, "created_on": now, "updated_on": now, "deleted": False,
                   "pending": False,
                   "user": {"type": "user", "display_name": author,
                            "uuid": author_uuid or account_uuid(f"user {author}")},
                   "content": _content(raw),
                   "pullrequest": {"type": "pullrequest", "id": pr_id},
                   "links": {"self": {"href": f"{base_url}/2.0/repositories/{full}/pullrequests/"
                                              f"{pr_id}/comments/{number}"},
                             "html": {"href": f"https://bitbucket.org/{full}/pull-requests/"
                                              f"{pr_id}#comment-{number}"}}}
        self.comments.append(comment)
        return comment

    def on(self, workspace: str, slug: str, pr_id: int) -> list[dict[str, Any]]:
        """The comments of one pull request, oldest first (deleted ones included)."""
        return [c for c in self.comments if c["_where"] == (workspace, slug, pr_id)]


def account_uuid(credential: str) -> str:
    """The uuid of the account behind a credential (an access token's own bot account)."""
    return "{" + str(uuid.uuid5(uuid.NAMESPACE_URL, f"bitbucket-stub:{credential}")) + "}"


def open_pull_request(pullrequests: list[dict[str, Any]], full_name: str, pr_id: int,
                      source: str = "feature", destination: str = "main") -> dict[str, Any]:
    """Add an open pull request with the fields the stub reads (a test's set-up)."""
    repo = {"type": "repository", "full_name": full_name, "name": full_name.split("/")[1]}
    pr = {"type": "pullrequest", "id": pr_id, "title": f"PR {pr_id}", "state": "OPEN",
          "source": {"branch": {"name": source}, "repository": repo},
          "destination": {"branch": {"name": destination}, "repository": repo}}
    pullrequests.append(pr)
    return pr


def _error(message: str, **extra: Any) -> dict[str, Any]:
    return {"type": "error", "error": {"message": message, **extra}}


def _public(comment: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in comment.items() if not k.startswith("_")}


def fault_or_unauthenticated(h: _Handler, faults: list[tuple[int, dict[str, str]]]) -> bool:
    """Answer the next scripted fault, or a 401 without a credential; True when answered."""
    if faults:
        status, headers = faults.pop(0)
        h.send_json(status, _error("Rate limit for this resource has been exceeded"
                                   if status == 429 else "Something went wrong"), headers)
        return True
    if h._credential() is None:
        h.send_json(401, _error("Token is invalid, expired or not supported for this endpoint."))
        return True
    return False


def handle(h: _Handler, method: str) -> bool:
    """Answer the request when it is one for comments; False leaves it to the stub."""
    match = _PATH.match(urlsplit(h.path).path)
    if match is None:
        return False
    state = h.server.state
    store = state.comments
    body: dict[str, Any] | None = None
    if method in ("POST", "PUT"):
        raw = h.rfile.read(int(h.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            body = None
    store.requests.append((method, h.path, body))
    if fault_or_unauthenticated(h, store.faults):
        return True
    token = h._credential()
    workspace, slug = unquote(match.group(1)), unquote(match.group(2))
    pr_id, comment_id = int(match.group(3)), match.group(4)
    full = f"{workspace}/{slug}"
    if not any(pr["id"] == pr_id and pr["destination"]["repository"]["full_name"] == full
               for pr in state.pullrequests):
        h.send_json(404, _error(f"Pull request {pr_id} not found"))
        return True
    if method == "GET":
        _list(h, store, (workspace, slug, pr_id), comment_id)
        return True
    if token in state.no_write:
        h.send_json(403, _error("Your credentials lack one or more required privilege scopes.",
                                detail={"granted": ["pullrequest"],
                                        "required": ["pullrequest:write"]}))
        return True
    text = ((body or {}).get("content") or {}).get("raw") if isinstance(body, dict) else None
    if not isinstance(text, str) or not text:
        h.send_json(400, _error("content: This field is required."))
        return True
    if len(text) > MAX_RAW:
        h.send_json(400, _error(f"content.raw: Ensure this value has at most {MAX_RAW} characters."))
        return True
    now = datetime.now(UTC).isoformat()
    if method == "POST" and comment_id is None:
        comment = store.add(workspace, slug, pr_id, text, h.server.url,
                            author_uuid=account_uuid(str(token)))
        h.send_json(201, _public(comment))
        return True
    if method == "PUT" and comment_id is not None:
        for comment in store.on(workspace, slug, pr_id):
            if comment["id"] == int(comment_id) and not comment["deleted"]:
                if comment["user"]["uuid"] != account_uuid(str(token)):
                    h.send_json(403, _error("You can only edit your own comments."))
                    return True
                comment["content"] = _content(text)
                comment["updated_on"] = now
                h.send_json(200, _public(comment))
                return True
        h.send_json(404, _error(f"Comment {comment_id} not found"))
        return True
    h.send_json(405, _error("Method not allowed"))
    return True


def _content(text: str) -> dict[str, str]:
    return {"type": "rendered", "raw": text, "markup": "markdown",
            "html": f"<p>{html.escape(text)}</p>"}


def _list(h: _Handler, store: CommentStore, where: tuple[str, str, int],
          comment_id: str | None) -> None:
    mine = store.on(*where)
    if comment_id is not None:
        for comment in mine:
            if comment["id"] == int(comment_id):
                h.send_json(200, _public(comment))
                return
        h.send_json(404, _error(f"Comment {comment_id} not found"))
        return
    query = parse_qs(urlsplit(h.path).query)
    pagelen = max(1, min(int(query.get("pagelen", ["10"])[0]), 100))
    page = int(query.get("page", ["1"])[0])
    chunk = mine[(page - 1) * pagelen: page * pagelen]
    answer: dict[str, Any] = {"size": len(mine), "page": page, "pagelen": pagelen,
                              "values": [_public(c) for c in chunk]}
    if page * pagelen < len(mine):
        answer["next"] = (f"{h.server.url}{urlsplit(h.path).path}?pagelen={pagelen}"
                          f"&page={page + 1}")
    h.send_json(200, answer)
