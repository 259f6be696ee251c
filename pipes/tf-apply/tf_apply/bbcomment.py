"""The Bitbucket Cloud REST API calls of tf-apply: the plan's pull request comment, and the
pull requests of a commit (to find the reviewed plan after a merge).

``/2.0/repositories/{workspace}/{repo_slug}/pullrequests/{id}/comments``: the paginated listing
(``values``, ``next``) is searched for the comment holding our marker; found, it is replaced
(``PUT .../comments/{comment_id}``), else one is created (``POST``).  Bearer auth with
``BITBUCKET_ACCESS_TOKEN``.  Reads and the PUT are retried by the shared client (429 honouring
``Retry-After``); the POST is not, so a retry never leaves two comments.

``GET /2.0/repositories/{workspace}/{repo_slug}/commit/{commit}/pullrequests``: the paginated
pull requests "as part of which this commit was reviewed"; ``202`` while Bitbucket still indexes
the repository's pull requests (asked again a few times), ``404`` when the repository is unknown
or its pull request links are not indexed.
"""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests
from pipes_common import httpclient, secrets
from pipes_common.errors import PipeError

from .prcomment import has_marker

MAX_PAGES = 50
INDEXING_ATTEMPTS = 4
INDEXING_WAIT = 5.0  # seconds between two questions while Bitbucket indexes (202)
COMMENT_403 = ("BITBUCKET_ACCESS_TOKEN: the token may not write pull request comments (403): give "
               "the access token the pull request write scope (pullrequest:write)")
COMMENT_404 = ("BITBUCKET_ACCESS_TOKEN: the pull request was not found (404): use an access token "
               "of this repository (or its project or workspace), or check BITBUCKET_API_URL")


class TransientError(Exception):
    """The API could not be reached or kept failing (429, 5xx): worth a warning, not a failure."""


@dataclass(frozen=True)
class Posted:
    comment_id: int
    created: bool


class CommentClient:
    def __init__(self, token: str, api_url: str, timeout: float = 30.0,
                 sleep: httpclient.Sleep | None = None) -> None:
        secrets.register(token)
        self._token = token
        self.api_url = api_url.rstrip("/")
        self._sleep = sleep or time.sleep
        self._session = httpclient.session(sleep=self._sleep)
        self._timeout = timeout

    def _request(self, method: str, url: str, refused: tuple[str, str] = (COMMENT_403, COMMENT_404),
                 **kwargs: Any) -> dict[str, Any]:
        """The JSON answer; ``refused`` are the messages of a 403 and a 404."""
        try:
            resp = self._session.request(
                method, url, timeout=self._timeout,
                headers={"Authorization": f"Bearer {self._token}", "Accept": "application/json"},
                **kwargs)
        except requests.RequestException as err:
            raise TransientError(f"the Bitbucket API at {self.api_url} is unreachable "
                                 f"({type(err).__name__})") from None
        if resp.status_code == 401:
            raise PipeError("BITBUCKET_ACCESS_TOKEN: the Bitbucket API refused the token (401): "
                            "it is invalid or expired; create a new access token with the "
                            "pull request write scope")
        if resp.status_code == 403:
            raise PipeError(refused[0])
        if resp.status_code == 404:
            raise PipeError(refused[1])
        if resp.status_code == 429 or resp.status_code >= 500:
            raise TransientError(f"the Bitbucket API answered {resp.status_code} to {method}, "
                                 "also after retrying")
        if not resp.ok:
            detail = resp.reason
            with contextlib.suppress(ValueError, AttributeError):
                detail = str((resp.json().get("error") or {}).get("message") or detail)
            raise PipeError(secrets.mask(f"The Bitbucket API answered {resp.status_code} to the "
                                         f"pull request comment: {detail}"))
        if resp.status_code == 202:
            return {"indexing": True}
        try:
            data: dict[str, Any] = resp.json()
        except ValueError:
            raise TransientError("the Bitbucket API returned a body that is not JSON") from None
        return data

    def _base(self, workspace: str, slug: str, pr_id: str) -> str:
        return (f"{self.api_url}/2.0/repositories/{quote(workspace, safe='')}/"
                f"{quote(slug, safe='')}/pullrequests/{quote(pr_id, safe='')}/comments")

    def find(self, workspace: str, slug: str, pr_id: str, mark: str) -> int | None:
        """The id of the (not deleted) comment holding ``mark``, over every page."""
        url: str | None = f"{self._base(workspace, slug, pr_id)}?pagelen=100"
        for _ in range(MAX_PAGES):
            if url is None:
                return None
            page = self._request("GET", url)
            for comment in page.get("values") or []:
                raw = str(((comment or {}).get("content") or {}).get("raw") or "")
                if not comment.get("deleted") and has_marker(raw, mark):
                    return int(comment["id"])
            nxt = page.get("next")
            url = str(nxt) if nxt else None
        return None

    def upsert(self, workspace: str, slug: str, pr_id: str, mark: str, text: str) -> Posted:
        existing = self.find(workspace, slug, pr_id, mark)
        payload = {"content": {"raw": text}}
        base = self._base(workspace, slug, pr_id)
        if existing is not None:
            self._request("PUT", f"{base}/{existing}", json=payload)
            return Posted(existing, created=False)
        data = self._request("POST", base, json=payload)
        return Posted(int(data["id"]), created=True)

    def pull_requests_of_commit(self, workspace: str, slug: str, commit: str) -> list[dict[str, Any]]:
        """Every pull request the commit belongs to, over every page."""
        refused = (
            "BITBUCKET_ACCESS_TOKEN: the token may not read pull requests (403): give the access "
            "token the pull request write scope (pullrequest:write, which includes reading)",
            f"BITBUCKET_ACCESS_TOKEN: the pull requests of commit {commit[:12]} were not found "
            "(404): the repository is not this token's, or Bitbucket has not indexed its pull "
            "request links yet (open the commit in Bitbucket and follow 'Go to pull request' "
            "once); or name the reviewed plan with PLAN_ID")
        url: str | None = (f"{self.api_url}/2.0/repositories/{quote(workspace, safe='')}/"
                           f"{quote(slug, safe='')}/commit/{quote(commit, safe='')}/pullrequests"
                           "?pagelen=50")
        found: list[dict[str, Any]] = []
        for _ in range(MAX_PAGES):
            if url is None:
                break
            page = self._request("GET", url, refused)
            for _attempt in range(INDEXING_ATTEMPTS - 1):
                if not page.get("indexing"):
                    break
                self._sleep(INDEXING_WAIT)
                page = self._request("GET", url, refused)
            if page.get("indexing"):
                raise TransientError("Bitbucket is still indexing the repository's pull requests "
                                     "(202)")
            found += [pr for pr in page.get("values") or [] if isinstance(pr, dict)]
            nxt = page.get("next")
            url = str(nxt) if nxt else None
        return found
