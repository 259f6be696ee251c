"""The one Bitbucket Cloud REST API client (``/2.0/...``) of the pipes.

Auth: a repository, project or workspace access token (``Bearer``), or an Atlassian API token with
the account's email (HTTP Basic, as Atlassian documents for the REST API), or none inside a
Pipelines step, whose API proxy authenticates the requests sent through it.  Requests go out through
:class:`~pipes_common.httpclient.Endpoint` (fail fast when unreachable, 429 and 5xx retried within
:data:`RETRY_BUDGET`, honouring ``Retry-After``; POST never retried, so a retry never creates a
thing twice).  Paginated listings (``values``, ``next``) are followed by :meth:`BitbucketApi.items`.
A refusal (401, 403, 404) is one message naming the token variable and the likely cause, which
each pipe words for its own calls (``causes``); an API that keeps answering 429 or 5xx raises
:class:`Transient`.  Each pipe keeps only its own calls and formatting.
"""
from __future__ import annotations

import base64
import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests

from . import httpclient, secrets
from .bitbucket import DEFAULT_API_URL

__all__ = ["DEFAULT_API_URL", "BitbucketApi", "BitbucketError", "Transient", "basic", "bearer",
           "proxied", "repo_path"]
URL_VARIABLE = "BITBUCKET_API_URL"
RETRY_BUDGET = 20.0  # seconds: the most one API call waits for retries of 429/5xx answers
MAX_PAGES = 50

DEFAULT_CAUSES: Mapping[int, str] = {
    401: "it is invalid, expired or revoked",
    403: "it lacks the scope this call needs",
    404: ("not found: use a token of this repository (or its project or workspace), or check "
          f"{URL_VARIABLE}"),
}


class BitbucketError(httpclient.ApiError):
    """A Bitbucket API failure that came with an answer (``status``)."""


class Transient(BitbucketError):
    """The API kept answering 429 or 5xx after the retries, or sent a body that is not JSON."""


# one page of a listing: (path or next link, the first page's params or None) -> its JSON answer
Page = Callable[[str, Mapping[str, Any] | None], dict[str, Any]]


@dataclass(frozen=True)
class Auth:
    """The ``Authorization`` header and the variable that holds its token (named in errors)."""

    header: str
    variable: str
    email: bool = False


def bearer(token: str, variable: str = "BITBUCKET_ACCESS_TOKEN") -> Auth:
    secrets.register(token)
    return Auth(f"Bearer {token}", variable)


def basic(email: str, token: str, variable: str = "ATLASSIAN_API_TOKEN") -> Auth:
    secrets.register(token)
    encoded = base64.b64encode(f"{email}:{token}".encode()).decode()
    secrets.register(encoded)
    return Auth(f"Basic {encoded}", variable, email=True)


def proxied(variable: str) -> Auth:
    """No credentials: inside a Pipelines step, the API proxy at the URL ``variable`` names
    authenticates the requests sent through it (``proxies`` of each request)."""
    return Auth("", variable)


def repo_path(workspace: str, slug: str, *rest: str | int) -> str:
    """``/2.0/repositories/{workspace}/{slug}/...``, every segment encoded."""
    parts = [quote(str(p), safe="") for p in (workspace, slug, *rest)]
    return "/2.0/repositories/" + "/".join(parts)


def _retry_after(resp: requests.Response) -> str:
    value = resp.headers.get("Retry-After", "").strip()
    return f", Retry-After {value[:40]}" if value else ""


class BitbucketApi:
    def __init__(self, auth: Auth, api_url: str = DEFAULT_API_URL, *,
                 causes: Mapping[int, str] | None = None, timeout: float = 30.0,
                 session: requests.Session | None = None) -> None:
        self.auth = auth
        self.causes = {**DEFAULT_CAUSES, **(causes or {})}
        self._api = httpclient.Endpoint(api_url, service="the Bitbucket API", variable=URL_VARIABLE,
                                        session=session, timeout=timeout, budget=RETRY_BUDGET)
        self.api_url = self._api.base_url

    def request(self, method: str, path: str, failure: str | None = None,
                **kwargs: Any) -> dict[str, Any]:
        """Send one call (``path`` under the API URL, or a ``next`` link); its JSON answer.
        ``failure`` heads the message of an answer that is neither a success nor a refusal."""
        headers = {"Accept": "application/json"}
        if self.auth.header:  # none through the Pipelines API proxy (:func:`proxied`)
            headers["Authorization"] = self.auth.header
        resp = self._api.send(method, path, headers=headers, **kwargs)
        code = resp.status_code
        if code in (401, 403, 404):
            raise BitbucketError(f"The Bitbucket API refused {self.auth.variable} ({code}): "
                                 f"{self.causes[code]}", code)
        if code == 429 or code >= 500:
            raise Transient(f"The Bitbucket API answered {code} to {method} "
                            f"{path.split('?')[0].removeprefix(self.api_url)}"
                            f"{_retry_after(resp)}"
                            + (f", also after retrying for up to {RETRY_BUDGET:g} s"
                               if method.upper() in httpclient.IDEMPOTENT
                               else f" (a {method.upper()} is not retried: it may have been done)"),
                            code)
        if not resp.ok:
            detail = resp.reason
            with contextlib.suppress(ValueError, AttributeError):
                detail = str((resp.json().get("error") or {}).get("message") or detail)
            head = (f"{failure} ({code})" if failure else
                    f"The Bitbucket API answered {code} to {method} {path.split('?')[0]}")
            raise BitbucketError(secrets.mask(f"{head}: {detail}"), code)
        try:
            data: dict[str, Any] = resp.json()
        except ValueError:
            raise Transient(f"The Bitbucket API returned a body that is not JSON for "
                            f"{method} {path.split('?')[0]}", code) from None
        return data

    def page(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """One page of a listing: ``GET`` of ``path`` (with ``params``) or of a ``next`` link."""
        if params is None:
            return self.request("GET", path)
        return self.request("GET", path, params=dict(params))

    def items(self, path: str, params: Mapping[str, Any] | None = None,
              max_pages: int = MAX_PAGES, *, page: Page | None = None) -> Iterator[dict[str, Any]]:
        """Every item (``values``) of a paginated listing, following ``next`` links on the API
        only, at most ``max_pages`` pages.  ``page`` asks for one page (the first with
        ``params``, each next link without): by default :meth:`page`; a call whose answers need
        more (asked again while the API prepares them) passes its own."""
        ask = page or self.page
        current = ask(path, params or {})
        for _ in range(max_pages):
            yield from (v for v in current.get("values") or [] if isinstance(v, dict))
            nxt = str(current.get("next") or "")
            if not nxt.startswith(self.api_url + "/"):  # the token goes nowhere else
                return
            current = ask(nxt, None)
