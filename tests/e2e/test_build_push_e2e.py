"""The build-push image run exactly as Bitbucket runs a pipe (testbed.pipes.pipe_command): the
engine reached at tcp://host.docker.internal:2375 on the pipe's own host, only the pipe's variables
and the step's BITBUCKET_* variables set."""
from __future__ import annotations

import json
import secrets as pysecrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import docker
from testbed import leaks
from testbed.do_stub import DOApiStub
from testbed.fixtures import DOCR_REGISTRY_NAME
from testbed.pipes import PipeHost, bitbucket_env, pipe_command, read_handoff, run_pipe
from testbed.registry import LocalRegistry
from testbed.wheelhouse import WheelHouse

MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


def engine_work(client: docker.DockerClient, since: datetime, until: datetime) -> list[str]:
    """What the engine did between ``since`` and ``until`` besides running pipe containers: image
    events (a build tags its result) and containers not labelled as Bitbucket's own (a build runs
    each RUN step in one)."""
    seen: list[str] = []
    event: dict[str, Any]
    for event in client.events(since=since, until=until + timedelta(seconds=1), decode=True):
        if not since.timestamp() * 1e9 <= event.get("timeNano", 0) <= until.timestamp() * 1e9:
            continue
        attributes = event.get("Actor", {}).get("Attributes", {})
        if event.get("Type") == "image" or (
                event.get("Type") == "container"
                and attributes.get("org.bitbucket.pipelines.system") != "true"):
            seen.append(f"{event.get('Type')} {event.get('Action')} {attributes.get('name', '')}")
    return seen


def test_push_then_skip(build_dir: Path, pipe_image: Callable[[str], str], pipe_host: PipeHost,
                        docker_client: docker.DockerClient, registry: LocalRegistry, do_api: DOApiStub,
                        do_token: str, base_image: str, push_credentials: tuple[str, str],
                        sample_wheels: WheelHouse) -> None:
    pipe = f"docker://{pipe_image('build-push')}"
    commit = pysecrets.token_hex(20)
    step = bitbucket_env(build_dir, commit=commit, branch="develop")
    variables = {
        "DIGITALOCEAN_ACCESS_TOKEN": do_token, "REGISTRY_NAME": DOCR_REGISTRY_NAME, "IMAGE": "e2e-web",
        "REGISTRY_HOST": registry.host, "DIGITALOCEAN_API_URL": do_api.url,
        "BUILD_ARGS_COUNT": "3", "BUILD_ARGS_0": f"BASE_IMAGE={base_image}", "NETWORK": "host",
        "BUILD_ARGS_1": f"APP_VERSION={commit}",  # a fresh layer each run
        "BUILD_ARGS_2": sample_wheels.build_arg,
    }
    command = pipe_command(pipe, build_dir, step, pipe_host, variables=variables)
    since = datetime.now(UTC)
    first = run_pipe(command)
    built = engine_work(docker_client, since, datetime.now(UTC))
    assert first.code == 0, first.output
    assert any(seen.startswith("image tag ") for seen in built), built  # what a build looks like
    assert "✔ Pushed" in first.output
    assert registry.tags("acme/e2e-web") == sorted([f"sha-{commit[:7]}", "develop"])
    outputs = read_handoff(build_dir, "build-push", commit=commit)
    head = registry.get(f"/v2/acme/e2e-web/manifests/sha-{commit[:7]}", headers={"Accept": MANIFEST})
    assert outputs["digest"] == head.headers["Docker-Content-Digest"]
    assert outputs["digest"] in first.output
    config = registry.get(f"/v2/acme/e2e-web/blobs/{head.json()['config']['digest']}").json()
    assert config["config"]["Labels"]["org.opencontainers.image.revision"] == commit
    assert config["config"]["Labels"]["org.opencontainers.image.version"] == "develop"

    since = datetime.now(UTC)
    second = run_pipe(command)
    until = datetime.now(UTC)
    assert second.code == 0, second.output
    # the build was skipped: no build step ran, and the engine built nothing (it only ran the pipe)
    assert "build skipped" in second.output and "INFO: Building " not in second.output
    assert engine_work(docker_client, since, until) == []
    for secret in (do_token, *push_credentials):
        leaks.assert_absent(secret, text=first.output + second.output, paths=[build_dir])
    # the pipe image itself holds no secret of ours and runs as its entrypoint says
    history = json.dumps(docker_client.api.history(pipe.removeprefix("docker://")))
    assert leaks.found_in(history, do_token) is None


def test_bad_input_in_the_container(build_dir: Path, pipe_image: Callable[[str], str],
                                    pipe_host: PipeHost, do_token: str) -> None:
    step = bitbucket_env(build_dir, commit=pysecrets.token_hex(20), branch="main")
    variables = {"DIGITALOCEAN_ACCESS_TOKEN": do_token, "REGISTRY_NAME": "acme"}
    run = run_pipe(pipe_command(f"docker://{pipe_image('build-push')}", build_dir, step, pipe_host,
                                variables=variables))
    assert run.code == 1
    assert run.last_line() == "\x1b[31m✖ IMAGE is required: use a repository name of lowercase letters, digits " \
                              "and separators (. _ - /), without registry host or tag (e.g. web)\x1b[0m"
    assert "Traceback" not in run.output
    leaks.assert_absent(do_token, text=run.output, paths=[build_dir])
