"""One root's run: the terraform CLI for it, the Spaces backend started while the store is
probed, then the mode.  The pipe runs it once for ``WORKING_DIR``, and :mod:`many` once per root
of ``WORKING_DIRS``.

The Spaces client and the locking probe work in a thread while ``terraform init`` runs
(:func:`start_backend`): Terraform takes no lock before the probe has answered.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from pipes_common import log as plog
from pipes_common import reach
from pipes_common.bitbucket import StepContext
from pipes_common.errors import PipeError
from pipes_common.fsutil import atomic_write

from . import applying, backend, checking, locking, planning, tfoutputs
from .run import Result, Run, Sink, publish
from .settings import Settings
from .terraform import Terraform


def run_root(s: Settings, ctx: StepContext, work: Path, sink: Sink | None = None,
             init_lock: AbstractContextManager[Any] | None = None,
             data_dir: Path | None = None) -> int:
    """Run the mode on the root of ``s`` (``work``: a private folder; ``data_dir``: Terraform's
    own, ``TF_DATA_DIR``, when not the root's ``.terraform``)."""
    run = Run(s, ctx, terraform(s, init_lock, data_dir), work, sink=sink)
    if s.mode == "validate":
        run.tf.init(None)
        return checking.run_validate(run)
    start_backend(run)
    run.tf.workspace(s.workspace, create=s.mode in ("plan", "apply"))
    return mode_of(s)(run)


def terraform(s: Settings, init_lock: AbstractContextManager[Any] | None = None,
              data_dir: Path | None = None) -> Terraform:
    env = backend.terraform_env(s)
    if data_dir is not None:
        env["TF_DATA_DIR"] = str(data_dir)
    backend.refuse_links(s)
    backend.plugin_cache_dir(s).mkdir(parents=True, exist_ok=True)
    return Terraform(s.working_dir, env, s.working_dir_rel, s.lock_timeout, init_lock=init_lock)


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
