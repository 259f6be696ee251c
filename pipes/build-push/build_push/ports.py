"""The pipe's ports: what it talks to (the DigitalOcean API, the registry, the Docker engine and
a BuildKit CLI), as the small interfaces ``pipe.main`` uses, and the real ones.

The unit tests hand ``main`` fakes of these; the integration and e2e tests run the real ones."""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from pipes_common.docr import DigitalOceanClient, DockerCredentials
from pipes_common.registry import ManifestRef, RegistryClient

from . import buildkit
from .engine import DockerEngine
from .request import Auth, BuildRequest


class DigitalOcean(Protocol):
    """The DigitalOcean API calls of the DOCR pre-flight."""

    def registry(self, name: str) -> dict[str, Any] | None: ...

    def active_garbage_collection(self, name: str) -> dict[str, Any] | None: ...

    def docker_credentials(self, name: str, host: str, expiry_seconds: int,
                           read_write: bool = True) -> DockerCredentials: ...

    def subscription(self) -> dict[str, Any]: ...

    def repository_count(self, name: str) -> int: ...


class Registry(Protocol):
    """The registry calls: existence, labels and tags, all without moving a layer; and the
    small manifests and blobs of signatures."""

    def ping(self) -> None: ...

    def head_manifest(self, repo: str, ref: str) -> ManifestRef | None: ...

    def image_labels(self, repo: str, ref: str) -> dict[str, str]: ...

    def add_tag(self, repo: str, source_ref: str, tag: str) -> str: ...

    def tags(self, repo: str) -> list[str] | None: ...

    # signing (SIGNING_KEY): signatures and attestations are manifests and blobs of the repository
    def find_manifest(self, repo: str, ref: str) -> tuple[bytes, str, str] | None: ...

    def get_blob(self, repo: str, digest: str) -> bytes: ...

    def upload_blob(self, repo: str, data: bytes) -> str: ...

    def put_oci_manifest(self, repo: str, ref: str, manifest: dict[str, Any]) -> str: ...


class Engine(Protocol):
    """The Docker engine of the step: pull, build (classic, or BuildKit through ``cli``), tag, push."""

    def default_network(self) -> str | None: ...

    def pull(self, ref: str, auth: Auth | None) -> bool: ...

    def build(self, request: BuildRequest, cli: buildkit.Cli | None) -> str: ...

    def tag(self, image_id: str, repository: str, tag: str) -> None: ...

    def push(self, repository: str, tag: str, auth: Auth) -> str: ...


@dataclass(frozen=True)
class Ports:
    digitalocean: Callable[[str, str], DigitalOcean]
    registry: Callable[[str, str | None, str | None], Registry]
    engine: Callable[[], Engine]
    buildkit: Callable[[], buildkit.Probe]

    @classmethod
    def real(cls) -> Ports:
        return cls(digitalocean=DigitalOceanClient, registry=RegistryClient, engine=DockerEngine.connect,
                   buildkit=lambda: buildkit.probe(os.environ))
