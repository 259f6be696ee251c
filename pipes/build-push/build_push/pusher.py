"""``docker push`` through the docker SDK, reading the stream for errors (the SDK does not raise)."""
from __future__ import annotations

import re
import time
from collections.abc import Callable

import docker
from docker.errors import APIError, DockerException
from pipes_common.errors import PipeError
from pipes_common.imageref import DIGEST
from pipes_common.log import get_logger

from . import retries

DIGEST_RE = re.compile(rf"digest: ({DIGEST})")
FINAL_STATES = ("Pushed", "Layer already exists", "Mounted from")


def push(client: docker.DockerClient, repository: str, tag: str,
         auth: dict[str, str], sleep: Callable[[float], None] = time.sleep) -> str:
    """Push ``repository:tag`` and return the manifest digest the registry reported; a registry
    failing for a moment (429, 5xx, a dropped connection) gets the push again after a wait."""
    waits = list(retries.WAITS)
    while True:
        try:
            return _push(client, repository, tag, auth)
        except PipeError as err:
            if not retries.wait(f"the push of {repository}:{tag}", str(err), waits, sleep):
                raise


def _push(client: docker.DockerClient, repository: str, tag: str, auth: dict[str, str]) -> str:
    log = get_logger()
    digest: str | None = None
    seen: dict[str, str] = {}
    try:
        stream = client.api.push(repository, tag=tag, auth_config=auth, stream=True, decode=True)
        for chunk in stream:
            if "error" in chunk or "errorDetail" in chunk:
                detail = chunk.get("errorDetail") or {}
                message = str(chunk.get("error") or detail.get("message", "")).strip()
                lowered = message.lower()
                if "denied" in lowered or "unauthorized" in lowered or "forbidden" in lowered:
                    raise PipeError(f"The registry refused the push of {repository}:{tag} "
                                    f"({message}): check that DIGITALOCEAN_ACCESS_TOKEN may write "
                                    "to the registry")
                raise PipeError(f"Push of {repository}:{tag} failed: {message}")
            status = str(chunk.get("status", ""))
            layer = str(chunk.get("id", ""))
            if layer and status.startswith(FINAL_STATES) and seen.get(layer) != status:
                seen[layer] = status
                log.info("  layer %s: %s", layer, status)
            match = DIGEST_RE.search(status)
            if match:
                digest = match.group(1)
    except APIError as err:
        raise PipeError(f"Docker refused the push of {repository}:{tag}: "
                        f"{err.explanation or err}") from None
    except DockerException as err:
        raise PipeError(f"Push of {repository}:{tag} failed: {err}") from None
    if digest is None:
        raise PipeError(f"Push of {repository}:{tag} ended without a digest from the registry")
    return digest
