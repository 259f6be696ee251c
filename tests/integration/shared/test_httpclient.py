"""The retrying session (pipes_common.httpclient) against a scripted loopback server.

The contract: a refused connection or an unknown host is never retried (fail fast);
GET/HEAD/PUT/DELETE/OPTIONS are retried up to 5 times on 429/500/502/503/504 and on connections
dropped after the request was sent, with exponential backoff (0, then backoff*2^(n-1): 0, 1, 2, 4, 8 s by
default, at most ``backoff_max``) unless ``Retry-After`` says how long to wait (at most
``RETRY_AFTER_MAX``), and no retry starts that would take the waits past the session's ``budget``
(``RETRY_BUDGET``); when retries run out the last answer is returned (no exception), or the
connection error raised.  POST is never retried once the request was sent, unless asked for with
``methods=``.  Every wait goes through the session's ``sleep``: the tests pass a recorder and check
the waits the client computed, so nothing here waits or measures wall time.
"""
from __future__ import annotations

import email.utils
import time
from types import SimpleNamespace

import pytest
import requests
from pipes_common import httpclient
from testbed.flaky_http import DROP, FlakyServer, Reply, Waits
from testbed.net import free_port


def test_retry_after_seconds_is_honoured(flaky_http: FlakyServer, waits: Waits) -> None:
    flaky_http.script(Reply(429, {"Retry-After": "1"}, b"slow down"))
    resp = waits.session().get(flaky_http.url + "/rate", timeout=10)
    assert resp.status_code == 200 and resp.text == "ok"
    assert len(flaky_http.hits) == 2
    assert waits == [1.0]


def test_retry_after_http_date_is_honoured(flaky_http: FlakyServer, waits: Waits) -> None:
    # an HTTP date has whole seconds: "now + 30 s" is between 29 and 30 s away when written
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    flaky_http.script(Reply(503, {"Retry-After": when}))
    resp = waits.session().get(flaky_http.url + "/date", timeout=10)
    assert resp.status_code == 200
    assert len(flaky_http.hits) == 2
    assert len(waits) == 1 and 0 < waits[0] <= 30  # the date, not the backoff (0 on a 1st retry)


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_retried_status_then_success(flaky_http: FlakyServer, status: int, waits: Waits) -> None:
    flaky_http.script(Reply(status))
    resp = waits.session().get(flaky_http.url + "/x", timeout=10)
    assert resp.status_code == 200
    assert len(flaky_http.hits) == 2
    assert waits == [0.0]


def test_every_5xx_in_a_row_then_success(flaky_http: FlakyServer, waits: Waits) -> None:
    flaky_http.script(Reply(500), Reply(502), Reply(503), Reply(504))
    resp = waits.session().get(flaky_http.url + "/x", timeout=10)
    assert resp.status_code == 200
    assert [h.path for h in flaky_http.hits] == ["/x"] * 5
    assert waits == [0.0, 1.0, 2.0, 4.0]  # exponential, default backoff 0.5


def test_backoff_factor_and_cap(flaky_http: FlakyServer, waits: Waits) -> None:
    flaky_http.script(*[Reply(503)] * 5)
    resp = waits.session(backoff=10, backoff_max=25, budget=100).get(flaky_http.url + "/x", timeout=10)
    assert resp.status_code == 200
    assert waits == [0.0, 20.0, 25.0, 25.0, 25.0]


def test_default_session_sleeps_the_computed_wait(flaky_http: FlakyServer,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Without ``sleep=`` the session sleeps with ``time.sleep`` (replaced here by a recorder)."""
    slept: list[float] = []
    monkeypatch.setattr(httpclient, "time", SimpleNamespace(sleep=slept.append))
    flaky_http.script(Reply(503), Reply(503))
    resp = httpclient.session().get(flaky_http.url + "/x", timeout=10)
    assert resp.status_code == 200
    assert slept == [0.0, 1.0]


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 501])
def test_other_statuses_are_not_retried(flaky_http: FlakyServer, status: int, waits: Waits) -> None:
    flaky_http.script(Reply(status))
    resp = waits.session().get(flaky_http.url + "/x", timeout=10)
    assert resp.status_code == status
    assert len(flaky_http.hits) == 1
    assert waits == []


def test_dropped_connection_is_retried(flaky_http: FlakyServer, waits: Waits) -> None:
    flaky_http.script(DROP)
    resp = waits.session().get(flaky_http.url + "/drop", timeout=10)
    assert resp.status_code == 200
    assert len(flaky_http.hits) == 2
    assert waits == [0.0]


def test_put_is_retried_with_its_body(flaky_http: FlakyServer, waits: Waits) -> None:
    flaky_http.script(DROP, Reply(503))
    resp = waits.session().put(flaky_http.url + "/m", data=b"manifest", timeout=10)
    assert resp.status_code == 200
    assert [(h.method, h.body) for h in flaky_http.hits] == [("PUT", b"manifest")] * 3
    assert waits == [0.0, 1.0]


def test_mixed_script_from_the_brief(flaky_http: FlakyServer, waits: Waits) -> None:
    flaky_http.script(Reply(429, {"Retry-After": "1"}), Reply(503), DROP)
    resp = waits.session().get(flaky_http.url + "/mixed", timeout=10)
    assert resp.status_code == 200 and resp.text == "ok"
    assert len(flaky_http.hits) == 4
    assert waits == [1.0, 1.0, 2.0]  # Retry-After, then the backoff of the 2nd and 3rd retry


def test_status_retries_exhausted_returns_last_answer(flaky_http: FlakyServer, waits: Waits) -> None:
    """Five retries (six requests), then the last answer comes back; nothing is raised."""
    flaky_http.script(*[Reply(503, body=f"attempt {i}".encode()) for i in range(7)])
    resp = waits.session().get(flaky_http.url + "/down", timeout=10)
    assert resp.status_code == 503
    assert resp.text == "attempt 5"
    assert len(flaky_http.hits) == 6
    assert waits == [0.0, 1.0, 2.0, 4.0, 8.0]


def test_retries_parameter_bounds_the_attempts(flaky_http: FlakyServer, waits: Waits) -> None:
    flaky_http.script(*[Reply(502)] * 5)
    resp = waits.session(retries=2).get(flaky_http.url + "/x", timeout=10)
    assert resp.status_code == 502
    assert len(flaky_http.hits) == 3
    assert waits == [0.0, 1.0]


def test_drops_exhausted_raise_connection_error(flaky_http: FlakyServer, waits: Waits) -> None:
    flaky_http.script(*[DROP] * 7)
    with pytest.raises(requests.ConnectionError):
        waits.session().get(flaky_http.url + "/gone", timeout=10)
    assert len(flaky_http.hits) == 6
    assert waits == [0.0, 1.0, 2.0, 4.0, 8.0]


def test_post_is_not_retried_on_5xx(flaky_http: FlakyServer, waits: Waits) -> None:
    flaky_http.script(Reply(503))
    resp = waits.session().post(flaky_http.url + "/upload", data=b"x", timeout=10)
    assert resp.status_code == 503
    assert len(flaky_http.hits) == 1
    assert waits == []


def test_post_is_not_retried_on_429(flaky_http: FlakyServer, waits: Waits) -> None:
    flaky_http.script(Reply(429, {"Retry-After": "1"}))
    resp = waits.session().post(flaky_http.url + "/upload", data=b"x", timeout=10)
    assert resp.status_code == 429
    assert len(flaky_http.hits) == 1
    assert waits == []


def test_post_is_not_retried_on_drop(flaky_http: FlakyServer, waits: Waits) -> None:
    flaky_http.script(DROP)
    with pytest.raises(requests.ConnectionError):
        waits.session().post(flaky_http.url + "/upload", data=b"x", timeout=10)
    assert len(flaky_http.hits) == 1
    assert waits == []


def test_post_retried_when_asked_for(flaky_http: FlakyServer, waits: Waits) -> None:
    flaky_http.script(Reply(503))
    sess = waits.session(methods={"GET", "post"})
    resp = sess.post(flaky_http.url + "/upload", data=b"x", timeout=10)
    assert resp.status_code == 200
    assert len(flaky_http.hits) == 2


def test_refused_connection_fails_at_once(waits: Waits) -> None:
    with pytest.raises(requests.ConnectionError):
        waits.session(retries=3).get(f"http://127.0.0.1:{free_port()}/", timeout=5)
    assert waits == []  # not retried: nothing listens there, waiting would not change it


def test_unknown_host_fails_at_once(waits: Waits) -> None:
    with pytest.raises(requests.ConnectionError) as info:
        waits.session().get("http://no-such-host.invalid/", timeout=5)
    assert waits == []
    assert httpclient.reason(info.value) == "unknown host"


def test_waits_stay_within_the_budget(flaky_http: FlakyServer, waits: Waits) -> None:
    """0 + 1 + 2 s fit a 5 s budget, a 4 s fourth wait does not: the 503 comes back then."""
    flaky_http.script(*[Reply(503)] * 6)
    resp = waits.session(budget=5).get(flaky_http.url + "/x", timeout=10)
    assert resp.status_code == 503
    assert waits == [0.0, 1.0, 2.0]
    assert len(flaky_http.hits) == 4


def test_retry_after_beyond_the_budget_is_not_waited(flaky_http: FlakyServer,
                                                     waits: Waits) -> None:
    flaky_http.script(Reply(429, {"Retry-After": "50"}))
    resp = waits.session().get(flaky_http.url + "/x", timeout=10)
    assert resp.status_code == 429 and waits == [] and len(flaky_http.hits) == 1


def test_drops_beyond_the_budget_raise(flaky_http: FlakyServer, waits: Waits) -> None:
    flaky_http.script(*[DROP] * 7)
    with pytest.raises(requests.ConnectionError):
        waits.session(budget=1).get(flaky_http.url + "/gone", timeout=10)
    assert waits == [0.0, 1.0] and len(flaky_http.hits) == 3


def test_endpoint_names_the_variable_when_refused(waits: Waits) -> None:
    api = httpclient.Endpoint(f"http://127.0.0.1:{free_port()}", service="the Example API",
                              variable="EXAMPLE_URL", session=waits.session())
    with pytest.raises(httpclient.Unreachable) as info:
        api.send("GET", "/v1/things")
    assert info.value.reason == "connection refused"
    assert info.value.message.startswith("EXAMPLE_URL: the Example API at http://127.0.0.1:")
    assert "\n" not in info.value.message and waits == []


def test_endpoint_returns_any_answer(flaky_http: FlakyServer, waits: Waits) -> None:
    flaky_http.script(Reply(404, body=b"nope"))
    api = httpclient.Endpoint(flaky_http.url + "/", service="the Example API",
                              variable="EXAMPLE_URL", session=waits.session())
    resp = api.send("GET", "/v1/x")
    assert resp.status_code == 404 and flaky_http.hits[0].path == "/v1/x"


def test_user_agent(flaky_http: FlakyServer) -> None:
    sess = httpclient.session()
    assert sess.headers["User-Agent"] == httpclient.USER_AGENT
    assert sess.get(flaky_http.url + "/", timeout=10).status_code == 200
    assert flaky_http.hits[0].headers["User-Agent"] == httpclient.USER_AGENT


def test_retry_after_is_capped(flaky_http: FlakyServer, waits: Waits) -> None:
    """A server asking for an hour does not stall the pipe: the wait is cut to RETRY_AFTER_MAX."""
    flaky_http.script(Reply(429, {"Retry-After": "3600"}))
    resp = waits.session(budget=120).get(flaky_http.url + "/hour", timeout=10)
    assert resp.status_code == 200
    assert waits == [httpclient.RETRY_AFTER_MAX] == [60.0]
