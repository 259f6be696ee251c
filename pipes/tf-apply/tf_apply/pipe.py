"""tf-apply: the pipe's story (variables -> backend and locking check -> the mode -> hand-over).

Start-up time is part of every step this pipe runs in, so nothing slow is imported before
``terraform init`` starts: the Spaces client (botocore) is imported and the locking probe run in a
thread while init works, and the saved-plan store and Code Insights only when a run needs them.
"""
from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pipes_common import log as plog
from pipes_common import reach, runner
from pipes_common.errors import PipeError
from pipes_common.fsutil import atomic_write

from . import backend, checking, locking, tfoutputs
from .run import Result, Run, publish
from .schema import RULES, SCHEMA
from .settings import Settings
from .terraform import Terraform

__all__ = ["SCHEMA", "Settings", "main"]


def main() -> int:
    values, ctx = runner.start(SCHEMA, RULES)
    s = Settings.from_values(values, ctx)
    plog.get_logger().info("MODE %s, state s3://%s/%s at %s", s.mode, s.bucket, s.state_object,
                           s.endpoint)
    # the pool outlives init: it deletes the probe object while Terraform goes on
    with tempfile.TemporaryDirectory(prefix="tf-apply-") as tmp, \
            ThreadPoolExecutor(max_workers=1) as pool:
        run = Run(s, ctx, terraform(s), Path(tmp))
        if s.mode == "validate":
            run.tf.init(None)
            return checking.run_validate(run)
        start_backend(run, pool)
        run.tf.workspace(s.workspace, create=s.mode in ("plan", "apply"))
        return mode_of(s)(run)


def terraform(s: Settings) -> Terraform:
    env = backend.terraform_env(s)
    backend.plugin_cache_dir(s).mkdir(parents=True, exist_ok=True)
    return Terraform(s.working_dir, env, s.working_dir_rel, s.lock_timeout)


def start_backend(run: Run, pool: ThreadPoolExecutor) -> None:
    """``terraform init`` with the Spaces backend, while a thread checks the locking (the probe's
    message wins when both fail: it is the more precise one)."""
    started = time.monotonic()
    # an unreachable store is one line now, not after Terraform's own retries
    reach.check(run.s.endpoint, backend.endpoint_variable(run.s))
    backend_file = atomic_write(run.work / "backend.hcl", backend.backend_config(run.s), mode=0o600)
    ready = pool.submit(locking.spaces_and_locking, run.s, pool.submit)
    try:
        run.tf.init(backend_file)
    except PipeError:
        if isinstance(ready.exception(), PipeError):
            ready.result()
        raise
    run.spaces, run.conditional_writes = ready.result()
    plog.get_logger().info("Initialised (%.1fs).", time.monotonic() - started)


def mode_of(s: Settings) -> Callable[[Run], int]:
    """What the mode runs (planning and applying import the plan store, hence botocore: only now)."""
    if s.mode == "drift":
        return checking.run_drift
    if s.mode == "output":
        return read_outputs
    if s.mode == "plan":
        from . import planning

        return planning.run_plan
    from . import applying

    return applying.run_saved if s.plan_id else applying.run_apply


def read_outputs(run: Run) -> int:
    outs = tfoutputs.split(run.tf.output_json())
    publish(run, Result(outs=outs))
    plog.success(f"{len(outs.values)} outputs read ({len(outs.sensitive)} sensitive, not shown)")
    return 0
