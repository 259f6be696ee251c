"""build_push.signatures against an in-memory store of manifests and blobs: the races of a manifest
PUT that replaces the whole list (another signer writing at the same time), and what is found
as "already signed" (the real registry and cosign are the integration tests' job)."""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from build_push import signatures, signkey
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pipes_common import cosign
from pipes_common.registry import RegistryError, digest_of

REPO = "acme/web"
IMAGE = f"registry.example/{REPO}"
DIGEST = "sha256:" + "a" * 64


@dataclass
class MemoryStore:
    manifests: dict[str, bytes] = field(default_factory=dict)
    blobs: dict[str, bytes] = field(default_factory=dict)
    after_put: Callable[[MemoryStore, str], None] | None = None  # another writer, right after ours
    puts: int = 0

    def find_manifest(self, repo: str, ref: str) -> tuple[bytes, str, str] | None:
        body = self.manifests.get(ref)
        if body is None:
            return None
        return body, "application/vnd.oci.image.manifest.v1+json", digest_of(body)

    def get_blob(self, repo: str, digest: str) -> bytes:
        if digest not in self.blobs:
            raise RegistryError(f"Registry failed reading the blob {digest} (404)", "protocol", 404)
        return self.blobs[digest]

    def upload_blob(self, repo: str, data: bytes) -> str:
        digest = digest_of(data)
        self.blobs[digest] = data
        return digest

    def put_oci_manifest(self, repo: str, ref: str, manifest: dict[str, Any]) -> str:
        self.puts += 1
        self.manifests[ref] = json.dumps(manifest).encode()
        if self.after_put is not None:
            hook, self.after_put = self.after_put, None
            hook(self, ref)
        return digest_of(self.manifests[ref])


def _key() -> signkey.SigningKey:
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode()
    return signkey.load(pem, None)


def _layers(store: MemoryStore) -> list[dict[str, Any]]:
    layers: list[dict[str, Any]] = json.loads(store.manifests[cosign.signature_tag(DIGEST)])["layers"]
    return layers


def test_a_concurrent_signer_that_overwrote_our_layer_gets_it_back() -> None:
    """Another key signs the same digest at the same time and its PUT lands right after ours,
    without our layer.  Its layer has the same blob (the payload is the same for every key), so
    only the whole layer (its signature annotation) tells ours apart: the write is repeated."""
    mine, theirs = _key(), _key()
    store = MemoryStore()

    def other_writer(store: MemoryStore, tag: str) -> None:
        other = MemoryStore(blobs=store.blobs)
        signatures.sign(other, theirs, IMAGE, REPO, DIGEST)
        store.manifests[tag] = other.manifests[tag]  # their list, without our layer, wins

    store.after_put = other_writer
    written = signatures.sign(store, mine, IMAGE, REPO, DIGEST)
    assert written.added
    layers = _layers(store)
    assert len(layers) == 2
    assert store.puts == 2
    signers = [cosign.decode_signature(x["annotations"][cosign.SIGNATURE_ANNOTATION]) for x in layers]
    payload = cosign.payload(IMAGE, DIGEST)
    assert sorted(k.verifies(sig, payload) for k in (mine, theirs) for sig in signers) == [False, False, True, True]


def test_another_keys_signature_is_not_taken_for_ours() -> None:
    store = MemoryStore()
    assert signatures.sign(store, _key(), IMAGE, REPO, DIGEST).added
    assert signatures.sign(store, _key(), IMAGE, REPO, DIGEST).added
    assert len(_layers(store)) == 2


def test_a_signature_of_another_digest_under_the_tag_is_not_taken_for_ours() -> None:
    """A layer under our tag whose payload names another digest (copied there) signs nothing."""
    key = _key()
    store = MemoryStore()
    other = "sha256:" + "b" * 64
    signatures.sign(store, key, IMAGE, REPO, other)
    store.manifests[cosign.signature_tag(DIGEST)] = store.manifests[cosign.signature_tag(other)]
    assert signatures.sign(store, key, IMAGE, REPO, DIGEST).added
    assert len(_layers(store)) == 2


def test_foreign_layers_under_the_tag_are_kept_and_not_taken_for_ours() -> None:
    """Layers of another tool (annotations not an object, a digest that is not one, a blob the
    registry lacks) stay as they are; ours is added beside them."""
    store = MemoryStore()
    foreign = [{"mediaType": cosign.SIMPLESIGNING, "digest": "sha256:" + "c" * 64, "size": 1,
                "annotations": {cosign.SIGNATURE_ANNOTATION: "AAAA"}},
               {"mediaType": cosign.SIMPLESIGNING, "digest": "sha256:../../x", "size": 1,
                "annotations": {cosign.SIGNATURE_ANNOTATION: "AAAA"}},
               {"mediaType": cosign.SIMPLESIGNING, "digest": "sha256:" + "d" * 64, "size": 1,
                "annotations": ["not", "an", "object"]}]
    store.manifests[cosign.signature_tag(DIGEST)] = json.dumps({"layers": foreign}).encode()
    assert signatures.sign(store, _key(), IMAGE, REPO, DIGEST).added
    assert _layers(store)[:3] == foreign and len(_layers(store)) == 4
