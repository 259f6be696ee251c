"""Re-runs after a failure (issue 12): a run fails at one of its failure points (the build, the
push of the commit tag, the write of a later tag), then "Rerun" with the same variables and no new
commit finishes the work and leaves what a clean run of that commit leaves in the registry and in
the hand-off."""
from __future__ import annotations

import secrets as pysecrets
import shutil
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from testbed.docker_engine import DockerEngine
from testbed.fixtures import SESSION_REGISTRIES
from testbed.net import free_port
from testbed.pipes import PipeRun, run_local
from testbed.registry import LocalRegistry

from ..handoff import outputs_of

Env = Callable[..., dict[str, str]]
EXTRA_TAGS = {"TAGS_COUNT": "2", "TAGS_0": "stable", "TAGS_1": "build-7"}


@pytest.fixture()
def own_registry(do_token: str, push_credentials: tuple[str, str],
                 testbed_dir: Path) -> Iterator[LocalRegistry]:
    """A registry of the test's own, which it may stop, restart read-only or break."""
    with LocalRegistry(do_token, *push_credentials, workdir=testbed_dir) as reg:
        SESSION_REGISTRIES.append(reg.host)
        yield reg


def plain_env(pipe_env: Env, reg: LocalRegistry, docker_engine: DockerEngine, commit: str,
              **variables: str) -> dict[str, str]:
    env = pipe_env(commit=commit, REGISTRY_HOST=reg.host, DOCKER_HOST=docker_engine.host,
                   **variables)
    env.pop("DIGITALOCEAN_API_URL")  # a plain registry: no DO API involved
    return env


def digests(reg: LocalRegistry, repo: str) -> dict[str, str]:
    """Every tag of ``repo`` and the digest it points at."""
    accept = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json"
    out = {}
    for tag in reg.tags(repo):
        resp = reg.get(f"/v2/{repo}/manifests/{tag}", headers={"Accept": accept})
        resp.raise_for_status()
        out[tag] = resp.headers["Docker-Content-Digest"]
    return out


def assert_failed(run: PipeRun, needle: str) -> None:
    assert run.code == 1, run.output
    assert "Traceback" not in run.output
    assert run.last_line().startswith("\x1b[31m✖ "), run.output
    assert needle in run.last_line(), run.last_line()


def assert_like_a_clean_run(reg: LocalRegistry, app_dir: Path, commit: str,
                            tags: list[str]) -> dict[str, Any]:
    """Every planned tag in the registry, all on the one digest the hand-off names, and nothing
    else; the hand-off as a clean run writes it."""
    out = outputs_of(app_dir, "build-push")
    assert out["tags"] == tags and out["tags"][0] == f"sha-{commit[:7]}", out
    assert digests(reg, "acme/web") == {tag: out["digest"] for tag in tags}
    assert out["ref"] == f"{reg.host}/acme/web@{out['digest']}"
    return out


def test_a_build_that_failed_then_a_rerun_after_the_fix(
        pipe_env: Env, app_dir: Path, own_registry: LocalRegistry,
        docker_engine: DockerEngine) -> None:
    """A RUN step needs a service that is down (a package mirror, say): the build fails and
    nothing reaches the registry; once the service is back, the re-run builds and pushes."""
    port = free_port()
    dockerfile = (app_dir / "Dockerfile").read_text()
    (app_dir / "Dockerfile").write_text(dockerfile.replace(
        "RUN python3 -m venv /app/venv",
        f"RUN bash -c 'exec 3<>/dev/tcp/127.0.0.1/{port}' && python3 -m venv /app/venv"))
    commit = pysecrets.token_hex(20)
    env = plain_env(pipe_env, own_registry, docker_engine, commit)
    failed = run_local("build-push", env, app_dir)
    assert_failed(failed, "Build failed at ")
    assert own_registry.tags("acme/web") == []

    with socket.create_server(("127.0.0.1", port)):  # the service is back
        again = run_local("build-push", env, app_dir)
    assert again.code == 0, again.output
    assert "INFO: Building " in again.output
    out = assert_like_a_clean_run(own_registry, app_dir, commit, [f"sha-{commit[:7]}", "main"])
    assert out["skipped"] is False

    # and a re-run after that success builds nothing and changes nothing
    third = run_local("build-push", env, app_dir)
    assert third.code == 0 and "build skipped" in third.output, third.output
    assert assert_like_a_clean_run(own_registry, app_dir, commit,
                                   [f"sha-{commit[:7]}", "main"])["digest"] == out["digest"]


def test_a_push_refused_then_a_rerun_pushes_everything(
        pipe_env: Env, app_dir: Path, own_registry: LocalRegistry,
        docker_engine: DockerEngine) -> None:
    """The registry refuses every write (read-only maintenance): the push of the commit tag fails
    after the build; once it takes writes again the re-run pushes every tag."""
    commit = pysecrets.token_hex(20)
    env = plain_env(pipe_env, own_registry, docker_engine, commit, **EXTRA_TAGS)
    own_registry.restart(read_only=True)
    failed = run_local("build-push", env, app_dir)
    assert_failed(failed, f"Push of {own_registry.host}/acme/web:sha-{commit[:7]} failed: ")
    assert own_registry.tags("acme/web") == []

    own_registry.restart(read_only=False)
    again = run_local("build-push", env, app_dir)
    assert again.code == 0, again.output
    out = assert_like_a_clean_run(own_registry, app_dir, commit,
                                  [f"sha-{commit[:7]}", "stable", "build-7"])
    assert out["skipped"] is False


def test_a_tag_write_that_failed_then_a_rerun_sets_the_rest_without_building(
        pipe_env: Env, app_dir: Path, own_registry: LocalRegistry,
        docker_engine: DockerEngine) -> None:
    """The registry's storage cannot write the tag ``build-7`` (a file where the folder of its
    index goes: the tag reads as absent, its write fails with a 500): the commit tag and
    ``stable`` are pushed, ``build-7`` fails; once the storage is repaired, the re-run skips the
    build and sets only the missing tag."""
    commit = pysecrets.token_hex(20)
    env = plain_env(pipe_env, own_registry, docker_engine, commit, **EXTRA_TAGS)
    tag_dir = own_registry.storage("acme/web") / "_manifests" / "tags" / "build-7"
    tag_dir.mkdir(parents=True)
    (tag_dir / "index").write_text("not a folder\n")
    failed = run_local("build-push", env, app_dir)
    assert_failed(failed, "failed writing the manifest acme/web:build-7 (500)")
    assert "the check of" not in failed.last_line(), "it fails at the write, not before"
    assert "INFO: Built sha256:" in failed.output
    shutil.rmtree(tag_dir)  # the storage is repaired
    assert own_registry.tags("acme/web") == sorted([f"sha-{commit[:7]}", "stable"])

    again = run_local("build-push", env, app_dir)
    assert again.code == 0, again.output
    assert "INFO: Building " not in again.output
    assert "build skipped, tags added: build-7." in again.output
    out = assert_like_a_clean_run(own_registry, app_dir, commit,
                                  [f"sha-{commit[:7]}", "stable", "build-7"])
    assert out["skipped"] is True
