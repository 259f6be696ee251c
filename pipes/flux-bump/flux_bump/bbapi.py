"""Bitbucket Cloud pull requests: ``/2.0/repositories/{workspace}/{repo_slug}/pullrequests``.

An open pull request whose source branch is ours (listed with ``q=source.branch.name="…" AND
state="OPEN"``) is updated (``PUT .../pullrequests/{id}``), not duplicated: the pipe looks it up
before it pushes, after :meth:`BitbucketClient.check_repository`.  Auth, sending, retries,
pagination and refusals are the shared client's (:mod:`pipes_common.bbapi`); here are only the
pull request calls and how a refusal is explained for them.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pipes_common import bbapi
from pipes_common.bbapi import DEFAULT_API_URL

_TOKEN_CAUSES = {
    401: ("it is expired, revoked or mistyped (an app password or an API token does not go "
          "here: API tokens go in ATLASSIAN_API_TOKEN with ATLASSIAN_EMAIL)"),
    403: ("it lacks the pullrequest:write scope: create an access token with "
          "pullrequest:write and repository:write"),
}
_API_TOKEN_CAUSES = {
    401: ("it is expired or revoked, not an API token with scopes, or ATLASSIAN_EMAIL is "
          "not its account's email (the REST API takes the email, not the username)"),
    403: ("the token lacks the write:pullrequest:bitbucket scope, or its account may not "
          "open pull requests here"),
}


@dataclass(frozen=True)
class PullRequest:
    id: int
    url: str
    created: bool


class BitbucketClient:
    def __init__(self, token: str, api_url: str = DEFAULT_API_URL, timeout: float = 30.0,
                 email: str | None = None) -> None:
        """``token``: an access token (``Bearer``), or with ``email`` an Atlassian API token
        (HTTP Basic with the account's email, as Atlassian documents for the REST API)."""
        auth = bbapi.basic(email, token) if email else bbapi.bearer(token)
        self._api = bbapi.BitbucketApi(auth, api_url, timeout=timeout,
                                       causes=_API_TOKEN_CAUSES if email else _TOKEN_CAUSES)

    @staticmethod
    def _base(workspace: str, slug: str) -> str:
        return bbapi.repo_path(workspace, slug, "pullrequests")

    def check_repository(self, workspace: str, slug: str) -> None:
        """``GET /2.0/repositories/{workspace}/{repo_slug}``: the credential is accepted and sees
        the repository (asked before anything is pushed)."""
        try:
            self._api.request("GET", bbapi.repo_path(workspace, slug))
        except bbapi.BitbucketError as err:
            if err.status != 404:
                raise
            raise bbapi.BitbucketError(
                f"GITOPS_REPO: the Bitbucket API at {self._api.api_url} shows no repository "
                f"{workspace}/{slug} to {self._api.auth.variable} (404): check GITOPS_REPO, that "
                "the token belongs to that repository (or its project or workspace), and "
                "BITBUCKET_API_URL", 404) from None

    def find_open(self, workspace: str, slug: str, branch: str) -> PullRequest | None:
        query = f'source.branch.name="{branch}" AND state="OPEN"'
        for pr in self._api.items(self._base(workspace, slug),
                                  {"q": query, "state": "OPEN", "pagelen": 50}):
            if (pr.get("source") or {}).get("branch", {}).get("name") == branch \
                    and pr.get("state") == "OPEN":
                return PullRequest(int(pr["id"]), _html(pr), created=False)
        return None

    def create(self, workspace: str, slug: str, source: str, destination: str, title: str,
               description: str, reviewers: Sequence[str] = (),
               close_source_branch: bool = True) -> PullRequest:
        body = {"title": title, "description": description,
                "source": {"branch": {"name": source}},
                "destination": {"branch": {"name": destination}},
                "reviewers": [reviewer(r) for r in reviewers],
                "close_source_branch": close_source_branch}
        # POST is not retried by the session: a retried create could open a second pull request
        data = self._api.request("POST", self._base(workspace, slug), failure="Creating the pull request failed",
                             json=body)
        return PullRequest(int(data["id"]), _html(data), created=True)

    def update(self, workspace: str, slug: str, number: int, title: str, description: str,
               reviewers: Sequence[str] = (), close_source_branch: bool = True) -> PullRequest:
        """``PUT .../pullrequests/{id}``: the open pull request gets the new title and description
        (and the reviewers, when some are given: the list replaces the one it has)."""
        body: dict[str, Any] = {"title": title, "description": description,
                                "close_source_branch": close_source_branch}
        if reviewers:
            body["reviewers"] = [reviewer(r) for r in reviewers]
        data = self._api.request("PUT", f"{self._base(workspace, slug)}/{number}",
                             failure=f"Updating pull request #{number} failed", json=body)
        return PullRequest(int(data["id"]), _html(data), created=False)


def reviewer(value: str) -> dict[str, str]:
    """A reviewer as the API takes it: ``{"uuid": "{…}"}`` for a UUID in braces, else
    ``{"account_id": …}`` (an Atlassian account id)."""
    return {"uuid": value} if value.startswith("{") else {"account_id": value}


def _html(pr: dict[str, Any]) -> str:
    return str(((pr.get("links") or {}).get("html") or {}).get("href") or "")
