"""cosign's payload and tag scheme, checked against the bytes cosign itself writes."""
from __future__ import annotations

import pytest
from pipes_common import cosign

DIGEST = "sha256:" + "ab" * 32
# the exact payload cosign 2.5.0 signs for registry.example/acme/web@DIGEST
COSIGN_WRITES = ('{"critical":{"identity":{"docker-reference":"registry.example/acme/web"},'
                 '"image":{"docker-manifest-digest":"' + DIGEST + '"},'
                 '"type":"cosign container image signature"},"optional":null}').encode()


def test_the_payload_is_byte_for_byte_cosigns() -> None:
    assert cosign.payload("registry.example/acme/web", DIGEST) == COSIGN_WRITES


def test_a_payload_reads_back_as_its_claim() -> None:
    claim = cosign.read_payload(COSIGN_WRITES)
    assert claim == cosign.Claim("registry.example/acme/web", DIGEST)


@pytest.mark.parametrize("blob", [
    b"not json", b"[]", b'{"critical":{}}',
    COSIGN_WRITES.replace(b"cosign container image signature", b"something else"),
    COSIGN_WRITES.replace(DIGEST.encode(), b"sha256:short"),
])
def test_a_payload_of_another_shape_is_refused(blob: bytes) -> None:
    with pytest.raises(cosign.FormatError):
        cosign.read_payload(blob)


def test_tags_follow_cosigns_scheme() -> None:
    assert cosign.signature_tag(DIGEST) == "sha256-" + "ab" * 32 + ".sig"
    assert cosign.attestation_tag(DIGEST) == "sha256-" + "ab" * 32 + ".att"
    assert cosign.is_artefact_tag(cosign.signature_tag(DIGEST))
    assert not cosign.is_artefact_tag("sha256-abc.sig")
    assert not cosign.is_artefact_tag("main-1234567")


def test_a_signature_annotation_must_be_base64() -> None:
    assert cosign.decode_signature(cosign.encode_signature(b"\x30\x01")) == b"\x30\x01"
    with pytest.raises(cosign.FormatError):
        cosign.decode_signature("not base64!")
