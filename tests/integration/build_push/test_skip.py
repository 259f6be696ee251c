"""When build-push may skip a build, and which tags a new build moves (real engine and registry)."""
from __future__ import annotations

import secrets as pysecrets
from collections.abc import Callable
from pathlib import Path

from testbed import registry_log
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


INPUTS = "do-pipes.build-push.inputs"


def labels_of(registry: LocalRegistry, repo: str, tag: str) -> dict[str, str]:
    manifest = registry.get(f"/v2/{repo}/manifests/{tag}", headers={"Accept": ACCEPT}).json()
    config = registry.get(f"/v2/{repo}/blobs/{manifest['config']['digest']}").json()
    return dict(config["config"].get("Labels") or {})


def test_a_hotfix_release_moves_only_its_own_minor_and_a_rerun_is_a_no_op(
        app_dir: Path, pipe_env: Callable[..., dict[str, str]], registry: LocalRegistry,
        docker_engine: object) -> None:
    """v1.4.0, then the hotfix v1.3.5: latest and 1 stay on 1.4.0, 1.3 takes the hotfix; the
    log says which tags were not moved and why; a re-run of the hotfix step builds and moves
    nothing and hands over the same image, tags and version."""
    host = docker_engine.host  # type: ignore[attr-defined]
    repo = "acme/web-hotfix"
    current = run_local("build-push", pipe_env(image="web-hotfix", commit=pysecrets.token_hex(20),
                                               branch=None, tag="v1.4.0", DOCKER_HOST=host), app_dir)
    assert current.code == 0, current.output
    newest = digest_of(registry, repo, "1.4.0")
    hotfix_env = pipe_env(image="web-hotfix", commit=pysecrets.token_hex(20), branch=None,
                          tag="v1.3.5", DOCKER_HOST=host)
    hotfix = run_local("build-push", hotfix_env, app_dir)
    assert hotfix.code == 0, hotfix.output
    fixed = digest_of(registry, repo, "1.3.5")
    assert fixed != newest
    assert {t: digest_of(registry, repo, t) for t in ("latest", "1", "1.3", "1.4")} == {
        "latest": newest, "1": newest, "1.3": fixed, "1.4": newest}
    for tag in ("latest", "1"):
        assert f"{tag} not moved: 1.4.0 is already pushed, newer than 1.3.5" in hotfix.output
    out = outputs_of(app_dir, "build-push")
    assert out["tags"][1:] == ["1.3.5", "1.3"] and out["version"] == "1.3.5"

    start = registry_log.offset(registry.log_path)
    rerun = run_local("build-push", hotfix_env, app_dir)
    assert rerun.code == 0, rerun.output
    assert "build skipped" in rerun.output and "INFO: Building " not in rerun.output
    again = outputs_of(app_dir, "build-push")
    assert again["skipped"] is True
    assert {k: again[k] for k in ("image", "tags", "digest", "ref", "version")} == \
        {k: out[k] for k in ("image", "tags", "digest", "ref", "version")}
    seen = registry_log.requests_since(registry.log_path, registry.host, start)
    assert not [r for r in seen if r.method in ("PUT", "POST", "PATCH", "DELETE")]
    assert digest_of(registry, repo, "latest") == newest


def test_a_tag_build_with_other_build_args_does_not_skip(
        app_dir: Path, pipe_env: Callable[..., dict[str, str]], registry: LocalRegistry,
        docker_engine: object) -> None:
    """The commit built on main, then its release tag with another build argument: the release is
    built from its own inputs (not the main image re-tagged), and says so in one line."""
    host = docker_engine.host  # type: ignore[attr-defined]
    repo, commit = "acme/web-inputs", pysecrets.token_hex(20)
    main = run_local("build-push", pipe_env(image="web-inputs", commit=commit, DOCKER_HOST=host), app_dir)
    assert main.code == 0, main.output
    on_main = digest_of(registry, repo, "main")
    release = run_local("build-push", pipe_env(
        image="web-inputs", commit=commit, branch=None, tag="v2.0.0", DOCKER_HOST=host,
        BUILD_ARGS_COUNT="2", BUILD_ARGS_1="APP_ENV=production"), app_dir)
    assert release.code == 0, release.output
    assert "build skipped" not in release.output
    assert "holds this commit built from other inputs" in release.output
    assert digest_of(registry, repo, "2.0.0") != on_main
    assert digest_of(registry, repo, "main") == on_main  # the branch's image is left as it was
    assert labels_of(registry, repo, "2.0.0")[REVISION] == commit
    assert labels_of(registry, repo, "2.0.0")[INPUTS] != labels_of(registry, repo, "main")[INPUTS]
    assert outputs_of(app_dir, "build-push")["skipped"] is False
