"""The Bitbucket Cloud REST API calls of tf-apply: the plan's pull request comment, and the pull
requests of a commit (to find the reviewed plan after a merge).

``/2.0/repositories/{workspace}/{repo_slug}/pullrequests/{id}/comments``: the paginated listing is
searched for the comment holding our marker; found, it is replaced (``PUT .../comments/{id}``),
else one is created (``POST``).  Bearer auth with ``BITBUCKET_ACCESS_TOKEN``.  Sending, retries
(not of the POST, so a retry never leaves two comments), pagination and refusals are the shared
client's (:mod:`pipes_common.bbapi`); here are only the calls and how a refusal is explained for
them.

``GET /2.0/repositories/{workspace}/{repo_slug}/commit/{commit}/pullrequests``: the paginated
pull requests "as part of which this commit was reviewed"; ``202`` while Bitbucket still indexes
the repository's pull requests (a body without ``values``: asked again a few times), ``404`` when
the repository is unknown or its pull request links are not indexed.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from pipes_common import bbapi, httpclient

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


class CommentClient:
    def __init__(self, token: str, api_url: str, timeout: float = 30.0,
                 sleep: httpclient.Sleep | None = None) -> None:
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

    def find(self, workspace: str, slug: str, pr_id: str, mark: str) -> int | None:
        """The id of the (not deleted) comment holding ``mark``, over every page."""
        for comment in self._api.items(self._base(workspace, slug, pr_id), {"pagelen": 100}):
            raw = str((comment.get("content") or {}).get("raw") or "")
            if not comment.get("deleted") and has_marker(raw, mark):
                return int(comment["id"])
        return None

    def upsert(self, workspace: str, slug: str, pr_id: str, mark: str, text: str) -> Posted:
        existing = self.find(workspace, slug, pr_id, mark)
        payload = {"content": {"raw": text}}
        base = self._base(workspace, slug, pr_id)
        if existing is not None:
            self._api.request("PUT", f"{base}/{existing}", json=payload)
            return Posted(existing, created=False)
        data = self._api.request("POST", base, json=payload,
                                 failure="Posting the pull request comment failed")
        return Posted(int(data["id"]), created=True)

    def _page(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """One page of a commit's pull requests; asked again while Bitbucket indexes (202)."""
        for attempt in range(INDEXING_ATTEMPTS):
            page = self._lookup.request("GET", path, params=params)
            if "values" in page:
                return page
            if attempt < INDEXING_ATTEMPTS - 1:
                self._sleep(INDEXING_WAIT)
        raise bbapi.Transient(f"{COMMIT_LINKS_APP} is still indexing the repository's pull "
                              "requests (202; it does so once, after it is installed)", 202)

    def pull_requests_of_commit(self, workspace: str, slug: str, commit: str) -> list[dict[str, Any]]:
        """Every pull request the commit belongs to, over every page."""
        page = self._page(bbapi.repo_path(workspace, slug, "commit", commit, "pullrequests"),
                          {"pagelen": 50})
        found: list[dict[str, Any]] = []
        for _ in range(bbapi.MAX_PAGES):
            found += [pr for pr in page.get("values") or [] if isinstance(pr, dict)]
            nxt = str(page.get("next") or "")
            if not nxt.startswith(self._lookup.api_url + "/"):  # the token goes nowhere else
                break
            page = self._page(nxt)
        return found
