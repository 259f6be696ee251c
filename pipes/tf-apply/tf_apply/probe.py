"""The locking probe: does the store honour ``If-None-Match: *``, which Terraform's lock file needs?

Terraform's ``use_lockfile`` takes the lock by writing ``<state>.tflock`` only if it does not
exist.  A store that ignores the condition lets two runs both "take" the lock.  So: write a probe
object twice with ``If-None-Match: *``; the second write must be refused (412).  The claim of a
saved plan needs the same guarantee (see :mod:`planstore`), so it asks the same question.

The probe exists because nothing else answers that question for a given endpoint: DigitalOcean's
Spaces documentation (its S3 compatibility table) does not say whether ``PutObject`` honours
``If-None-Match``, and other S3-compatible stores differ.  So the pipe never assumes it of any
store, Spaces included: it asks the store in every run that relies on it.
"""
from __future__ import annotations

import secrets as pysecrets

from pipes_common.errors import PipeError
from pipes_common.log import get_logger

from .s3 import PreconditionFailed, Spaces


def probe_key(state_object: str) -> str:
    return f"{state_object}.lockprobe-{pysecrets.token_hex(8)}"


def conditional_writes_work(spaces: Spaces, state_object: str) -> bool:
    """True when the second conditional write of a fresh probe object is refused.  The probe
    object is deleted before returning (a failed delete is a warning)."""
    key = probe_key(state_object)
    # two bodies: a retried write that finds "its" object tells the two apart (:meth:`Spaces.put`)
    first, second = (f"tf-apply locking probe ({n}/2): safe to delete\n".encode() for n in (1, 2))
    try:
        spaces.put(key, first, if_none_match=True, content_type="text/plain")
    except PreconditionFailed:  # a fresh random key cannot exist: the answer is meaningless
        return False
    # a first write that failed is not cleaned up after: a store that refused it or could not
    # be reached holds nothing of ours, and no DELETE is sent for it
    try:
        try:
            spaces.put(key, second, if_none_match=True, content_type="text/plain")
        except PreconditionFailed:
            return True
        return False
    finally:
        try:
            spaces.delete(key)
        except PipeError as err:
            get_logger().warning("Could not delete the probe object %s: %s", key, err)
