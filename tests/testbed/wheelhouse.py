"""The sample app's wheels, kept in the test bed cache and served on loopback.

The sample app (``tests/fixtures/sample-app``) pip-installs its pinned requirements.  Without
help, each build on a fresh engine fetches them from the package index.  Here they are
downloaded once per recipe (the requirements file, the Python versions and the machine: a hash
names the folder ``wheels-<hash>`` of the cache, made under a lock and renamed into place when
complete, like the base image's archive) and served by ``WheelHouse`` on ``127.0.0.1``.  A build
given the build argument ``WHEELS=<url>`` (``build_arg``) installs with ``--no-index
--find-links <url>``: no request leaves the machine.  Builds run with ``--network host``, so the
loopback address is the host's.  ``WheelHouse.requests`` lists the paths asked for, which a test
reads to see where the wheels came from.
"""
from __future__ import annotations

import hashlib
import html
import subprocess
import sys
import threading
from pathlib import Path
from typing import ClassVar

from . import cachedir
from .docker_engine import CACHE
from .httpserve import LoopbackHTTPServer, LoopbackService, QuietHandler

REPO_ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = REPO_ROOT / "tests" / "fixtures" / "sample-app" / "requirements.txt"
# the Pythons of the bases the sample app is built on (python:3.12-slim, Debian 13's python3) and
# the machines of the images built from it (a benchmark builds linux/amd64 and linux/arm64)
PYTHONS = ("3.12", "3.13")
MACHINES = ("x86_64", "aarch64")
ARG = "WHEELS"


def recipe_hash(requirements: Path = REQUIREMENTS) -> str:
    digest = hashlib.sha256(requirements.read_bytes())
    digest.update(repr((PYTHONS, MACHINES, "wheels")).encode())
    return digest.hexdigest()[:16]


def wheels(cache: Path = CACHE, requirements: Path = REQUIREMENTS) -> Path:
    """The folder of the wheels of ``requirements``, downloaded once (under a lock) and reused."""
    def make(work: Path) -> Path:
        for version in PYTHONS:
            for machine in MACHINES:
                subprocess.run(
                    [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                     "--only-binary=:all:", "--platform", f"manylinux2014_{machine}",
                     "--implementation", "cp", "--python-version", version,
                     "--dest", str(work), "-r", str(requirements)],
                    check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        return work

    return cachedir.made_once(cache / f"wheels-{recipe_hash(requirements)}", "wheels.lock", make,
                              ready=Path.is_dir)


class _Handler(QuietHandler):
    """A find-links page at ``/`` (a link per wheel) and the wheels; every path recorded."""

    server: _Server
    page: ClassVar[str] = "<!DOCTYPE html><html><body>\n{links}</body></html>\n"

    def do_GET(self) -> None:
        with self.server.lock:
            self.server.requests.append(self.path)
        files = {p.name: p for p in self.server.folder.glob("*.whl")}
        name = self.path.split("?", 1)[0].lstrip("/")
        if name == "":
            links = "".join(f'<a href="{html.escape(n)}">{html.escape(n)}</a><br>\n'
                            for n in sorted(files))
            self._send(200, self.page.format(links=links).encode(), "text/html")
        elif name in files:
            self._send(200, files[name].read_bytes(), "application/octet-stream")
        else:
            self._send(404, b"not found\n", "text/plain")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Server(LoopbackHTTPServer):
    folder: Path
    requests: list[str]
    lock: threading.Lock


class WheelHouse(LoopbackService[_Server]):
    """``with WheelHouse() as house:`` serves the sample app's wheels at ``house.url``;
    ``house.build_arg`` is the build argument that makes its Dockerfile install from there."""

    def __init__(self, cache: Path = CACHE, requirements: Path = REQUIREMENTS) -> None:
        self.folder = wheels(cache, requirements)
        self.requests: list[str] = []
        self.url = ""

    def _new_server(self) -> _Server:
        server = _Server(_Handler)
        server.folder = self.folder
        server.requests = self.requests
        server.lock = threading.Lock()
        self.url = server.url + "/"
        return server

    @property
    def build_arg(self) -> str:
        return f"{ARG}={self.url}"

    def names(self) -> list[str]:
        """The wheels served."""
        return sorted(p.name for p in self.folder.glob("*.whl"))


def with_build_arg(variables: dict[str, str], build_arg: str) -> dict[str, str]:
    """build-push's variables with ``build_arg`` added as the next ``BUILD_ARGS_<n>`` (after any
    the variables already give)."""
    count = int(variables.get("BUILD_ARGS_COUNT", "0"))
    return {**variables, f"BUILD_ARGS_{count}": build_arg, "BUILD_ARGS_COUNT": str(count + 1)}
