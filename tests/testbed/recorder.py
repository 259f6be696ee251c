"""A loopback TCP listener that records every connection and answers each with an HTTP 404.

Every service a hostile-input test gives a pipe (API URLs, registry host, S3 endpoint, git remote,
Docker engine) points here: a connection recorded is a request the pipe should never have made.
"""
from __future__ import annotations

import contextlib
import socketserver
import threading
from types import TracebackType
from typing import Self

ANSWER = (b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
          b"Connection: close\r\n\r\n{}")


class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        server: _Server = self.server  # type: ignore[assignment]
        self.request.settimeout(2)
        try:
            first = self.request.recv(512)
        except OSError:
            first = b""
        with server.lock:
            server.seen.append(first)
        with contextlib.suppress(OSError):
            self.request.sendall(ANSWER)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.seen: list[bytes] = []


class Recorder:
    """``with Recorder() as rec``: ``rec.url``, ``rec.host`` (127.0.0.1:port), ``rec.seen`` (the
    first bytes of every connection), ``rec.clear()``."""

    def __init__(self) -> None:
        self._server = _Server()
        self.port = int(self._server.server_address[1])
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.host}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def seen(self) -> list[bytes]:
        with self._server.lock:
            return list(self._server.seen)

    def clear(self) -> None:
        with self._server.lock:
            self._server.seen.clear()

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()
