"""A registry standing in for DOCR: Debian's ``docker-registry`` (CNCF distribution) with htpasswd.

Two accounts exist, as DOCR has them: the long-lived DO API token (user and password both the
token) and a short-lived push account, the one the DO API stub hands out from
``docker-credentials``.  Storage lives in a temporary folder; the registry listens on loopback.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

import requests

from . import debian
from .net import free_port, wait_port
from .procs import Background


def serve(root: Path, port: int, auth: str, read_only: bool = False) -> Background:
    """Start ``docker-registry`` on 127.0.0.1:``port``, storing below ``root``, with the ``auth:``
    section ``auth`` (YAML indented by two spaces); its log is ``root/registry.log``.  A
    ``read_only`` registry (storage maintenance mode) refuses every write."""
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: info\n"
        "storage:\n"
        f"  filesystem:\n    rootdirectory: {root / 'data'}\n"
        "  delete:\n    enabled: true\n"
        + ("  maintenance:\n    readonly:\n      enabled: true\n" if read_only else "") +
        "http:\n"
        f"  addr: 127.0.0.1:{port}\n"
        "  headers:\n    X-Content-Type-Options: [nosniff]\n"
        "auth:\n" + auth)
    proc = Background(["docker-registry", "serve", str(config)], log=root / "registry.log")
    proc.__enter__()
    try:
        wait_port(port)
    except TimeoutError:
        proc.stop()
        raise RuntimeError("docker-registry did not start:\n" + proc.log_tail()) from None
    return proc


class LocalRegistry:
    def __init__(self, token: str, push_user: str, push_password: str,
                 workdir: Path | None = None, read_only: bool = False) -> None:
        self.token = token
        self.read_only = read_only
        self.push_user = push_user
        self.push_password = push_password
        self._workdir = workdir
        self.port = 0
        self.host = ""
        self.root: Path | None = None
        self._proc: Background | None = None

    def __enter__(self) -> LocalRegistry:
        debian.ensure({"docker-registry": "docker-registry", "htpasswd": "apache2-utils"})
        self.root = Path(tempfile.mkdtemp(prefix="dopipes-registry-", dir=self._workdir))
        htpasswd = self.root / "htpasswd"
        lines = []
        for user, password in ((self.token, self.token), (self.push_user, self.push_password)):
            out = subprocess.run(["htpasswd", "-nbB", user, password], check=True,
                                 capture_output=True, text=True).stdout.strip()
            lines.append(out)
        htpasswd.write_text("\n".join(lines) + "\n")
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self._proc = serve(self.root, self.port, self._auth(), read_only=self.read_only)
        return self

    def _auth(self) -> str:
        assert self.root is not None
        return f"  htpasswd:\n    realm: docr-stand-in\n    path: {self.root / 'htpasswd'}\n"

    def restart(self, read_only: bool) -> None:
        """Stop the registry and serve the same storage on the same port again, read-only
        (storage maintenance mode: every write refused) or not."""
        assert self.root is not None and self._proc is not None
        self._proc.stop()
        self.read_only = read_only
        self._proc = serve(self.root, self.port, self._auth(), read_only=read_only)

    def storage(self, repo: str) -> Path:
        """The folder where the registry keeps ``repo`` (its tags are below ``_manifests/tags``)."""
        assert self.root is not None
        return self.root / "data" / "docker" / "registry" / "v2" / "repositories" / repo

    def blobs(self, repo: str) -> list[Path]:
        """The stored data of every blob and manifest ``repo`` links (its layers, configs and
        manifests, whoever uploaded them), not the blobs of the registry's other repositories."""
        assert self.root is not None
        v2 = self.root / "data" / "docker" / "registry" / "v2"
        links = [*(self.storage(repo) / "_layers").rglob("link"),
                 *(self.storage(repo) / "_manifests" / "revisions").rglob("link")]
        found = []
        for link in links:
            algorithm, _, hexdigest = link.read_text().strip().partition(":")
            data = v2 / "blobs" / algorithm / hexdigest[:2] / hexdigest / "data"
            if data.is_file():
                found.append(data)
        return sorted(set(found))

    @property
    def log_path(self) -> Path:
        assert self.root is not None
        return self.root / "registry.log"

    def get(self, path: str, **kwargs: object) -> requests.Response:
        return requests.get(f"http://{self.host}{path}", auth=(self.token, self.token),
                            timeout=30, **kwargs)  # type: ignore[arg-type]

    def tags(self, repo: str) -> list[str]:
        resp = self.get(f"/v2/{repo}/tags/list")
        if resp.status_code == 404:
            return []
        resp.raise_for_status()
        return sorted(resp.json().get("tags") or [])

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._proc is not None:
            self._proc.stop()
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
