"""A Docker engine for the tests: the one at DOCKER_HOST if it answers, else our own dockerd.

Our own dockerd runs with no bridge and no iptables (``--bridge=none --iptables=false
--ip6tables=false``), its own data-root (a cache, so built base images survive between runs),
exec-root and socket.  Containers run with ``--network host`` only.

Given ``pipe_address`` (the pipe host's loopback address, ``testbed.pipe_host``), the engine also
listens on ``<pipe_address>:2375`` and nowhere else over TCP, which is how Bitbucket hands the
Docker daemon to a pipe (``DOCKER_HOST=tcp://host.docker.internal:2375``): our own dockerd with
``-H tcp://<pipe_address>:2375``, an engine taken from ``DOCKER_HOST`` through a loopback TCP
forwarder.
"""
from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import docker

from . import debian
from .pipe_host import ENGINE_PORT, TcpForwarder, engine_connector
from .procs import Background

CACHE = Path(os.environ.get("DO_PIPES_TESTBED_CACHE", Path.home() / ".cache" / "do-pipes-testbed"))


def _answers(host: str | None) -> bool:
    try:
        client = docker.DockerClient(base_url=host, timeout=5) if host else docker.from_env(timeout=5)
        client.ping()
        client.close()
        return True
    except Exception:
        return False


class DockerEngine:
    """Context manager yielding a usable engine; ``host`` is its DOCKER_HOST."""

    def __init__(self, workdir: Path | None = None, pipe_address: str | None = None) -> None:
        self.workdir = workdir
        self.pipe_address = pipe_address
        self.host = ""
        self.socket_path: str | None = None
        self.owned = False
        self._proc: Background | None = None
        self._forwarder: TcpForwarder | None = None
        self._root: Path | None = None
        self._lock: int | None = None

    def __enter__(self) -> DockerEngine:
        configured = os.environ.get("DOCKER_HOST")
        candidates = [configured] if configured else ["unix:///var/run/docker.sock"]
        for host in candidates:
            if host and _answers(host):
                self._use(host)
                if self.pipe_address:
                    self._forwarder = TcpForwarder((self.pipe_address, ENGINE_PORT),
                                                   engine_connector(host)).__enter__()
                return self
        self._start()
        return self

    def _use(self, host: str) -> None:
        self.host = host
        if host.startswith("unix://"):
            self.socket_path = host[len("unix://"):]

    def _data_root(self) -> Path:
        CACHE.mkdir(parents=True, exist_ok=True)
        fd = os.open(CACHE / "docker.lock", os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # another run owns the cached data-root: use a fresh one
            os.close(fd)
            assert self._root is not None
            return self._root / "data"
        self._lock = fd
        return CACHE / "docker"

    def _start(self) -> None:
        debian.ensure({"dockerd": "docker.io", "containerd": "containerd", "runc": "runc"})
        self._root = Path(tempfile.mkdtemp(prefix="dpd", dir="/tmp"))  # short: socket path limit
        sock = self._root / "docker.sock"
        args = [
            "dockerd", "--bridge=none", "--iptables=false", "--ip6tables=false",
            "--ip-forward=false", "--ip-masq=false", "--userland-proxy=false",
            "--data-root", str(self._data_root()), "--exec-root", str(self._root / "exec"),
            "--pidfile", str(self._root / "docker.pid"),
            "-H", f"unix://{sock}",
        ]
        if self.pipe_address:
            args += ["-H", f"tcp://{self.pipe_address}:{ENGINE_PORT}"]
        self._proc = Background(args, log=(self.workdir or self._root) / "dockerd.log")
        self._proc.__enter__()
        self.owned = True
        self._use(f"unix://{sock}")
        deadline = time.monotonic() + 90
        while not _answers(self.host):
            if not self._proc.alive() or time.monotonic() > deadline:
                tail = self._proc.log_tail()
                self.__exit__(None, None, None)
                raise RuntimeError(f"dockerd did not start:\n{tail}")
            time.sleep(0.3)

    def client(self, timeout: int = 600) -> docker.DockerClient:
        return docker.DockerClient(base_url=self.host, timeout=timeout)

    @property
    def env(self) -> dict[str, str]:
        """Environment for the docker CLI and SDK on the host."""
        return {"DOCKER_HOST": self.host}

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._forwarder is not None:
            self._forwarder.__exit__(None, None, None)
            self._forwarder = None
        if self._proc is not None:
            self._proc.stop(timeout=30)
            self._proc = None
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None
        if self._root is not None:
            _unmount_below(self._root)
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None


def _unmount_below(root: Path) -> None:
    """Unmount what dockerd left mounted below ``root`` (its ``exec/netns/default`` nsfs bind
    mount survives the daemon), deepest first, so the folder can be removed."""
    try:
        mounts = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return
    prefix = str(root).rstrip("/") + "/"
    targets = [line.split()[1] for line in mounts if len(line.split()) > 1]
    for target in sorted((t for t in targets if t.startswith(prefix)), key=len, reverse=True):
        subprocess.run(["umount", "-l", target], check=False, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
