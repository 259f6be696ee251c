"""The locking probe: does the store honour ``If-None-Match: *``, which Terraform's lock file needs?

Terraform's ``use_lockfile`` takes the lock by writing ``<state>.tflock`` only if it does not
exist.  A store that ignores the condition lets two runs both "take" the lock.  So: write a probe
object twice with ``If-None-Match: *``; the second write must be refused (412).
"""
from __future__ import annotations

import secrets as pysecrets

from pipes_common.errors import PipeError
from pipes_common.log import get_logger

from .s3 import PreconditionFailed, Spaces


def probe_key(state_object: str) -> str:
    return f"{state_object}.lockprobe-{pysecrets.token_hex(8)}"


def conditional_writes_work(spaces: Spaces, state_object: str) -> bool:
    """True when the second conditional write of a fresh probe object is refused."""
    key = probe_key(state_object)
    body = b"tf-apply locking probe: safe to delete\n"
    try:
        try:
            spaces.put(key, body, if_none_match=True, content_type="text/plain")
        except PreconditionFailed:  # a fresh random key cannot exist: the answer is meaningless
            return False
        try:
            spaces.put(key, body, if_none_match=True, content_type="text/plain")
        except PreconditionFailed:
            return True
        return False
    finally:
        try:
            spaces.delete(key)
        except PipeError as err:
            get_logger().warning("Could not delete the probe object %s: %s", key, err)


def check(spaces: Spaces, state_object: str) -> None:
    log = get_logger()
    if conditional_writes_work(spaces, state_object):
        log.info("Locking probe passed: %s honours conditional writes; using Terraform's lock "
                 "file (use_lockfile).", spaces.endpoint)
        return
    raise PipeError(f"LOCKING: the store at {spaces.endpoint} ignores conditional writes "
                    "(If-None-Match), so Terraform's lock file cannot stop two runs from writing "
                    "the state at once. Use a store that honours them (DigitalOcean Spaces does), "
                    "or set LOCKING: 'off' only if your pipelines never run two steps on this "
                    "state at once (Bitbucket deployments with concurrency control)")
