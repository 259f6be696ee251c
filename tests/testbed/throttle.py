"""A throttling loopback TCP proxy: every byte, in each direction, through a shared token bucket
of ``rate_bits`` per second (a link to a hosted server), optionally with added latency."""
from __future__ import annotations

import contextlib
import socket
import threading
import time
from types import TracebackType


class _Bucket:
    def __init__(self, rate_bytes: float) -> None:
        self.rate = rate_bytes
        self.burst = max(16384.0, rate_bytes / 50)
        self.tokens = self.burst
        self.last = time.monotonic()
        self.lock = threading.Lock()

    def take(self, n: int) -> None:
        while True:
            with self.lock:
                now = time.monotonic()
                self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
                self.last = now
                if self.tokens >= n:
                    self.tokens -= n
                    return
                wait = (n - self.tokens) / self.rate
            time.sleep(wait)


class ThrottlingProxy:
    """``with ThrottlingProxy(target_port, rate_bits=20e6) as p:`` listens on ``p.port``."""

    CHUNK = 16384

    def __init__(self, target_port: int, rate_bits: float = 20e6, target_host: str = "127.0.0.1",
                 latency: float = 0.0) -> None:
        self.target = (target_host, target_port)
        self.latency = latency
        self.down = _Bucket(rate_bits / 8)
        self.up = _Bucket(rate_bits / 8)
        self._sock: socket.socket | None = None
        self._stop = threading.Event()
        self.port = 0

    def __enter__(self) -> ThrottlingProxy:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self.port = int(self._sock.getsockname()[1])
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def _accept(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            if self.latency:
                time.sleep(self.latency)
            threading.Thread(target=self._pump, args=(client, upstream, self.up), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, self.down), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, bucket: _Bucket) -> None:
        try:
            while True:
                data = src.recv(self.CHUNK)
                if not data:
                    break
                bucket.take(len(data))
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        if self._sock is not None:
            self._sock.close()
