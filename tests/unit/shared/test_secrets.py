from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from urllib.parse import quote, quote_plus

import pytest
from pipes_common import secrets
from testbed import leaks

SECRET = "dop_v1_0123456789abcdef+/=:@secret"


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    secrets.clear()
    yield
    secrets.clear()


def test_raw_and_encoded_forms_are_masked() -> None:
    secrets.register(SECRET)
    for form in (SECRET, quote(SECRET, safe=""), quote_plus(SECRET), json.dumps(SECRET)[1:-1]):
        masked = secrets.mask(f"before {form} after")
        assert form not in masked and "before" in masked and "after" in masked


@pytest.mark.parametrize("prefix", ["", "u", "us", "user:", "x-token-auth:", "ab:"])
@pytest.mark.parametrize("suffix", ["", ":", "xy", "abc"])
def test_base64_inside_longer_values_is_masked(prefix: str, suffix: str) -> None:
    secrets.register(SECRET)
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        blob = encode(f"{prefix}{SECRET}{suffix}".encode()).decode()
        masked = secrets.mask(f"Authorization: Basic {blob}")
        assert secrets.MASK in masked
        # what is left of the blob cannot be decoded to the secret any more
        assert leaks.found_in(masked, SECRET) is None
        assert leaks.found_in(blob, SECRET) == "base64"


def test_short_and_empty_values_are_ignored() -> None:
    secrets.register("")
    secrets.register(None)
    secrets.register("ab")
    assert secrets.mask("ab cd") == "ab cd"


def test_multiline_secret_is_masked_line_by_line() -> None:
    key = "-----BEGIN KEY-----\nAAAAB3NzaC1yc2EAAAADAQABAAABAQ\n-----END KEY-----"
    secrets.register(key)
    assert "AAAAB3NzaC1yc2EAAAADAQABAAABAQ" not in secrets.mask("line AAAAB3NzaC1yc2EAAAADAQABAAABAQ")


def test_longest_form_wins() -> None:
    secrets.register("abcd1234")
    secrets.register("abcd1234efgh")
    assert secrets.mask("x abcd1234efgh y") == f"x {secrets.MASK} y"


def test_a_secret_registered_later_is_masked_from_then_on() -> None:
    secrets.register("first-secret-1")
    assert secrets.mask("first-secret-1 second-secret-2") == "******** second-secret-2"
    secrets.register("second-secret-2")
    assert secrets.mask("first-secret-1 second-secret-2") == "******** ********"
    secrets.clear()
    assert secrets.mask("first-secret-1") == "first-secret-1"


def test_a_secret_that_is_not_utf8_is_registered_and_masked() -> None:
    secrets.clear()
    value = "tok-\udcff-en-1234"  # a byte that was not UTF-8, as Python reads it from the environment
    secrets.register(value)
    assert secrets.mask(f"x {value} y") == f"x {secrets.MASK} y"
    secrets.clear()


@pytest.mark.parametrize("form", [
    re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), quote(SECRET, safe="")),
    re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), quote_plus(SECRET)),
    json.dumps(SECRET)[1:-1].replace("/", "\\/"),
], ids=["percent-lowercase", "form-lowercase", "json-escaped-slash"])
def test_lowercase_percent_encoding_and_json_escaped_slash_are_masked(form: str) -> None:
    """Go and JavaScript write %2f, PHP and Java's JSON write \\/: neither was masked."""
    assert form != SECRET
    secrets.register(SECRET)
    masked = secrets.mask(f"url={form}&x=1")
    assert form not in masked and masked == f"url={secrets.MASK}&x=1"
    assert leaks.found_in(form, SECRET) is not None


def test_non_ascii_secret_in_json_either_way_is_masked() -> None:
    secret = "pässwörd/ключ"
    secrets.register(secret)
    for text in (json.dumps(secret), json.dumps(secret, ensure_ascii=False),
                 json.dumps(secret).replace("/", "\\/")):
        assert secrets.mask(text) == f'"{secrets.MASK}"', text
