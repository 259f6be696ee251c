from __future__ import annotations

import pytest
from pipes_common import registry
from pipes_common.registry import is_loopback, parse_challenge


def test_bearer_challenge() -> None:
    ch = parse_challenge('Bearer realm="https://api.digitalocean.com/v2/registry/auth",'
                         'service="registry.digitalocean.com",scope="repository:acme/web:pull,push"')
    assert ch is not None and ch.scheme == "bearer"
    assert ch.params == {"realm": "https://api.digitalocean.com/v2/registry/auth",
                         "service": "registry.digitalocean.com",
                         "scope": "repository:acme/web:pull,push"}


def test_basic_challenge_and_empty() -> None:
    ch = parse_challenge('Basic realm="docr-stand-in"')
    assert ch is not None and ch.scheme == "basic" and ch.params == {"realm": "docr-stand-in"}
    assert parse_challenge("") is None


@pytest.mark.parametrize(("host", "loop"), [
    ("127.0.0.1:5000", True), ("localhost:5000", True), ("127.3.2.1", True), ("[::1]:5000", True),
    ("registry.digitalocean.com", False), ("10.0.0.1:5000", False),
])
def test_is_loopback(host: str, loop: bool) -> None:
    assert is_loopback(host) is loop


@pytest.mark.parametrize(("header", "target"), [
    ('</v2/a/tags/list?n=2&last=b>; rel="next"', "/v2/a/tags/list?n=2&last=b"),
    ("</v2/a/tags/list?n=2>; rel=next", "/v2/a/tags/list?n=2"),
    ('<a>; rel="prev", <b>; rel="next"', "b"),
    ('<a>; title="x, y; rel=next"; rel="prev", <b>; rel="last next"', "b"),
    ('<a>; rel="prev"; rel="next"', None),  # only the first rel counts
    ('<a>; REL="Next"', "a"),
    ("", None), ("garbage", None), ('<a>; rel="nextpage"', None), ("<http:x>; rel=next", "http:x"),
])
def test_next_link_parses_rfc8288(header: str, target: str | None) -> None:
    assert registry.next_link(header) == target
