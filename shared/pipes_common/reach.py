"""Is anything listening at a service's host and port?  Asked once, before a tool that would
retry for half a minute (Terraform's S3 backend) is started against it.

A refused connection, an unknown host or silence until the timeout is one ``PipeError`` at once,
naming the variable that gave the address.  Only the TCP connection is made: nothing is sent.
"""
from __future__ import annotations

import socket
from urllib.parse import urlsplit

from .errors import PipeError

TIMEOUT = 10.0  # seconds for the TCP handshake


def check(url: str, variable: str, timeout: float = TIMEOUT) -> None:
    """Raise a one-line ``PipeError`` naming ``variable`` when ``url``'s host:port does not
    accept a TCP connection."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except socket.gaierror:
        raise PipeError(f"{variable}: the host {host} is unknown (no DNS answer): check "
                        f"{variable} and the step's network") from None
    except ConnectionRefusedError:
        raise PipeError(f"{variable}: nothing listens at {host}:{port} (connection refused): "
                        f"check {variable} and that the step can reach it") from None
    except TimeoutError:
        raise PipeError(f"{variable}: {host}:{port} did not answer within {timeout:.0f}s: check "
                        f"{variable} and the step's network") from None
    except OSError as err:
        why = err.strerror or type(err).__name__
        raise PipeError(f"{variable}: {host}:{port} cannot be reached ({why}): check {variable} "
                        "and the step's network") from None
