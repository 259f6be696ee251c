"""The retrying session (pipes_common.httpclient) against a scripted loopback server.

The contract: GET/HEAD/PUT/DELETE/OPTIONS are retried up to 5 times on 429/500/502/503/504 and
on dropped connections, with exponential backoff (0, then backoff*2^(n-1): 0, 1, 2, 4 s by
default) unless ``Retry-After`` says how long to wait; when retries run out the last answer is
returned (no exception), or the connection error raised.  POST is never retried once the request
was sent, unless asked for with ``methods=``.  Tests that exhaust retries pass a small
``backoff`` to stay fast; the default backoff is measured once.
"""
from __future__ import annotations

import email.utils
import time

import pytest
import requests
from pipes_common import httpclient
from testbed.flaky_http import DROP, FlakyServer, Reply
from testbed.net import free_port


def gaps(server: FlakyServer) -> list[float]:
    return [b.at - a.at for a, b in zip(server.hits, server.hits[1:], strict=False)]


def test_retry_after_seconds_is_honoured(flaky_http: FlakyServer) -> None:
    flaky_http.script(Reply(429, {"Retry-After": "1"}, b"slow down"))
    resp = httpclient.session().get(flaky_http.url + "/rate", timeout=10)
    assert resp.status_code == 200 and resp.text == "ok"
    assert len(flaky_http.hits) == 2
    assert gaps(flaky_http)[0] >= 1.0


def test_retry_after_http_date_is_honoured(flaky_http: FlakyServer) -> None:
    # an HTTP date has whole seconds: "now + 2 s" is between 1 and 2 s away once sent
    when = email.utils.formatdate(time.time() + 2, usegmt=True)
    flaky_http.script(Reply(503, {"Retry-After": when}))
    resp = httpclient.session().get(flaky_http.url + "/date", timeout=10)
    assert resp.status_code == 200
    assert len(flaky_http.hits) == 2
    assert gaps(flaky_http)[0] >= 0.9


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_retried_status_then_success(flaky_http: FlakyServer, status: int) -> None:
    flaky_http.script(Reply(status))
    resp = httpclient.session().get(flaky_http.url + "/x", timeout=10)
    assert resp.status_code == 200
    assert len(flaky_http.hits) == 2


def test_every_5xx_in_a_row_then_success(flaky_http: FlakyServer) -> None:
    flaky_http.script(Reply(500), Reply(502), Reply(503), Reply(504))
    resp = httpclient.session(backoff=0.01).get(flaky_http.url + "/x", timeout=10)
    assert resp.status_code == 200
    assert [h.path for h in flaky_http.hits] == ["/x"] * 5


def test_default_backoff_grows(flaky_http: FlakyServer) -> None:
    """Default backoff 0.5: no wait before the first retry, 1 s before the second."""
    flaky_http.script(Reply(503), Reply(503))
    resp = httpclient.session().get(flaky_http.url + "/x", timeout=10)
    assert resp.status_code == 200
    first, second = gaps(flaky_http)
    assert first < 0.5
    assert second >= 1.0


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 501])
def test_other_statuses_are_not_retried(flaky_http: FlakyServer, status: int) -> None:
    flaky_http.script(Reply(status))
    resp = httpclient.session().get(flaky_http.url + "/x", timeout=10)
    assert resp.status_code == status
    assert len(flaky_http.hits) == 1


def test_dropped_connection_is_retried(flaky_http: FlakyServer) -> None:
    flaky_http.script(DROP)
    resp = httpclient.session().get(flaky_http.url + "/drop", timeout=10)
    assert resp.status_code == 200
    assert len(flaky_http.hits) == 2


def test_put_is_retried_with_its_body(flaky_http: FlakyServer) -> None:
    flaky_http.script(DROP, Reply(503))
    resp = httpclient.session(backoff=0.01).put(flaky_http.url + "/m", data=b"manifest",
                                                timeout=10)
    assert resp.status_code == 200
    assert [(h.method, h.body) for h in flaky_http.hits] == [("PUT", b"manifest")] * 3


def test_mixed_script_from_the_brief(flaky_http: FlakyServer) -> None:
    flaky_http.script(Reply(429, {"Retry-After": "1"}), Reply(503), DROP)
    start = time.monotonic()
    resp = httpclient.session(backoff=0.01).get(flaky_http.url + "/mixed", timeout=10)
    assert resp.status_code == 200 and resp.text == "ok"
    assert len(flaky_http.hits) == 4
    assert time.monotonic() - start >= 1.0


def test_status_retries_exhausted_returns_last_answer(flaky_http: FlakyServer) -> None:
    """Five retries (six requests), then the last answer comes back; nothing is raised."""
    flaky_http.script(*[Reply(503, body=f"attempt {i}".encode()) for i in range(7)])
    resp = httpclient.session(backoff=0.01).get(flaky_http.url + "/down", timeout=10)
    assert resp.status_code == 503
    assert resp.text == "attempt 5"
    assert len(flaky_http.hits) == 6


def test_retries_parameter_bounds_the_attempts(flaky_http: FlakyServer) -> None:
    flaky_http.script(*[Reply(502)] * 5)
    resp = httpclient.session(retries=2, backoff=0.01).get(flaky_http.url + "/x", timeout=10)
    assert resp.status_code == 502
    assert len(flaky_http.hits) == 3


def test_drops_exhausted_raise_connection_error(flaky_http: FlakyServer) -> None:
    flaky_http.script(*[DROP] * 7)
    with pytest.raises(requests.ConnectionError):
        httpclient.session(backoff=0.01).get(flaky_http.url + "/gone", timeout=10)
    assert len(flaky_http.hits) == 6


def test_post_is_not_retried_on_5xx(flaky_http: FlakyServer) -> None:
    flaky_http.script(Reply(503))
    resp = httpclient.session().post(flaky_http.url + "/upload", data=b"x", timeout=10)
    assert resp.status_code == 503
    assert len(flaky_http.hits) == 1


def test_post_is_not_retried_on_429(flaky_http: FlakyServer) -> None:
    flaky_http.script(Reply(429, {"Retry-After": "1"}))
    resp = httpclient.session().post(flaky_http.url + "/upload", data=b"x", timeout=10)
    assert resp.status_code == 429
    assert len(flaky_http.hits) == 1


def test_post_is_not_retried_on_drop(flaky_http: FlakyServer) -> None:
    flaky_http.script(DROP)
    with pytest.raises(requests.ConnectionError):
        httpclient.session().post(flaky_http.url + "/upload", data=b"x", timeout=10)
    assert len(flaky_http.hits) == 1


def test_post_retried_when_asked_for(flaky_http: FlakyServer) -> None:
    flaky_http.script(Reply(503))
    sess = httpclient.session(methods={"GET", "post"})
    resp = sess.post(flaky_http.url + "/upload", data=b"x", timeout=10)
    assert resp.status_code == 200
    assert len(flaky_http.hits) == 2


def test_refused_connection_raises_after_retries() -> None:
    start = time.monotonic()
    with pytest.raises(requests.ConnectionError):
        httpclient.session(retries=3, backoff=0.01).get(f"http://127.0.0.1:{free_port()}/",
                                                         timeout=5)
    assert time.monotonic() - start < 5


def test_user_agent(flaky_http: FlakyServer) -> None:
    sess = httpclient.session()
    assert sess.headers["User-Agent"] == httpclient.USER_AGENT
    assert sess.get(flaky_http.url + "/", timeout=10).status_code == 200
    assert flaky_http.hits[0].headers["User-Agent"] == httpclient.USER_AGENT


def test_retry_after_is_capped(flaky_http: FlakyServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """A server asking for an hour does not stall the pipe: the wait is cut to RETRY_AFTER_MAX."""
    monkeypatch.setattr(httpclient, "RETRY_AFTER_MAX", 1.0)
    flaky_http.script(Reply(429, {"Retry-After": "3600"}))
    started = time.monotonic()
    resp = httpclient.session().get(flaky_http.url + "/hour", timeout=10)
    assert resp.status_code == 200
    assert gaps(flaky_http)[0] >= 1.0 and time.monotonic() - started < 10
