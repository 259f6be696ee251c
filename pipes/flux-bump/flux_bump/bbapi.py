"""Bitbucket Cloud pull requests: ``/2.0/repositories/{workspace}/{repo_slug}/pullrequests``.

Bearer auth with a repository/workspace access token.  An open pull request whose source branch is
ours (listed with ``q=source.branch.name="…" AND state="OPEN"``) is updated
(``PUT .../pullrequests/{id}``), not duplicated: the pipe looks it up before it pushes.
"""
from __future__ import annotations

import base64
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests
from pipes_common import httpclient, secrets
from pipes_common.errors import PipeError

DEFAULT_API_URL = "https://api.bitbucket.org"


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
        secrets.register(token)
        self._token = token
        self._email = email
        if email:
            basic = base64.b64encode(f"{email}:{token}".encode()).decode()
            secrets.register(basic)
            self._authorization = f"Basic {basic}"
        else:
            self._authorization = f"Bearer {token}"
        self.api_url = api_url.rstrip("/")
        self._session = httpclient.session()
        self._timeout = timeout

    def _request(self, method: str, path: str, failure: str | None = None,
                 **kwargs: Any) -> dict[str, Any]:
        """Send one API request; ``failure`` heads the error message of a non-2xx answer."""
        try:
            resp = self._session.request(
                method, f"{self.api_url}{path}", timeout=self._timeout,
                headers={"Authorization": self._authorization, "Accept": "application/json"},
                **kwargs)
        except requests.RequestException as err:
            raise PipeError(f"BITBUCKET_API_URL: the Bitbucket API at {self.api_url} is "
                            f"unreachable ({type(err).__name__})") from None
        if resp.status_code in (401, 403):
            raise PipeError(self._refused(resp.status_code))
        if not resp.ok:
            detail = resp.reason
            with contextlib.suppress(ValueError):
                detail = str((resp.json().get("error") or {}).get("message") or detail)
            head = (f"{failure} ({resp.status_code})" if failure else
                    f"The Bitbucket API answered {resp.status_code} to {method} {path.split('?')[0]}")
            raise PipeError(secrets.mask(f"{head}: {detail}"))
        try:
            data: dict[str, Any] = resp.json()
        except ValueError:
            raise PipeError(f"The Bitbucket API returned a body that is not JSON for {path}") from None
        return data

    def _refused(self, code: int) -> str:
        if self._email:
            why = ("the token lacks the write:pullrequest:bitbucket scope, or its account may not "
                   "open pull requests here" if code == 403 else
                   "it is expired or revoked, not an API token with scopes, or ATLASSIAN_EMAIL is "
                   "not its account's email (the REST API takes the email, not the username)")
            return f"The Bitbucket API refused ATLASSIAN_API_TOKEN ({code}): {why}"
        why = ("it lacks the pullrequest:write scope: create an access token with "
               "pullrequest:write and repository:write" if code == 403 else
               "it is expired, revoked or mistyped (an app password or an API token does not go "
               "here: API tokens go in ATLASSIAN_API_TOKEN with ATLASSIAN_EMAIL)")
        return f"The Bitbucket API refused BITBUCKET_ACCESS_TOKEN ({code}): {why}"

    @staticmethod
    def _base(workspace: str, slug: str) -> str:
        return f"/2.0/repositories/{quote(workspace, safe='')}/{quote(slug, safe='')}/pullrequests"

    def check_repository(self, workspace: str, slug: str) -> None:
        """``GET /2.0/repositories/{workspace}/{repo_slug}``: the credential is accepted and sees
        the repository (asked before anything is pushed)."""
        self._request("GET", f"/2.0/repositories/{quote(workspace, safe='')}/{quote(slug, safe='')}",
                      failure=f"The Bitbucket API at {self.api_url} could not read the repository "
                              f"{workspace}/{slug} of GITOPS_REPO (check GITOPS_REPO and "
                              "BITBUCKET_API_URL)")

    def find_open(self, workspace: str, slug: str, branch: str) -> PullRequest | None:
        query = f'source.branch.name="{branch}" AND state="OPEN"'
        data = self._request("GET", self._base(workspace, slug),
                             params={"q": query, "state": "OPEN", "pagelen": 50})
        for pr in data.get("values") or []:
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
        data = self._request("POST", self._base(workspace, slug), failure="Creating the pull request failed",
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
        data = self._request("PUT", f"{self._base(workspace, slug)}/{number}",
                             failure=f"Updating pull request #{number} failed", json=body)
        return PullRequest(int(data["id"]), _html(data), created=False)


def reviewer(value: str) -> dict[str, str]:
    """A reviewer as the API takes it: ``{"uuid": "{…}"}`` for a UUID in braces, else
    ``{"account_id": …}`` (an Atlassian account id)."""
    return {"uuid": value} if value.startswith("{") else {"account_id": value}


def _html(pr: dict[str, Any]) -> str:
    return str(((pr.get("links") or {}).get("html") or {}).get("href") or "")
