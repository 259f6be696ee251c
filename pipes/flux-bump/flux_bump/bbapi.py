"""Bitbucket Cloud pull requests: ``/2.0/repositories/{workspace}/{repo_slug}/pullrequests``.

Bearer auth with a repository/workspace access token.  An open pull request whose source branch is
ours is reused (listed with ``q=source.branch.name="…" AND state="OPEN"``), not duplicated.
"""
from __future__ import annotations

import contextlib
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
    def __init__(self, token: str, api_url: str = DEFAULT_API_URL, timeout: float = 30.0) -> None:
        secrets.register(token)
        self._token = token
        self.api_url = api_url.rstrip("/")
        self._session = httpclient.session()
        self._timeout = timeout

    def _request(self, method: str, path: str, failure: str | None = None,
                 **kwargs: Any) -> dict[str, Any]:
        """Send one API request; ``failure`` heads the error message of a non-2xx answer."""
        try:
            resp = self._session.request(
                method, f"{self.api_url}{path}", timeout=self._timeout,
                headers={"Authorization": f"Bearer {self._token}", "Accept": "application/json"},
                **kwargs)
        except requests.RequestException as err:
            raise PipeError(f"BITBUCKET_API_URL: the Bitbucket API at {self.api_url} is "
                            f"unreachable ({type(err).__name__})") from None
        if resp.status_code in (401, 403):
            raise PipeError(f"The Bitbucket API refused BITBUCKET_ACCESS_TOKEN ({resp.status_code}): "
                            "use an access token with the pullrequest:write scope")
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

    @staticmethod
    def _base(workspace: str, slug: str) -> str:
        return f"/2.0/repositories/{quote(workspace, safe='')}/{quote(slug, safe='')}/pullrequests"

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
               description: str) -> PullRequest:
        body = {"title": title, "description": description,
                "source": {"branch": {"name": source}},
                "destination": {"branch": {"name": destination}},
                "close_source_branch": True}
        # POST is not retried by the session: a retried create could open a second pull request
        data = self._request("POST", self._base(workspace, slug), failure="Creating the pull request failed",
                             json=body)
        return PullRequest(int(data["id"]), _html(data), created=True)

    def open_or_reuse(self, workspace: str, slug: str, source: str, destination: str,
                      title: str, description: str) -> PullRequest:
        existing = self.find_open(workspace, slug, source)
        if existing is not None:
            return existing
        return self.create(workspace, slug, source, destination, title, description)


def _html(pr: dict[str, Any]) -> str:
    return str(((pr.get("links") or {}).get("html") or {}).get("href") or "")
