"""What the run needs from Spaces before Terraform acts: the Spaces client and the locking check.

:func:`connect` makes the client and, when the run relies on the store's conditional writes, asks
the store whether it honours them (:mod:`probe`); the pipe runs it in a thread while ``terraform
init`` works, and :func:`verdict` judges the answer before Terraform can take the state's lock.
"""
from __future__ import annotations

from dataclasses import dataclass

from pipes_common import log as plog
from pipes_common.errors import PipeError

from . import probe
from .s3 import Spaces
from .settings import Settings

WRITING = ("plan", "apply", "destroy")  # the modes whose Terraform may take the state's lock


def probes(s: Settings) -> bool:
    """Whether the run asks the store if it honours conditional writes: LOCKING auto asks before
    Terraform writes, and applying a saved plan always asks (its claim needs the answer)."""
    return ((s.locking == "auto" and s.mode in WRITING)
            or (s.mode == "apply" and bool(s.plan_id)))


def needs_client(s: Settings) -> bool:
    """Whether a mode talks to Spaces itself: the plan store, or (MODE apply with a Bitbucket
    token) the plan reviewed in the pull request (:mod:`reviewed`)."""
    return s.mode == "plan" or bool(s.plan_id) or (s.mode == "apply" and bool(s.bb_token))


def uses_spaces(s: Settings) -> bool:
    """Whether the run makes a Spaces client of its own (for its mode or for the probe)."""
    return probes(s) or needs_client(s)


@dataclass(frozen=True)
class Connected:
    spaces: Spaces
    conditional: bool  # the probe ran and the store honours conditional writes


def connect(s: Settings) -> Connected:
    """The Spaces client, and the probe's answer when the run asks (:func:`probes`)."""
    spaces = Spaces(s)
    return Connected(spaces, probes(s) and probe.conditional_writes_work(spaces, s.state_object))


def verdict(s: Settings, conditional: bool) -> bool:
    """The probe's answer (True: the store honours conditional writes; False when the run did
    not probe), checked against what LOCKING asks for."""
    log = plog.get_logger()
    if s.mode not in WRITING:
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
