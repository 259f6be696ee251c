"""The gate's keys and signature checks (flux_bump.signatures, pipes_common.cosign's DSSE part), on
bytes cosign 2.5.0 wrote (tests/fixtures/cosign) and on keys made here."""
from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from flux_bump import signatures
from pipes_common import cosign
from testbed.pipes import REPO_ROOT

FIXTURES = REPO_ROOT / "tests" / "fixtures" / "cosign"
SUBJECT = "sha256:2d94eff4af3cc7bc6bbf1053de7f3eed9f15c196567307b075f01807b5b4c324"


def _pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def test_dsse_pae_is_the_specifications() -> None:
    # the DSSE protocol's own example
    assert (cosign.pae("http://example.com/HelloWorld", b"hello world")
            == b"DSSEv1 29 http://example.com/HelloWorld 11 hello world")


def test_cosigns_attestation_verifies_and_reads() -> None:
    gate = signatures.Gate(signatures.load_keys((FIXTURES / "cosign.pub").read_text()))
    envelope = cosign.read_envelope((FIXTURES / "attestation-envelope.json").read_bytes())
    assert envelope.payload_type == cosign.INTOTO_PAYLOAD_TYPE
    signed = cosign.pae(envelope.payload_type, envelope.payload)
    assert any(gate.signed(sig, signed) for sig in envelope.signatures)
    statement = cosign.read_statement(envelope.payload)
    assert statement == cosign.Statement(cosign.SPDX_JSON_PREDICATE, (SUBJECT,))
    # one byte of the statement changed: the signature no longer verifies
    changed = cosign.pae(envelope.payload_type, envelope.payload.replace(b"SPDX", b"SPDx", 1))
    assert not any(gate.signed(sig, changed) for sig in envelope.signatures)


def test_several_keys_in_every_form() -> None:
    one, two = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    both = _pem(one) + _pem(two)
    for text in (both, both.replace("\n", "\r\n"), base64.b64encode(both.encode()).decode(),
                 "\n" + both + "\n\n"):
        keys = signatures.load_keys(text)
        assert len(keys) == 2
    gate = signatures.Gate(signatures.load_keys(both))
    sig = two.sign(b"payload", ec.ECDSA(hashes.SHA256()))
    assert gate.signed(sig, b"payload")
    assert not gate.signed(sig, b"payloaD")
    assert not gate.signed(b"not DER", b"payload")


@pytest.mark.parametrize(("text", "says"), [
    ("hello", "holds no PEM public key"),
    ("-----BEGIN PUBLIC KEY-----\nMFkw\n", "without its matching '-----END"),
    ("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "key 1 is not a valid PEM public key"),
])
def test_what_is_not_a_key_is_said(text: str, says: str) -> None:
    with pytest.raises(signatures.BadKeys, match=says):
        signatures.load_keys(text)


def test_a_private_key_or_another_curve_is_refused() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    with pytest.raises(signatures.BadKeys, match="key 2 is a PEM 'PRIVATE KEY'"):
        signatures.load_keys(_pem(key) + private)
    with pytest.raises(signatures.BadKeys, match="key 1 is an ECDSA secp384r1 key"):
        signatures.load_keys(_pem(ec.generate_private_key(ec.SECP384R1())))
