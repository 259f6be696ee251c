"""Outputs of a pipe for what comes after it in the step.

Written three ways: (a) the typed hand-off file in the pipe's own storage folder
(``$BITBUCKET_PIPE_STORAGE_DIR/outputs.json``, see :mod:`handoff`), where the next pipes of the step
read it; (b) a dotenv file in the build directory, ``.do-pipes/<pipe>.env``, which later script
lines ``source``; (c) the log.
"""
from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

from . import contracts, handoff
from .bitbucket import StepContext
from .fsutil import atomic_write
from .log import get_logger

NAMESPACE = "do-pipes"
FOLDER = f".{NAMESPACE}"  # the pipes' outputs in the build directory: never a link (fsutil)


def dotenv_file(ctx: StepContext, pipe: str) -> Path:
    return ctx.clone_dir / FOLDER / f"{pipe}.env"


def env_name(pipe: str, key: str) -> str:
    return re.sub(r"[^A-Z0-9]", "_", f"{pipe}_{key}".upper())


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return " ".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return "" if value is None else str(value)


def publish(ctx: StepContext, outputs: contracts.Outputs, pipe_version: str) -> list[Path]:
    """Write ``outputs`` to the hand-off file and the dotenv file, log them, return the files."""
    log = get_logger()
    pipe = outputs.PIPE
    written: list[Path] = []
    own = handoff.write(ctx, outputs, pipe_version)
    if own is not None:
        written.append(own)
    else:
        log.debug("No BITBUCKET_PIPE_STORAGE_DIR (not run by Bitbucket Pipelines as a pipe): no "
                  "hand-off file for the next pipes.")
    values = outputs.values()
    lines = [f"{env_name(pipe, k)}={shlex.quote(_text(v))}" for k, v in values.items()]
    written.append(atomic_write(dotenv_file(ctx, pipe), "\n".join(lines) + "\n",
                                root=ctx.clone_dir))
    for key, value in values.items():
        log.info("output %s = %s", env_name(pipe, key), _text(value))
    return written
