"""The signature gate (``VERIFY_KEYS``): a reference is written only when the registry holds a
valid cosign signature of the exact digest that will be deployed, made by one of the keys.

The digest is the one the tag resolves to in the registry (for a multi-platform image, the
index's: a signature of one platform does not sign the others).  Signatures are read where cosign
writes them: the ``sha256-<hex>.sig`` manifest of the repository and the OCI 1.1 referrers of the
digest.  Every layer counts (not only the first); a layer is valid when its media type is
cosign's, its blob is the one its descriptor names, the ECDSA P-256/SHA-256 signature in its
annotation verifies over the blob with one of the keys, and the payload it signs says
``cosign container image signature`` for this digest in this repository.  With
``VERIFY_ATTESTATION`` a signed SPDX SBOM attestation (``sha256-<hex>.att``, DSSE envelopes of
in-toto statements) about the digest is required too.  The registry and its credentials are
those of the registry check (:mod:`registrycheck`)."""
from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pipes_common import cosign, validate
from pipes_common.errors import PipeError
from pipes_common.log import get_logger
from pipes_common.registry import RegistryClient, RegistryError, digest_of

MAX_KEYS = 20
MAX_LAYERS = 20          # signatures read per image (tag and referrers together)
MAX_REFERRERS = 20       # referrer manifests read per image
MAX_BLOB = 1 << 20       # bytes of one signature or attestation layer
MAX_SHOWN = 3            # layers described in the failure message
_PEM = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)-----END \1-----", re.S)
ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())


class BadKeys(ValueError):
    """VERIFY_KEYS holds something that is not a usable public key (the message says what)."""


def load_keys(text: str) -> tuple[ec.EllipticCurvePublicKey, ...]:
    """The ECDSA P-256 public keys of ``text``: PEM ``PUBLIC KEY`` blocks (SPKI, as in
    ``cosign.pub``), one or more, or the base64 of such text (one line, as a Bitbucket variable
    keeps it)."""
    raw = text.strip().encode()
    if b"-----BEGIN" not in raw:
        try:
            raw = base64.b64decode(b"".join(raw.split()), validate=True)
        except (binascii.Error, ValueError):
            raise BadKeys("holds no PEM public key ('-----BEGIN PUBLIC KEY-----') and is not "
                            "base64 of one") from None
        if b"-----BEGIN" not in raw:
            raise BadKeys("is base64 of something that is not a PEM public key")
    blocks = list(_PEM.finditer(raw))
    if not blocks:
        raise BadKeys("holds a '-----BEGIN' line without its matching '-----END' line")
    if len(blocks) > MAX_KEYS:
        raise BadKeys(f"holds {len(blocks)} keys, more than {MAX_KEYS}")
    keys: list[ec.EllipticCurvePublicKey] = []
    for n, block in enumerate(blocks, 1):
        label = block.group(1).decode()
        if label != "PUBLIC KEY":
            raise BadKeys(f"key {n} is a PEM '{label}', not a 'PUBLIC KEY' (a private key "
                            "belongs to build-push's SIGNING_KEY, never here)")
        try:
            key = serialization.load_pem_public_key(block.group(0))
        except (ValueError, UnsupportedAlgorithm):
            raise BadKeys(f"key {n} is not a valid PEM public key") from None
        if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
            kind = (f"ECDSA {key.curve.name}" if isinstance(key, ec.EllipticCurvePublicKey)
                    else type(key).__name__.removeprefix("_").replace("PublicKey", ""))
            raise BadKeys(f"key {n} is an {kind} key, not ECDSA P-256 (cosign generate-key-pair "
                          "makes one)")
        keys.append(key)
    return tuple(keys)


class PublicKeys(validate.Rule):
    """The rule of VERIFY_KEYS: one or more ECDSA P-256 PEM public keys (or their base64)."""

    default_max: ClassVar[int] = 64 * 1024

    def problem(self, name: str, value: str, ctx: validate.Context) -> str | None:
        try:
            load_keys(value)
        except BadKeys as err:
            return str(err)
        return None


@dataclass(frozen=True)
class Gate:
    """What an image needs before it is written: a signature by one of ``keys`` and, with
    ``attestation``, a signed SPDX SBOM attestation."""

    keys: tuple[ec.EllipticCurvePublicKey, ...]
    attestation: bool = False

    def signed(self, signature: bytes, data: bytes) -> bool:
        for key in self.keys:
            try:
                key.verify(signature, data, ECDSA_SHA256)
            except InvalidSignature:
                continue
            return True
        return False


@dataclass(frozen=True)
class Layer:
    """One signature or attestation layer, its blob checked against its descriptor."""

    where: str                     # "sha256-….sig" or "referrer sha256:…"
    descriptor: dict[str, Any]
    blob: bytes | None             # None: the blob could not be read as the descriptor says
    problem: str | None = None


def require(client: RegistryClient, repo: str, image: str, digest: str, gate: Gate) -> None:
    """Return when ``image@digest`` is signed as ``gate`` asks; PipeError otherwise, naming the
    image and why, before anything is written."""
    reference = f"{client.host}/{repo}"
    sigs, atts = _layers(client, repo, digest, gate.attestation)
    refused = [_signature(layer, gate, reference, digest) for layer in sigs]
    if not sigs:
        raise PipeError(f"VERIFY_KEYS: {image}@{digest} is not signed: the registry has no "
                        f"cosign signature of that digest ({cosign.signature_tag(digest)} or "
                        "referrers): sign it (build-push's SIGNING_KEY, or cosign sign --key) and "
                        "run again; nothing was written")
    if None not in refused:
        raise PipeError(f"VERIFY_KEYS: {image}@{digest} has no valid signature by a key of "
                        f"VERIFY_KEYS: {_summary(refused)}; nothing was written")
    get_logger().info("%s@%s is signed by a key of VERIFY_KEYS.", image, digest)
    if not gate.attestation:
        return
    refused = [_attestation(layer, gate, digest) for layer in atts]
    if not atts:
        raise PipeError(f"VERIFY_ATTESTATION: {image}@{digest} has no SBOM attestation in the "
                        f"registry ({cosign.attestation_tag(digest)} or referrers): attach a "
                        "signed SPDX SBOM (build-push's SBOM, or cosign attest --type spdxjson) "
                        "and run again; nothing was written")
    if None not in refused:
        raise PipeError(f"VERIFY_ATTESTATION: {image}@{digest} has no valid SPDX SBOM "
                        f"attestation by a key of VERIFY_KEYS: {_summary(refused)}; nothing was "
                        "written")
    get_logger().info("%s@%s has a signed SPDX SBOM attestation.", image, digest)


def _summary(refused: list[str | None]) -> str:
    reasons = [why for why in refused if why is not None]
    shown = "; ".join(f"{n}: {why}" for n, why in enumerate(reasons[:MAX_SHOWN], 1))
    more = f"; and {len(reasons) - MAX_SHOWN} more" if len(reasons) > MAX_SHOWN else ""
    return (f"{len(reasons)} signature(s) found, none valid ({shown}{more})" if len(reasons) > 1
            else reasons[0])


# -- reading the layers -------------------------------------------------------------------------
def _layers(client: RegistryClient, repo: str, digest: str,
            attestations: bool) -> tuple[list[Layer], list[Layer]]:
    """The signature (and, when asked, attestation) layers of ``digest``: those of its
    ``.sig``/``.att`` tags, then those of its referrers, at most :data:`MAX_LAYERS` of each."""
    sigs: list[Layer] = []
    atts: list[Layer] = []
    tags = [(cosign.signature_tag(digest), sigs)]
    if attestations:
        tags.append((cosign.attestation_tag(digest), atts))
    for tag, into in tags:
        manifest = _manifest(client, repo, tag)
        if manifest is not None:
            into.extend(_read(client, repo, tag, manifest, into))
    for ref in _referrers(client, repo, digest):
        manifest = _manifest(client, repo, str(ref.get("digest")))
        if manifest is None:
            continue
        layers = manifest.get("layers")
        media = {str(d.get("mediaType")) for d in layers if isinstance(d, dict)} if isinstance(
            layers, list) else set()
        if cosign.SIMPLESIGNING in media:
            sigs.extend(_read(client, repo, f"referrer {ref['digest']}", manifest, sigs))
        elif attestations and cosign.DSSE_ENVELOPE in media:  # else not cosign's (Notation…)
            atts.extend(_read(client, repo, f"referrer {ref['digest']}", manifest, atts))
    return sigs, atts


def _manifest(client: RegistryClient, repo: str, ref: str) -> dict[str, Any] | None:
    """The manifest of ``ref`` as JSON, None when there is none; a manifest that is not JSON is
    one without layers (nothing in it can count)."""
    try:
        body, _, _ = client.get_manifest(repo, ref)
        doc = json.loads(body)
    except RegistryError as err:
        if err.status == 404:
            return None
        raise PipeError(f"VERIFY_KEYS: the registry {client.host} failed while reading "
                        f"{repo}:{ref} ({err})") from None
    except (ValueError, UnicodeDecodeError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _referrers(client: RegistryClient, repo: str, digest: str) -> list[dict[str, Any]]:
    try:
        found = client.referrers(repo, digest)
    except RegistryError as err:
        raise PipeError(f"VERIFY_KEYS: the registry {client.host} failed while listing the "
                        f"referrers of {repo}@{digest} ({err})") from None
    return [d for d in found if cosign_referrer(d)][:MAX_REFERRERS]


def cosign_referrer(descriptor: dict[str, Any]) -> bool:
    """A referrer that may hold cosign signatures or attestations: an image manifest (whatever
    its artifact type: the layers' media types decide)."""
    return (descriptor.get("mediaType") == "application/vnd.oci.image.manifest.v1+json"
            and isinstance(descriptor.get("digest"), str))


def _read(client: RegistryClient, repo: str, where: str, manifest: dict[str, Any],
          already: list[Layer]) -> Iterator[Layer]:
    layers = manifest.get("layers")
    if not isinstance(layers, list) or not layers:
        yield Layer(where, {}, None, "the signature manifest has no layers")
        return
    for descriptor in layers[:max(0, MAX_LAYERS - len(already))]:
        if not isinstance(descriptor, dict):
            yield Layer(where, {}, None, "a layer descriptor is not a JSON object")
            continue
        yield _blob(client, repo, where, descriptor)


def _blob(client: RegistryClient, repo: str, where: str, descriptor: dict[str, Any]) -> Layer:
    digest, size = descriptor.get("digest"), descriptor.get("size")
    if not isinstance(digest, str) or not digest.startswith("sha256:") or not isinstance(size, int):
        return Layer(where, descriptor, None, "a layer has no sha256 digest or size (modified manifest)")
    if not 0 < size <= MAX_BLOB:
        return Layer(where, descriptor, None, f"a layer claims {size} bytes (modified manifest)")
    try:
        blob = client.get_blob(repo, digest)
    except RegistryError as err:
        raise PipeError(f"VERIFY_KEYS: the registry {client.host} failed while reading the "
                        f"signature blob {digest} of {repo} ({err})") from None
    if len(blob) != size or digest_of(blob) != digest:
        return Layer(where, descriptor, None, f"the blob of a layer of {where} is not the one its "
                     "descriptor names (modified manifest)")
    return Layer(where, descriptor, blob)


# -- checking one layer ---------------------------------------------------------------------------
def _signature(layer: Layer, gate: Gate, reference: str, digest: str) -> str | None:
    """None when ``layer`` is a valid signature of ``reference@digest`` by a key of the gate;
    else why not."""
    if layer.problem is not None or layer.blob is None:
        return layer.problem or "unreadable"
    media = layer.descriptor.get("mediaType")
    if media != cosign.SIMPLESIGNING:
        return f"a layer of {layer.where} has media type {_shown(media)}, not cosign's (modified manifest)"
    annotations = layer.descriptor.get("annotations")
    value = annotations.get(cosign.SIGNATURE_ANNOTATION) if isinstance(annotations, dict) else None
    if not isinstance(value, str) or not value:
        return f"a layer of {layer.where} has no signature annotation (modified manifest)"
    try:
        signature = cosign.decode_signature(value)
    except cosign.FormatError:
        return f"a layer of {layer.where} has a signature that is not base64 (modified manifest)"
    if not gate.signed(signature, layer.blob):
        return ("a signature that no key of VERIFY_KEYS verifies (made by another key, or its "
                "payload or signature was tampered with)")
    try:
        claim = cosign.read_payload(layer.blob)
    except cosign.FormatError as err:
        return f"a signed payload that is not cosign's ({err})"
    if claim.digest != digest:
        return f"a signature of another digest, {claim.digest} (digest mismatch: not this image's)"
    if claim.reference != reference:
        return f"a signature of this digest in another repository, {_shown(claim.reference)}"
    return None


def _attestation(layer: Layer, gate: Gate, digest: str) -> str | None:
    """None when ``layer`` is an SPDX SBOM attestation of ``digest`` signed by a key of the gate."""
    if layer.problem is not None or layer.blob is None:
        return layer.problem or "unreadable"
    media = layer.descriptor.get("mediaType")
    if media != cosign.DSSE_ENVELOPE:
        return f"a layer of {layer.where} has media type {_shown(media)}, not a DSSE envelope"
    try:
        envelope = cosign.read_envelope(layer.blob)
    except cosign.FormatError as err:
        return f"an attestation that is not a DSSE envelope ({err})"
    if envelope.payload_type != cosign.INTOTO_PAYLOAD_TYPE:
        return f"an attestation of payload type {_shown(envelope.payload_type)}, not in-toto"
    signed = cosign.pae(envelope.payload_type, envelope.payload)
    if not any(gate.signed(sig, signed) for sig in envelope.signatures):
        return ("an attestation that no key of VERIFY_KEYS verifies (made by another key, or "
                "tampered with)")
    try:
        statement = cosign.read_statement(envelope.payload)
    except cosign.FormatError as err:
        return f"a signed attestation that is not an in-toto statement ({err})"
    if digest not in statement.subjects:
        return "a signed attestation about another digest (digest mismatch: not this image's)"
    if statement.predicate_type != cosign.SPDX_JSON_PREDICATE:
        return f"a signed attestation of {_shown(statement.predicate_type)}, not an SPDX SBOM"
    return None


def _shown(value: object) -> str:
    text = value if isinstance(value, str) else repr(value)
    clean = "".join(c if c.isprintable() else "?" for c in text[:80])
    return repr(clean + ("…" if len(text) > 80 else ""))
