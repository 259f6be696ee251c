"""Bad input and refused pushes: one ✖ line naming the problem and the fix, exit 1, no traceback,
and the canary token in none of its forms in the output or the files the pipe wrote."""
from __future__ import annotations

import secrets as pysecrets
from collections.abc import Callable
from pathlib import Path

import pytest
from testbed import leaks
from testbed.do_stub import DOApiStub
from testbed.docker_engine import DockerEngine
from testbed.fixtures import SESSION_REGISTRIES
from testbed.net import free_port
from testbed.pipes import PipeRun, run_local
from testbed.registry import LocalRegistry

Env = Callable[..., dict[str, str]]


def assert_fails(run: PipeRun, expected: str, token: str, build_dir: Path) -> None:
    assert run.code == 1, run.output
    last = run.last_line()
    assert last.startswith("\x1b[31m✖ "), run.output
    assert expected in last, last
    assert "Traceback" not in run.output
    leaks.assert_absent(token, text=run.output, paths=[build_dir])


def commit() -> str:
    return pysecrets.token_hex(20)


@pytest.mark.parametrize(("change", "expected"), [
    ({"IMAGE": None}, "IMAGE is required"),
    ({"DIGITALOCEAN_ACCESS_TOKEN": None}, "DIGITALOCEAN_ACCESS_TOKEN is required"),
    ({"REGISTRY_NAME": ""}, "REGISTRY_NAME is empty"),
    ({"REGISTRY_NAME": "Acme_Corp"}, "REGISTRY_NAME 'Acme_Corp' is not a registry name: use the registry's name"),
    ({"IMAGE": "Web:latest"}, "IMAGE 'Web:latest' is not an image repository name"),
    ({"BUILD_ARGS_COUNT": "2", "BUILD_ARGS_1": "NO_EQUALS_SIGN"}, "BUILD_ARGS: entry 1"),
    ({"TAGS_COUNT": "1", "TAGS_0": "bad tag!"}, "TAGS 'bad tag!' is not a valid Docker tag"),
    ({"TAGS_COUNT": "1", "TAGS_0": "x" * 129}, "TAGS_0 is longer than 128 characters"),
    ({"DOCKERFILE": "nope/Dockerfile"}, "DOCKERFILE: 'nope/Dockerfile' was not found"),
    ({"CONTEXT": "app.py"}, "CONTEXT: 'app.py' is not a directory"),
    ({"SKIP_IF_EXISTS": "sometimes"}, "SKIP_IF_EXISTS must be true or false"),
])
def test_bad_input(pipe_env: Env, app_dir: Path, do_token: str,
                   change: dict[str, str | None], expected: str) -> None:
    env = pipe_env(commit=commit())
    for key, value in change.items():
        if value is None:
            env.pop(key)
        else:
            env[key] = value
    assert_fails(run_local("build-push", env, app_dir), expected, do_token, app_dir)


def test_registry_unreachable(pipe_env: Env, app_dir: Path, do_token: str) -> None:
    env = pipe_env(commit=commit(), REGISTRY_HOST=f"127.0.0.1:{free_port()}")
    env.pop("DIGITALOCEAN_API_URL")  # a plain registry: no DO API involved
    assert_fails(run_local("build-push", env, app_dir),
                 "REGISTRY_HOST: the registry 127.0.0.1:", do_token, app_dir)


def test_wrong_token_at_the_api(pipe_env: Env, app_dir: Path, do_token: str) -> None:
    wrong = "dop_v1_wrong" + pysecrets.token_hex(20)
    env = pipe_env(commit=commit(), DIGITALOCEAN_ACCESS_TOKEN=wrong)
    run = run_local("build-push", env, app_dir)
    assert_fails(run, "DIGITALOCEAN_ACCESS_TOKEN was rejected by the DigitalOcean API (401)", wrong, app_dir)


def test_wrong_token_at_a_plain_registry(pipe_env: Env, app_dir: Path) -> None:
    wrong = "dop_v1_wrong" + pysecrets.token_hex(20)
    env = pipe_env(commit=commit(), DIGITALOCEAN_ACCESS_TOKEN=wrong)
    env.pop("DIGITALOCEAN_API_URL")
    assert_fails(run_local("build-push", env, app_dir), "rejected the credentials (401)", wrong, app_dir)


def test_unknown_registry(pipe_env: Env, app_dir: Path, do_token: str) -> None:
    env = pipe_env(commit=commit(), REGISTRY_NAME="no-such-registry")
    assert_fails(run_local("build-push", env, app_dir),
                 "REGISTRY_NAME: no registry 'no-such-registry'", do_token, app_dir)


def test_token_without_write_scope(pipe_env: Env, app_dir: Path, do_token: str, do_api: DOApiStub) -> None:
    do_api.state.read_only_tokens.add(do_token)
    assert_fails(run_local("build-push", pipe_env(commit=commit()), app_dir),
                 "can read the registry but not push", do_token, app_dir)


def test_garbage_collection_running(pipe_env: Env, app_dir: Path, do_token: str, do_api: DOApiStub) -> None:
    do_api.state.gc_status = "scanning manifests"
    assert_fails(run_local("build-push", pipe_env(commit=commit()), app_dir),
                 "is read-only while garbage collection", do_token, app_dir)


def test_repository_limit_reached(pipe_env: Env, app_dir: Path, do_token: str, do_api: DOApiStub) -> None:
    do_api.state.included_repositories = 2
    do_api.state.repositories = ["api", "worker"]
    run = run_local("build-push", pipe_env(image="brand-new", commit=commit()), app_dir)
    assert_fails(run, "already holds 2 repositories, the limit of its Basic plan (2)", do_token, app_dir)
    assert "INFO: Building " not in run.output  # it fails before spending time on the build


def test_build_failure_shows_the_step(pipe_env: Env, app_dir: Path, do_token: str,
                                      docker_engine: DockerEngine) -> None:
    (app_dir / "Dockerfile.broken").write_text(
        "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN echo 'compiling...' && echo 'error: missing thing' >&2 && exit 3\n")
    env = pipe_env(commit=commit(), DOCKERFILE="Dockerfile.broken", DOCKER_HOST=docker_engine.host)
    run = run_local("build-push", env, app_dir)
    assert_fails(run, "Build failed at [2/2] RUN echo 'compiling...'", do_token, app_dir)
    assert "error: missing thing" in run.output
    assert "exit code: 3" in run.last_line()


def test_docker_unavailable(pipe_env: Env, app_dir: Path, do_token: str) -> None:
    env = pipe_env(commit=commit(), DOCKER_HOST=f"tcp://127.0.0.1:{free_port()}", PUSH="false")
    assert_fails(run_local("build-push", env, app_dir), "Docker is not available to the pipe", do_token, app_dir)


def test_error_in_the_push_stream_fails_the_push(pipe_env: Env, app_dir: Path, do_token: str,
                                                 push_credentials: tuple[str, str],
                                                 docker_engine: DockerEngine, testbed_dir: Path) -> None:
    """The engine reports a refused upload inside the push stream (``errorDetail``), not as an API
    error: a registry in read-only maintenance mode refuses every write that way."""
    with LocalRegistry(do_token, *push_credentials, workdir=testbed_dir, read_only=True) as frozen:
        SESSION_REGISTRIES.append(frozen.host)
        sha = commit()
        env = pipe_env(commit=sha, REGISTRY_HOST=frozen.host, DOCKER_HOST=docker_engine.host)
        env.pop("DIGITALOCEAN_API_URL")
        run = run_local("build-push", env, app_dir)
        assert frozen.tags("acme/web") == []
    assert_fails(run, f"Push of {frozen.host}/acme/web:sha-{sha[:7]} failed: ", do_token, app_dir)
    assert "INFO: Built sha256:" in run.output  # the build itself went through
    assert "405" in run.last_line(), run.last_line()  # the registry's answer, as the engine relayed it
