"""When build-push may skip a build, and which tags a new build moves (real engine and registry)."""
from __future__ import annotations

import secrets as pysecrets
from collections.abc import Callable
from pathlib import Path

from testbed.pipes import run_local
from testbed.registry import LocalRegistry

from ..handoff import outputs_of

ACCEPT = ("application/vnd.docker.distribution.manifest.v2+json, "
          "application/vnd.oci.image.manifest.v1+json")
REVISION = "org.opencontainers.image.revision"


def digest_of(registry: LocalRegistry, repo: str, tag: str) -> str:
    resp = registry.get(f"/v2/{repo}/manifests/{tag}", headers={"Accept": ACCEPT})
    return str(resp.headers["Docker-Content-Digest"])


def revision_of(registry: LocalRegistry, repo: str, tag: str) -> str | None:
    manifest = registry.get(f"/v2/{repo}/manifests/{tag}", headers={"Accept": ACCEPT}).json()
    config = registry.get(f"/v2/{repo}/blobs/{manifest['config']['digest']}").json()
    labels = config["config"].get("Labels") or {}
    return labels.get(REVISION)


def test_a_commit_tag_of_another_revision_is_built_and_pushed(
        app_dir: Path, pipe_env: Callable[..., dict[str, str]], registry: LocalRegistry,
        docker_engine: object) -> None:
    """Two commits sharing their first 7 characters share the tag sha-<7>: the second is no rerun."""
    prefix = pysecrets.token_hex(4)[:7]
    older, newer = prefix + pysecrets.token_hex(17)[:33], prefix + pysecrets.token_hex(17)[:33]
    tag, repo = f"sha-{prefix}", "acme/web-collide"
    host = docker_engine.host  # type: ignore[attr-defined]
    first = run_local("build-push", pipe_env(image="web-collide", commit=older, DOCKER_HOST=host),
                      app_dir)
    assert first.code == 0, first.output
    assert revision_of(registry, repo, tag) == older
    older_digest = digest_of(registry, repo, tag)

    second = run_local("build-push", pipe_env(image="web-collide", commit=newer, DOCKER_HOST=host),
                       app_dir)
    assert second.code == 0, second.output
    assert "build skipped" not in second.output
    warnings = [line for line in second.output.splitlines() if "WARNING" in line and tag in line]
    assert len(warnings) == 1, second.output
    assert f"{REVISION} label is {older}, not this commit {newer}" in warnings[0]
    assert "building and pushing this commit" in warnings[0]
    assert revision_of(registry, repo, tag) == newer  # the tag moved to the new build
    assert digest_of(registry, repo, tag) != older_digest
    assert outputs_of(app_dir, "build-push")["skipped"] is False

    # a rerun of the same commit is what may skip: the label now says this very commit
    third = run_local("build-push", pipe_env(image="web-collide", commit=newer, DOCKER_HOST=host),
                      app_dir)
    assert third.code == 0, third.output
    assert "build skipped" in third.output and "WARNING" not in third.output
    assert outputs_of(app_dir, "build-push")["skipped"] is True


def test_a_new_commit_moves_the_branch_tag(
        app_dir: Path, pipe_env: Callable[..., dict[str, str]], registry: LocalRegistry,
        docker_engine: object) -> None:
    """The branch tag follows the branch: each new commit's build takes it over."""
    host = docker_engine.host  # type: ignore[attr-defined]
    repo = "acme/web-branch"
    first, second = pysecrets.token_hex(20), pysecrets.token_hex(20)
    for commit in (first, second):
        run = run_local("build-push", pipe_env(image="web-branch", commit=commit, branch="main",
                                               DOCKER_HOST=host), app_dir)
        assert run.code == 0, run.output
        assert digest_of(registry, repo, "main") == digest_of(registry, repo, f"sha-{commit[:7]}")
    assert digest_of(registry, repo, f"sha-{first[:7]}") != digest_of(registry, repo, "main")
    assert revision_of(registry, repo, "main") == second
