"""A loopback HTTP server whose answers follow a script, for testing retries.

``server.script(Reply(429, {"Retry-After": "1"}), Reply(503), DROP, Reply(200))`` makes the next
requests get those answers in order (``DROP``: the connection is closed without an answer); once
the script is used up every request gets ``200 ok``.  ``server.hits`` records each request with
its arrival time.  HTTP/1.1 with keep-alive, as real APIs speak it.
"""
from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import requests

from .httpserve import LoopbackHTTPServer, LoopbackService, QuietHandler


@dataclass(frozen=True)
class Reply:
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b"ok"


DROP: Final[Literal["drop"]] = "drop"
Step = Reply | Literal["drop"]


@dataclass(frozen=True)
class Hit:
    method: str
    path: str
    at: float
    """``time.monotonic()`` when the request had been read."""
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


class _Handler(QuietHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        step = self.server.flaky.next_step(Hit(self.command, self.path, time.monotonic(), body,
                                                dict(self.headers.items())))
        if step == DROP:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send_response(step.status)
        for key, value in step.headers.items():
            self.send_header(key, value)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(step.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(step.body)

    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = do_OPTIONS = _answer


class _Server(LoopbackHTTPServer):
    flaky: FlakyServer


class FlakyServer(LoopbackService[_Server]):
    """``with FlakyServer() as server:`` serves on ``server.url``."""

    def __init__(self) -> None:
        self.hits: list[Hit] = []
        self._steps: deque[Step] = deque()
        self._lock = threading.Lock()
        self.url = ""

    def script(self, *steps: Step) -> None:
        """Answer the next requests with ``steps`` in order, then ``200 ok``; forget old hits."""
        with self._lock:
            self._steps = deque(steps)
            self.hits = []

    def next_step(self, hit: Hit) -> Step:
        with self._lock:
            self.hits.append(hit)
            return self._steps.popleft() if self._steps else Reply()

    def _new_server(self) -> _Server:
        server = _Server(_Handler)
        server.flaky = self
        self.url = server.url
        return server


class Waits(list[float]):
    """The waits an HTTP session computed, in order: its ``sleep`` records them, nothing is slept."""

    def session(self, **kwargs: Any) -> requests.Session:
        from pipes_common import httpclient

        return httpclient.session(sleep=self.append, **kwargs)
