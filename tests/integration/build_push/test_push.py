"""build-push against the real engine, registry and the DO API stub (pipe run as a process)."""
from __future__ import annotations

import json
import secrets as pysecrets
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import docker
from testbed import dotenv, leaks, oci, registry_log
from testbed.do_stub import DOApiStub
from testbed.net import free_port
from testbed.pipes import run_local
from testbed.registry import LocalRegistry
from testbed.token_registry import TokenRegistry

from ..handoff import outputs_of


def new_commit() -> str:
    return pysecrets.token_hex(20)


def writes(requests: list[registry_log.LoggedRequest], repo: str) -> list[str]:
    """``METHOD uri`` of every write (PUT/POST/PATCH) into ``repo``."""
    return [f"{r.method} {r.uri}" for r in requests
            if r.method in ("PUT", "POST", "PATCH") and r.uri.startswith(f"/v2/{repo}/")]


def users(requests: list[registry_log.LoggedRequest], repo: str) -> set[str]:
    """The accounts the registry logged for requests on ``repo`` (distribution names the user
    on the lines of answers that are errors, e.g. the 404 of each layer the engine checks before
    uploading it, and of the pipe's check of the commit tag)."""
    return {r.user for r in requests if r.user and r.uri.startswith(f"/v2/{repo}/")}


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
    # every variable the README documents, as a later script line gets it with `source`
    sourced = dotenv.source(app_dir / ".do-pipes/build-push.env")
    assert dotenv.documented("build-push") <= set(sourced), sourced
    image = f"{registry.host}/acme/web-first"
    assert sourced["BUILD_PUSH_DIGEST"] == out["digest"]
    assert sourced["BUILD_PUSH_REF"] == f"{image}@{out['digest']}"
    assert sourced["BUILD_PUSH_IMAGE"] == image
    assert sourced["BUILD_PUSH_TAGS"] == f"sha-{commit[:7]} feature-Login-42"
    # short-lived credentials were asked for once, read-write, for the documented 30 minutes
    asked = [parse_qs(urlsplit(p).query) for _, p in do_api.state.requests if "/docker-credentials" in p]
    assert asked == [{"read_write": ["true"], "expiry_seconds": ["1800"]}]

    start = registry_log.offset(registry.log_path)
    again = run_local("build-push", env, app_dir)
    assert again.code == 0, again.output
    assert "build skipped" in again.output
    assert "INFO: Building " not in again.output
    # the registry saw the check of the commit tag and no write at all
    seen = registry_log.requests_since(registry.log_path, registry.host, start)
    assert ("HEAD", f"/v2/acme/web-first/manifests/sha-{commit[:7]}", 200) in \
        [(r.method, r.uri, r.status) for r in seen]
    assert writes(seen, "acme/web-first") == []
    assert dotenv.source(app_dir / ".do-pipes/build-push.env")["BUILD_PUSH_DIGEST"] == out["digest"]
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
    start = registry_log.offset(registry.log_path)
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
    # the push went through the short-lived account, never through the long-lived API token
    seen = registry_log.requests_since(registry.log_path, registry.host, start)
    assert writes(seen, "acme/web-release")
    assert users(seen, "acme/web-release") == {push_credentials[0]}


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
    start = registry_log.offset(registry.log_path)
    second = run_local("build-push", pipe_env(image="web-cache", commit=new_commit(), branch="cache/test",
                                              DOCKER_HOST=host), app_dir)
    assert second.code == 0, second.output
    # Docker 20.10 (overlay2): the cache source is pulled before the build (its BuildKit keeps
    # cache records only for rebuilt layers: read from the registry, every second commit misses)
    assert "Build strategy: BuildKit, inline cache, cache sources pulled first" in second.output
    assert f"Cache source {registry.host}/acme/web-cache:cache-test pulled." in second.output
    assert "(cached)" in second.output
    seen = registry_log.requests_since(registry.log_path, registry.host, start)
    manifests = "/v2/acme/web-cache/manifests/"
    # the pipe looked both candidates up (HEAD): the branch tag exists, latest does not ...
    lookups = {(r.uri.removeprefix(manifests), r.status) for r in seen
               if r.method == "HEAD" and r.agent.startswith("do-pipes/") and r.uri.startswith(manifests)}
    assert {("cache-test", 200), ("latest", 404)} <= lookups, lookups
    # ... and the engine pulled the branch tag only (HEAD by tag, then GET by digest)
    engine = [(r.method, r.uri.removeprefix(manifests)) for r in seen
              if not r.agent.startswith("do-pipes/") and r.uri.startswith(manifests)]
    assert ("HEAD", "cache-test") in engine and any(m == "GET" for m, _ in engine), engine
    assert not [ref for _, ref in engine if ref == "latest"], engine


def test_cache_from_explicit_and_empty(
        app_dir: Path, pipe_env: Callable[..., dict[str, str]], registry: LocalRegistry,
        docker_client: docker.DockerClient, docker_engine: object) -> None:
    """CACHE_FROM given: exactly those images are pulled, no lookup of the defaults; CACHE_FROM
    empty (Bitbucket passes ``[]`` as CACHE_FROM_COUNT=0): no cache source at all."""
    host = docker_engine.host  # type: ignore[attr-defined]
    seed = run_local("build-push", pipe_env(image="web-cfrom", commit=new_commit(), branch="seed",
                                            DOCKER_HOST=host), app_dir)
    assert seed.code == 0, seed.output
    for image in docker_client.images.list(name=f"{registry.host}/acme/web-cfrom"):
        docker_client.images.remove(image.id, force=True)
    manifests = "/v2/acme/web-cfrom/manifests/"
    source = f"{registry.host}/acme/web-cfrom:seed"

    start = registry_log.offset(registry.log_path)
    explicit = run_local("build-push", pipe_env(image="web-cfrom", commit=new_commit(), branch="other",
                                                DOCKER_HOST=host, CACHE_FROM_COUNT="1",
                                                CACHE_FROM_0=source), app_dir)
    assert explicit.code == 0, explicit.output
    assert f"Cache source {source} pulled." in explicit.output
    seen = registry_log.requests_since(registry.log_path, registry.host, start)
    pipe_lookups = {r.uri.removeprefix(manifests) for r in seen
                    if r.agent.startswith("do-pipes/") and r.uri.startswith(manifests)}
    assert "latest" not in pipe_lookups, pipe_lookups  # the default sources are not looked up
    assert any(r.uri == f"{manifests}seed" and not r.agent.startswith("do-pipes/")
               for r in seen), "the engine pulled the CACHE_FROM image"

    for image in docker_client.images.list(name=f"{registry.host}/acme/web-cfrom"):
        docker_client.images.remove(image.id, force=True)
    start = registry_log.offset(registry.log_path)
    empty = run_local("build-push", pipe_env(image="web-cfrom", commit=new_commit(), branch="seed",
                                             DOCKER_HOST=host, CACHE_FROM_COUNT="0"), app_dir)
    assert empty.code == 0, empty.output
    assert "Cache source" not in empty.output  # (layers may still come from the engine's own cache)
    seen = registry_log.requests_since(registry.log_path, registry.host, start)
    # the engine pulled nothing (it only pushed: no manifest read); the pipe did not look for the
    # default cache sources (it checks the branch tag later, to point it at the new image, but
    # never latest)
    assert not [r for r in seen if r.method in ("GET", "HEAD") and r.uri.startswith(manifests)
                and not r.agent.startswith("do-pipes/")], "nothing was pulled"
    assert not [r for r in seen if r.uri == f"{manifests}latest"]


def test_cache_from_by_digest_is_pulled(
        app_dir: Path, pipe_env: Callable[..., dict[str, str]], registry: LocalRegistry,
        docker_client: docker.DockerClient, docker_engine: object) -> None:
    """A CACHE_FROM pinned by digest (``name@sha256:…``) is pulled by that digest: the reference
    is split by imageref, not at its last ':' (which cut the digest in two)."""
    host = docker_engine.host  # type: ignore[attr-defined]
    seed = run_local("build-push", pipe_env(image="web-cdigest", commit=new_commit(), branch="seed",
                                            DOCKER_HOST=host), app_dir)
    assert seed.code == 0, seed.output
    digest = outputs_of(app_dir, "build-push")["digest"]
    for image in docker_client.images.list(name=f"{registry.host}/acme/web-cdigest"):
        docker_client.images.remove(image.id, force=True)
    source = f"{registry.host}/acme/web-cdigest@{digest}"
    start = registry_log.offset(registry.log_path)
    run = run_local("build-push", pipe_env(image="web-cdigest", commit=new_commit(), branch="other",
                                           DOCKER_HOST=host, CACHE_FROM_COUNT="1",
                                           CACHE_FROM_0=source), app_dir)
    assert run.code == 0, run.output
    assert f"Cache source {source} pulled." in run.output, run.output
    seen = registry_log.requests_since(registry.log_path, registry.host, start)
    assert any(r.uri == f"/v2/acme/web-cdigest/manifests/{digest}" and not r.agent.startswith("do-pipes/")
               for r in seen), "the engine pulled the image by its digest"


def test_skip_if_exists_false_builds_and_pushes_again(
        app_dir: Path, pipe_env: Callable[..., dict[str, str]], registry: LocalRegistry,
        docker_engine: object) -> None:
    commit = new_commit()
    env = pipe_env(image="web-noskip", commit=commit, DOCKER_HOST=docker_engine.host)  # type: ignore[attr-defined]
    first = run_local("build-push", env, app_dir)
    assert first.code == 0, first.output
    start = registry_log.offset(registry.log_path)
    again = run_local("build-push", dict(env, SKIP_IF_EXISTS="false"), app_dir)
    assert again.code == 0, again.output
    assert "build skipped" not in again.output
    assert "INFO: Built sha256:" in again.output and "✔ Pushed" in again.output
    seen = registry_log.requests_since(registry.log_path, registry.host, start)
    assert ("PUT", f"/v2/acme/web-noskip/manifests/sha-{commit[:7]}") in [(r.method, r.uri) for r in seen]
    assert dotenv.source(app_dir / ".do-pipes/build-push.env")["BUILD_PUSH_DIGEST"].startswith("sha256:")


MULTI_STAGE = """ARG BASE_IMAGE
FROM ${BASE_IMAGE} AS base
ENV STAGE=base
FROM base AS runtime
ENV STAGE=runtime
LABEL com.example.stage=runtime
FROM runtime AS debug
ENV STAGE=debug
"""


def test_target_stops_at_the_stage(app_dir: Path, pipe_env: Callable[..., dict[str, str]],
                                   registry: LocalRegistry, docker_client: docker.DockerClient,
                                   docker_engine: object) -> None:
    (app_dir / "Dockerfile.stages").write_text(MULTI_STAGE)
    commit = new_commit()
    env = pipe_env(image="web-target", commit=commit, PUSH="false", DOCKERFILE="Dockerfile.stages",
                   DOCKER_HOST=docker_engine.host)  # type: ignore[attr-defined]
    run = run_local("build-push", dict(env, TARGET="runtime"), app_dir)
    assert run.code == 0, run.output
    config = docker_client.images.get(f"{registry.host}/acme/web-target:sha-{commit[:7]}").attrs["Config"]
    assert "STAGE=runtime" in config["Env"]
    assert config["Labels"]["com.example.stage"] == "runtime"
    whole = run_local("build-push", dict(env, BITBUCKET_COMMIT=new_commit()), app_dir)  # no TARGET
    assert whole.code == 0, whole.output
    image = docker_client.images.get(f"{registry.host}/acme/web-target:main")
    assert "STAGE=debug" in image.attrs["Config"]["Env"]


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
    start = registry_log.offset(registry.log_path)
    run = run_local("build-push", env, app_dir)
    assert run.code == 0, run.output
    assert do_api.state.requests == []
    assert f"sha-{commit[:7]}" in registry.tags("acme/plain")
    # no short-lived account without the DO API: the registry saw every write by the token
    seen = registry_log.requests_since(registry.log_path, registry.host, start)
    assert writes(seen, "acme/plain")
    assert users(seen, "acme/plain") == {do_token}
    leaks.assert_absent(do_token, text=run.output, paths=[app_dir])


def test_a_cache_source_that_does_not_exist_is_passed_over(
        app_dir: Path, pipe_env: Callable[..., dict[str, str]], registry: LocalRegistry,
        docker_engine: object) -> None:
    """CACHE_FROM naming an image the registry does not have: the build goes on without it.

    The source is looked up (the registry answered 404 for its manifest: whoever asked, the engine's
    pull, BuildKit's cache import or a check of the pipe's before the build) and the pipe names it
    in its output; a pipe that ignored CACHE_FROM would do neither."""
    missing = f"{registry.host}/acme/web-nocache:no-such-tag"
    start = registry_log.offset(registry.log_path)
    env = pipe_env(image="web-nocache", commit=new_commit(), CACHE_FROM_COUNT="1", CACHE_FROM_0=missing,
                   DOCKER_HOST=docker_engine.host)  # type: ignore[attr-defined]
    run = run_local("build-push", env, app_dir)
    assert run.code == 0, run.output
    assert "✔ Pushed" in run.output
    seen = registry_log.requests_since(registry.log_path, registry.host, start)
    lookups = [(r.method, r.status) for r in seen if r.uri == "/v2/acme/web-nocache/manifests/no-such-tag"]
    assert lookups and all(status == 404 for _, status in lookups), lookups
    assert [line for line in run.output.splitlines() if missing in line], run.output


def test_classic_cache_from_on_another_registry_gets_no_credentials(
        app_dir: Path, pipe_env: Callable[..., dict[str, str]], registry: LocalRegistry,
        token_registry: TokenRegistry, do_api: DOApiStub, do_token: str,
        docker_engine: object) -> None:
    """The classic builder had the engine pull a CACHE_FROM on any host with the push
    credentials, the API token itself when short-lived credentials failed (issue 20).  Two
    loopback registries: the pipe pushes to one; a CACHE_FROM on the other, where the token is an
    account, is pulled anonymously (refused there, so the build goes on without it)."""
    do_api.state.credentials_status = 503  # the fallback: the API token is the password
    repo = f"acme/other-{pysecrets.token_hex(3)}"
    oci.push_image(token_registry.session(do_token, do_token, repo), f"http://{token_registry.host}",
                   repo, "seed")
    source = f"{token_registry.host}/{repo}:seed"
    start = len(token_registry.requests)
    env = pipe_env(image="web-foreign-cache", commit=new_commit(), BUILDER="classic",
                   DOCKER_HOST=docker_engine.host,  # type: ignore[attr-defined]
                   CACHE_FROM_COUNT="1", CACHE_FROM_0=source)
    run = run_local("build-push", env, app_dir)
    assert run.code == 0, run.output
    assert f"Cache source {source} unavailable" in run.output
    asked = token_registry.requests[start:]
    assert asked and all(r.user is None for r in asked), asked  # the engine did try, without
    assert registry.tags("acme/web-foreign-cache")  # pushed to its own registry, with them
