"""flux-bump's signature gate (issue 23) through the pipe image, run as Bitbucket runs it: an image
signed and attested by cosign 2.5.0 is bumped with VERIFY_KEYS and VERIFY_ATTESTATION; the same
step with an unsigned tag is refused with one ✖ line and nothing pushed; a promotion likewise."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from testbed import oci
from testbed.fixtures import DOCR_REGISTRY_NAME
from testbed.git_http import GitHttpServer, create_repo, git, ref_updates
from testbed.pipes import PipeHost, PipeRun, bitbucket_env, pipe_command, run_pipe
from testbed.registry import LocalRegistry
from testbed.signed_images import Signer, key_pair


def test_the_pipe_image_bumps_only_a_signed_image(
        pipe_image: Callable[[str], str], pipe_host: PipeHost, git_http: GitHttpServer,
        registry: LocalRegistry, push_credentials: tuple[str, str], git_token: str,
        tmp_path: Path) -> None:
    pipe = f"docker://{pipe_image('flux-bump')}"
    repo_name = f"{DOCR_REGISTRY_NAME}/signed-e2e"
    image = f"{registry.host}/{repo_name}"
    signer = Signer(registry.host, *push_credentials, tmp_path / "cosign")
    keys = key_pair(tmp_path / "keys")
    signed = oci.push_image(signer.session(), signer.base, repo_name, "1.1.0")
    signer.sign(keys, repo_name, signed.digest)
    signer.attest(keys, repo_name, signed.digest)
    unsigned = oci.push_image(signer.session(), signer.base, repo_name, "1.2.0")
    gitops = create_repo(git_http.root / "acme/e2e-signed.git",
                         {"apps/web.yaml": f"image: {image}:1.0.0\n"})
    build = tmp_path / "build"
    build.mkdir()
    step = bitbucket_env(build, commit="cd" * 20, branch="main")
    user, password = push_credentials
    base = {"GITOPS_REPO": git_http.url("acme/e2e-signed.git"), "BITBUCKET_ACCESS_TOKEN": git_token,
            "IMAGE": image, "REGISTRY_USERNAME": user, "DIGITALOCEAN_ACCESS_TOKEN": password,
            "VERIFY_KEYS": keys.pem, "VERIFY_ATTESTATION": "true"}

    def run(tag: str) -> PipeRun:
        return run_pipe(pipe_command(pipe, build, step, pipe_host, variables={**base, "TAG": tag}))

    refused = run("1.2.0")
    assert refused.code == 1, refused.output
    assert [line for line in refused.output.splitlines() if "✖" in line] == [refused.last_line()]
    assert f"VERIFY_KEYS: {image}@{unsigned.digest} is not signed" in refused.last_line()
    assert ref_updates(gitops) == []

    bumped = run("1.1.0")
    assert bumped.code == 0, bumped.output
    assert f"{image}@{signed.digest} is signed by a key of VERIFY_KEYS" in bumped.output
    assert "has a signed SPDX SBOM attestation" in bumped.output
    assert git("show", "main:apps/web.yaml", cwd=gitops) == f"image: {image}:1.1.0\n"
    assert password not in refused.output + bumped.output


def test_the_pipe_image_promotes_only_a_signed_digest(
        pipe_image: Callable[[str], str], pipe_host: PipeHost, git_http: GitHttpServer,
        registry: LocalRegistry, push_credentials: tuple[str, str], git_token: str,
        tmp_path: Path) -> None:
    """MODE: promote with VERIFY_KEYS through the pipe image: staging's pinned digest unsigned is
    refused after the clone with production untouched; signed by cosign, it is promoted."""
    pipe = f"docker://{pipe_image('flux-bump')}"
    repo_name = f"{DOCR_REGISTRY_NAME}/promote-e2e"
    image = f"{registry.host}/{repo_name}"
    signer = Signer(registry.host, *push_credentials, tmp_path / "cosign")
    keys = key_pair(tmp_path / "keys")
    staged = oci.push_image(signer.session(), signer.base, repo_name, "2.0.0")
    gitops = create_repo(git_http.root / "acme/e2e-promote.git", {
        "clusters/staging/web.yaml": f"image: {image}:2.0.0@{staged.digest}\n",
        "clusters/production/web.yaml": f"image: {image}:1.0.0\n"})
    build = tmp_path / "build"
    build.mkdir()
    step = bitbucket_env(build, commit="ce" * 20, branch="main")
    user, password = push_credentials
    variables = {"GITOPS_REPO": git_http.url("acme/e2e-promote.git"),
                 "BITBUCKET_ACCESS_TOKEN": git_token, "MODE": "promote", "IMAGE": image,
                 "FROM_PATHS_COUNT": "1", "FROM_PATHS_0": "clusters/staging/**",
                 "PATHS_COUNT": "1", "PATHS_0": "clusters/production/**",
                 "REGISTRY_USERNAME": user, "DIGITALOCEAN_ACCESS_TOKEN": password,
                 "VERIFY_KEYS": keys.pem}

    def run() -> PipeRun:
        return run_pipe(pipe_command(pipe, build, step, pipe_host, variables=variables))

    refused = run()
    assert refused.code == 1, refused.output
    assert [line for line in refused.output.splitlines() if "✖" in line] == [refused.last_line()]
    assert f"VERIFY_KEYS: {image}@{staged.digest} is not signed" in refused.last_line()
    assert ref_updates(gitops) == []

    signer.sign(keys, repo_name, staged.digest)
    promoted = run()
    assert promoted.code == 0, promoted.output
    assert f"{image}@{staged.digest} is signed by a key of VERIFY_KEYS" in promoted.output
    assert (git("show", "main:clusters/production/web.yaml", cwd=gitops)
            == f"image: {image}:2.0.0@{staged.digest}\n")
    assert password not in refused.output + promoted.output
