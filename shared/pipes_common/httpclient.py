"""One retrying HTTP session for every API the pipes call.

429 and 5xx answers and dropped connections are retried with exponential backoff, honouring
``Retry-After``.  Requests are never logged with their headers, so tokens stay out of the log.
Every wait between two attempts goes through one ``sleep`` callable (``time.sleep`` unless the
caller passes its own), so the waits the client computed can be observed without waiting.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Collection
from typing import Any, Self

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from . import __version__

USER_AGENT = f"do-pipes/{__version__}"
RETRY_STATUSES = (429, 500, 502, 503, 504)
RETRY_AFTER_MAX = 60.0  # seconds
IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


Sleep = Callable[[float], None]


class _CappedRetry(Retry):
    """urllib3's Retry, but a ``Retry-After`` longer than :data:`RETRY_AFTER_MAX` is cut to it, so a
    server cannot stall a pipe for an hour with one header; every wait goes through ``sleep``."""

    def __init__(self, *args: Any, sleep: Sleep | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sleep: Sleep = sleep or time.sleep

    def new(self, **kw: Any) -> Self:
        kw.setdefault("sleep", self._sleep)
        return super().new(**kw)

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
        self._sleep(self.delay(response))


def session(
    retries: int = 5,
    backoff: float = 0.5,
    backoff_max: float = 30.0,
    methods: Collection[str] = IDEMPOTENT,
    sleep: Sleep | None = None,
) -> requests.Session:
    """A ``requests.Session`` that retries transient failures of the given methods; ``sleep``
    (default ``time.sleep``) is called with each computed wait, 0 included."""
    retry = _CappedRetry(
        total=retries,
        connect=retries,
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
    )
    sess = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    sess.mount("http://", adapter)
    sess.mount("https://", adapter)
    sess.headers["User-Agent"] = USER_AGENT
    return sess
