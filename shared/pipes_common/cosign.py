"""cosign's signature format, the one both sides of the chain use: build-push writes it, flux-bump
reads it, and cosign itself (2.x and 3.x) reads and writes the same.

A signature of the manifest ``sha256:<hex>`` in ``registry/repo`` is a manifest tagged
``sha256-<hex>.sig`` in that repository, one layer per signature.  Each layer's blob is the
*payload* below and its annotation ``dev.cosignproject.cosign/signature`` holds the base64 DER
ECDSA P-256/SHA-256 signature over the blob's bytes.  Attestations live under ``sha256-<hex>.att``
as DSSE envelopes around in-toto statements.
"""
from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from . import imageref

SIMPLESIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
DSSE_ENVELOPE = "application/vnd.dsse.envelope.v1+json"
INTOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
SIGNATURE_TYPE = "cosign container image signature"
SPDX_JSON_PREDICATE = "https://spdx.dev/Document"


class FormatError(ValueError):
    """A signature artefact that does not follow cosign's format (the message says how)."""


@dataclass(frozen=True)
class Claim:
    """What a simple-signing payload says: this repository's manifest with this digest."""

    reference: str  # registry/repo, no tag
    digest: str


def _hex(digest: str) -> str:
    if not imageref.is_digest(digest) or not digest.startswith("sha256:"):
        raise FormatError(f"{digest!r} is not a sha256 digest")
    return digest.removeprefix("sha256:")


def signature_tag(digest: str) -> str:
    """``sha256-<hex>.sig``, the tag cosign reads a digest's signatures from."""
    return f"sha256-{_hex(digest)}.sig"


def attestation_tag(digest: str) -> str:
    """``sha256-<hex>.att``, the tag cosign reads a digest's attestations from."""
    return f"sha256-{_hex(digest)}.att"


def is_artefact_tag(tag: str) -> bool:
    """A ``sha256-<hex>.sig``/``.att``/``.sbom`` tag: it belongs to the image it names."""
    stem, dot, kind = tag.rpartition(".")
    return (dot == "." and kind in ("sig", "att", "sbom") and stem.startswith("sha256-")
            and imageref.is_digest("sha256:" + stem.removeprefix("sha256-")))


def payload(reference: str, digest: str) -> bytes:
    """The compact simple-signing JSON cosign signs, keys in cosign's order."""
    _hex(digest)
    body = {"critical": {"identity": {"docker-reference": reference},
                         "image": {"docker-manifest-digest": digest},
                         "type": SIGNATURE_TYPE},
            "optional": None}
    return json.dumps(body, separators=(",", ":")).encode()


def read_payload(blob: bytes) -> Claim:
    """The claim of a simple-signing payload; FormatError for anything else (another type, a
    missing field, not JSON)."""
    try:
        body = json.loads(blob)
    except (ValueError, UnicodeDecodeError) as exc:
        raise FormatError("the payload is not JSON") from exc
    critical = body.get("critical") if isinstance(body, dict) else None
    if not isinstance(critical, dict):
        raise FormatError("the payload has no critical section")
    if critical.get("type") != SIGNATURE_TYPE:
        raise FormatError(f"the payload type is {critical.get('type')!r}, not {SIGNATURE_TYPE!r}")
    identity, image = critical.get("identity"), critical.get("image")
    reference = identity.get("docker-reference") if isinstance(identity, dict) else None
    digest = image.get("docker-manifest-digest") if isinstance(image, dict) else None
    if not isinstance(reference, str) or not isinstance(digest, str):
        raise FormatError("the payload names no docker-reference or manifest digest")
    _hex(digest)
    return Claim(reference, digest)


def decode_signature(annotation: str) -> bytes:
    """The DER bytes of a base64 signature annotation; FormatError when it is not base64."""
    try:
        return base64.b64decode(annotation.encode(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise FormatError("the signature annotation is not base64") from exc


def encode_signature(der: bytes) -> str:
    return base64.b64encode(der).decode()


# -- attestations (DSSE envelopes around in-toto statements) ---------------------------------------
@dataclass(frozen=True)
class Envelope:
    """A DSSE envelope: the payload's type, its bytes, and the base64-decoded signatures."""

    payload_type: str
    payload: bytes
    signatures: tuple[bytes, ...]


def pae(payload_type: str, body: bytes) -> bytes:
    """DSSE's pre-authentication encoding, the bytes a DSSE signature is made over."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(body), body)


def read_envelope(blob: bytes) -> Envelope:
    """The DSSE envelope of an attestation layer; FormatError for anything else."""
    try:
        body = json.loads(blob)
    except (ValueError, UnicodeDecodeError) as exc:
        raise FormatError("the envelope is not JSON") from exc
    if not isinstance(body, dict):
        raise FormatError("the envelope is not a JSON object")
    kind, payload_b64, sigs = body.get("payloadType"), body.get("payload"), body.get("signatures")
    if not isinstance(kind, str) or not isinstance(payload_b64, str) or not isinstance(sigs, list):
        raise FormatError("the envelope has no payloadType, payload or signatures")
    try:
        payload_bytes = base64.b64decode(payload_b64.encode(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise FormatError("the envelope's payload is not base64") from exc
    decoded = tuple(decode_signature(s["sig"]) for s in sigs
                    if isinstance(s, dict) and isinstance(s.get("sig"), str))
    return Envelope(kind, payload_bytes, decoded)


@dataclass(frozen=True)
class Statement:
    """What an in-toto statement says: its predicate type and the sha256 digests it is about."""

    predicate_type: str
    subjects: tuple[str, ...]  # sha256:<hex>


def read_statement(payload_bytes: bytes) -> Statement:
    """The predicate type and subject digests of an in-toto statement; FormatError otherwise."""
    try:
        body = json.loads(payload_bytes)
    except (ValueError, UnicodeDecodeError) as exc:
        raise FormatError("the statement is not JSON") from exc
    if not isinstance(body, dict) or not str(body.get("_type", "")).startswith(
            "https://in-toto.io/Statement/"):
        raise FormatError("the payload is not an in-toto statement")
    subjects = body.get("subject")
    kind = body.get("predicateType")
    if not isinstance(kind, str) or not isinstance(subjects, list):
        raise FormatError("the statement has no predicateType or subject")
    found = tuple(f"sha256:{s['digest']['sha256']}" for s in subjects
                  if isinstance(s, dict) and isinstance(s.get("digest"), dict)
                  and isinstance(s["digest"].get("sha256"), str))
    return Statement(kind, found)
