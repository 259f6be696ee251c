"""Blobs of a partial clone (``--filter=blob:none``) fetched on demand: only those the clone lacks,
all in one request, so a pipe reads the few files it needs of a large repository."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from .proc import Result


class Git(Protocol):
    """A clone's ``git`` (its environment and folder bound): ``git(*args, input=, check=)``."""

    def __call__(self, *args: str, input: str | None = None, check: bool = True) -> Result: ...


def fetch_missing(git: Git, oids: Iterable[str], *, known_new: bool = False,
                  check: bool = False) -> Result | None:
    """Fetch from ``origin`` those of ``oids`` the clone does not hold (``known_new``: all of
    them, without listing what it holds), in one request; the fetch's result (``check``: as
    ``git`` checks it; else the caller words the failure), or None when nothing was missing."""
    present: set[str] = set() if known_new else set(
        git("cat-file", "--batch-all-objects", "--batch-check=%(objectname)").stdout.split())
    missing = sorted({oid for oid in oids if oid not in present})
    if not missing:
        return None
    return git("-c", "fetch.negotiationAlgorithm=noop", "fetch", "--quiet", "--no-tags",
               "--no-write-fetch-head", "--recurse-submodules=no", "--filter=blob:none", "--stdin",
               "origin", input="\n".join(missing) + "\n", check=check)
