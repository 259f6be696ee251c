"""Something of the test bed's cache made once and reused: built in a fresh folder beside it under
an exclusive lock (test processes running at the same time wait for the first), then renamed into
place, so nobody ever sees half of it."""
from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


def made_once(target: Path, lock: str, make: Callable[[Path], Path],
              ready: Callable[[Path], bool]) -> Path:
    """``target`` when ``ready(target)``; otherwise, under the lock ``<cache>/<lock>``,
    ``make(work)`` builds it inside the new folder ``work`` and returns what becomes ``target``
    (``work`` itself or something in it).  A failed ``make`` leaves neither ``work`` nor
    ``target`` behind; a leftover ``target`` that is not ready is replaced."""
    if ready(target):
        return target
    cache = target.parent
    cache.mkdir(parents=True, exist_ok=True)
    fd = os.open(cache / lock, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        if ready(target):  # made by another process while this one waited
            return target
        work = Path(tempfile.mkdtemp(prefix=f"{target.name}-", dir=cache))
        try:
            made = make(work)
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
            os.rename(made, target)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return target
    finally:
        os.close(fd)
