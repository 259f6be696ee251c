"""Pipe images built from the repo root on the test bed's base image, once per session."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import docker
from docker.errors import BuildError, ImageNotFound

REPO_ROOT = Path(__file__).resolve().parents[2]
OFFICIAL_BASE = "python:3.12-slim"


def pick_base(client: docker.DockerClient, local_base: Callable[[], str]) -> str:
    """The official base when the engine has it (a CI with a network pulls it first), else the
    local debootstrap base, which ``local_base`` builds only then."""
    try:
        client.images.get(OFFICIAL_BASE)
        return OFFICIAL_BASE
    except ImageNotFound:
        return local_base()


def build_pipe(client: docker.DockerClient, pipe: str, base: str, tag: str | None = None,
               extra_args: dict[str, str] | None = None, root: Path = REPO_ROOT) -> str:
    """``docker build -f pipes/<pipe>/Dockerfile --build-arg BASE_IMAGE=<base> .``; return the tag.

    ``root``: the source tree to build from (the repository; a benchmark passes an export of
    another revision to compare with)."""
    name = tag or f"do-pipes/{pipe}:test"
    buildargs = {"BASE_IMAGE": base, **(extra_args or {})}
    log: list[str] = []
    try:
        for chunk in client.api.build(path=str(root), dockerfile=f"pipes/{pipe}/Dockerfile",
                                      buildargs=buildargs, tag=name, rm=True, forcerm=True,
                                      network_mode="host", decode=True):
            if "stream" in chunk:
                log.append(chunk["stream"])
            if "error" in chunk:
                raise BuildError(chunk["error"], iter([]))
    except BuildError as err:
        raise RuntimeError(f"building {pipe} failed: {err}\n{''.join(log)[-4000:]}") from None
    return name

