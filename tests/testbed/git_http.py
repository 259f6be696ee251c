"""A smart-HTTP git server: ``git http-backend`` behind a small threaded HTTP server.

Basic auth in exactly the forms Bitbucket Cloud documents for git over HTTPS (:class:`Accounts`):
``x-token-auth`` with a repository, project or workspace access token, and
``x-bitbucket-api-token-auth`` or the Bitbucket username of the token's account with an Atlassian API
token; any other pair is a 401.  Push is enabled for every credential except the read-only ones (403,
as for a token without write scope), protocol v2, and partial clone allowed (``uploadpack.allowFilter``) unless
the server is started with ``partial_clone=False`` (a server that ignores ``--filter``).  The server
counts the bytes it sends, for benchmarks, and records which user made each request.

Every repository made by :func:`create_repo` refuses, whoever pushes and over HTTP or SSH alike, a
non-fast-forward update of any branch, and a deletion (an ``update`` hook; a repository may name
branches that may be deleted, never forced, with ``delete_allowed``), and records every ref update pushed to it,
refused or done, with whether it was forced: :func:`ref_updates` reads that record.
"""
from __future__ import annotations

import base64
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import unquote, urlsplit

from .httpserve import LoopbackHTTPServer, LoopbackService, QuietHandler

BACKEND = "/usr/lib/git-core/git-http-backend"
SERVER_CONFIG = {
    "uploadpack.allowFilter": "true",
    "uploadpack.allowAnySHA1InWant": "true",
    "uploadpack.allowReachableSHA1InWant": "true",
    "http.receivepack": "true",
}
NO_PARTIAL_CLONE = {"uploadpack.allowFilter": "false"}
REF_LOG = "testbed-ref-updates.log"
# $1 ref, $2 old, $3 new; the objects of the push are readable (quarantine) while it runs
UPDATE_HOOK = f"""#!/bin/sh
# test bed: refuse non-fast-forward updates of every branch, and deletions (except of those matching
# a testbed.deleteAllowed pattern of this repository), and record every attempt in {REF_LOG}
set -f
ref=$1 old=$2 new=$3 kind=
case $old in *[!0]*) ;; *) kind=create ;; esac
case $new in *[!0]*) ;; *) kind=delete ;; esac
if [ -z "$kind" ]; then
  if git merge-base --is-ancestor "$old" "$new"; then kind=fast-forward; else kind=forced; fi
fi
verdict=accepted
if [ $kind = forced ] || [ $kind = delete ]; then
  verdict=refused
fi
if [ $kind = delete ]; then
  for pattern in $(git config --get-all testbed.deleteAllowed); do
    case $ref in $pattern) verdict=accepted ;; esac
  done
fi
printf '%s %s %s %s %s %s\n' attempt $verdict $kind "$ref" "$old" "$new" >> {REF_LOG}
if [ $verdict = refused ]; then
  echo "test bed: this server refuses the $kind update of $ref" >&2
  exit 1
fi
"""
# stdin: "<old> <new> <ref>" per ref actually updated
POST_RECEIVE_HOOK = f"""#!/bin/sh
set -f
while read -r old new ref; do
  case $old in *[!0]*) kind= ;; *) kind=create ;; esac
  case $new in *[!0]*) ;; *) kind=delete ;; esac
  if [ -z "$kind" ]; then
    if git merge-base --is-ancestor "$old" "$new"; then kind=fast-forward; else kind=forced; fi
  fi
  printf '%s %s %s %s %s %s\n' updated done $kind "$ref" "$old" "$new" >> {REF_LOG}
done
"""


@dataclass(frozen=True)
class RefUpdate:
    """One ref update pushed to a repository: ``phase`` ``attempt`` (seen by the update hook,
    ``verdict`` accepted or refused) or ``updated`` (done); ``kind`` create, fast-forward, forced
    or delete."""

    phase: str
    verdict: str
    kind: str
    ref: str
    old: str
    new: str

    @property
    def forced(self) -> bool:
        return self.kind in ("forced", "delete")


def ref_updates(repo: Path) -> list[RefUpdate]:
    """Every ref update pushed to the bare repository ``repo`` since :func:`create_repo` made it."""
    log = repo / REF_LOG
    if not log.is_file():
        return []
    return [RefUpdate(*line.split()) for line in log.read_text().splitlines() if line.strip()]


ACCESS_TOKEN_USER = "x-token-auth"
API_TOKEN_USER = "x-bitbucket-api-token-auth"


@dataclass
class Accounts:
    """The git credentials a Bitbucket Cloud stand-in takes, exactly as Atlassian documents them
    ("Using access tokens", "Using API tokens" in the Bitbucket Cloud docs): the static username
    ``x-token-auth`` with an access token; an API token with the static username
    ``x-bitbucket-api-token-auth`` or with the Bitbucket username of its account (not the email).
    ``read_only``: tokens without the write scope."""

    access_tokens: set[str] = field(default_factory=set)
    api_tokens: dict[str, str] = field(default_factory=dict)  # Bitbucket username -> API token
    read_only: set[str] = field(default_factory=set)

    def accepts(self, user: str, secret: str) -> bool:
        if user == ACCESS_TOKEN_USER:
            return secret in self.access_tokens
        if user == API_TOKEN_USER:
            return secret in self.api_tokens.values()
        return bool(secret) and self.api_tokens.get(user) == secret

    def may_write(self, secret: str) -> bool:
        return secret not in self.read_only


@dataclass
class Stats:
    requests: list[tuple[str, str, int, int]] = field(default_factory=list)  # method, path, status, bytes
    users: list[tuple[str, str]] = field(default_factory=list)  # user, path of authenticated requests
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def bytes_sent(self) -> int:
        with self.lock:
            return sum(r[3] for r in self.requests)

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.users.clear()


def _dechunk(rfile: Any) -> bytes:
    body = bytearray()
    while True:
        line = rfile.readline()
        size = int(line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            while rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            return bytes(body)
        body += rfile.read(size)
        rfile.readline()


class _Handler(QuietHandler):
    server: _Server

    def _user(self) -> tuple[str, str] | None:
        """The user name and secret of an accepted credential, or None."""
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return None
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return None
        return (user, password) if self.server.accounts.accepts(user, password) else None

    def _deny(self) -> None:
        body = b"Authentication required\n"
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="git"')
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.server.stats.requests.append((self.command, self.path, 401, len(body)))

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        credential = self._user()
        if credential is None:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                _dechunk(self.rfile)
            elif self.headers.get("Content-Length"):
                self.rfile.read(int(self.headers["Content-Length"]))
            return self._deny()
        user, secret = credential
        with self.server.stats.lock:
            self.server.stats.users.append((user, self.path))
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = _dechunk(self.rfile)
        else:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        url = urlsplit(self.path)
        if not self.server.accounts.may_write(secret) and "receive-pack" in self.path:
            denied = b"Forbidden: this token cannot write\n"
            self.send_response(403)
            self.send_header("Content-Length", str(len(denied)))
            self.end_headers()
            self.wfile.write(denied)
            self.server.stats.requests.append((self.command, self.path, 403, len(denied)))
            return
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.server.root),
            "GIT_PROJECT_ROOT": str(self.server.root), "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": unquote(url.path), "QUERY_STRING": url.query,
            "REQUEST_METHOD": self.command, "REMOTE_USER": user, "REMOTE_ADDR": "127.0.0.1",
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)), "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": "/dev/null",
        }
        for header, name in (("Content-Encoding", "HTTP_CONTENT_ENCODING"),
                             ("Git-Protocol", "HTTP_GIT_PROTOCOL")):
            if self.headers.get(header):
                env[name] = self.headers[header]
        if self.headers.get("Git-Protocol"):
            env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
        config = self.server.config
        env["GIT_CONFIG_COUNT"] = str(len(config))
        for i, (key, value) in enumerate(config.items()):
            env[f"GIT_CONFIG_KEY_{i}"] = key
            env[f"GIT_CONFIG_VALUE_{i}"] = value
        proc = subprocess.Popen([BACKEND], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL)
        assert proc.stdin is not None and proc.stdout is not None

        def feed() -> None:
            assert proc.stdin is not None
            try:
                proc.stdin.write(body)
                proc.stdin.close()
            except BrokenPipeError:
                pass

        writer = threading.Thread(target=feed, daemon=True)
        writer.start()
        status, headers = 200, []
        while True:
            line = proc.stdout.readline().decode("latin-1").rstrip("\r\n")
            if not line:
                break
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.strip().split()[0])
            else:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Connection", "close")
        self.end_headers()
        sent = 0
        while True:
            chunk = proc.stdout.read1(65536)  # type: ignore[attr-defined]
            if not chunk:
                break
            self.wfile.write(chunk)
            sent += len(chunk)
        proc.wait()
        writer.join()
        with self.server.stats.lock:
            self.server.stats.requests.append((self.command, self.path, status, sent))
        self.close_connection = True


class _Server(LoopbackHTTPServer):
    request_queue_size = 64
    root: Path
    accounts: Accounts
    stats: Stats
    config: Mapping[str, str]


class GitHttpServer(LoopbackService[_Server]):
    """``with GitHttpServer(Accounts(access_tokens={token})) as srv:`` serves the bare
    repositories below ``srv.root`` at ``srv.url(name)``; ``srv.accounts`` may be changed while it
    runs."""

    def __init__(self, accounts: Accounts, root: Path | None = None,
                 workdir: Path | None = None, partial_clone: bool = True) -> None:
        self.accounts = accounts
        self.config = {**SERVER_CONFIG, **({} if partial_clone else NO_PARTIAL_CLONE)}
        self._own_root = root is None
        self.root = root or Path(tempfile.mkdtemp(prefix="git-http-", dir=workdir))
        self.stats = Stats()
        self.port = 0

    def _new_server(self) -> _Server:
        server = _Server(_Handler)
        server.root = self.root
        server.accounts = self.accounts
        server.stats = self.stats
        server.config = self.config
        self.port = server.port
        return server

    def url(self, name: str, port: int | None = None) -> str:
        return f"http://127.0.0.1:{port or self.port}/{name}"

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        super().__exit__(exc_type, exc, tb)
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)


GIT_ENV = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null", "LANG": "C",
           "GIT_AUTHOR_NAME": "Seed", "GIT_AUTHOR_EMAIL": "seed@example.com",
           "GIT_COMMITTER_NAME": "Seed", "GIT_COMMITTER_EMAIL": "seed@example.com"}


def git(*args: str, cwd: Path | None = None, input: bytes | None = None) -> str:
    """Run git with a clean configuration (test helper); return stdout."""
    env = {**os.environ, **GIT_ENV}
    out = subprocess.run(["git", *args], cwd=cwd, env=env, input=input, check=True,
                         capture_output=True)
    return out.stdout.decode()


def create_repo(path: Path, files: Mapping[str, bytes | str], branch: str = "main",
                delete_allowed: Sequence[str] = ()) -> Path:
    """A bare repository at ``path`` whose ``branch`` holds ``files`` in one commit; pushes to it
    may not force a branch, nor delete one except the refs matching a ``delete_allowed`` pattern
    (shell glob on the full ref name, e.g. ``refs/heads/flux-bump/*``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    git("init", "-q", "--bare", "-b", branch, str(path))
    for key, value in SERVER_CONFIG.items():  # also for SSH, where no server env applies
        git("config", key, value, cwd=path)
    for pattern in delete_allowed:
        git("config", "--add", "testbed.deleteAllowed", pattern, cwd=path)
    work = Path(tempfile.mkdtemp(prefix="seed-"))
    try:
        git("init", "-q", "-b", branch, str(work))
        for rel, content in files.items():
            target = work / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content.encode() if isinstance(content, str) else content)
        git("add", "-A", cwd=work)
        git("commit", "-q", "-m", "seed", cwd=work)
        git("push", "-q", str(path), f"{branch}:{branch}", cwd=work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for name, text in (("update", UPDATE_HOOK), ("post-receive", POST_RECEIVE_HOOK)):
        hook = path / "hooks" / name
        hook.write_text(text)
        hook.chmod(0o755)
    return path
