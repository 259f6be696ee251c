"""tf-apply: the pipe's story (variables -> backend and locking check -> the mode -> hand-over).

Start-up time is part of every step this pipe runs in, so nothing slow is imported before
``terraform init`` starts: the locking probe runs in a process of its own forked before the pipe
imports anything (:mod:`prober`), the Spaces client of the modes that need one is made in a thread
while init works, and the saved-plan store and Code Insights are imported only when a run needs
them.
"""
from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

from pipes_common import log as plog
from pipes_common import reach, runner
from pipes_common.errors import PipeError
from pipes_common.fsutil import atomic_write

from . import backend, locking, tfoutputs
from .prober import Prober
from .run import Result, Run, publish
from .schema import VARIABLES
from .settings import Settings
from .terraform import Terraform

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor

    from .s3 import Spaces

__all__ = ["VARIABLES", "Settings", "main"]


def main(prober: Prober | None = None) -> int:
    """The pipe; ``prober`` is the probe's process when ``python -m tf_apply`` forked it first
    (else it is spawned once the run knows it needs one)."""
    with ExitStack() as stack:
        if prober is not None:
            stack.enter_context(prober)  # closed on every way out: reaped, its last lines logged
        values, ctx = runner.start(VARIABLES)
        s = Settings.from_values(values, ctx)
        own_client = locking.needs_client(s)
        forked = locking.probes(s) and not own_client  # else the probe runs on the mode's client
        if prober is not None and not forked:
            prober.close()  # stopped now: the CPU is Terraform's and the mode's own client's
        plog.get_logger().info("MODE %s, state s3://%s/%s at %s", s.mode, s.bucket, s.state_object,
                               s.endpoint)
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="tf-apply-"))
        run = Run(s, ctx, terraform(s), Path(tmp))
        if s.mode == "validate":
            from . import checking

            run.tf.init(None)
            return checking.run_validate(run)
        if forked and prober is None:
            prober = stack.enter_context(Prober.spawn())
        pool = stack.enter_context(_pool()) if own_client else None
        start_backend(run, pool, prober if forked else None)
        run.tf.workspace(s.workspace, create=s.mode in ("plan", "apply"))
        return mode_of(s)(run)


def terraform(s: Settings) -> Terraform:
    env = backend.terraform_env(s)
    backend.refuse_links(s)
    backend.plugin_cache_dir(s).mkdir(parents=True, exist_ok=True)
    return Terraform(s.working_dir, env, s.working_dir_rel, s.lock_timeout)


def _pool() -> ThreadPoolExecutor:
    """The thread that makes the Spaces client of the modes that use one (and probes on it); it
    outlives init: the probe object's delete may still be queued in it."""
    from concurrent.futures import ThreadPoolExecutor

    return ThreadPoolExecutor(max_workers=1)


def start_backend(run: Run, pool: ThreadPoolExecutor | None, prober: Prober | None) -> None:
    """``terraform init`` with the Spaces backend while the locking is checked - by ``prober``,
    or in ``pool``'s thread on the Spaces client it makes for the mode - (the probe's message
    wins when init fails too: it is the more precise one)."""
    s = run.s
    started = time.monotonic()
    # an unreachable store is one line now, not after Terraform's own retries
    reach.check(s.endpoint, backend.endpoint_variable(s))
    backend_file = atomic_write(run.work / "backend.hcl", backend.backend_config(s), mode=0o600)
    client: Future[Spaces] | None = None
    probing: locking.Answer | None = prober
    if pool is not None:
        client = pool.submit(locking.client, s)
        if locking.probes(s):
            probing = locking.InProcess(pool, client, s.state_object)
    if prober is not None:
        prober.ask(s)
    try:
        run.tf.init(backend_file)
    except PipeError:
        if probing is not None:
            probing.answer()
        raise
    run.conditional_writes = locking.verdict(s, probing)
    run.spaces = client.result() if client is not None else None
    plog.get_logger().info("Initialised (%.1fs).", time.monotonic() - started)


def mode_of(s: Settings) -> Callable[[Run], int]:
    """What the mode runs (planning and applying import the plan store, hence botocore: only now)."""
    if s.mode == "drift":
        from . import checking

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
