"""What the run needs from Spaces before Terraform acts: the locking check, and the client.

The Spaces client of the modes that use one (saved plans, the reviewed plan) is made in a thread
while ``terraform init`` works, and the probe then runs in that thread on it (:class:`InProcess`).
A run that needs no client probes in the process forked with the pipe (:mod:`prober`), so that no
botocore is imported by the pipe at all.  Either way botocore's import overlaps start-up and init.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from pipes_common import log as plog
from pipes_common.errors import PipeError

from .settings import Settings

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor

    from .s3 import Spaces


WRITING = ("plan", "apply", "destroy")  # the modes whose Terraform may take the state's lock


class Answer(Protocol):
    """Where the probe's answer comes from: the forked process, or this process's thread."""

    def answer(self) -> bool: ...


def probes(s: Settings) -> bool:
    """Whether the run asks the store if it honours conditional writes: LOCKING auto asks before
    Terraform writes, and applying a saved plan always asks (its claim needs the answer)."""
    return ((s.locking == "auto" and s.mode in WRITING)
            or (s.mode == "apply" and bool(s.plan_id)))


def needs_client(s: Settings) -> bool:
    """Whether a mode talks to Spaces itself: the plan store, or (MODE apply with a Bitbucket
    token) the plan reviewed in the pull request (:mod:`reviewed`)."""
    return s.mode == "plan" or bool(s.plan_id) or (s.mode == "apply" and bool(s.bb_token))


def client(s: Settings) -> Spaces:
    from .s3 import Spaces  # botocore: only for the runs that use Spaces

    return Spaces(s)


class InProcess:
    """The probe in the pipe's own thread, on the client the mode makes anyway (a second botocore
    in the forked process would only compete with it for the CPU).  The probe object's delete
    is queued behind it in the same thread: the answer does not wait for it."""

    def __init__(self, pool: ThreadPoolExecutor, spaces: Future[Spaces], state_object: str) -> None:
        def probe_it() -> bool:
            from . import probe

            return probe.conditional_writes_work(spaces.result(), state_object, pool.submit)

        self._answer = pool.submit(probe_it)

    def answer(self) -> bool:
        return self._answer.result()


def verdict(s: Settings, prober: Answer | None) -> bool:
    """The probe's answer (True: the store honours conditional writes; False when the run does
    not probe), checked against what LOCKING asks for."""
    log = plog.get_logger()
    conditional = prober.answer() if prober is not None else False
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
