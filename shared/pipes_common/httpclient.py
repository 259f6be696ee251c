"""The one HTTP send path of every API client (DigitalOcean, registry, Bitbucket).

Fail fast: a refused connection or an unknown host is not retried; :class:`Endpoint` reports it at
once as one line naming the variable that holds the URL (:class:`Unreachable`).  Only transient
answers are retried: 429 and 5xx, and a connection dropped after the request was sent, with
exponential backoff honouring ``Retry-After``, and never longer in total than the session's
``budget`` of waiting (:data:`RETRY_BUDGET` unless a client states its own).  Requests are never
logged with their headers, so tokens stay out of the log.  Every wait between two attempts goes
through one ``sleep`` callable (``time.sleep`` unless the caller passes its own), so the waits the
client computed can be observed without waiting.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Collection
from typing import Any, Self

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError
from urllib3.util.retry import Retry

from . import __version__
from .errors import PipeError

USER_AGENT = f"do-pipes/{__version__}"
RETRY_STATUSES = (429, 500, 502, 503, 504)
RETRY_AFTER_MAX = 60.0  # seconds: the longest single wait a Retry-After can ask for
RETRY_BUDGET = 30.0  # seconds: the most one request waits between its attempts, all retries together
IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


Sleep = Callable[[float], None]


class _CappedRetry(Retry):
    """urllib3's Retry, but a ``Retry-After`` longer than :data:`RETRY_AFTER_MAX` is cut to it, so a
    server cannot stall a pipe for an hour with one header; no retry starts whose wait would take
    the waits of the request past ``budget``; every wait goes through ``sleep``."""

    def __init__(self, *args: Any, sleep: Sleep | None = None, budget: float = RETRY_BUDGET,
                 waited: float = 0.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sleep: Sleep = sleep or time.sleep
        self.budget = budget
        self.waited = waited

    def new(self, **kw: Any) -> Self:
        kw.setdefault("sleep", self._sleep)
        kw.setdefault("budget", self.budget)
        kw.setdefault("waited", self.waited)
        return super().new(**kw)

    def increment(self, method: str | None = None, url: str | None = None, response: Any = None,
                  error: Exception | None = None, _pool: Any = None,
                  _stacktrace: Any = None) -> Self:
        nxt = super().increment(method, url, response, error, _pool, _stacktrace)
        if nxt.waited + nxt.delay(response) > nxt.budget:
            raise MaxRetryError(_pool, url or "", error or Exception(
                f"retries would wait more than {nxt.budget:g} s"))
        return nxt

    def get_retry_after(self, response: object) -> float | None:
        value = super().get_retry_after(response)  # type: ignore[arg-type]
        return None if value is None else min(value, RETRY_AFTER_MAX)

    def delay(self, response: object = None) -> float:
        """Seconds to wait before the next attempt: ``Retry-After`` when the answer has one (and
        it is honoured), else the exponential backoff (0 before the first retry)."""
        if self.respect_retry_after_header and response is not None:
            after = self.get_retry_after(response)
            if after:
                return after
        return self.get_backoff_time()

    def sleep(self, response: object = None) -> None:
        wait = self.delay(response)
        self.waited += wait
        self._sleep(wait)


def session(
    retries: int = 5,
    backoff: float = 0.5,
    backoff_max: float = 30.0,
    methods: Collection[str] = IDEMPOTENT,
    sleep: Sleep | None = None,
    budget: float = RETRY_BUDGET,
) -> requests.Session:
    """A ``requests.Session`` that retries transient failures of the given methods; ``sleep``
    (default ``time.sleep``) is called with each computed wait, 0 included; the waits of one
    request stay within ``budget`` seconds.  A refused connection or an unknown host (nothing was
    sent) is raised at once."""
    retry = _CappedRetry(
        total=retries,
        connect=0,
        read=retries,
        status=retries,
        other=0,
        backoff_factor=backoff,
        backoff_max=backoff_max,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset(m.upper() for m in methods),
        respect_retry_after_header=True,
        raise_on_status=False,
        raise_on_redirect=False,
        sleep=sleep,
        budget=budget,
    )
    sess = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    sess.mount("http://", adapter)
    sess.mount("https://", adapter)
    sess.headers["User-Agent"] = USER_AGENT
    return sess


new_session = session  # for the parameters below that are named ``session``


class ApiError(PipeError):
    """A failure of an API call; ``status`` is the HTTP status, None when no answer came."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class Unreachable(ApiError):
    """No answer came: ``reason`` says why (connection refused, unknown host, timed out, ...)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message, None)
        self.reason = reason


def reason(err: BaseException) -> str:
    """Why a request got no answer, in a few words a user can act on."""
    text = repr(err)
    for needle, words in (("NameResolution", "unknown host"), ("Name or service not known", "unknown host"),
                          ("nodename nor servname", "unknown host"),
                          ("Temporary failure in name resolution", "unknown host"),
                          ("Connection refused", "connection refused"),
                          ("timed out", "timed out"), ("Timeout", "timed out"),
                          ("RemoteDisconnected", "connection closed without an answer"),
                          ("Connection reset", "connection reset"),
                          ("Connection aborted", "connection reset"),
                          ("SSL", "TLS handshake failed"),
                          ("would wait more than", "still failing when the retry time ran out")):
        if needle in text:
            return words
    return type(err).__name__


class Endpoint:
    """One HTTP API at a base URL that the variable ``variable`` configures.

    :meth:`send` is the one place a request goes out: an answer of any status is returned (the
    client reads it as its API documents), no answer at all raises :class:`Unreachable` naming
    ``variable``, once, without retrying a refused connection or an unknown host.
    """

    def __init__(self, base_url: str, *, service: str, variable: str,
                 session: requests.Session | None = None, timeout: float = 30.0,
                 budget: float = RETRY_BUDGET) -> None:
        self.base_url = base_url.rstrip("/")
        self.service = service
        self.variable = variable
        self.session = session or new_session(budget=budget)
        self.timeout = timeout

    def url(self, path_or_url: str) -> str:
        return path_or_url if "://" in path_or_url else f"{self.base_url}{path_or_url}"

    def unreachable(self, err: BaseException, service: str | None = None) -> Unreachable:
        why = reason(err)
        return Unreachable(f"{self.variable}: {service or self.service} at {self.base_url} is "
                           f"unreachable ({why}): check {self.variable} and that the step can "
                           "reach it", why)

    def send(self, method: str, path_or_url: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        try:
            return self.session.request(method, self.url(path_or_url), **kwargs)
        except requests.RequestException as err:
            raise self.unreachable(err) from None
