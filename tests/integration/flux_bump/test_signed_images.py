"""The signature gate (issue 23, VERIFY_KEYS and VERIFY_ATTESTATION): what cosign 2.5.0 signs with
``cosign sign --key … --tlog-upload=false`` is accepted; an unsigned image, another key, a
signature of another digest, a changed payload, a changed manifest and a signature of only one
platform of an index are refused with one ✖ line naming the image, before anything is cloned or
written.  A promotion is gated too, after the clone (the reference is read there) and before
anything is written: on the digest deployed under FROM_PATHS, wherever its tag has moved since."""
from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pipes_common import cosign as fmt
from testbed import oci
from testbed.do_stub import DOApiStub
from testbed.fixtures import DOCR_REGISTRY_NAME
from testbed.git_http import GitHttpServer
from testbed.pipes import PipeRun, run_local
from testbed.referrers_front import ReferrersFront
from testbed.registry import LocalRegistry
from testbed.signed_images import KeyPair, Signer, key_pair

from .conftest import GitopsRepo, fail_lines

_count = iter(range(1, 10_000))


@pytest.fixture(scope="module")
def ours(tmp_path_factory: pytest.TempPathFactory) -> KeyPair:
    return key_pair(tmp_path_factory.mktemp("ours"))


@pytest.fixture(scope="module")
def other(tmp_path_factory: pytest.TempPathFactory) -> KeyPair:
    return key_pair(tmp_path_factory.mktemp("other"))


@pytest.fixture()
def signer(registry: LocalRegistry, push_credentials: tuple[str, str], tmp_path: Path) -> Signer:
    return Signer(registry.host, *push_credentials, tmp_path / "cosign")


@pytest.fixture()
def repo_name() -> str:
    return f"{DOCR_REGISTRY_NAME}/signed-{next(_count)}"


@pytest.fixture()
def bump(make_repo: Callable[..., GitopsRepo], flux_env: Callable[..., dict[str, str]],
         build_dir: Path, registry: LocalRegistry, do_api: DOApiStub, do_token: str,
         git_http: GitHttpServer) -> Callable[..., tuple[PipeRun, GitopsRepo]]:
    """``bump(repo, tag, keys=..., **variables)``: flux-bump of ``<registry>/<repo>:<tag>`` with the
    registry check and VERIFY_KEYS; the run and the GitOps repository."""
    def run(repo: str, tag: str, keys: str, **variables: str) -> tuple[PipeRun, GitopsRepo]:
        image = f"{registry.host}/{repo}"
        gitops = make_repo({"apps/web.yaml": f"image: {image}:0.9.0\n"})
        git_http.stats.reset()
        env = flux_env(gitops.http_url, IMAGE=image, TAG=tag, DIGITALOCEAN_ACCESS_TOKEN=do_token,
                       DIGITALOCEAN_API_URL=do_api.url, VERIFY_KEYS=keys, **variables)
        result = run_local("flux-bump", env, build_dir)
        if result.code != 0:  # refused: before the clone, and nothing written
            assert fail_lines(result.output) == [result.last_line()], result.output
            assert "Traceback" not in result.output
            assert not [r for r in git_http.stats.requests if gitops.name in r[1]], "cloned"
            assert gitops.updates() == []
        return result, gitops
    return run


def _written(gitops: GitopsRepo, image: str, tag: str) -> bool:
    return gitops.show("apps/web.yaml") == f"image: {image}:{tag}\n".encode()


# -- accepted -------------------------------------------------------------------------------------
def test_an_image_signed_by_cosign_is_written(bump: Callable[..., tuple[PipeRun, GitopsRepo]],
                                              signer: Signer, ours: KeyPair, repo_name: str) -> None:
    image = oci.push_image(signer.session(), signer.base, repo_name, "1.0.0")
    signer.sign(ours, repo_name, image.digest)
    run, gitops = bump(repo_name, "1.0.0", ours.pem)
    assert run.code == 0, run.output
    assert f"@{image.digest} is signed by a key of VERIFY_KEYS" in run.output
    assert _written(gitops, f"{signer.host}/{repo_name}", "1.0.0")


def test_the_second_signature_layer_counts(bump: Callable[..., tuple[PipeRun, GitopsRepo]],
                                           signer: Signer, ours: KeyPair, other: KeyPair,
                                           repo_name: str) -> None:
    """Signed first by another key, then by ours: cosign adds a layer; only the second is ours."""
    image = oci.push_image(signer.session(), signer.base, repo_name, "1.0.0")
    signer.sign(other, repo_name, image.digest)
    signer.sign(ours, repo_name, image.digest)
    layers = signer.manifest(repo_name, fmt.signature_tag(image.digest))["layers"]
    assert len(layers) == 2
    run, gitops = bump(repo_name, "1.0.0", ours.pem)
    assert run.code == 0, run.output
    assert _written(gitops, f"{signer.host}/{repo_name}", "1.0.0")


@pytest.mark.parametrize("form", ["both", "base64"])
def test_several_keys_and_the_base64_form(bump: Callable[..., tuple[PipeRun, GitopsRepo]],
                                          signer: Signer, ours: KeyPair, other: KeyPair,
                                          repo_name: str, form: str) -> None:
    image = oci.push_image(signer.session(), signer.base, repo_name, "1.0.0")
    signer.sign(ours, repo_name, image.digest)
    keys = other.pem + ours.pem
    if form == "base64":
        keys = base64.b64encode(keys.encode()).decode()
    run, _ = bump(repo_name, "1.0.0", keys)
    assert run.code == 0, run.output


def test_a_signed_index_is_written(bump: Callable[..., tuple[PipeRun, GitopsRepo]],
                                   signer: Signer, ours: KeyPair, repo_name: str) -> None:
    amd, arm = (oci.push_image(signer.session(), signer.base, repo_name, f"p{n}") for n in (1, 2))
    index = oci.push_index(signer.session(), signer.base, repo_name, "2.0.0", [
        (amd, {"os": "linux", "architecture": "amd64"}),
        (arm, {"os": "linux", "architecture": "arm64"})])
    signer.sign(ours, repo_name, index)
    run, gitops = bump(repo_name, "2.0.0", ours.pem, DIGEST=index, PIN_DIGEST="true")
    assert run.code == 0, run.output
    assert _written(gitops, f"{signer.host}/{repo_name}", f"2.0.0@{index}")


def test_a_signed_sbom_attestation_is_accepted(bump: Callable[..., tuple[PipeRun, GitopsRepo]],
                                               signer: Signer, ours: KeyPair,
                                               repo_name: str) -> None:
    image = oci.push_image(signer.session(), signer.base, repo_name, "1.0.0")
    signer.sign(ours, repo_name, image.digest)
    signer.attest(ours, repo_name, image.digest)
    run, gitops = bump(repo_name, "1.0.0", ours.pem, VERIFY_ATTESTATION="true")
    assert run.code == 0, run.output
    assert "has a signed SPDX SBOM attestation" in run.output
    assert _written(gitops, f"{signer.host}/{repo_name}", "1.0.0")


# -- refused --------------------------------------------------------------------------------------
def test_an_unsigned_image_is_refused(bump: Callable[..., tuple[PipeRun, GitopsRepo]],
                                      signer: Signer, ours: KeyPair, repo_name: str) -> None:
    image = oci.push_image(signer.session(), signer.base, repo_name, "1.0.0")
    run, _ = bump(repo_name, "1.0.0", ours.pem)
    assert run.code == 1, run.output
    assert (f"VERIFY_KEYS: {signer.host}/{repo_name}@{image.digest} is not signed"
            in run.last_line())
    assert "nothing was written" in run.last_line()


def test_a_signature_by_another_key_is_refused(bump: Callable[..., tuple[PipeRun, GitopsRepo]],
                                               signer: Signer, ours: KeyPair, other: KeyPair,
                                               repo_name: str) -> None:
    image = oci.push_image(signer.session(), signer.base, repo_name, "1.0.0")
    signer.sign(other, repo_name, image.digest)
    assert signer.verify(other, repo_name, image.digest)  # a good signature, of another key
    run, _ = bump(repo_name, "1.0.0", ours.pem)
    assert run.code == 1, run.output
    assert f"{signer.host}/{repo_name}@{image.digest} has no valid signature" in run.last_line()
    assert "no key of VERIFY_KEYS verifies" in run.last_line()


def test_a_signature_of_another_digest_is_refused(bump: Callable[..., tuple[PipeRun, GitopsRepo]],
                                                  signer: Signer, ours: KeyPair,
                                                  repo_name: str) -> None:
    """Image A's .sig copied under image B's tag: a valid signature by our key, of A."""
    a = oci.push_image(signer.session(), signer.base, repo_name, "1.0.0")
    b = oci.push_image(signer.session(), signer.base, repo_name, "1.0.1")
    signer.sign(ours, repo_name, a.digest)
    signer.put_manifest(repo_name, fmt.signature_tag(b.digest),
                        signer.manifest(repo_name, fmt.signature_tag(a.digest)))
    assert not signer.verify(ours, repo_name, b.digest)  # cosign refuses it too
    run, _ = bump(repo_name, "1.0.1", ours.pem)
    assert run.code == 1, run.output
    assert f"a signature of another digest, {a.digest} (digest mismatch" in run.last_line()


def test_a_modified_payload_is_refused(bump: Callable[..., tuple[PipeRun, GitopsRepo]],
                                       signer: Signer, ours: KeyPair, repo_name: str) -> None:
    """The payload blob changed (an annotation added to its optional part) and the manifest
    pointed at it, the signature kept."""
    image = oci.push_image(signer.session(), signer.base, repo_name, "1.0.0")
    signer.sign(ours, repo_name, image.digest)
    tag = fmt.signature_tag(image.digest)
    doc = signer.manifest(repo_name, tag)
    payload = json.loads(signer.blob(repo_name, doc["layers"][0]["digest"]))
    payload["optional"] = {"approved-by": "mallory"}
    changed = json.dumps(payload, separators=(",", ":")).encode()
    doc["layers"][0].update(digest=signer.upload(repo_name, changed), size=len(changed))
    signer.put_manifest(repo_name, tag, doc)
    assert not signer.verify(ours, repo_name, image.digest)
    run, _ = bump(repo_name, "1.0.0", ours.pem)
    assert run.code == 1, run.output
    assert "has no valid signature" in run.last_line()
    assert "tampered with" in run.last_line()


def _sig_doc(signer: Signer, repo: str, digest: str) -> dict[str, Any]:
    return signer.manifest(repo, fmt.signature_tag(digest))


@pytest.mark.parametrize("change", ["annotation-swapped", "size", "media-type"])
def test_a_modified_signature_manifest_is_refused(
        bump: Callable[..., tuple[PipeRun, GitopsRepo]], signer: Signer, ours: KeyPair,
        repo_name: str, change: str) -> None:
    a = oci.push_image(signer.session(), signer.base, repo_name, "1.0.0")
    b = oci.push_image(signer.session(), signer.base, repo_name, "1.0.1")
    signer.sign(ours, repo_name, a.digest)
    signer.sign(ours, repo_name, b.digest)
    doc = _sig_doc(signer, repo_name, a.digest)
    layer = doc["layers"][0]
    if change == "annotation-swapped":  # B's signature on A's payload
        layer["annotations"] = _sig_doc(signer, repo_name, b.digest)["layers"][0]["annotations"]
        needle = "no key of VERIFY_KEYS verifies"
    elif change == "size":
        layer["size"] += 1
        needle = "is not the one its descriptor names (modified manifest)"
    else:
        layer["mediaType"] = "application/vnd.oci.image.layer.v1.tar"
        needle = "not cosign's (modified manifest)"
    signer.put_manifest(repo_name, fmt.signature_tag(a.digest), doc)
    run, _ = bump(repo_name, "1.0.0", ours.pem)
    assert run.code == 1, run.output
    assert f"{signer.host}/{repo_name}@{a.digest} has no valid signature" in run.last_line()
    assert needle in run.last_line()


def test_a_signature_of_one_platform_does_not_sign_the_index(
        bump: Callable[..., tuple[PipeRun, GitopsRepo]], signer: Signer, ours: KeyPair,
        repo_name: str) -> None:
    amd, arm = (oci.push_image(signer.session(), signer.base, repo_name, f"p{n}") for n in (1, 2))
    index = oci.push_index(signer.session(), signer.base, repo_name, "2.0.0", [
        (amd, {"os": "linux", "architecture": "amd64"}),
        (arm, {"os": "linux", "architecture": "arm64"})])
    signer.sign(ours, repo_name, amd.digest)
    run, _ = bump(repo_name, "2.0.0", ours.pem)
    assert run.code == 1, run.output
    assert f"{signer.host}/{repo_name}@{index} is not signed" in run.last_line()


def test_a_missing_attestation_is_refused(bump: Callable[..., tuple[PipeRun, GitopsRepo]],
                                          signer: Signer, ours: KeyPair, repo_name: str) -> None:
    image = oci.push_image(signer.session(), signer.base, repo_name, "1.0.0")
    signer.sign(ours, repo_name, image.digest)
    run, _ = bump(repo_name, "1.0.0", ours.pem, VERIFY_ATTESTATION="true")
    assert run.code == 1, run.output
    assert (f"VERIFY_ATTESTATION: {signer.host}/{repo_name}@{image.digest} has no SBOM "
            "attestation") in run.last_line()


@pytest.mark.parametrize("case", ["other-key", "not-spdx"])
def test_an_attestation_not_signed_or_not_spdx_is_refused(
        bump: Callable[..., tuple[PipeRun, GitopsRepo]], signer: Signer, ours: KeyPair,
        other: KeyPair, repo_name: str, case: str) -> None:
    image = oci.push_image(signer.session(), signer.base, repo_name, "1.0.0")
    signer.sign(ours, repo_name, image.digest)
    if case == "other-key":
        signer.attest(other, repo_name, image.digest)
        needle = "no key of VERIFY_KEYS verifies"
    else:
        signer.attest(ours, repo_name, image.digest, {"buildType": "x"}, kind="custom")
        needle = "not an SPDX SBOM"
    run, _ = bump(repo_name, "1.0.0", ours.pem, VERIFY_ATTESTATION="true")
    assert run.code == 1, run.output
    assert "has no valid SPDX SBOM attestation" in run.last_line()
    assert needle in run.last_line()


def test_an_unsigned_image_among_several_writes_none(
        make_repo: Callable[..., GitopsRepo], flux_env: Callable[..., dict[str, str]],
        build_dir: Path, registry: LocalRegistry, do_api: DOApiStub, do_token: str,
        signer: Signer, ours: KeyPair, repo_name: str) -> None:
    signed = oci.push_image(signer.session(), signer.base, repo_name, "1.0.0")
    signer.sign(ours, repo_name, signed.digest)
    oci.push_image(signer.session(), signer.base, repo_name + "-api", "1.0.0")
    web, api = f"{registry.host}/{repo_name}", f"{registry.host}/{repo_name}-api"
    gitops = make_repo({"apps/web.yaml": f"image: {web}:0.9.0\n",
                        "apps/api.yaml": f"image: {api}:0.9.0\n"})
    env = flux_env(gitops.http_url, IMAGE="<unset>", TAG="<unset>",
                   IMAGES_COUNT="2", IMAGES_0=f"{web}=1.0.0", IMAGES_1=f"{api}=1.0.0",
                   DIGITALOCEAN_ACCESS_TOKEN=do_token, DIGITALOCEAN_API_URL=do_api.url,
                   VERIFY_KEYS=ours.pem)
    run = run_local("flux-bump", env, build_dir)
    assert run.code == 1, run.output
    assert f"VERIFY_KEYS: {api}@" in run.last_line() and "is not signed" in run.last_line()
    assert gitops.updates() == []


# -- OCI 1.1 referrers ------------------------------------------------------------------------------
@pytest.mark.parametrize("signed_by", ["ours", "other"])
def test_a_signature_among_the_referrers_counts(
        make_repo: Callable[..., GitopsRepo], flux_env: Callable[..., dict[str, str]],
        build_dir: Path, registry: LocalRegistry, push_credentials: tuple[str, str],
        tmp_path: Path, ours: KeyPair, other: KeyPair, repo_name: str, signed_by: str) -> None:
    """cosign writes the signature as a referrer (no .sig tag) to a registry with the referrers
    API (the bed's registry behind a front that adds it); the gate reads it there."""
    with ReferrersFront(registry.host) as front:
        signer = Signer(front.host, *push_credentials, tmp_path / "cosign")
        image = oci.push_image(signer.session(), signer.base, repo_name, "1.0.0")
        signer.sign(ours if signed_by == "ours" else other, repo_name, image.digest,
                    referrers=True)
        assert fmt.signature_tag(image.digest) not in registry.tags(repo_name)
        assert front.index[(repo_name, image.digest)]
        name = f"{front.host}/{repo_name}"
        gitops = make_repo({"apps/web.yaml": f"image: {name}:0.9.0\n"})
        user, password = push_credentials
        env = flux_env(gitops.http_url, IMAGE=name, TAG="1.0.0", REGISTRY_USERNAME=user,
                       DIGITALOCEAN_ACCESS_TOKEN=password, VERIFY_KEYS=ours.pem)
        run = run_local("flux-bump", env, build_dir)
        assert ("GET", f"/v2/{repo_name}/referrers/{image.digest}") in front.requests
    if signed_by == "ours":
        assert run.code == 0, run.output
        assert _written(gitops, name, "1.0.0")
    else:
        assert run.code == 1, run.output
        assert f"{name}@{image.digest} has no valid signature" in run.last_line()
        assert gitops.updates() == []


def test_a_signature_made_in_another_repository_is_refused(
        bump: Callable[..., tuple[PipeRun, GitopsRepo]], signer: Signer, ours: KeyPair,
        repo_name: str) -> None:
    """The same manifest in two repositories, signed in the first; its .sig copied into the
    second: a valid signature of this digest, but its docker-reference is the other repository."""
    image = oci.push_image(signer.session(), signer.base, repo_name, "1.0.0")
    signer.sign(ours, repo_name, image.digest)
    copy = repo_name + "-copy"
    for blob in image.blobs:
        signer.upload(copy, signer.blob(repo_name, blob))
    oci.tag_manifest(signer.session(), signer.base, oci.PushedImage(
        copy, "1.0.0", image.digest, image.manifest, image.media_type, image.blobs), "1.0.0")
    tag = fmt.signature_tag(image.digest)
    doc = signer.manifest(repo_name, tag)
    signer.copy_blobs(repo_name, copy, doc)
    signer.put_manifest(copy, tag, doc)
    run, _ = bump(copy, "1.0.0", ours.pem)
    assert run.code == 1, run.output
    assert (f"a signature of this digest in another repository, '{signer.host}/{repo_name}'"
            in run.last_line())


# -- promotion ------------------------------------------------------------------------------------
@pytest.fixture()
def promote(make_repo: Callable[..., GitopsRepo], flux_env: Callable[..., dict[str, str]],
            build_dir: Path, registry: LocalRegistry, do_api: DOApiStub,
            do_token: str) -> Callable[..., tuple[PipeRun, GitopsRepo]]:
    """``promote(repo, staging, keys)``: a promotion of ``<registry>/<repo>`` from the staging
    file, which runs ``staging`` (``1.0.0@sha256:…`` or a tag), to the production file (``0.9.0``),
    with the registry check and VERIFY_KEYS; the run and the GitOps repository."""
    def run(repo: str, staging: str, keys: str, **variables: str) -> tuple[PipeRun, GitopsRepo]:
        image = f"{registry.host}/{repo}"
        gitops = make_repo({"clusters/staging/web.yaml": f"image: {image}:{staging}\n",
                            "clusters/production/web.yaml": f"image: {image}:0.9.0\n"})
        env = flux_env(gitops.http_url, IMAGE=image, TAG="<unset>", MODE="promote",
                       FROM_PATHS_COUNT="1", FROM_PATHS_0="clusters/staging/**", PATHS_COUNT="1",
                       PATHS_0="clusters/production/**", DIGITALOCEAN_ACCESS_TOKEN=do_token,
                       DIGITALOCEAN_API_URL=do_api.url, VERIFY_KEYS=keys, **variables)
        result = run_local("flux-bump", env, build_dir)
        if result.code != 0:  # refused after the clone (the reference is read there), nothing written
            assert fail_lines(result.output) == [result.last_line()], result.output
            assert "Traceback" not in result.output
            assert gitops.updates() == []
        return result, gitops
    return run


def _production(gitops: GitopsRepo) -> bytes:
    return gitops.show("clusters/production/web.yaml")


@pytest.mark.parametrize("pinned", [True, False])
def test_a_promotion_of_a_signed_image_is_written(promote: Callable[..., tuple[PipeRun, GitopsRepo]],
                                                  signer: Signer, ours: KeyPair, repo_name: str,
                                                  pinned: bool) -> None:
    image = oci.push_image(signer.session(), signer.base, repo_name, "1.0.0")
    signer.sign(ours, repo_name, image.digest)
    staging = f"1.0.0@{image.digest}" if pinned else "1.0.0"
    run, gitops = promote(repo_name, staging, ours.pem)
    assert run.code == 0, run.output
    assert f"@{image.digest} is signed by a key of VERIFY_KEYS" in run.output
    assert _production(gitops) == f"image: {signer.host}/{repo_name}:{staging}\n".encode()


def test_a_promotion_of_an_unsigned_image_is_refused(
        promote: Callable[..., tuple[PipeRun, GitopsRepo]], signer: Signer, ours: KeyPair,
        repo_name: str) -> None:
    image = oci.push_image(signer.session(), signer.base, repo_name, "1.0.0")
    run, gitops = promote(repo_name, f"1.0.0@{image.digest}", ours.pem)
    assert run.code == 1, run.output
    assert (f"VERIFY_KEYS: {signer.host}/{repo_name}@{image.digest} is not signed"
            in run.last_line())
    assert _production(gitops) == f"image: {signer.host}/{repo_name}:0.9.0\n".encode()


@pytest.mark.parametrize("signed", ["deployed", "moved"])
def test_a_promotion_checks_the_digest_deployed_not_the_tag_now(
        promote: Callable[..., tuple[PipeRun, GitopsRepo]], signer: Signer, ours: KeyPair,
        repo_name: str, signed: str) -> None:
    """Staging runs 1.0.0@A; the tag 1.0.0 has moved to B since. A is what is copied, so A's
    signature is what counts: B signed and A not is refused, A signed and B not is promoted."""
    deployed = oci.push_image(signer.session(), signer.base, repo_name, "1.0.0")
    moved = oci.push_image(signer.session(), signer.base, repo_name, "1.0.0")
    assert deployed.digest != moved.digest
    signer.sign(ours, repo_name, (deployed if signed == "deployed" else moved).digest)
    run, gitops = promote(repo_name, f"1.0.0@{deployed.digest}", ours.pem)
    if signed == "deployed":
        assert run.code == 0, run.output
        assert _production(gitops) == (
            f"image: {signer.host}/{repo_name}:1.0.0@{deployed.digest}\n").encode()
    else:
        assert run.code == 1, run.output
        assert f"{signer.host}/{repo_name}@{deployed.digest} is not signed" in run.last_line()


def test_a_promotion_of_a_digest_not_in_the_registry_is_refused(
        promote: Callable[..., tuple[PipeRun, GitopsRepo]], signer: Signer, ours: KeyPair,
        repo_name: str) -> None:
    oci.push_image(signer.session(), signer.base, repo_name, "1.0.0")
    gone = "sha256:" + "ab" * 32
    run, _ = promote(repo_name, f"1.0.0@{gone}", ours.pem)
    assert run.code == 1, run.output
    assert (f"FROM_PATHS deploys {signer.host}/{repo_name}@{gone}, which is not in the registry"
            in run.last_line())
