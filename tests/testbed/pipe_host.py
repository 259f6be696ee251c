"""The pipe's separate host, emulated on loopback.

Bitbucket runs a pipe as a container whose ``host.docker.internal`` is the step's Docker service
host (``BITBUCKET_DOCKER_HOST_INTERNAL``): the Docker engine listens there on port 2375 and the
Pipelines API proxy on port 29418.  Inside the pipe, ``localhost`` is the pipe itself.  The test
bed keeps every container on ``--network host`` (never a bridge: a bridge lets a container reach
outside addresses), so it plays that host with a second loopback address, ``127.0.0.2`` by
default, and binds what Bitbucket provides there *only* on that address.  A pipe that says
``localhost`` for the engine or the proxy then fails here as it fails on Bitbucket.

- :class:`PipeHostAddress` picks the address: the first ``127.0.0.x`` (x >= 2) whose ports 2375
  and 29418 are free and that no other test run of this machine holds (a lock file per address).
- :class:`TcpForwarder` relays ``<address>:2375`` to an engine the bed did not start (one taken
  from ``DOCKER_HOST``); the bed's own dockerd listens there itself (``-H tcp://<address>:2375``).
- :func:`agent_ssh_dir` lays out the folder Bitbucket mounts at ``/opt/atlassian/pipelines/agent/ssh``.
- :func:`docker_cli` is the Debian docker CLI Bitbucket-style runs mount at ``/usr/local/bin/docker``.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

ENGINE_PORT = 2375  # DOCKER_HOST=tcp://host.docker.internal:2375 in every pipe
PROXY_PORT = 29418  # the Pipelines API proxy (Code Insights reports)
LOCK_DIR = Path(tempfile.gettempdir())
SSH_CONFIG = "IdentityFile /opt/atlassian/pipelines/agent/ssh/id_rsa\nServerAliveInterval 180\n"


def _port_free(address: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address, port))
        except OSError:
            return False
    return True


class PipeHostAddress:
    """``with PipeHostAddress() as lease:`` holds ``lease.address`` until the block ends."""

    def __init__(self, first: int = 2, ports: tuple[int, ...] = (ENGINE_PORT, PROXY_PORT)) -> None:
        self.first = first
        self.ports = ports
        self.address = ""
        self._fd: int | None = None

    def __enter__(self) -> PipeHostAddress:
        for last in range(self.first, 255):
            address = f"127.0.0.{last}"
            fd = os.open(LOCK_DIR / f"do-pipes-pipe-host-{address}.lock", os.O_CREAT | os.O_RDWR, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # another test run of this machine plays this host
                os.close(fd)
                continue
            if all(_port_free(address, port) for port in self.ports):
                self.address, self._fd = address, fd
                return self
            os.close(fd)
        raise RuntimeError(f"no loopback address 127.0.0.{self.first}-254 has ports "
                           f"{', '.join(map(str, self.ports))} free for the pipe host")

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def engine_connector(docker_host: str) -> Callable[[], socket.socket]:
    """A function opening a connection to the engine at ``docker_host`` (unix:// or tcp://)."""
    if docker_host.startswith("unix://"):
        path = docker_host[len("unix://"):]

        def unix() -> socket.socket:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(path)
            except OSError:
                sock.close()
                raise
            return sock

        return unix
    if docker_host.startswith("tcp://"):
        host, _, port = docker_host[len("tcp://"):].rstrip("/").rpartition(":")
        return lambda: socket.create_connection((host, int(port)))
    raise ValueError(f"cannot forward to DOCKER_HOST {docker_host!r}: unix:// or tcp:// only")


class TcpForwarder:
    """``with TcpForwarder((address, port), connect):`` relays each connection both ways."""

    CHUNK = 65536

    def __init__(self, listen: tuple[str, int], connect: Callable[[], socket.socket]) -> None:
        self.listen = listen
        self.connect = connect
        self._sock: socket.socket | None = None

    def __enter__(self) -> TcpForwarder:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(self.listen)
        sock.listen(64)
        self._sock = sock
        threading.Thread(target=self._accept, args=(sock,), daemon=True).start()
        return self

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = self.connect()
            except OSError:
                client.close()
                continue
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    @classmethod
    def _pump(cls, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(cls.CHUNK):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def agent_ssh_dir(path: Path, key: str | None = None, known_hosts: str = "") -> Path:
    """Lay out ``path`` as the ssh folder Bitbucket mounts read-only into a pipe.

    ``id_rsa_tmp`` is the repository's Pipelines SSH key (Repository settings > Pipelines > SSH
    keys), world-readable so a pipe running as any user can read it (a pipe copies it to a private
    file before ssh accepts it); ``known_hosts`` the hosts added there; ``config`` the ssh client
    configuration of the step (naming the step's own key file).  Without ``key`` (no key
    configured) there is no ``id_rsa_tmp``.

    Relied on: mathieu-lemay/pipeline-runner (``pipeline_runner/container.py``) writes the key to
    this folder as ``id_rsa`` (0600) and ``id_rsa_tmp`` (0644, "readable by alt uids") with an
    empty ``known_hosts``, and an ssh ``config`` of ``IdentityFile <folder>/id_rsa`` and
    ``ServerAliveInterval 180``; published pipes copy ``id_rsa_tmp`` and ``known_hosts`` from here
    and ``chmod go-rwx`` the copy.  The pipe's folder here holds ``id_rsa_tmp``, ``known_hosts``
    and ``config`` (issue 8), not the step's own ``id_rsa``, so a pipe must use ``id_rsa_tmp``.
    """
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o755)
    if key is not None:
        target = path / "id_rsa_tmp"
        target.write_text(key if key.endswith("\n") else key + "\n")
        target.chmod(0o644)
    (path / "known_hosts").write_text(known_hosts.strip() + "\n" if known_hosts.strip() else "")
    (path / "known_hosts").chmod(0o644)
    (path / "config").write_text(SSH_CONFIG)
    (path / "config").chmod(0o644)
    return path


def docker_cli() -> Path:
    """The Debian docker CLI (docker.io's ``/usr/bin/docker``), mounted into every pipe."""
    for candidate in (Path("/usr/bin/docker"), Path(shutil.which("docker") or "/nonexistent")):
        if candidate.is_file():
            return candidate.resolve()
    raise RuntimeError("no docker CLI at /usr/bin/docker: install the Debian package docker.io")
