"""The loopback HTTP server the test bed's stubs and servers are built on.

``QuietHandler`` is a request handler that logs nothing, with ``send_json`` for JSON answers (the
content type and headers added to every JSON answer are class attributes, so each stub keeps
sending exactly what the API it stands in for sends).  ``LoopbackHTTPServer(handler)`` is a
threaded server on ``127.0.0.1`` and a free port (``port``, ``url``), or on the loopback address and
port it is given; set the attributes the
handler reads on it, then ``start()`` serves from a daemon thread and ``stop()`` shuts it down and
closes the socket.  ``LoopbackService`` is the base of the test bed's ``with`` objects: it builds
its server in ``_new_server()``, serves while the ``with`` block runs and stops it at the end;
``StateStub(state)`` is one whose ``handler`` reads ``server.state`` and that serves on ``url``.
"""
from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, ClassVar, Generic, Self, TypeVar

HOST = "127.0.0.1"


class QuietHandler(BaseHTTPRequestHandler):
    """A handler without request logging; ``send_json`` answers with a JSON body."""

    json_content_type: ClassVar[str] = "application/json"
    json_headers: ClassVar[Mapping[str, str]] = {}
    """Headers sent with every JSON answer, after Content-Type and Content-Length."""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def send_json(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        """``body`` as JSON with Content-Type, Content-Length, ``json_headers`` and ``headers``."""
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", self.json_content_type)
        self.send_header("Content-Length", str(len(raw)))
        for key, value in {**self.json_headers, **(headers or {})}.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(raw)


class LoopbackHTTPServer(ThreadingHTTPServer):
    """A threaded HTTP server bound to ``127.0.0.1`` on a free port (or to ``host``:``port``),
    served from a daemon thread."""

    daemon_threads = True

    def __init__(self, handler: type[BaseHTTPRequestHandler], host: str = HOST, port: int = 0) -> None:
        super().__init__((host, port), handler)
        self.host = host
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> Self:
        """Serve from a daemon thread; set what the handler reads before calling this."""
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving (when started) and close the listening socket."""
        if self._thread is not None:
            self.shutdown()
            self._thread = None
        self.server_close()


ServerT = TypeVar("ServerT", bound=LoopbackHTTPServer)


class LoopbackService(Generic[ServerT]):
    """``with`` serves the ``LoopbackHTTPServer`` that ``_new_server()`` builds; ``__exit__`` stops it."""

    _server: ServerT | None = None

    def _new_server(self) -> ServerT:
        """A new server with the attributes its handler reads (it is started afterwards)."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        self._server = self._new_server().start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._server is not None:
            self._server.stop()


StateT = TypeVar("StateT")


class StateServer(LoopbackHTTPServer, Generic[StateT]):
    """A server whose handler finds its stub's state in ``server.state``."""

    state: StateT


class StateStub(LoopbackService[StateServer[StateT]]):
    """``with Stub(state) as stub:`` serves ``handler`` (which reads ``server.state``) on ``stub.url``."""

    handler: ClassVar[type[BaseHTTPRequestHandler]]

    def __init__(self, state: StateT) -> None:
        self.state = state
        self.url = ""

    def _new_server(self) -> StateServer[StateT]:
        server: StateServer[StateT] = StateServer(self.handler)
        server.state = self.state
        self.url = server.url
        return server
