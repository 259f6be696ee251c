"""What a registry failing for a moment looks like, and how long to wait before trying again.

429 (too many requests), 5xx and dropped connections are worth another try of a pull, a push or
a cache export; anything else (denied, unknown, a bad Dockerfile) is not."""
from __future__ import annotations

import re
import time
from collections.abc import Callable

from pipes_common.log import get_logger

WAITS = (2.0, 4.0, 8.0)  # seconds before the 2nd, 3rd and 4th try
TRANSIENT_RE = re.compile(r"\b(?:429|50[0234])\b|too ?many ?requests|connection reset|broken pipe|"
                          r"unexpected EOF|i/o timeout|TLS handshake timeout|connection refused|"
                          r"service unavailable|bad gateway|gateway timeout", re.IGNORECASE)


def transient(message: str) -> bool:
    return bool(TRANSIENT_RE.search(message))


def wait(what: str, message: str, waits: list[float], sleep: Callable[[float], None] = time.sleep
         ) -> bool:
    """When ``message`` is a registry failing for a moment and a wait is left: log one warning,
    wait, and return True (try again); else False."""
    if not waits or not transient(message):
        return False
    seconds = waits.pop(0)
    get_logger().warning("The registry failed for a moment during %s (%s): trying again in %.0f s.",
                         what, message[:200], seconds)
    sleep(seconds)
    return True
