"""Outputs of a pipe for the steps after it.

Written three ways: (a) JSON in the pipe shared storage (``BITBUCKET_PIPE_SHARED_STORAGE_DIR``), at
``do-pipes/<pipe>.json``, where the next pipes of the step read it; (b) a dotenv file in the build
directory, ``.do-pipes/<pipe>.env``, which later script lines ``source``; (c) the log.
"""
from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .bitbucket import StepContext
from .fsutil import atomic_write
from .log import get_logger

NAMESPACE = "do-pipes"


def shared_file(ctx: StepContext, pipe: str) -> Path | None:
    if ctx.shared_storage_dir is None:
        return None
    return ctx.shared_storage_dir / NAMESPACE / f"{pipe}.json"


def dotenv_file(ctx: StepContext, pipe: str) -> Path:
    return ctx.clone_dir / f".{NAMESPACE}" / f"{pipe}.env"


def _env_name(pipe: str, key: str) -> str:
    return re.sub(r"[^A-Z0-9]", "_", f"{pipe}_{key}".upper())


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return " ".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return "" if value is None else str(value)


def publish(ctx: StepContext, pipe: str, values: Mapping[str, Any]) -> list[Path]:
    """Write ``values`` to shared storage and the dotenv file, log them, return the files written."""
    log = get_logger()
    written: list[Path] = []
    shared = shared_file(ctx, pipe)
    if shared is not None:
        written.append(atomic_write(shared, json.dumps(dict(values), indent=2, sort_keys=True) + "\n"))
    lines = [f"{_env_name(pipe, k)}={shlex.quote(_text(v))}" for k, v in values.items()]
    written.append(atomic_write(dotenv_file(ctx, pipe), "\n".join(lines) + "\n"))
    for key, value in values.items():
        log.info("output %s = %s", _env_name(pipe, key), _text(value))
    return written


def read(ctx: StepContext, pipe: str) -> dict[str, Any] | None:
    """The outputs an earlier pipe of this step published, or None."""
    path = shared_file(ctx, pipe)
    if path is None or not path.is_file():
        return None
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data
