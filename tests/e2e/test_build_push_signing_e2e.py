"""build-push's SIGNING_KEY and signed SBOM through the pipe image, run exactly as Bitbucket runs
a pipe, checked by the standard tool: cosign 2.5.0 (``cosign verify --insecure-ignore-tlog`` and
``cosign verify-attestation --type spdxjson``) accepts what the pipe wrote, for a key made by
``cosign generate-key-pair`` with a password and for an encrypted PKCS#8 key; a second key adds a
second layer and both verify; a re-run adds nothing; a multi-platform push (modern engine lane)
is signed on the index and on each platform; the key and its password are nowhere in the output,
the build directory or the registry's storage (the leak scanner, every encoding)."""
from __future__ import annotations

import base64
import json
import re
import secrets as pysecrets
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pipes_common import cosign as cosign_format
from testbed import cosign, leaks
from testbed.do_stub import DOApiStub
from testbed.fixtures import EngineLane
from testbed.pipes import PipeRun
from testbed.registry import LocalRegistry

from .test_build_push_buildkit import INDEX, MODERN, Bed


@pytest.fixture()
def bed(pipe_image: Callable[[str], str], engine_lane: EngineLane, registry: LocalRegistry,
        do_api: DOApiStub, do_token: str) -> Bed:
    return Bed(pipe_image("build-push"), engine_lane, registry, do_api, do_token)


def _dockerfile(build_dir: Path) -> None:
    marker = pysecrets.token_hex(8)  # an image no other test pushed
    (build_dir / "Dockerfile").write_text(f"ARG BASE_IMAGE\nFROM ${{BASE_IMAGE}}\nRUN echo {marker} > /m\n")


def _config(registry: LocalRegistry, tmp_path: Path) -> Path:
    return cosign.docker_config(tmp_path / "docker", registry.host, registry.token, registry.token)


def _layers(registry: LocalRegistry, repo: str, tag: str) -> list[dict[str, object]]:
    resp = registry.get(f"/v2/acme/{repo}/manifests/{tag}",
                        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    assert resp.status_code == 200, resp.text
    layers: list[dict[str, object]] = resp.json()["layers"]
    return layers


def _digest(run: PipeRun) -> str:
    found = re.search(r"BUILD_PUSH_DIGEST = (sha256:[0-9a-f]{64})", run.output)
    assert found is not None, run.output
    return found[1]


def test_cosign_verifies_what_build_push_signed_and_attested(
        bed: Bed, build_dir: Path, tmp_path: Path) -> None:
    _dockerfile(build_dir)
    password = pysecrets.token_hex(12)
    private, public = cosign.generate_key_pair(tmp_path / "k1", password)
    key_text = private.read_text()
    repo = f"signed-{pysecrets.token_hex(3)}"
    commit = pysecrets.token_hex(20)
    run = bed.run(build_dir, repo, commit=commit, SIGNING_KEY=key_text.strip(),
                  SIGNING_KEY_PASSWORD=password, SBOM="true", DEBUG="true")
    assert run.code == 0, run.output
    digest = _digest(run)
    image = f"{bed.registry.host}/acme/{repo}"
    config = _config(bed.registry, tmp_path)
    check = cosign.verify(f"{image}@{digest}", public, config)
    assert check.returncode == 0, check.stderr
    attestation = cosign.verify(f"{image}@{digest}", public, config, attestation=True)
    assert attestation.returncode == 0, attestation.stderr
    statement = json.loads(base64.b64decode(json.loads(attestation.stdout.splitlines()[0])["payload"]))
    assert statement["predicateType"] == cosign_format.SPDX_JSON_PREDICATE
    assert statement["predicate"]["spdxVersion"].startswith("SPDX-")
    assert statement["predicate"]["packages"], "syft found no package in a Debian image"
    sig_tag = cosign_format.signature_tag(digest)
    assert f"BUILD_PUSH_SIGNATURES = {image}:{sig_tag}" in run.output
    assert f"BUILD_PUSH_ATTESTATIONS = {image}:{cosign_format.attestation_tag(digest)}" in run.output
    assert len(_layers(bed.registry, repo, sig_tag)) == 1

    # the same commit again: the build is skipped and nothing is added
    again = bed.run(build_dir, repo, commit=commit, SIGNING_KEY=key_text.strip(),
                    SIGNING_KEY_PASSWORD=password, SBOM="true")
    assert again.code == 0, again.output
    assert "already signed by this key" in again.output and "already attested" in again.output
    assert len(_layers(bed.registry, repo, sig_tag)) == 1
    assert len(_layers(bed.registry, repo, cosign_format.attestation_tag(digest))) == 1

    # a second key (an encrypted PKCS#8 PEM, passed as base64): a second layer, both verify
    other = ec.generate_private_key(ec.SECP256R1())
    other_password = pysecrets.token_hex(12)
    other_pem = other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(other_password.encode())).decode()
    other_public = tmp_path / "other.pub"
    other_public.write_bytes(other.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    other_b64 = base64.b64encode(other_pem.encode()).decode()
    third = bed.run(build_dir, repo, commit=commit, SIGNING_KEY=other_b64,
                    SIGNING_KEY_PASSWORD=other_password)
    assert third.code == 0, third.output
    assert len(_layers(bed.registry, repo, sig_tag)) == 2
    for pub in (public, other_public):
        check = cosign.verify(f"{image}@{digest}", pub, config)
        assert check.returncode == 0, check.stderr

    # the keys and passwords: in no output, no file of the build directory, no blob stored
    output = run.output + again.output + third.output
    # what the registry stores for this repository: its links and every blob they name (the
    # registry's other repositories, the whole suite's images, are not this run's)
    stored = [bed.registry.storage(f"acme/{repo}"), *bed.registry.blobs(f"acme/{repo}")]
    assert len(stored) > 3, "the repository's blobs were not found"
    for secret in (key_text.strip(), password, other_pem.strip(), other_b64, other_password,
                   *[line for line in key_text.splitlines() if "-----" not in line]):
        leaks.assert_absent(secret, text=output, paths=[build_dir, *stored])


def test_a_wrong_password_stops_before_the_build(bed: Bed, build_dir: Path, tmp_path: Path) -> None:
    _dockerfile(build_dir)
    private, _ = cosign.generate_key_pair(tmp_path / "k", "right-password")
    repo = f"signed-{pysecrets.token_hex(3)}"
    run = bed.run(build_dir, repo, SIGNING_KEY=private.read_text().strip(),
                  SIGNING_KEY_PASSWORD="wrong-password")
    assert run.code == 1, run.output
    assert ("✖ SIGNING_KEY could not be decrypted with SIGNING_KEY_PASSWORD (wrong password, or a "
            "damaged key): check both secured variables") in run.last_line(), run.last_line()
    assert "Building" not in run.output
    assert bed.registry.get(f"/v2/acme/{repo}/tags/list").status_code == 404


@MODERN
def test_a_multi_platform_push_is_signed_on_the_index_and_each_platform(
        bed: Bed, build_dir: Path, tmp_path: Path) -> None:
    (build_dir / "Dockerfile").write_text(f"FROM scratch\nCOPY app.py /app-{pysecrets.token_hex(4)}.py\n")
    password = pysecrets.token_hex(12)
    private, public = cosign.generate_key_pair(tmp_path / "k", password)
    repo = f"signed-multi-{pysecrets.token_hex(3)}"
    run = bed.run(build_dir, repo, PLATFORMS="linux/amd64,linux/arm64",
                  SIGNING_KEY=private.read_text().strip(), SIGNING_KEY_PASSWORD=password,
                  SBOM="true")
    assert run.code == 0, run.output
    digest = _digest(run)
    resp = bed.registry.get(f"/v2/acme/{repo}/manifests/{digest}", headers={"Accept": INDEX})
    index = resp.json()
    platforms = [m["digest"] for m in index["manifests"]
                 if (m.get("platform") or {}).get("os") != "unknown"]
    assert len(platforms) == 2
    image = f"{bed.registry.host}/acme/{repo}"
    config = _config(bed.registry, tmp_path)
    for each in (digest, *platforms):
        check = cosign.verify(f"{image}@{each}", public, config)
        assert check.returncode == 0, (each, check.stderr)
        attested = cosign.verify(f"{image}@{each}", public, config, attestation=True)
        assert attested.returncode == 0, (each, attested.stderr)
    refs = next(x for x in run.output.splitlines() if "BUILD_PUSH_SIGNATURES = " in x)
    assert refs.count(".sig") == 3
