"""Session-scoped pytest fixtures of the test bed, shared by every pipe's tests.

Loaded as a plugin from ``tests/conftest.py``.  Services start lazily, the first time a test asks
for them, and stop at the end of the session.
"""
from __future__ import annotations

import contextlib
import os
import secrets as pysecrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest

from . import base_image as base_image_mod
from . import images
from . import terraform_image as terraform_image_mod
from .bitbucket_stub import BitbucketState, BitbucketStub
from .do_stub import DOApiStub, StubState
from .docker_engine import DockerEngine
from .flaky_http import FlakyServer, Waits
from .git_http import Accounts, GitHttpServer
from .git_ssh import GitSshServer
from .pipe_host import PROXY_PORT, PipeHostAddress, agent_ssh_dir, docker_cli
from .pipes import PipeHost
from .registry import LocalRegistry
from .reports_stub import BitbucketReportsStub
from .s3 import MotoS3
from .token_registry import PULL, PULL_PUSH, Account, TokenRegistry
from .wheelhouse import WheelHouse

DOCR_REGISTRY_NAME = "acme"
SESSION_REGISTRIES: list[str] = []  # hosts of the registries this session started


def canary(prefix: str) -> str:
    """A unique fake secret; tests assert it (and its encodings) never shows up."""
    return f"{prefix}{pysecrets.token_hex(24)}"


@pytest.fixture(scope="session")
def testbed_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("testbed")


@pytest.fixture(scope="session")
def pipe_host_address() -> Iterator[str]:
    """The loopback address playing the pipe's host (``host.docker.internal``), held all session."""
    with PipeHostAddress() as lease:
        yield lease.address


@pytest.fixture(scope="session")
def docker_engine(testbed_dir: Path, pipe_host_address: str) -> Iterator[DockerEngine]:
    with DockerEngine(workdir=testbed_dir, pipe_address=pipe_host_address) as engine:
        yield engine


@pytest.fixture(scope="session")
def reports_proxy_server(pipe_host_address: str) -> Iterator[BitbucketReportsStub]:
    """The Pipelines API proxy (Code Insights reports) on the pipe host, at port 29418."""
    with BitbucketReportsStub(pipe_host_address, PROXY_PORT) as stub:
        yield stub


@pytest.fixture()
def reports_proxy(reports_proxy_server: BitbucketReportsStub) -> BitbucketReportsStub:
    """The reports proxy with no report and no request recorded yet."""
    reports_proxy_server.state.reports.clear()
    reports_proxy_server.state.requests.clear()
    return reports_proxy_server


@pytest.fixture(scope="session")
def pipe_host(pipe_host_address: str, docker_engine: DockerEngine,
              reports_proxy_server: BitbucketReportsStub, testbed_dir: Path) -> PipeHost:
    """What Bitbucket provides around a pipe (engine and reports proxy on the pipe host, the
    docker CLI, an ssh folder with no key configured): give it to ``testbed.pipes.pipe_command``."""
    return PipeHost(address=pipe_host_address, engine=docker_engine.host,
                    ssh_dir=agent_ssh_dir(testbed_dir / "agent-ssh"), docker_cli=docker_cli())


@pytest.fixture(scope="session")
def docker_client(docker_engine: DockerEngine) -> Iterator[docker.DockerClient]:
    client = docker_engine.client()
    yield client
    remove_session_images(client)
    client.close()


@pytest.fixture(scope="session")
def modern_pipe_host_address() -> Iterator[str]:
    """The pipe host of the modern lane: a loopback address of its own, where the modern engine
    listens on port 2375 (the step's Docker service, e.g. a current ``docker:dind``)."""
    with PipeHostAddress() as lease:
        yield lease.address


@pytest.fixture(scope="session")
def modern_engine(testbed_dir: Path, modern_pipe_host_address: str) -> Iterator[DockerEngine]:
    """Debian 13's engine (26.1.5, containerd image store, buildx 0.13.1): the modern lane.

    The bed starts it itself, which needs root and a writable cgroup file system: where these
    are missing (a Bitbucket step container, whose Docker service is the classic lane there) the
    modern lane's tests are skipped, saying so."""
    reason = modern_lane_unavailable()
    if reason:
        pytest.skip(f"the modern engine lane cannot run here: {reason}")
    with DockerEngine(workdir=testbed_dir, pipe_address=modern_pipe_host_address,
                      lane="modern") as engine:
        yield engine


@pytest.fixture(scope="session")
def modern_client(modern_engine: DockerEngine) -> Iterator[docker.DockerClient]:
    client = modern_engine.client()
    yield client
    remove_session_images(client)
    client.close()


def modern_lane_unavailable() -> str:
    """Why this machine cannot start the modern lane's dockerd ('' when it can)."""
    if os.geteuid() != 0:
        return "it starts its own dockerd, which needs root"
    if not os.access("/sys/fs/cgroup", os.W_OK) and not any(
            os.access(p, os.W_OK) for p in Path("/sys/fs/cgroup").glob("*") if p.is_dir()):
        return "it starts its own dockerd, which needs a writable cgroup file system"
    return ""


@dataclass(frozen=True)
class EngineLane:
    """The engine a build-push test builds on, and how its pipe is started.

    ``classic``: Debian 12's engine (20.10) at the pipe host, the docker CLI mounted as on
    Bitbucket runtime 2.  ``modern``: Debian 13's engine (26.1.5, containerd store) at a pipe host
    of its own, as the Docker service of a runtime 3 step; the pipe container still runs on the
    classic engine (the runner's), and nothing is mounted (the pipe image ships its CLI and
    buildx).  The pipe is told nothing about the lane."""

    name: str
    engine: DockerEngine
    client: docker.DockerClient   # the lane's engine (what the pipe built on)
    pipe_host: PipeHost
    base: str                     # the base image in the lane's engine


@pytest.fixture()
def engine_lane(request: pytest.FixtureRequest) -> EngineLane:
    """The lane of the test: ``classic`` unless parametrized (``indirect``) with ``modern``."""
    name = getattr(request, "param", "classic")
    if name == "classic":
        return EngineLane("classic", request.getfixturevalue("docker_engine"),
                          request.getfixturevalue("docker_client"),
                          request.getfixturevalue("pipe_host"),
                          request.getfixturevalue("base_image"))
    if name != "modern":
        raise ValueError(f"engine lane {name!r}: classic or modern")
    return EngineLane("modern", request.getfixturevalue("modern_engine"),
                      request.getfixturevalue("modern_client"),
                      request.getfixturevalue("modern_pipe_host"),
                      request.getfixturevalue("modern_base_image"))


@pytest.fixture(scope="session")
def modern_pipe_host(modern_pipe_host_address: str, modern_engine: DockerEngine,
                     docker_engine: DockerEngine, testbed_dir: Path) -> PipeHost:
    """The modern lane's pipe host: its engine at ``<address>:2375``, no CLI mounted."""
    return PipeHost(address=modern_pipe_host_address, engine=docker_engine.host,
                    ssh_dir=agent_ssh_dir(testbed_dir / "agent-ssh"), docker_cli=None)


@pytest.fixture(scope="session")
def modern_base_image(modern_client: docker.DockerClient) -> str:
    """The test bed's base image, ``docker load``-ed into the modern engine (never pulled)."""
    return base_image_mod.ensure(modern_client)


@pytest.fixture(scope="session")
def sample_wheels() -> Iterator[WheelHouse]:
    """The sample app's wheels served on loopback: give ``sample_wheels.build_arg`` to a build
    of the sample app and it installs from there, not from the package index."""
    with WheelHouse() as house:
        yield house


@pytest.fixture(scope="session")
def base_image(docker_client: docker.DockerClient) -> str:
    """The base image for pipe Dockerfiles: python:3.12-slim if present, else the local one."""
    return images.pick_base(docker_client, lambda: base_image_mod.ensure(docker_client))


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
        SESSION_REGISTRIES.append(reg.host)
        yield reg



def remove_session_images(client: docker.DockerClient) -> None:
    """Drop the images tagged for this session's registries (gone with the session) and the
    dangling ones, so an engine whose data-root is cached does not grow run after run."""
    prefixes = tuple(f"{host}/" for host in SESSION_REGISTRIES)
    for image in client.images.list():
        for ref in image.tags:
            if prefixes and ref.startswith(prefixes):
                with contextlib.suppress(docker.errors.APIError):
                    client.images.remove(ref, force=True)
    with contextlib.suppress(docker.errors.APIError):
        client.images.prune(filters={"dangling": True})


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


@pytest.fixture(scope="session")
def read_only_credentials() -> tuple[str, str]:
    """An account of the token registry that may only pull."""
    return canary("readonly-"), canary("ro-pw-")


@pytest.fixture(scope="session")
def token_registry(do_token: str, push_credentials: tuple[str, str],
                   read_only_credentials: tuple[str, str],
                   testbed_dir: Path) -> Iterator[TokenRegistry]:
    """A registry with Bearer token auth, as DOCR: the DO token (user and password), the push
    account, and a read-only account."""
    user, password = push_credentials
    ro_user, ro_password = read_only_credentials
    accounts = {do_token: Account(do_token, PULL_PUSH), user: Account(password, PULL_PUSH),
                ro_user: Account(ro_password, PULL)}
    with TokenRegistry(accounts, workdir=testbed_dir) as reg:
        SESSION_REGISTRIES.append(reg.host)
        yield reg


@pytest.fixture(scope="session")
def flaky_http_server() -> Iterator[FlakyServer]:
    with FlakyServer() as server:
        yield server


@pytest.fixture()
def flaky_http(flaky_http_server: FlakyServer) -> FlakyServer:
    """The scripted HTTP server with an empty script (every request gets 200) and no hits."""
    flaky_http_server.script()
    return flaky_http_server


@pytest.fixture()
def waits() -> Waits:
    """Pass ``waits.session()`` to a client: the waits of its retries are recorded, not slept."""
    return Waits()


# -- git servers and the Bitbucket API stub (flux-bump) ---------------------------------------

READER_TOKEN = canary("reader-canary-")  # an access token of the HTTP git server without write


@pytest.fixture(scope="session")
def git_token() -> str:
    """The canary Bitbucket access token (git over HTTPS as x-token-auth, and the REST API)."""
    return canary("bbtoken-canary-")


@pytest.fixture(scope="session")
def git_password() -> str:
    """The canary Atlassian API token of the Bitbucket user ``gituser`` (git over HTTPS with the
    username ``gituser`` or ``x-bitbucket-api-token-auth``)."""
    return canary("gitpw-canary-")


@pytest.fixture(scope="session")
def git_http(testbed_dir: Path, git_token: str, git_password: str) -> Iterator[GitHttpServer]:
    """Smart-HTTP git server taking the credentials Bitbucket documents, and only those:
    ``x-token-auth`` with the access token ``git_token`` (or the read-only ``READER_TOKEN``), and
    the API token ``git_password`` of the user ``gituser`` (as ``gituser`` or
    ``x-bitbucket-api-token-auth``)."""
    root = testbed_dir / "git-repos"
    root.mkdir(exist_ok=True)
    accounts = Accounts(access_tokens={git_token, READER_TOKEN}, api_tokens={"gituser": git_password},
                        read_only={READER_TOKEN})
    with GitHttpServer(accounts, root=root) as srv:
        yield srv


@pytest.fixture(scope="session")
def git_http_no_filter(git_http: GitHttpServer) -> Iterator[GitHttpServer]:
    """A second smart-HTTP server on the same repositories and accounts, without partial clone
    (``uploadpack.allowFilter`` false: ``--filter`` is ignored, as by servers that lack it)."""
    with GitHttpServer(git_http.accounts, root=git_http.root, partial_clone=False) as srv:
        yield srv


@pytest.fixture(scope="session")
def git_ssh(git_http: GitHttpServer, testbed_dir: Path) -> Iterator[GitSshServer]:
    """sshd on loopback serving the same repositories as ``git_http`` (by absolute path)."""
    with GitSshServer(git_http.root, workdir=testbed_dir) as srv:
        yield srv


@pytest.fixture(scope="session")
def bitbucket_api_server(git_token: str) -> Iterator[BitbucketStub]:
    with BitbucketStub(BitbucketState(tokens={git_token})) as stub:
        yield stub


@pytest.fixture()
def bitbucket_api(bitbucket_api_server: BitbucketStub) -> Iterator[BitbucketStub]:
    """The Bitbucket pull-request API stub, emptied before each test."""
    bitbucket_api_server.state.reset()
    yield bitbucket_api_server
    bitbucket_api_server.state.reset()


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
    tests that run it are skipped on a machine without it, counted loudly at the end of the run, and
    with ``CI=true`` the run fails (tests/conftest.py).
    """
    try:
        binary, version = terraform_image_mod.local_binary()
    except RuntimeError as err:
        pytest.skip(f"{terraform_image_mod.MISSING}: {err}")
    pinned = terraform_image_mod.pinned_version()
    if version != pinned:
        pytest.fail(f"terraform on PATH is {version}, the tf-apply Dockerfile pins {pinned}")
    return str(binary)


@pytest.fixture(scope="session")
def terraform_image(docker_client: docker.DockerClient, terraform_cli: str) -> str:
    """``hashicorp/terraform:<pinned>`` in the engine, seeded from the local binary if missing."""
    return terraform_image_mod.ensure(docker_client)
