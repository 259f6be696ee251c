"""A throttling loopback TCP proxy: every byte, in each direction, through a shared token bucket
of ``rate_bits`` per second (a link to a hosted server), optionally delayed by a round-trip time
(each chunk reaches the other side ``rtt / 2`` after it was sent, as over a long link)."""
from __future__ import annotations

import contextlib
import queue
import socket
import threading
import time
from collections.abc import Callable
from functools import partial
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


def _send_or_close(dst: socket.socket, data: bytes) -> None:
    """Send ``data`` to ``dst``; ``b""`` ends the direction (half-close)."""
    if data:
        dst.sendall(data)
    else:
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)


class ThrottlingProxy:
    """``with ThrottlingProxy(target_port, rate_bits=20e6) as p:`` listens on ``p.port``."""

    CHUNK = 16384

    def __init__(self, target_port: int, rate_bits: float = 20e6, target_host: str = "127.0.0.1",
                 rtt: float = 0.0) -> None:
        self.target = (target_host, target_port)
        self.rtt = rtt
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
            for src, dst, bucket in ((client, upstream, self.up), (upstream, client, self.down)):
                send: Callable[[bytes], None] = partial(_send_or_close, dst)
                if self.rtt:
                    line: queue.Queue[tuple[float, bytes]] = queue.Queue()
                    send = partial(self._delay, line)
                    threading.Thread(target=self._deliver, args=(line, dst), daemon=True).start()
                threading.Thread(target=self._pump, args=(src, send, bucket), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, send: Callable[[bytes], None], bucket: _Bucket) -> None:
        """Copy ``src`` through ``bucket`` to ``send``, then ``send(b"")`` once at the end."""
        try:
            while True:
                data = src.recv(ThrottlingProxy.CHUNK)
                if not data:
                    break
                bucket.take(len(data))
                send(data)
        except OSError:
            pass
        finally:
            send(b"")

    def _delay(self, line: queue.Queue[tuple[float, bytes]], data: bytes) -> None:
        line.put((time.monotonic() + self.rtt / 2, data))

    @staticmethod
    def _deliver(line: queue.Queue[tuple[float, bytes]], dst: socket.socket) -> None:
        """Send each chunk of ``line`` to ``dst`` when it is due (the end marker included)."""
        try:
            while True:
                due, data = line.get()
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                _send_or_close(dst, data)
                if not data:
                    return
        except OSError:
            _send_or_close(dst, b"")


    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        if self._sock is not None:
            self._sock.close()
