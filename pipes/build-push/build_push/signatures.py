"""Signatures and attestations of pushed manifests, in cosign's format (:mod:`pipes_common.cosign`),
written with the registry's own API: each is a manifest tagged ``sha256-<hex>.sig`` (``.att``)
in the image's repository, one layer per signature.

A signature by the same key that is already there is found (its payload read back and checked
against the key) and nothing is written; another key's signature stays: a new one is a new layer
beside it.  A manifest PUT replaces the whole list, so the list is read again after the write and
the write is repeated while a concurrent signer's write took our layer away."""
from __future__ import annotations

import base64
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from pipes_common import cosign, imageref
from pipes_common.registry import RegistryError, digest_of

from .signkey import SigningKey

CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
INTOTO_STATEMENT = "https://in-toto.io/Statement/v0.1"
WRITE_ATTEMPTS = 3
SIGNERS = 4  # signatures written at the same time (each to its own tag)
EMPTY_TIME = "0001-01-01T00:00:00Z"


class Store(Protocol):
    """The registry calls of signing: read and write manifests and blobs of one repository."""

    def find_manifest(self, repo: str, ref: str) -> tuple[bytes, str, str] | None: ...

    def get_blob(self, repo: str, digest: str) -> bytes: ...

    def upload_blob(self, repo: str, data: bytes) -> str: ...

    def put_oci_manifest(self, repo: str, ref: str, manifest: dict[str, Any]) -> str: ...


@dataclass(frozen=True)
class Written:
    """A signature or attestation of ``digest``: its reference, and whether this run wrote it."""

    digest: str
    ref: str    # registry/repo:sha256-<hex>.sig (.att)
    added: bool


class ArtefactError(Exception):
    """What is already under a signature tag cannot be kept (the message says what): nothing is
    written over it."""


def targets(store: Store, repo: str, digest: str) -> list[str]:
    """The digests to sign for a push of ``digest``: itself and, for an index, each platform
    image in it (BuildKit's attestation manifests, platform ``unknown/unknown``, aside)."""
    found = store.find_manifest(repo, digest)
    if found is None:
        raise ArtefactError(f"{repo}@{digest} is not in the registry")
    try:
        doc = json.loads(found[0])
        entries = doc.get("manifests") if isinstance(doc, dict) else None
    except ValueError:
        entries = None
    if not isinstance(entries, list):
        return [digest]
    images = [m["digest"] for m in entries
              if isinstance(m, dict) and isinstance(m.get("digest"), str)
              and not (isinstance(m.get("platform"), dict) and m["platform"].get("os") == "unknown")]
    return [digest, *dict.fromkeys(images)]


def _layers(store: Store, repo: str, tag: str) -> list[dict[str, Any]]:
    """The layers of the manifest under ``tag`` ([] when there is none)."""
    found = store.find_manifest(repo, tag)
    if found is None:
        return []
    try:
        doc = json.loads(found[0])
        layers = doc["layers"]
        if not isinstance(layers, list) or not all(isinstance(x, dict) for x in layers):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        raise ArtefactError(f"{repo}:{tag} is not an image manifest with layers (not written by "
                            "cosign or this pipe): nothing written over it") from None
    return layers


def _manifest(store: Store, repo: str, layers: list[dict[str, Any]]) -> dict[str, Any]:
    """cosign's manifest of ``layers``: an OCI image manifest whose config lists them."""
    config = json.dumps({"architecture": "", "created": EMPTY_TIME,
                         "history": [{"created": EMPTY_TIME}], "os": "",
                         "rootfs": {"type": "layers",
                                    "diff_ids": [layer["digest"] for layer in layers]},
                         "config": {}}, separators=(",", ":")).encode()
    return {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": CONFIG_TYPE, "size": len(config),
                       "digest": store.upload_blob(repo, config)},
            "layers": layers}


def _append(store: Store, repo: str, tag: str, blob: bytes, layer: dict[str, Any],
            mine: Callable[[dict[str, Any]], bool]) -> bool:
    """Add the layer of ``blob`` under ``tag`` unless a layer for which ``mine`` holds is there;
    return whether it was added."""
    layer = {**layer, "size": len(blob), "digest": store.upload_blob(repo, blob)}
    for _ in range(WRITE_ATTEMPTS):
        layers = _layers(store, repo, tag)
        if any(mine(existing) for existing in layers):
            return False
        store.put_oci_manifest(repo, tag, _manifest(store, repo, [*layers, layer]))
        # the whole layer: another key's signature of the same digest has the same blob
        if layer in _layers(store, repo, tag):
            return True
    raise ArtefactError(f"{repo}:{tag} was rewritten by another writer {WRITE_ATTEMPTS} times "
                        "while this one added its layer")


def _blob(store: Store, repo: str, layer: dict[str, Any]) -> bytes | None:
    """The blob of ``layer``, checked against its digest; None when it is not a sha256 digest,
    the registry has no such blob, or its bytes do not match."""
    digest = layer.get("digest")
    if not isinstance(digest, str) or not digest.startswith("sha256:") or not imageref.is_digest(digest):
        return None
    try:
        blob = store.get_blob(repo, digest)
    except RegistryError as err:
        if err.status == 404:
            return None
        raise
    return blob if digest_of(blob) == digest else None


def _annotation(layer: dict[str, Any], name: str) -> str | None:
    annotations = layer.get("annotations")
    value = annotations.get(name) if isinstance(annotations, dict) else None
    return value if isinstance(value, str) else None


def sign(store: Store, key: SigningKey, image: str, repo: str, digest: str) -> Written:
    """Sign the manifest ``digest`` of ``image`` (registry/repo) with ``key``, unless a
    signature of it by that key is there already."""
    tag = cosign.signature_tag(digest)

    def mine(layer: dict[str, Any]) -> bool:
        annotation = _annotation(layer, cosign.SIGNATURE_ANNOTATION)
        if layer.get("mediaType") != cosign.SIMPLESIGNING or annotation is None:
            return False
        blob = _blob(store, repo, layer)
        try:
            claim = cosign.read_payload(blob) if blob is not None else None
            signature = cosign.decode_signature(annotation)
        except cosign.FormatError:
            return False
        return (claim is not None and claim.digest == digest and blob is not None
                and key.verifies(signature, blob))

    payload = cosign.payload(image, digest)
    layer = {"mediaType": cosign.SIMPLESIGNING,
             "annotations": {cosign.SIGNATURE_ANNOTATION: cosign.encode_signature(key.sign(payload))}}
    added = _append(store, repo, tag, payload, layer, mine)
    return Written(digest, f"{image}:{tag}", added)


def sign_each(store: Store, key: SigningKey, image: str, repo: str,
              digests: list[str]) -> tuple[list[Written], Exception | None]:
    """:func:`sign` each of ``digests`` (an index and its platforms: at the same time, each its
    own tag); the signatures there, in order, and the first error (None when all are)."""
    with ThreadPoolExecutor(max_workers=min(len(digests), SIGNERS) or 1) as pool:
        futures = [pool.submit(sign, store, key, image, repo, digest) for digest in digests]
    done, errors = [], []
    for future in futures:
        error = future.exception()
        if error is None:
            done.append(future.result())
        elif isinstance(error, Exception):
            errors.append(error)
        else:
            raise error
    return done, (errors[0] if errors else None)


def _attested_by(store: Store, repo: str, key: SigningKey, digest: str,
                 predicate_type: str) -> Callable[[dict[str, Any]], bool]:
    """Whether a layer of ``.att`` is an in-toto statement of ``predicate_type`` about ``digest``
    signed by ``key``."""
    def mine(layer: dict[str, Any]) -> bool:
        blob = _blob(store, repo, layer) if layer.get("mediaType") == cosign.DSSE_ENVELOPE else None
        if blob is None:
            return False
        try:
            envelope = cosign.read_envelope(blob)
            if envelope.payload_type != cosign.INTOTO_PAYLOAD_TYPE:
                return False
            statement = cosign.read_statement(envelope.payload)
        except cosign.FormatError:
            return False
        signed = cosign.pae(envelope.payload_type, envelope.payload)
        return (statement.predicate_type == predicate_type and digest in statement.subjects
                and any(key.verifies(sig, signed) for sig in envelope.signatures))
    return mine


def attested(store: Store, key: SigningKey, image: str, repo: str, digest: str,
             predicate_type: str) -> Written | None:
    """The attestation of ``predicate_type`` about ``digest`` signed by ``key``, when there is one
    (then none is made again)."""
    tag = cosign.attestation_tag(digest)
    mine = _attested_by(store, repo, key, digest, predicate_type)
    if any(mine(layer) for layer in _layers(store, repo, tag)):
        return Written(digest, f"{image}:{tag}", False)
    return None


def attest(store: Store, key: SigningKey, image: str, repo: str, digest: str,
           predicate_type: str, predicate: Any) -> Written:
    """Attach ``predicate`` (an SBOM document) about ``digest`` as an in-toto statement in a DSSE
    envelope signed by ``key``, unless one of that type by that key is there."""
    tag = cosign.attestation_tag(digest)
    statement = json.dumps({"_type": INTOTO_STATEMENT, "predicateType": predicate_type,
                            "subject": [{"name": image,
                                         "digest": {"sha256": digest.removeprefix("sha256:")}}],
                            "predicate": predicate}, separators=(",", ":")).encode()
    signature = key.sign(cosign.pae(cosign.INTOTO_PAYLOAD_TYPE, statement))
    envelope = json.dumps({"payloadType": cosign.INTOTO_PAYLOAD_TYPE,
                           "payload": base64.b64encode(statement).decode(),
                           "signatures": [{"keyid": "", "sig": base64.b64encode(signature).decode()}]},
                          separators=(",", ":")).encode()
    layer = {"mediaType": cosign.DSSE_ENVELOPE,
             "annotations": {cosign.SIGNATURE_ANNOTATION: "", "predicateType": predicate_type}}
    added = _append(store, repo, tag, envelope, layer,
                    _attested_by(store, repo, key, digest, predicate_type))
    return Written(digest, f"{image}:{tag}", added)
