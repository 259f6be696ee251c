"""Post or update the plan's pull request comment through the Bitbucket Cloud REST API.

``/2.0/repositories/{workspace}/{repo_slug}/pullrequests/{id}/comments``: the paginated listing is
searched for the comment holding our marker; found, it is replaced (``PUT .../comments/{id}``),
else one is created (``POST``).  Bearer auth with ``BITBUCKET_ACCESS_TOKEN``.  Sending, retries
(not of the POST, so a retry never leaves two comments), pagination and refusals are the shared
client's (:mod:`pipes_common.bbapi`); here are only the comment calls and how a refusal is
explained for them.
"""
from __future__ import annotations

from dataclasses import dataclass

from pipes_common import bbapi, httpclient

from .prcomment import has_marker

# what :func:`pipe` reports as a warning, not a failure: no answer, or 429/5xx after the retries
TransientError = (httpclient.Unreachable, bbapi.Transient)

_CAUSES = {
    401: ("it is invalid or expired; create a new access token with the pull request write "
          "scope"),
    403: ("it may not write pull request comments: give the access token the pull request "
          "write scope (pullrequest:write)"),
    404: ("the pull request was not found: use an access token of this repository (or its "
          "project or workspace), or check BITBUCKET_API_URL"),
}


@dataclass(frozen=True)
class Posted:
    comment_id: int
    created: bool


class CommentClient:
    def __init__(self, token: str, api_url: str, timeout: float = 30.0) -> None:
        self._api = bbapi.BitbucketApi(bbapi.bearer(token), api_url, causes=_CAUSES,
                                       timeout=timeout)

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
