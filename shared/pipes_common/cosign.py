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
