"""The pull requests of a commit, for the Bitbucket stub (mounted by ``bitbucket_stub``), after the
published Bitbucket Cloud 2.0 contract:

- ``GET /2.0/repositories/{workspace}/{repo_slug}/commit/{commit}/pullrequests``: "a paginated list
  of all pull requests as part of which this commit was reviewed": ``{"size", "page", "pagelen",
  "values", "next"}`` (``pagelen`` default 30, at most 50), the pull request objects as the
  pull request endpoints return them.  ``commit`` is the SHA1, full or abbreviated.
- ``202`` while "the repository's pull requests are still being indexed" (``indexing`` answers
  left), ``404`` when "either the repository does not exist, or pull request commit links have not
  yet been indexed" (``indexed`` false, or no pull request of that repository is known).
Auth as the rest of the stub: ``401`` for a missing or unknown credential; ``403`` for a
credential in ``no_read`` (without the pull request read scope).  ``faults`` are served first,
one per request (e.g. ``(429, {"Retry-After": "1"})``).

Which commits belong to a pull request: every commit pushed to it and its merge commit, as
:func:`merged_pull_request` records them in ``links`` (full SHA1 -> pull request ids).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from .bitbucket_comments import fault_or_unauthenticated

if TYPE_CHECKING:
    from .bitbucket_stub import _Handler

_PATH = re.compile(r"^/2\.0/repositories/([^/]+)/([^/]+)/commit/([0-9a-fA-F]+)/pullrequests/?$")


@dataclass
class CommitLinks:
    links: dict[str, list[int]] = field(default_factory=dict)  # full SHA1 -> pull request ids
    indexed: bool = True
    indexing: int = 0  # how many requests are answered 202 first
    no_read: set[str] = field(default_factory=set)
    faults: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def reset(self) -> None:
        self.links.clear()
        self.indexed = True
        self.indexing = 0
        self.no_read.clear()
        self.faults.clear()
        self.requests.clear()


def merged_pull_request(pullrequests: list[dict[str, Any]], links: CommitLinks, full_name: str,
                        pr_id: int, commits: list[str], merge_commit: str,
                        source: str = "feature", destination: str = "main") -> dict[str, Any]:
    """A merged pull request whose pushes were ``commits`` (the last one is its head) and whose
    merge made ``merge_commit``; hashes in pull request objects are abbreviated, as Bitbucket's."""
    now = datetime.now(UTC).isoformat()
    repo = {"type": "repository", "full_name": full_name, "name": full_name.split("/")[1]}
    pr = {"type": "pullrequest", "id": pr_id, "title": f"PR {pr_id}", "state": "MERGED",
          "source": {"branch": {"name": source}, "commit": {"type": "commit",
                                                             "hash": commits[-1][:12]},
                     "repository": repo},
          "destination": {"branch": {"name": destination},
                          "commit": {"type": "commit", "hash": merge_commit[:12]},
                          "repository": repo},
          "merge_commit": {"type": "commit", "hash": merge_commit[:12]},
          "close_source_branch": False, "created_on": now, "updated_on": now,
          "links": {"html": {"href": f"https://bitbucket.org/{full_name}/pull-requests/{pr_id}"}}}
    pullrequests[:] = [p for p in pullrequests if not (
        p["id"] == pr_id and p["destination"]["repository"]["full_name"] == full_name)]
    pullrequests.append(pr)
    for commit in [*commits, merge_commit]:
        links.links.setdefault(commit, []).append(pr_id)
    return pr


def _error(message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"message": message}}


def handle(h: _Handler) -> bool:
    """Answer a GET of a commit's pull requests; False leaves the request to the stub."""
    match = _PATH.match(urlsplit(h.path).path)
    if match is None:
        return False
    state = h.server.state
    links = state.commit_links
    links.requests.append(h.path)
    if fault_or_unauthenticated(h, links.faults):
        return True
    token = h._credential()
    if token in links.no_read:
        h.send_json(403, _error("Your credentials lack one or more required privilege scopes."))
        return True
    full = f"{unquote(match.group(1))}/{unquote(match.group(2))}"
    mine = [pr for pr in state.pullrequests if pr["destination"]["repository"]["full_name"] == full]
    if not links.indexed or not mine:
        h.send_json(404, _error("Either the repository does not exist, or pull request commit "
                                "links have not yet been indexed."))
        return True
    if links.indexing > 0:
        links.indexing -= 1
        h.send_json(202, {"type": "error", "error": {
            "message": "The repository's pull requests are still being indexed."}})
        return True
    commit = match.group(3).lower()
    ids = sorted({i for full_sha, found in links.links.items() if full_sha.startswith(commit)
                  for i in found}) if len(commit) >= 7 else []
    values = [pr for pr in mine if pr["id"] in ids]
    query = parse_qs(urlsplit(h.path).query)
    pagelen = max(1, min(int(query.get("pagelen", ["30"])[0]), 50))
    page = int(query.get("page", ["1"])[0])
    answer: dict[str, Any] = {"size": len(values), "page": page, "pagelen": pagelen,
                              "values": values[(page - 1) * pagelen: page * pagelen]}
    if page * pagelen < len(values):
        answer["next"] = f"{h.server.url}{urlsplit(h.path).path}?pagelen={pagelen}&page={page + 1}"
    h.send_json(200, answer)
    return True
