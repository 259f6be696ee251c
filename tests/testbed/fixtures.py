"""Session-scoped pytest fixtures of the test bed, shared by every pipe's tests.

Loaded as a plugin from ``tests/conftest.py``.  Services start lazily, the first time a test asks
for them, and stop at the end of the session.
"""
from __future__ import annotations

import secrets as pysecrets
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest

from . import base_image as base_image_mod
from . import images
from . import terraform_image as terraform_image_mod
from .do_stub import DOApiStub, StubState
from .docker_engine import DockerEngine
from .registry import LocalRegistry
from .s3 import MotoS3

DOCR_REGISTRY_NAME = "acme"


def canary(prefix: str) -> str:
    """A unique fake secret; tests assert it (and its encodings) never shows up."""
    return f"{prefix}{pysecrets.token_hex(24)}"


@pytest.fixture(scope="session")
def testbed_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("testbed")


@pytest.fixture(scope="session")
def docker_engine(testbed_dir: Path) -> Iterator[DockerEngine]:
    with DockerEngine(workdir=testbed_dir) as engine:
        yield engine


@pytest.fixture(scope="session")
def docker_client(docker_engine: DockerEngine) -> Iterator[docker.DockerClient]:
    client = docker_engine.client()
    yield client
    client.close()


@pytest.fixture(scope="session")
def base_image(docker_client: docker.DockerClient) -> str:
    """The base image for pipe Dockerfiles: python:3.12-slim if present, else the local one."""
    return images.pick_base(docker_client, base_image_mod.ensure(docker_client))


@pytest.fixture(scope="session")
def pipe_image(docker_client: docker.DockerClient, base_image: str) -> Callable[[str], str]:
    """``pipe_image("build-push")`` builds that pipe's image once per session; returns its tag."""
    built: dict[str, str] = {}

    def build(pipe: str) -> str:
        if pipe not in built:
            built[pipe] = images.build_pipe(docker_client, pipe, base_image)
        return built[pipe]

    return build


@pytest.fixture(scope="session")
def do_token() -> str:
    """The canary DigitalOcean API token (registry password and API auth)."""
    return canary("dop_v1_canary")


@pytest.fixture(scope="session")
def push_credentials() -> tuple[str, str]:
    """The short-lived push account the DO API stub hands out."""
    return canary("shortlived-"), canary("pw-")


@pytest.fixture(scope="session")
def registry(do_token: str, push_credentials: tuple[str, str],
             testbed_dir: Path) -> Iterator[LocalRegistry]:
    user, password = push_credentials
    with LocalRegistry(do_token, user, password, workdir=testbed_dir) as reg:
        yield reg


@pytest.fixture(scope="session")
def do_api_server(registry: LocalRegistry, do_token: str,
                  push_credentials: tuple[str, str]) -> Iterator[DOApiStub]:
    state = StubState(registry_name=DOCR_REGISTRY_NAME, registry_host=registry.host,
                      tokens={do_token}, push_user=push_credentials[0],
                      push_password=push_credentials[1])
    with DOApiStub(state) as stub:
        yield stub


@pytest.fixture()
def do_api(do_api_server: DOApiStub) -> Iterator[DOApiStub]:
    """The DO API stub, reset to a healthy account before each test."""
    do_api_server.state.reset()
    yield do_api_server
    do_api_server.state.reset()


# --- tf-apply: an S3 API (moto) and the Terraform image the Dockerfile copies from ---------------

@pytest.fixture(scope="session")
def moto_s3(testbed_dir: Path) -> Iterator[MotoS3]:
    """moto's S3 server on a free loopback port (checked to honour If-None-Match)."""
    with MotoS3(workdir=testbed_dir) as server:
        yield server


@pytest.fixture(scope="session")
def terraform_cli() -> str:
    """The terraform binary on PATH, of the version the tf-apply Dockerfile pins.

    No package registry this project can use ships Terraform, so it cannot install itself: the
    tests that run it are skipped, loudly, on a machine without it.
    """
    try:
        binary, version = terraform_image_mod.local_binary()
    except RuntimeError as err:
        pytest.skip(f"{err}: the tf-apply tests need it")
    pinned = terraform_image_mod.pinned_version()
    if version != pinned:
        pytest.fail(f"terraform on PATH is {version}, the tf-apply Dockerfile pins {pinned}")
    return str(binary)


@pytest.fixture(scope="session")
def terraform_image(docker_client: docker.DockerClient, terraform_cli: str) -> str:
    """``hashicorp/terraform:<pinned>`` in the engine, seeded from the local binary if missing."""
    return terraform_image_mod.ensure(docker_client)
