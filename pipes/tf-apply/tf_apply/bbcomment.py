"""Post or update the plan's pull request comment through the Bitbucket Cloud REST API.

``/2.0/repositories/{workspace}/{repo_slug}/pullrequests/{id}/comments``: the paginated listing
(``values``, ``next``) is searched for the comment holding our marker; found, it is replaced
(``PUT .../comments/{comment_id}``), else one is created (``POST``).  Bearer auth with
``BITBUCKET_ACCESS_TOKEN``.  Reads and the PUT are retried by the shared client (429 honouring
``Retry-After``); the POST is not, so a retry never leaves two comments.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests
from pipes_common import httpclient, secrets
from pipes_common.errors import PipeError

from .prcomment import has_marker

MAX_PAGES = 50


class TransientError(Exception):
    """The API could not be reached or kept failing (429, 5xx): worth a warning, not a failure."""


@dataclass(frozen=True)
class Posted:
    comment_id: int
    created: bool


class CommentClient:
    def __init__(self, token: str, api_url: str, timeout: float = 30.0) -> None:
        secrets.register(token)
        self._token = token
        self.api_url = api_url.rstrip("/")
        self._session = httpclient.session()
        self._timeout = timeout

    def _request(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
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
            raise PipeError("BITBUCKET_ACCESS_TOKEN: the token may not write pull request "
                            "comments (403): give the access token the pull request write scope "
                            "(pullrequest:write)")
        if resp.status_code == 404:
            raise PipeError("BITBUCKET_ACCESS_TOKEN: the pull request was not found (404): use "
                            "an access token of this repository (or its project or workspace), "
                            "or check BITBUCKET_API_URL")
        if resp.status_code == 429 or resp.status_code >= 500:
            raise TransientError(f"the Bitbucket API answered {resp.status_code} to {method}, "
                                 "also after retrying")
        if not resp.ok:
            detail = resp.reason
            with contextlib.suppress(ValueError, AttributeError):
                detail = str((resp.json().get("error") or {}).get("message") or detail)
            raise PipeError(secrets.mask(f"The Bitbucket API answered {resp.status_code} to the "
                                         f"pull request comment: {detail}"))
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
