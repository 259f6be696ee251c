"""``docker build`` through the docker SDK (classic builder), with a condensed log."""
from __future__ import annotations

import re
from collections import deque
from typing import Any

import docker
from docker.errors import APIError, DockerException
from pipes_common.errors import PipeError
from pipes_common.log import get_logger

from .request import BuildRequest

STEP_RE = re.compile(r"^Step (\d+)/(\d+) : (.*)$")


def build(client: docker.DockerClient, req: BuildRequest) -> str:
    """Build ``req`` and return the image id; a failure raises naming the failing step."""
    log = get_logger()
    step = "before the first step"
    step_output: deque[str] = deque(maxlen=40)
    image_id: str | None = None
    kwargs: dict[str, Any] = {
        "path": str(req.context), "dockerfile": str(req.dockerfile), "tag": req.tag,
        "buildargs": req.build_args or None, "labels": req.labels or None, "target": req.target,
        "cache_from": req.cache_from or None, "network_mode": req.network, "rm": True,
        "forcerm": True, "decode": True,
    }
    try:
        for chunk in client.api.build(**kwargs):
            if "stream" in chunk:
                for line in str(chunk["stream"]).splitlines():
                    line = line.rstrip()
                    if not line:
                        continue
                    match = STEP_RE.match(line)
                    if match:
                        step = line
                        step_output.clear()
                        log.info("%s", line)
                    elif line.startswith(" ---> Using cache"):
                        log.info("  (cached)")
                    else:
                        step_output.append(line)
                        log.debug("  %s", line)
            if "aux" in chunk and isinstance(chunk["aux"], dict) and "ID" in chunk["aux"]:
                image_id = str(chunk["aux"]["ID"])
            if "error" in chunk or "errorDetail" in chunk:
                message = str(chunk.get("error") or chunk["errorDetail"].get("message", "")).strip()
                log.error("Build failed at %s", step)
                for line in step_output:
                    log.error("  %s", line)
                raise PipeError(f"Build failed at {step}: {message}. Fix the Dockerfile or the "
                                "build context and run again")
    except APIError as err:
        raise PipeError(f"Docker refused the build: {err.explanation or err}") from None
    except DockerException as err:
        raise PipeError(f"Docker build error: {err}") from None
    if image_id is None:
        image_id = client.images.get(req.tag).id
    return image_id
