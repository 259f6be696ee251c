"""A Docker engine for the tests: the one at DOCKER_HOST if it answers, else our own dockerd.

Our own dockerd runs with no bridge and no iptables (``--bridge=none --iptables=false
--ip6tables=false``), its own data-root (a cache, so built base images survive between runs),
exec-root and socket.  Containers run with ``--network host`` only.

Given ``pipe_address`` (the pipe host's loopback address, ``testbed.pipe_host``), the engine also
listens on ``<pipe_address>:2375`` and nowhere else over TCP, which is how Bitbucket hands the
Docker daemon to a pipe (``DOCKER_HOST=tcp://host.docker.internal:2375``): our own dockerd with
``-H tcp://<pipe_address>:2375``, an engine taken from ``DOCKER_HOST`` through a loopback TCP
forwarder.

Two lanes (``lane``):

- ``classic``: Debian 12's engine (docker.io 20.10, overlay2), the machine's own packages.
- ``modern``: Debian 13's docker.io 26.1.5, docker-cli, docker-buildx 0.13.1 and containerd
  1.7.24 (``testbed.trixie``: fetched through a private apt configuration, unpacked into the test
  bed cache), with the containerd image store (``daemon.json``: ``containerd-snapshotter``).
  Debian 13's runc needs a newer glibc than this machine's: Debian 12's ``/usr/sbin/runc`` runs
  instead, and ``tini-static`` (Debian 12's ``tini``) is ``docker-init``.  A ``bin`` folder of
  links is first in the daemon's and the CLI's ``PATH``; ``env`` holds ``DOCKER_CONFIG`` with
  ``cli-plugins/docker-buildx``.  It never takes the engine at ``DOCKER_HOST``: it always starts
  its own, with its own ``--cgroup-parent`` (removed on shutdown, with the ``nsfs`` mounts left
  under ``exec-root/netns``).
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import docker

from . import debian, trixie
from .pipe_host import ENGINE_PORT, TcpForwarder, engine_connector
from .procs import Background

CACHE = Path(os.environ.get("DO_PIPES_TESTBED_CACHE", Path.home() / ".cache" / "do-pipes-testbed"))
LANES = ("classic", "modern")
# the modern lane's bin folder: its own binaries, and Debian 12's runc and tini-static
MODERN_LINKS = {
    "dockerd": "usr/sbin/dockerd", "docker-proxy": "usr/sbin/docker-proxy",
    "containerd": "usr/bin/containerd", "containerd-shim-runc-v2": "usr/bin/containerd-shim-runc-v2",
    "ctr": "usr/bin/ctr", "docker": "usr/bin/docker",
}
DAEMON_JSON = {"features": {"containerd-snapshotter": True}}


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

    def __init__(self, workdir: Path | None = None, pipe_address: str | None = None,
                 lane: str = "classic", cached_data_root: bool = True) -> None:
        if lane not in LANES:
            raise ValueError(f"lane {lane!r}: one of {', '.join(LANES)}")
        self.workdir = workdir
        self.pipe_address = pipe_address
        self.lane = lane
        self.cached_data_root = cached_data_root  # False: a data-root of its own, gone at the end
        self.bin_dir: Path | None = None
        self.config_dir: Path | None = None
        self._cgroup: str | None = None
        self.host = ""
        self.socket_path: str | None = None
        self.owned = False
        self._proc: Background | None = None
        self._forwarder: TcpForwarder | None = None
        self._root: Path | None = None
        self._lock: int | None = None

    def __enter__(self) -> DockerEngine:
        if self.lane == "modern":
            self._start()
            return self
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
        if not self.cached_data_root:
            assert self._root is not None
            return self._root / "data"
        CACHE.mkdir(parents=True, exist_ok=True)
        name = "docker" if self.lane == "classic" else f"docker-{self.lane}"
        fd = os.open(CACHE / f"{name}.lock", os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # another run owns the cached data-root: use a fresh one
            os.close(fd)
            assert self._root is not None
            return self._root / "data"
        self._lock = fd
        return CACHE / name

    def _modern_bin(self) -> tuple[list[str], dict[str, str]]:
        """The modern lane's bin folder, DOCKER_CONFIG and daemon.json: its extra dockerd
        arguments and the environment of dockerd and the CLI."""
        debian.ensure({"runc": "runc", "tini-static": "tini"})
        packages = trixie.unpacked(trixie.ENGINE_PACKAGES, CACHE)
        assert self._root is not None
        self.bin_dir = self._root / "bin"
        self.bin_dir.mkdir()
        for name, rel in MODERN_LINKS.items():
            (self.bin_dir / name).symlink_to(packages / rel)
        (self.bin_dir / "runc").symlink_to("/usr/sbin/runc")
        (self.bin_dir / "docker-init").symlink_to(shutil.which("tini-static") or "/usr/bin/tini-static")
        self.config_dir = self._root / "docker-config"
        (self.config_dir / "cli-plugins").mkdir(parents=True)
        (self.config_dir / "cli-plugins" / "docker-buildx").symlink_to(
            packages / "usr/libexec/docker/cli-plugins/docker-buildx")
        daemon_json = self._root / "daemon.json"
        daemon_json.write_text(json.dumps(DAEMON_JSON))
        self._cgroup = f"do-pipes-{self._root.name}"
        env = dict(os.environ, PATH=f"{self.bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
                   DOCKER_CONFIG=str(self.config_dir))
        return ["--config-file", str(daemon_json), f"--cgroup-parent=/{self._cgroup}"], env

    def _start(self) -> None:
        self._root = Path(tempfile.mkdtemp(prefix="dpd", dir="/tmp"))  # short: socket path limit
        extra: list[str] = []
        env: dict[str, str] | None = None
        if self.lane == "modern":
            extra, env = self._modern_bin()
        else:
            debian.ensure({"dockerd": "docker.io", "containerd": "containerd", "runc": "runc"})
        sock = self._root / "docker.sock"
        args = [
            "dockerd", "--bridge=none", "--iptables=false", "--ip6tables=false",
            "--ip-forward=false", "--ip-masq=false", "--userland-proxy=false",
            "--data-root", str(self._data_root()), "--exec-root", str(self._root / "exec"),
            "--pidfile", str(self._root / "docker.pid"),
            "-H", f"unix://{sock}", *extra,
        ]
        if self.pipe_address:
            args += ["-H", f"tcp://{self.pipe_address}:{ENGINE_PORT}"]
        log = (self.workdir or self._root) / ("dockerd.log" if self.lane == "classic"
                                              else f"dockerd-{self.lane}.log")
        self._proc = Background(args, log=log, env=env)
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
        """Environment for the docker CLI and SDK on the host (the modern lane: its CLI first in
        ``PATH`` and its ``DOCKER_CONFIG`` with the buildx plugin)."""
        env = {"DOCKER_HOST": self.host}
        if self.bin_dir is not None and self.config_dir is not None:
            env["PATH"] = f"{self.bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}"
            env["DOCKER_CONFIG"] = str(self.config_dir)
        return env

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
        if self._cgroup is not None:
            _remove_cgroup(self._cgroup)
            self._cgroup = None


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


def _remove_cgroup(name: str) -> None:
    """Remove the cgroup ``/<name>`` dockerd made for its containers (``--cgroup-parent``), in
    every hierarchy (cgroup v1) or the one (v2), children first; a busy one stays."""
    base = Path("/sys/fs/cgroup")
    tops = [base / name] + [h / name for h in base.iterdir() if h.is_dir()] if base.is_dir() else []
    for top in tops:
        if not top.is_dir():
            continue
        for folder in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts),
                             reverse=True):
            with contextlib.suppress(OSError):
                folder.rmdir()
        with contextlib.suppress(OSError):
            top.rmdir()
