"""tf-apply: the pipe's story (variables -> backend and locking check -> the mode -> hand-over).

The Spaces client and the locking probe work in a thread while ``terraform init`` runs
(:func:`start_backend`): Terraform takes no lock before the probe has answered.
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

from . import applying, backend, checking, locking, planning, tfoutputs
from .run import Result, Run, publish
from .schema import VARIABLES
from .settings import Settings
from .terraform import Terraform

__all__ = ["VARIABLES", "Settings", "main"]


def main() -> int:
    values, ctx = runner.start(VARIABLES)
    s = Settings.from_values(values, ctx)
    plog.get_logger().info("MODE %s, state s3://%s/%s at %s", s.mode, s.bucket, s.state_object,
                           s.endpoint)
    with tempfile.TemporaryDirectory(prefix="tf-apply-") as tmp:
        run = Run(s, ctx, terraform(s), Path(tmp))
        if s.mode == "validate":
            run.tf.init(None)
            return checking.run_validate(run)
        start_backend(run)
        run.tf.workspace(s.workspace, create=s.mode in ("plan", "apply"))
        return mode_of(s)(run)


def terraform(s: Settings) -> Terraform:
    env = backend.terraform_env(s)
    backend.refuse_links(s)
    backend.plugin_cache_dir(s).mkdir(parents=True, exist_ok=True)
    return Terraform(s.working_dir, env, s.working_dir_rel, s.lock_timeout)


def start_backend(run: Run) -> None:
    """``terraform init`` with the Spaces backend while a thread makes the Spaces client and asks
    the store whether it honours conditional writes (:func:`locking.connect`); the probe's
    message wins when init fails too: it is the more precise one."""
    s = run.s
    started = time.monotonic()
    # an unreachable store is one line now, not after Terraform's own retries
    reach.check(s.endpoint, backend.endpoint_variable(s))
    backend_file = atomic_write(run.work / "backend.hcl", backend.backend_config(s), mode=0o600)
    with ThreadPoolExecutor(max_workers=1) as pool:
        store = pool.submit(locking.connect, s) if locking.uses_spaces(s) else None
        try:
            run.tf.init(backend_file)
        except PipeError:
            if store is not None:
                store.result()
            raise
        connected = store.result() if store is not None else None
    run.conditional_writes = locking.verdict(s, connected is not None and connected.conditional)
    run.spaces = connected.spaces if connected else None
    plog.get_logger().info("Initialised (%.1fs).", time.monotonic() - started)


def mode_of(s: Settings) -> Callable[[Run], int]:
    if s.mode == "drift":
        return checking.run_drift
    if s.mode == "output":
        return read_outputs
    if s.mode == "plan":
        return planning.run_plan
    return applying.run_saved if s.plan_id else applying.run_apply


def read_outputs(run: Run) -> int:
    outs = tfoutputs.split(run.tf.output_json())
    publish(run, Result(outs=outs))
    plog.success(f"{len(outs.values)} outputs read ({len(outs.sensitive)} sensitive, not shown)")
    return 0
