"""tf-apply: the pipe's story (variables -> backend and locking check -> the mode -> hand-over),
for one root (``WORKING_DIR``, :mod:`oneroot`) or many (``WORKING_DIRS``, :mod:`many`)."""
from __future__ import annotations

import tempfile
from pathlib import Path

from pipes_common import log as plog
from pipes_common import runner

from . import many, oneroot
from .schema import VARIABLES
from .settings import Settings

__all__ = ["VARIABLES", "Settings", "main"]


def main() -> int:
    values, ctx = runner.start(VARIABLES)
    s = Settings.from_values(values, ctx)
    if s.working_dirs:
        return many.run_many(s, ctx)
    plog.get_logger().info("MODE %s, state s3://%s/%s at %s", s.mode, s.bucket, s.state_object,
                           s.endpoint)
    with tempfile.TemporaryDirectory(prefix="tf-apply-") as tmp:
        return oneroot.run_root(s, ctx, Path(tmp))
