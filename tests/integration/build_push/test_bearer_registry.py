"""build-push against a registry with Bearer token auth, as DOCR has (plain registry mode)."""
from __future__ import annotations

import secrets as pysecrets
from collections.abc import Callable
from pathlib import Path

from testbed import leaks
from testbed.pipes import run_local
from testbed.token_registry import TokenRegistry

Env = Callable[..., dict[str, str]]


def test_push_through_the_token_flow(app_dir: Path, pipe_env: Env, token_registry: TokenRegistry,
                                     do_token: str, docker_engine: object) -> None:
    commit = pysecrets.token_hex(20)
    env = pipe_env(image="bearer", commit=commit, REGISTRY_HOST=token_registry.host,
                   DOCKER_HOST=docker_engine.host)  # type: ignore[attr-defined]
    env.pop("DIGITALOCEAN_API_URL")
    run = run_local("build-push", env, app_dir)
    assert run.code == 0, run.output
    again = run_local("build-push", env, app_dir)
    assert again.code == 0 and "build skipped" in again.output, again.output
    leaks.assert_absent(do_token, text=run.output + again.output, paths=[app_dir])


def test_read_only_account_cannot_push(app_dir: Path, pipe_env: Env, token_registry: TokenRegistry,
                                       read_only_credentials: tuple[str, str], docker_engine: object) -> None:
    user, password = read_only_credentials
    env = pipe_env(image="bearer-ro", commit=pysecrets.token_hex(20), REGISTRY_HOST=token_registry.host,
                   REGISTRY_USERNAME=user, DIGITALOCEAN_ACCESS_TOKEN=password,
                   DOCKER_HOST=docker_engine.host)  # type: ignore[attr-defined]
    env.pop("DIGITALOCEAN_API_URL")
    run = run_local("build-push", env, app_dir)
    assert run.code == 1, run.output
    assert "Traceback" not in run.output
    last = run.last_line()
    assert last.startswith("\x1b[31m✖ ") and "DIGITALOCEAN_ACCESS_TOKEN" in last and "push" in last, last
    leaks.assert_absent(password, text=run.output, paths=[app_dir])
