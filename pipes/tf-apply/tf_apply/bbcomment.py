"""The Bitbucket Cloud REST API calls of tf-apply: the plan's pull request comment, and the pull
requests of a commit (to find the reviewed plan after a merge).

``/2.0/repositories/{workspace}/{repo_slug}/pullrequests/{id}/comments``: the paginated listing is
searched for the comment holding our marker *and written by this token's account*; found, it is
replaced (``PUT .../comments/{id}``), else one is created (``POST``).  Bitbucket does not tell an
access token who it is (``GET /2.0/user`` refuses access tokens), but every comment carries its
author (``user.uuid``): the pipe signs its comments with a line holding a digest keyed with the
token over the author's uuid (:func:`author_line`), added right after the ``POST`` from the
author the answer names.  Anyone can copy the marker, or a whole comment of the pipe, into a
comment of their own; nobody without the token can write the line for their own uuid, so such a
comment is never taken for the pipe's (which would then try to edit someone else's comment).
Every body goes through the masking logger's :func:`~pipes_common.secrets.mask` before it is
sent.  Bearer auth with ``BITBUCKET_ACCESS_TOKEN``.  Sending, retries
(not of the POST, so a retry never leaves two comments), pagination and refusals are the shared
client's (:mod:`pipes_common.bbapi`); here are only the calls and how a refusal is explained for
them.

``GET /2.0/repositories/{workspace}/{repo_slug}/commit/{commit}/pullrequests``: the paginated
pull requests "as part of which this commit was reviewed"; ``202`` while Bitbucket still indexes
the repository's pull requests (a body without ``values``: asked again a few times), ``404`` when
the repository is unknown or its pull request links are not indexed.
"""
from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pipes_common import bbapi, httpclient, secrets

from .prcomment import has_marker

# what :func:`pipe` reports as a warning, not a failure: no answer, or 429/5xx after the retries
TransientError = (httpclient.Unreachable, bbapi.Transient)
INDEXING_ATTEMPTS = 4
INDEXING_WAIT = 5.0  # seconds between two questions while Bitbucket indexes (202)
# the commit -> pull requests links are served by an app Bitbucket installs on first use
COMMIT_LINKS_APP = "Bitbucket's Pull Request Commit Links app"
INSTALL_APP = ("to install it, open any commit of the repository in Bitbucket and click "
               "'Go to pull request' once")

_CAUSES = {
    401: ("it is invalid or expired; create a new access token with the pull request write "
          "scope"),
    403: ("it may not write pull request comments: give the access token the pull request "
          "write scope (pullrequest:write)"),
    404: ("the pull request was not found: use an access token of this repository (or its "
          "project or workspace), or check BITBUCKET_API_URL"),
}
_LOOKUP_CAUSES = {
    403: ("it may not read pull requests: give the access token the pull request write scope "
          "(pullrequest:write, which includes reading)"),
    404: ("the pull requests of the commit were not found: the repository is not this token's, "
          f"or {COMMIT_LINKS_APP} has not indexed it yet ({INSTALL_APP}, then run the step "
          "again in a few minutes); or name the reviewed plan with PLAN_ID"),
}


@dataclass(frozen=True)
class Posted:
    comment_id: int
    created: bool


def _author(comment: dict[str, Any]) -> str:
    user = comment.get("user")
    if not isinstance(user, dict):
        return ""
    return str(user.get("uuid") or user.get("account_id") or "")


def author_line(token: str, author: str) -> str:
    """The hidden line that says the pipe (holding ``token``) wrote a comment as ``author``."""
    digest = hmac.new(token.encode(), f"tf-apply comment by {author}".encode(),
                      hashlib.sha256).hexdigest()[:32]
    return f"[//]: # (tf-apply by {digest})"


def _with_author(text: str, line: str) -> str:
    """The body with the author line just before its last line (the marker stays last)."""
    head, sep, last = text.rpartition("\n")
    return f"{head}{sep}{line}\n{last}" if sep else f"{line}\n{text}"


class CommentClient:
    def __init__(self, token: str, api_url: str, timeout: float = 30.0,
                 sleep: httpclient.Sleep | None = None) -> None:
        self._token = token
        self._sleep = sleep or time.sleep
        session = None if sleep is None else httpclient.session(sleep=sleep,
                                                                budget=bbapi.RETRY_BUDGET)
        auth = bbapi.bearer(token)
        self._api = bbapi.BitbucketApi(auth, api_url, causes=_CAUSES, timeout=timeout,
                                       session=session)
        self._lookup = bbapi.BitbucketApi(auth, api_url, causes={**_CAUSES, **_LOOKUP_CAUSES},
                                          timeout=timeout, session=session)

    @staticmethod
    def _base(workspace: str, slug: str, pr_id: str) -> str:
        return bbapi.repo_path(workspace, slug, "pullrequests", pr_id, "comments")

    def _ours(self, comment: dict[str, Any], mark: str) -> bool:
        """The comment holds ``mark`` and was written by this token's account."""
        author = _author(comment)
        raw = str((comment.get("content") or {}).get("raw") or "")
        lines = raw.splitlines()
        return (not comment.get("deleted") and bool(author) and has_marker(raw, mark)
                and author_line(self._token, author) in lines)

    def find(self, workspace: str, slug: str, pr_id: str, mark: str) -> tuple[int, str] | None:
        """The id and author of the (not deleted) comment of this token's account holding
        ``mark``, over every page."""
        for comment in self._api.items(self._base(workspace, slug, pr_id), {"pagelen": 100}):
            if self._ours(comment, mark):
                return int(comment["id"]), _author(comment)
        return None

    def upsert(self, workspace: str, slug: str, pr_id: str, mark: str, text: str) -> Posted:
        found = self.find(workspace, slug, pr_id, mark)
        body = secrets.mask(text)
        base = self._base(workspace, slug, pr_id)
        if found is not None:
            existing, author = found
            signed = _with_author(body, author_line(self._token, author))
            self._api.request("PUT", f"{base}/{existing}", json={"content": {"raw": signed}})
            return Posted(existing, created=False)
        data = self._api.request("POST", base, json={"content": {"raw": body}},
                                 failure="Posting the pull request comment failed")
        comment_id, author = int(data["id"]), _author(data)
        if author:  # the answer names the token's account: sign the comment as written by it
            signed = _with_author(body, author_line(self._token, author))
            self._api.request("PUT", f"{base}/{comment_id}", json={"content": {"raw": signed}})
        return Posted(comment_id, created=True)

    def _page(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """One page of a commit's pull requests; asked again while Bitbucket indexes (202)."""
        for attempt in range(INDEXING_ATTEMPTS):
            page = self._lookup.page(path, params)
            if "values" in page:
                return page
            if attempt < INDEXING_ATTEMPTS - 1:
                self._sleep(INDEXING_WAIT)
        raise bbapi.Transient(f"{COMMIT_LINKS_APP} is still indexing the repository's pull "
                              "requests (202; it does so once, after it is installed)", 202)

    def pull_requests_of_commit(self, workspace: str, slug: str, commit: str) -> list[dict[str, Any]]:
        """Every pull request the commit belongs to, over every page."""
        return list(self._lookup.items(
            bbapi.repo_path(workspace, slug, "commit", commit, "pullrequests"), {"pagelen": 50},
            page=self._page))
