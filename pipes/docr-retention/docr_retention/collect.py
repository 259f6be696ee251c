"""Garbage collection after the deletions: started once (unless one runs), awaited for a bounded
time, its freed bytes reported."""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from pipes_common.docr import GC_ACTIVE, DigitalOceanClient, DOApiError

KIND = "untagged manifests and unreferenced blobs"  # doctl's --include-untagged-manifests
POLL = 15.0  # seconds between two looks at a running garbage collection
Sleep = Callable[[float], None]


@dataclass(frozen=True)
class Outcome:
    uuid: str
    status: str
    freed_bytes: int | None   # None while it runs
    started_here: bool

    @property
    def running(self) -> bool:
        return self.status in GC_ACTIVE


def run(client: DigitalOceanClient, registry: str, wait: timedelta, sleep: Sleep | None = None) -> Outcome:
    """Start a garbage collection (or join the one that runs) and wait up to ``wait`` for its end."""
    active = client.active_garbage_collection(registry)
    started = active is None
    if active is None:
        try:
            active = client.start_garbage_collection(registry, KIND)
        except DOApiError as err:
            if err.status not in (409, 412):
                raise
            active = client.active_garbage_collection(registry)  # one started meanwhile
            started = False
            if active is None:
                raise
    uuid = str(active.get("uuid") or "")
    waited = 0.0
    current = active
    while True:
        found = next((gc for gc in client.garbage_collections(registry) if gc.get("uuid") == uuid), None)
        current = found or current
        status = str(current.get("status") or "")
        if status not in GC_ACTIVE:
            return Outcome(uuid, status, int(current.get("freed_bytes") or 0), started)
        if waited >= wait.total_seconds():
            return Outcome(uuid, status, None, started)
        step = min(POLL, wait.total_seconds() - waited)
        (sleep or time.sleep)(step)
        waited += step
