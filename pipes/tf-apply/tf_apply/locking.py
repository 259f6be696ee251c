"""What the run needs from Spaces before Terraform acts: the locking check, and the client.

The probe runs in its own process (:mod:`prober`), started with the pipe; the Spaces client the
modes use (saved plans, the reviewed plan) is made in a thread while ``terraform init`` works.
Neither imports botocore into the pipe's start-up.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from pipes_common import log as plog
from pipes_common.errors import PipeError

from .settings import Settings

if TYPE_CHECKING:
    from .prober import Prober
    from .s3 import Spaces


def probes(s: Settings) -> bool:
    """Whether the run asks the store if it honours conditional writes: LOCKING auto asks before
    Terraform writes, and applying a saved plan always asks (its claim needs the answer)."""
    return ((s.locking == "auto" and s.mode in ("plan", "apply", "destroy"))
            or (s.mode == "apply" and bool(s.plan_id)))


def needs_client(s: Settings) -> bool:
    """Whether a mode talks to Spaces itself: the plan store, or (MODE apply with a Bitbucket
    token) the plan reviewed in the pull request (:mod:`reviewed`)."""
    return s.mode == "plan" or bool(s.plan_id) or (s.mode == "apply" and bool(s.bb_token))


def client(s: Settings) -> Spaces:
    from .s3 import Spaces  # botocore: only for the runs that use Spaces

    return Spaces(s)


def verdict(s: Settings, prober: Prober | None) -> bool:
    """The probe's answer (True: the store honours conditional writes; False when the run does
    not probe), checked against what LOCKING asks for."""
    log = plog.get_logger()
    conditional = prober.answer() if prober is not None else False
    if s.mode not in ("plan", "apply", "destroy"):
        return conditional
    if s.locking == "auto":
        if not conditional:
            raise PipeError(
                f"LOCKING: the store at {s.endpoint} ignores conditional writes (If-None-Match), so "
                "Terraform's lock file cannot stop two runs from writing the state at once. Use a "
                "store that honours them (this probe checks it in every run), or set LOCKING: "
                "'off' only if your pipelines never run two steps on this state at once "
                "(Bitbucket deployments with concurrency control)")
        log.info("Locking probe passed: %s honours conditional writes; using Terraform's lock "
                 "file (use_lockfile).", s.endpoint)
    elif s.locking == "lockfile":
        log.info("LOCKING is lockfile: using Terraform's lock file without probing the store.")
    else:
        for _ in range(2):
            log.warning("LOCKING is off: NOTHING stops two runs from writing this state at once. "
                        "Serialise the steps yourself (deployments with concurrency control).")
    return conditional
