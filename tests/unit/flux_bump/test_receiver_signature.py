"""The signature flux-bump sends is the one Flux's generic-hmac Receiver accepts (the test bed's
stub checks it as Flux does), and nothing else is."""
from __future__ import annotations

from flux_bump.receiver import Receiver, sign
from testbed.flux_receiver import signature_ok


def test_the_signature_is_accepted_for_its_body_and_token_only() -> None:
    body = b'{"commit": "abc"}'
    header = sign(body, "t0ken")
    assert header.startswith("sha256=") and len(header) == len("sha256=") + 64
    assert signature_ok(header, body, "t0ken") is None
    assert signature_ok(header, body + b" ", "t0ken") == "the signature does not match the body"
    assert signature_ok(header, body, "other") == "the signature does not match the body"
    assert signature_ok(None, body, "t0ken") == "no X-Signature header"
    assert signature_ok("md5=00", body, "t0ken") == "unsupported signature 'md5'"


def test_only_the_host_of_the_secret_url_is_shown() -> None:
    assert Receiver("https://flux.example.com:8443/hook/5d5d", None).host == \
        "https://flux.example.com:8443"
