"""The Docker engine of the step through the docker SDK (the real :class:`ports.Engine`)."""
from __future__ import annotations

import os

import docker
from docker.errors import DockerException
from pipes_common import imageref
from pipes_common.errors import PipeError
from pipes_common.log import get_logger

from . import builder, buildkit, pusher, retries
from .request import Auth, BuildRequest


def pull_source(ref: str) -> tuple[str, str]:
    """The repository and the tag or digest the engine pulls for ``ref``: the digest when it names
    one (as Docker does for ``name:tag@digest``), else the tag, else ``latest``."""
    parsed = imageref.parse(ref)
    if parsed is None:  # not a reference: the engine says why
        return ref, "latest"
    return parsed.name, parsed.digest or parsed.tag or "latest"


class DockerEngine:
    def __init__(self, client: docker.DockerClient) -> None:
        self.client = client

    @classmethod
    def connect(cls) -> DockerEngine:
        try:
            client = docker.from_env(timeout=600)
            client.ping()
        except DockerException:
            raise PipeError("Docker is not available to the pipe: add 'services: [docker]' to the "
                            "step (or pass DOCKER_HOST / mount /var/run/docker.sock when running "
                            "the pipe with docker run)") from None
        return cls(client)

    def default_network(self) -> str | None:
        """None (the engine's default), or ``host`` when the engine has no bridge network."""
        if not self.client.networks.list(names=["bridge"]):
            get_logger().info("The Docker engine has no default bridge network; RUN steps use "
                              "the host network.")
            return "host"
        return None

    def pull(self, ref: str, auth: Auth | None) -> bool:
        """Pull ``ref`` as a build cache source; False (with one warning line) when it fails."""
        repo, tag = pull_source(ref)
        waits = list(retries.WAITS)
        while True:
            try:
                self.client.api.pull(repo, tag=tag, auth_config=auth)
                return True
            except DockerException as err:
                if retries.wait(f"the pull of {ref}", str(err), waits):
                    continue
                get_logger().warning("Cache source %s unavailable (%s); building without it.",
                                     ref, type(err).__name__)
                return False

    def build(self, request: BuildRequest, cli: buildkit.Cli | None) -> str:
        if cli is None:
            return builder.build(self.client, request)
        return buildkit.build(cli, request, os.environ)

    def tag(self, image_id: str, repository: str, tag: str) -> None:
        self.client.api.tag(image_id, repository, tag)

    def push(self, repository: str, tag: str, auth: Auth) -> str:
        return pusher.push(self.client, repository, tag, auth)
