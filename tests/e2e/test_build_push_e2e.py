"""The build-push image run as Bitbucket runs a pipe: docker run --network host, the build
directory mounted at the same path as the working directory, BITBUCKET_* variables, the Docker
daemon handed over through DOCKER_HOST."""
from __future__ import annotations

import json
import secrets as pysecrets
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import docker
import pytest
from testbed import leaks
from testbed.do_stub import DOApiStub
from testbed.docker_engine import DockerEngine
from testbed.fixtures import DOCR_REGISTRY_NAME
from testbed.pipes import REPO_ROOT, SHARED_STORAGE, bitbucket_env, run_container
from testbed.registry import LocalRegistry

MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


@pytest.fixture()
def build_dir(tmp_path: Path) -> Path:
    build = tmp_path / "agent" / "build"
    shutil.copytree(REPO_ROOT / "tests" / "fixtures" / "sample-app", build)
    subprocess.run(["git", "init", "-q", str(build)], check=True)
    return build


def test_push_then_skip(build_dir: Path, pipe_image: Callable[[str], str], docker_engine: DockerEngine,
                        docker_client: docker.DockerClient, registry: LocalRegistry, do_api: DOApiStub,
                        do_token: str, base_image: str, push_credentials: tuple[str, str]) -> None:
    image = pipe_image("build-push")
    commit = pysecrets.token_hex(20)
    env = bitbucket_env(build_dir, commit=commit, branch="develop")
    env.update({
        "DIGITALOCEAN_ACCESS_TOKEN": do_token, "REGISTRY_NAME": DOCR_REGISTRY_NAME, "IMAGE": "e2e-web",
        "REGISTRY_HOST": registry.host, "DIGITALOCEAN_API_URL": do_api.url,
        "BUILD_ARGS_COUNT": "2", "BUILD_ARGS_0": f"BASE_IMAGE={base_image}", "NETWORK": "host",
        "BUILD_ARGS_1": f"APP_VERSION={commit}",  # a fresh layer each run
    })
    first = run_container(image, env, build_dir, docker_engine.host, docker_engine.pipe_args())
    assert first.code == 0, first.output
    assert "✔ Pushed" in first.output
    assert registry.tags("acme/e2e-web") == sorted([f"sha-{commit[:7]}", "develop"])
    outputs = json.loads((build_dir / SHARED_STORAGE / "do-pipes" / "build-push.json").read_text())
    head = registry.get(f"/v2/acme/e2e-web/manifests/sha-{commit[:7]}", headers={"Accept": MANIFEST})
    assert outputs["digest"] == head.headers["Docker-Content-Digest"]
    assert outputs["digest"] in first.output
    config = registry.get(f"/v2/acme/e2e-web/blobs/{head.json()['config']['digest']}").json()
    assert config["config"]["Labels"]["org.opencontainers.image.revision"] == commit
    assert config["config"]["Labels"]["org.opencontainers.image.version"] == "develop"

    second = run_container(image, env, build_dir, docker_engine.host, docker_engine.pipe_args())
    assert second.code == 0, second.output
    assert "build skipped" in second.output and "Step 1/" not in second.output
    assert second.seconds < 0.5 * first.seconds, (first.seconds, second.seconds)
    for secret in (do_token, *push_credentials):
        leaks.assert_absent(secret, text=first.output + second.output, paths=[build_dir])
    # the pipe image itself holds no secret of ours and runs as its entrypoint says
    history = json.dumps(docker_client.api.history(image))
    assert leaks.found_in(history, do_token) is None


def test_bad_input_in_the_container(build_dir: Path, pipe_image: Callable[[str], str],
                                    docker_engine: DockerEngine, do_token: str) -> None:
    env = bitbucket_env(build_dir, commit=pysecrets.token_hex(20), branch="main")
    env.update({"DIGITALOCEAN_ACCESS_TOKEN": do_token, "REGISTRY_NAME": "acme"})
    run = run_container(pipe_image("build-push"), env, build_dir, docker_engine.host, docker_engine.pipe_args())
    assert run.code == 1
    assert run.last_line() == "\x1b[31m✖ IMAGE is required: use a repository name of lowercase letters, digits " \
                              "and separators (. _ - /), without registry host or tag (e.g. web)\x1b[0m"
    assert "Traceback" not in run.output
    leaks.assert_absent(do_token, text=run.output, paths=[build_dir])
