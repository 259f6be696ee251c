"""build-push against the real engine, registry and the DO API stub (pipe run as a process)."""
from __future__ import annotations

import json
import secrets as pysecrets
from collections.abc import Callable
from pathlib import Path

import docker
from testbed import leaks
from testbed.do_stub import DOApiStub
from testbed.net import free_port
from testbed.pipes import run_local
from testbed.registry import LocalRegistry

from ..handoff import outputs_of


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
    out = outputs_of(app_dir, "build-push")
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
    leaks.assert_absent(env["DIGITALOCEAN_ACCESS_TOKEN"], text=run.output + again.output, paths=[app_dir])


def _config_and_layers(registry: LocalRegistry, repo: str, tag: str) -> tuple[dict[str, object], list[bytes]]:
    accept = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json"
    manifest = registry.get(f"/v2/{repo}/manifests/{tag}", headers={"Accept": accept}).json()
    config = registry.get(f"/v2/{repo}/blobs/{manifest['config']['digest']}").json()
    layers = [registry.get(f"/v2/{repo}/blobs/{layer['digest']}").content for layer in manifest["layers"]]
    return config, layers


def test_release_tags_labels_and_no_secret_in_image(
        app_dir: Path, pipe_env: Callable[..., dict[str, str]], registry: LocalRegistry,
        do_token: str, push_credentials: tuple[str, str], docker_engine: object) -> None:
    commit = new_commit()
    env = pipe_env(image="web-release", commit=commit, branch=None, tag="v2.3.4", DEBUG="true",
                   DOCKER_HOST=docker_engine.host,  # type: ignore[attr-defined]
                   LABELS_COUNT="2", LABELS_0="com.example.team=ads",
                   LABELS_1="org.opencontainers.image.source=https://example.com/override",
                   BUILD_ARGS_COUNT="2", BUILD_ARGS_1="APP_VERSION=2.3.4")
    run = run_local("build-push", env, app_dir)
    assert run.code == 0, run.output
    assert registry.tags("acme/web-release") == sorted([f"sha-{commit[:7]}", "2.3.4", "2.3", "2", "latest"])
    digests = {registry.get(f"/v2/acme/web-release/manifests/{t}", headers={
        "Accept": "application/vnd.docker.distribution.manifest.v2+json"}).headers["Docker-Content-Digest"]
        for t in registry.tags("acme/web-release")}
    assert len(digests) == 1  # every tag is the same manifest
    config, layers = _config_and_layers(registry, "acme/web-release", "2.3.4")
    labels = config["config"]["Labels"]  # type: ignore[index]
    assert labels["org.opencontainers.image.revision"] == commit
    assert labels["org.opencontainers.image.version"] == "2.3.4"
    assert labels["org.opencontainers.image.source"] == "https://example.com/override"
    assert labels["com.example.team"] == "ads"
    assert "APP_VERSION=2.3.4" in config["config"]["Env"]  # type: ignore[index]
    for secret in (do_token, *push_credentials):
        leaks.assert_absent(secret, text=run.output + json.dumps(config), paths=[app_dir])
        assert all(leaks.found_in(layer, secret) is None for layer in layers)
    # the push went through the short-lived account, not the long-lived API token
    assert f"auth.user.name={push_credentials[0]}" in registry.log_path.read_text()


def test_new_tag_on_existing_commit_is_added_server_side(
        app_dir: Path, pipe_env: Callable[..., dict[str, str]], registry: LocalRegistry,
        docker_engine: object) -> None:
    commit = new_commit()
    host = docker_engine.host  # type: ignore[attr-defined]
    first = run_local("build-push", pipe_env(image="web-retag", commit=commit, DOCKER_HOST=host), app_dir)
    assert first.code == 0, first.output
    env = pipe_env(image="web-retag", commit=commit, DOCKER_HOST=f"tcp://127.0.0.1:{free_port()}",
                   TAGS_COUNT="2", TAGS_0="stable", TAGS_1="1.10")
    # no Docker engine is reachable: the tags must be added through the registry API alone
    second = run_local("build-push", env, app_dir)
    assert second.code == 0, second.output
    assert "tags added: stable, 1.10" in second.output
    assert registry.tags("acme/web-retag") == sorted([f"sha-{commit[:7]}", "main", "stable", "1.10"])


def test_credentials_endpoint_down_falls_back_to_token(
        app_dir: Path, pipe_env: Callable[..., dict[str, str]], registry: LocalRegistry,
        do_api: DOApiStub, do_token: str, docker_engine: object) -> None:
    do_api.state.credentials_status = 503
    commit = new_commit()
    env = pipe_env(image="web-fallback", commit=commit,
                   DOCKER_HOST=docker_engine.host)  # type: ignore[attr-defined]
    run = run_local("build-push", env, app_dir)
    assert run.code == 0, run.output
    assert "pushing with the API token instead" in run.output
    assert f"sha-{commit[:7]}" in registry.tags("acme/web-fallback")
    leaks.assert_absent(do_token, text=run.output, paths=[app_dir])


def test_build_only(app_dir: Path, pipe_env: Callable[..., dict[str, str]], registry: LocalRegistry,
                    do_api: DOApiStub, docker_client: docker.DockerClient, docker_engine: object) -> None:
    commit = new_commit()
    env = pipe_env(image="web-local", commit=commit, PUSH="false",
                   DOCKER_HOST=docker_engine.host)  # type: ignore[attr-defined]
    run = run_local("build-push", env, app_dir)
    assert run.code == 0, run.output
    assert "not pushed: PUSH is false" in run.output
    assert registry.tags("acme/web-local") == []
    assert do_api.state.requests == []  # nothing to push: the DO API is not called
    docker_client.images.get(f"{registry.host}/acme/web-local:sha-{commit[:7]}")


def test_branch_tag_is_the_default_build_cache(
        app_dir: Path, pipe_env: Callable[..., dict[str, str]], registry: LocalRegistry,
        docker_client: docker.DockerClient, docker_engine: object) -> None:
    host = docker_engine.host  # type: ignore[attr-defined]
    first = run_local("build-push", pipe_env(image="web-cache", commit=new_commit(), branch="cache/test",
                                             DOCKER_HOST=host), app_dir)
    assert first.code == 0, first.output
    # a fresh runner: the image is not in the engine any more
    for image in docker_client.images.list(name=f"{registry.host}/acme/web-cache"):
        docker_client.images.remove(image.id, force=True)
    second = run_local("build-push", pipe_env(image="web-cache", commit=new_commit(), branch="cache/test",
                                              DOCKER_HOST=host), app_dir)
    assert second.code == 0, second.output
    assert f"Cache source {registry.host}/acme/web-cache:cache-test pulled." in second.output
    assert "latest" not in second.output.split("Cache source")[0]  # no latest tag exists: not asked for
    assert "(cached)" in second.output


def test_network_follows_the_engine(app_dir: Path, pipe_env: Callable[..., dict[str, str]],
                                    docker_client: docker.DockerClient, docker_engine: object) -> None:
    env = pipe_env(image="web-net", commit=new_commit(), PUSH="false",
                   DOCKER_HOST=docker_engine.host)  # type: ignore[attr-defined]
    env.pop("NETWORK")
    run = run_local("build-push", env, app_dir)
    assert run.code == 0, run.output
    has_bridge = bool(docker_client.networks.list(names=["bridge"]))
    assert ("has no default bridge network; RUN steps use the host network" in run.output) is not has_bridge


def test_plain_registry_never_calls_the_do_api(
        app_dir: Path, pipe_env: Callable[..., dict[str, str]], registry: LocalRegistry,
        do_api: DOApiStub, do_token: str, docker_engine: object) -> None:
    commit = new_commit()
    env = pipe_env(image="plain", commit=commit, DOCKER_HOST=docker_engine.host)  # type: ignore[attr-defined]
    env.pop("DIGITALOCEAN_API_URL")
    run = run_local("build-push", env, app_dir)
    assert run.code == 0, run.output
    assert do_api.state.requests == []
    assert f"sha-{commit[:7]}" in registry.tags("acme/plain")
    assert f"auth.user.name={do_token}" not in run.output
    leaks.assert_absent(do_token, text=run.output, paths=[app_dir])
