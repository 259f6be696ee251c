"""build-push against the real engine, registry and the DO API stub (pipe run as a process)."""
from __future__ import annotations

import json
import secrets as pysecrets
from collections.abc import Callable
from pathlib import Path

import docker
from testbed.do_stub import DOApiStub
from testbed.pipes import run_local
from testbed.registry import LocalRegistry


def new_commit() -> str:
    return pysecrets.token_hex(20)


def test_first_push_then_skip(app_dir: Path, pipe_env: Callable[..., dict[str, str]],
                              registry: LocalRegistry, do_api: DOApiStub,
                              docker_engine: object, docker_client: docker.DockerClient) -> None:
    commit = new_commit()
    env = pipe_env(image="web-first", commit=commit, branch="feature/Login-42",
                   DOCKER_HOST=docker_engine.host)  # type: ignore[attr-defined]
    run = run_local("build-push", env, app_dir)
    assert run.code == 0, run.output
    assert registry.tags("acme/web-first") == sorted([f"sha-{commit[:7]}", "feature-Login-42"])
    out = json.loads((app_dir / ".bitbucket/pipelines/generated/pipeline/pipes/do-pipes/build-push.json").read_text())
    assert out["digest"].startswith("sha256:")
    assert out["tags"] == [f"sha-{commit[:7]}", "feature-Login-42"]
    dotenv = (app_dir / ".do-pipes/build-push.env").read_text()
    assert f"BUILD_PUSH_DIGEST={out['digest']}" in dotenv
    # short-lived credentials were asked for, read-write, with an expiry
    assert any("docker-credentials" in p and "read_write=true" in p and "expiry_seconds=" in p
               for _, p in do_api.state.requests)

    again = run_local("build-push", env, app_dir)
    assert again.code == 0, again.output
    assert "build skipped" in again.output
    assert "Step 1/" not in again.output
