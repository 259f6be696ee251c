"""The API clients on the one send path (httpclient.Endpoint), against a scripted loopback server.

Fail fast: a refused port is one error naming the URL variable, without a retry.  Transient
answers (429, 5xx) are retried, ``Retry-After`` honoured; the waits are recorded, never slept.
"""
from __future__ import annotations

import base64
import json

import pytest
from pipes_common import bbapi, httpclient
from pipes_common.docr import DigitalOceanClient, DOApiError
from testbed.flaky_http import FlakyServer, Reply, Waits
from testbed.net import free_port


def _json(status: int, doc: object, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, headers or {}, json.dumps(doc).encode())


def _bb(url: str, waits: Waits, causes: dict[int, str] | None = None) -> bbapi.BitbucketApi:
    return bbapi.BitbucketApi(bbapi.bearer("bb-token-unit"), url, causes=causes,
                              session=waits.session(budget=bbapi.RETRY_BUDGET))


# -- Bitbucket -----------------------------------------------------------------------------------

def test_bitbucket_refused_port_fails_at_once(waits: Waits) -> None:
    api = _bb(f"http://127.0.0.1:{free_port()}", waits)
    with pytest.raises(httpclient.Unreachable) as info:
        api.request("GET", "/2.0/user")
    assert info.value.message.startswith("BITBUCKET_API_URL: the Bitbucket API at http://127.0.0.1:")
    assert "connection refused" in info.value.message
    assert waits == []


@pytest.mark.parametrize(("status", "cause"), [(401, "expired"), (403, "scope"), (404, "not found")])
def test_bitbucket_refusal_names_the_token(flaky_http: FlakyServer, waits: Waits, status: int,
                                           cause: str) -> None:
    flaky_http.script(_json(status, {"error": {"message": "no"}}))
    with pytest.raises(bbapi.BitbucketError) as info:
        _bb(flaky_http.url, waits).request("GET", "/2.0/x")
    assert info.value.status == status
    assert info.value.message.startswith(f"The Bitbucket API refused BITBUCKET_ACCESS_TOKEN ({status}): ")
    assert cause in info.value.message
    assert len(flaky_http.hits) == 1 and waits == []


def test_bitbucket_causes_are_the_pipes_words(flaky_http: FlakyServer, waits: Waits) -> None:
    flaky_http.script(_json(403, {}))
    with pytest.raises(bbapi.BitbucketError) as info:
        _bb(flaky_http.url, waits, causes={403: "give it pullrequest:write"}).request("GET", "/x")
    assert info.value.message.endswith("(403): give it pullrequest:write")


def test_bitbucket_429_is_retried_after_retry_after(flaky_http: FlakyServer, waits: Waits) -> None:
    flaky_http.script(_json(429, {}, {"Retry-After": "2"}), _json(200, {"ok": 1}))
    assert _bb(flaky_http.url, waits).request("GET", "/2.0/x") == {"ok": 1}
    assert waits == [2.0] and len(flaky_http.hits) == 2


def test_bitbucket_5xx_is_retried_then_transient(flaky_http: FlakyServer, waits: Waits) -> None:
    flaky_http.script(*[_json(503, {})] * 8)
    with pytest.raises(bbapi.Transient) as info:
        _bb(flaky_http.url, waits).request("GET", "/2.0/x")
    assert info.value.status == 503 and "503" in info.value.message
    assert len(flaky_http.hits) > 1 and sum(waits) <= bbapi.RETRY_BUDGET


def test_bitbucket_post_is_not_retried(flaky_http: FlakyServer, waits: Waits) -> None:
    flaky_http.script(_json(503, {}))
    with pytest.raises(bbapi.Transient):
        _bb(flaky_http.url, waits).request("POST", "/2.0/x", json={"a": 1})
    assert len(flaky_http.hits) == 1 and waits == []


def test_bitbucket_items_follow_next_on_the_same_api(flaky_http: FlakyServer, waits: Waits) -> None:
    url = flaky_http.url.rstrip("/")
    flaky_http.script(_json(200, {"values": [{"id": 1}], "next": f"{url}/2.0/x?page=2"}),
                      _json(200, {"values": [{"id": 2}], "next": "https://elsewhere.example/2.0/x"}))
    found = list(_bb(url, waits).items("/2.0/x", {"pagelen": 1}))
    assert found == [{"id": 1}, {"id": 2}]  # the link to another host is not followed
    assert [h.path for h in flaky_http.hits] == ["/2.0/x?pagelen=1", "/2.0/x?page=2"]
    assert all(h.headers["Authorization"] == "Bearer bb-token-unit" for h in flaky_http.hits)


def test_bitbucket_basic_auth_with_email(flaky_http: FlakyServer, waits: Waits) -> None:
    flaky_http.script(_json(401, {}))
    api = bbapi.BitbucketApi(bbapi.basic("me@example.com", "api-tok"), flaky_http.url,
                             session=waits.session())
    with pytest.raises(bbapi.BitbucketError) as info:
        api.request("GET", "/2.0/user")
    assert "refused ATLASSIAN_API_TOKEN (401)" in info.value.message
    expected = "Basic " + base64.b64encode(b"me@example.com:api-tok").decode()
    assert flaky_http.hits[0].headers["Authorization"] == expected


# -- DigitalOcean ----------------------------------------------------------------------------------

def test_digitalocean_refused_port_fails_at_once(waits: Waits) -> None:
    client = DigitalOceanClient("dop_v1_unit", f"http://127.0.0.1:{free_port()}",
                                session=waits.session())
    with pytest.raises(DOApiError) as info:
        client.registry("acme")
    assert info.value.status is None
    assert info.value.message.startswith("DIGITALOCEAN_API_URL: the DigitalOcean API at ")
    assert waits == []


def test_digitalocean_5xx_is_retried(flaky_http: FlakyServer, waits: Waits) -> None:
    flaky_http.script(_json(502, {}), _json(429, {}, {"Retry-After": "1"}),
                      _json(200, {"registry": {"name": "acme"}}))
    client = DigitalOceanClient("dop_v1_unit", flaky_http.url, session=waits.session())
    assert client.registry("acme") == {"name": "acme"}
    assert waits == [0.0, 1.0] and len(flaky_http.hits) == 3
