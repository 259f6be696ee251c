"""build-push's signatures and attestations (build_push.signatures) written to the test bed's
registry with the pipe's registry client, and checked by the standard tool, cosign 2.5.0: what
``cosign verify`` and ``cosign verify-attestation`` accept, a second key's layer beside the
first, nothing added on a re-run, an index signed with each platform."""
from __future__ import annotations

import json
import secrets as pysecrets
from pathlib import Path

import pytest
import requests
from build_push import signatures, signkey
from pipes_common import cosign as cosign_format
from pipes_common.registry import RegistryClient
from testbed import cosign, oci
from testbed.registry import LocalRegistry

SPDX = {"spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT",
        "name": "test", "documentNamespace": "https://example.invalid/test",
        "creationInfo": {"created": "2026-01-01T00:00:00Z", "creators": ["Tool: test"]},
        "packages": []}


@pytest.fixture()
def keys(tmp_path: Path) -> tuple[signkey.SigningKey, Path]:
    """A cosign key pair made by cosign generate-key-pair (a password), loaded by build-push."""
    password = pysecrets.token_hex(8)
    private, public = cosign.generate_key_pair(tmp_path / "k1", password)
    return signkey.load(private.read_text(), password), public


def _setup(registry: LocalRegistry, tmp_path: Path) -> tuple[RegistryClient, Path, requests.Session]:
    session = requests.Session()
    session.auth = (registry.push_user, registry.push_password)
    client = RegistryClient(registry.host, registry.push_user, registry.push_password)
    config = cosign.docker_config(tmp_path / "docker", registry.host, registry.push_user,
                                  registry.push_password)
    return client, config, session


def _layers(client: RegistryClient, repo: str, tag: str) -> list[dict[str, object]]:
    body, _, _ = client.get_manifest(repo, tag)
    layers: list[dict[str, object]] = json.loads(body)["layers"]
    return layers


def test_cosign_verifies_the_signature_and_a_second_key_adds_a_layer(
        registry: LocalRegistry, tmp_path: Path, keys: tuple[signkey.SigningKey, Path]) -> None:
    client, config, session = _setup(registry, tmp_path)
    repo = f"acme/sig-{pysecrets.token_hex(3)}"
    pushed = oci.push_image(session, f"http://{registry.host}", repo, "v1")
    image = f"{registry.host}/{repo}"
    key, public = keys
    assert cosign.verify(f"{image}@{pushed.digest}", public, config).returncode != 0  # unsigned

    first = signatures.sign(client, key, image, repo, pushed.digest)
    assert first.added and first.ref == f"{image}:{cosign_format.signature_tag(pushed.digest)}"
    done = cosign.verify(f"{image}@{pushed.digest}", public, config)
    assert done.returncode == 0, done.stderr

    again = signatures.sign(client, key, image, repo, pushed.digest)  # the same key: nothing
    assert not again.added
    assert len(_layers(client, repo, cosign_format.signature_tag(pushed.digest))) == 1

    other_password = pysecrets.token_hex(8)
    other_private, other_public = cosign.generate_key_pair(tmp_path / "k2", other_password)
    other = signkey.load(other_private.read_text(), other_password)
    assert signatures.sign(client, other, image, repo, pushed.digest).added
    assert len(_layers(client, repo, cosign_format.signature_tag(pushed.digest))) == 2
    for pub in (public, other_public):
        check = cosign.verify(f"{image}@{pushed.digest}", pub, config)
        assert check.returncode == 0, check.stderr


def test_a_signature_is_refused_for_another_digest(
        registry: LocalRegistry, tmp_path: Path, keys: tuple[signkey.SigningKey, Path]) -> None:
    """cosign checks the payload's digest: our signature of one image does not verify another."""
    client, config, session = _setup(registry, tmp_path)
    repo = f"acme/sig-{pysecrets.token_hex(3)}"
    one = oci.push_image(session, f"http://{registry.host}", repo, "one")
    two = oci.push_image(session, f"http://{registry.host}", repo, "two")
    key, public = keys
    signatures.sign(client, key, f"{registry.host}/{repo}", repo, one.digest)
    assert cosign.verify(f"{registry.host}/{repo}@{two.digest}", public, config).returncode != 0


def test_cosign_verifies_the_sbom_attestation(
        registry: LocalRegistry, tmp_path: Path, keys: tuple[signkey.SigningKey, Path]) -> None:
    client, config, session = _setup(registry, tmp_path)
    repo = f"acme/att-{pysecrets.token_hex(3)}"
    pushed = oci.push_image(session, f"http://{registry.host}", repo, "v1")
    image = f"{registry.host}/{repo}"
    key, public = keys
    assert signatures.attested(client, key, image, repo, pushed.digest,
                               cosign_format.SPDX_JSON_PREDICATE) is None
    made = signatures.attest(client, key, image, repo, pushed.digest,
                             cosign_format.SPDX_JSON_PREDICATE, SPDX)
    assert made.added
    check = cosign.verify(f"{image}@{pushed.digest}", public, config, attestation=True)
    assert check.returncode == 0, check.stderr
    assert signatures.attested(client, key, image, repo, pushed.digest,
                               cosign_format.SPDX_JSON_PREDICATE) is not None
    assert not signatures.attest(client, key, image, repo, pushed.digest,
                                 cosign_format.SPDX_JSON_PREDICATE, SPDX).added


def test_an_index_is_signed_with_each_platform(
        registry: LocalRegistry, tmp_path: Path, keys: tuple[signkey.SigningKey, Path]) -> None:
    client, config, session = _setup(registry, tmp_path)
    repo = f"acme/idx-{pysecrets.token_hex(3)}"
    base = f"http://{registry.host}"
    amd, arm, att = (oci.push_image(session, base, repo, t) for t in ("amd", "arm", "att"))
    index = oci.push_index(session, base, repo, "v1", [
        (amd, {"os": "linux", "architecture": "amd64"}),
        (arm, {"os": "linux", "architecture": "arm64"}),
        (att, {"os": "unknown", "architecture": "unknown"})])
    wanted = signatures.targets(client, repo, index)
    assert wanted == [index, amd.digest, arm.digest]  # BuildKit's attestation manifest aside
    key, public = keys
    image = f"{registry.host}/{repo}"
    for digest in wanted:
        signatures.sign(client, key, image, repo, digest)
    for digest in wanted:
        check = cosign.verify(f"{image}@{digest}", public, config)
        assert check.returncode == 0, check.stderr
    assert cosign.verify(f"{image}@{att.digest}", public, config).returncode != 0


def test_a_foreign_manifest_under_the_signature_tag_is_not_overwritten(
        registry: LocalRegistry, tmp_path: Path, keys: tuple[signkey.SigningKey, Path]) -> None:
    client, _, session = _setup(registry, tmp_path)
    repo = f"acme/sig-{pysecrets.token_hex(3)}"
    pushed = oci.push_image(session, f"http://{registry.host}", repo, "v1")
    tag = cosign_format.signature_tag(pushed.digest)
    index = oci.push_index(session, f"http://{registry.host}", repo, tag,
                           [(pushed, {"os": "linux", "architecture": "amd64"})])
    with pytest.raises(signatures.ArtefactError, match="not an image manifest with layers"):
        signatures.sign(client, keys[0], f"{registry.host}/{repo}", repo, pushed.digest)
    assert client.head_manifest(repo, tag).digest == index  # type: ignore[union-attr]
