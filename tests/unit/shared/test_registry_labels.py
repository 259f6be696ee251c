"""``RegistryClient.image_labels``: the labels build-push's skip decision reads."""
from __future__ import annotations

import hashlib
import json

import pytest
from pipes_common.registry import RegistryClient, RegistryError

LABELS = {"org.opencontainers.image.revision": "c0ffee" * 6 + "abcd"}


class Canned(RegistryClient):
    """The registry's answers as a dict of manifests and blobs by reference."""

    def __init__(self, manifests: dict[str, bytes], blobs: dict[str, bytes]) -> None:
        super().__init__("127.0.0.1:5000")
        self.manifests, self.blobs = manifests, blobs

    def get_manifest(self, repo: str, ref: str) -> tuple[bytes, str, str]:
        body = self.manifests[ref]
        return body, "", "sha256:" + hashlib.sha256(body).hexdigest()

    def get_blob(self, repo: str, digest: str) -> bytes:
        return self.blobs[digest]


def image(labels: dict[str, str] | None) -> tuple[bytes, bytes]:
    config = json.dumps({"architecture": "amd64", "config": {"Labels": labels}}).encode()
    manifest = json.dumps({"schemaVersion": 2, "config": {"digest": "sha256:cfg"}, "layers": []})
    return manifest.encode(), config


def test_labels_of_an_image_manifest() -> None:
    manifest, config = image(LABELS)
    assert Canned({"sha-c0ffee0": manifest}, {"sha256:cfg": config}).image_labels("a/w", "sha-c0ffee0") == LABELS
    manifest, config = image(None)
    assert Canned({"t": manifest}, {"sha256:cfg": config}).image_labels("a/w", "t") == {}


def test_labels_of_an_index_skip_the_attestation() -> None:
    manifest, config = image(LABELS)
    index = json.dumps({"schemaVersion": 2, "manifests": [
        {"digest": "sha256:att", "platform": {"os": "unknown", "architecture": "unknown"}},
        {"digest": "sha256:img", "platform": {"os": "linux", "architecture": "amd64"}}]}).encode()
    client = Canned({"t": index, "sha256:img": manifest, "sha256:att": b"{}"}, {"sha256:cfg": config})
    assert client.image_labels("a/w", "t") == LABELS


def test_a_damaged_config_is_a_registry_error() -> None:
    manifest, _ = image(LABELS)
    with pytest.raises(RegistryError, match="not valid JSON"):
        Canned({"t": manifest}, {"sha256:cfg": b"{nope"}).image_labels("a/w", "t")
