"""Git credentials that never reach a URL, ``.git/config``, a log line or an error message.

HTTPS: the username and password are handed to git through ``GIT_ASKPASS`` (a script that prints
environment variables of the git process), never through the remote URL.  SSH: the key (SSH_KEY,
or else the repository's Pipelines SSH key that Bitbucket mounts world-readable as
``/opt/atlassian/pipelines/agent/ssh/id_rsa_tmp``) is copied to a private 0600 file of the pipe's
work folder, used with ``StrictHostKeyChecking=yes`` and our own known_hosts, and removed by
:func:`cleanup` at the end.
"""
from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from pipes_common import secrets, sshkey
from pipes_common.errors import PipeError

PIPELINES_SSH_DIR = sshkey.PIPELINES_SSH_DIR
USER_ENV = "FLUX_BUMP_GIT_USERNAME"
PASS_ENV = "FLUX_BUMP_GIT_PASSWORD"
ASKPASS = f"""#!/bin/sh
case "$1" in
  [Uu]sername*) printf '%s\\n' "${USER_ENV}" ;;
  *) printf '%s\\n' "${PASS_ENV}" ;;
esac
"""


@dataclass(frozen=True)
class Remote:
    url: str  # without credentials
    scheme: str  # "https", "http" or "ssh"
    host: str
    path: str  # "/workspace/slug.git" (ssh scp form: "workspace/slug.git")
    username: str | None = None  # from the URL
    password: str | None = None  # from the URL (masked, then dropped from it)

    @property
    def display(self) -> str:
        return self.url


_OPTION = ("GITOPS_REPO has a user or host starting with '-', which ssh would take as an option: "
           "give the clone URL as Bitbucket shows it, e.g. git@bitbucket.org:acme/gitops.git")


def parse_remote(url: str) -> Remote:
    """Parse GITOPS_REPO; raises PipeError naming the variable and the accepted forms."""
    url = url.strip()
    hint = ("GITOPS_REPO must be a git URL: https://host/workspace/repo.git, "
            "git@host:workspace/repo.git or ssh://git@host[:port]/workspace/repo.git")
    if "://" in url:
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http", "ssh") or not parts.hostname or not parts.path.strip("/"):
            raise PipeError(hint)
        user = unquote(parts.username) if parts.username else None
        password = unquote(parts.password) if parts.password else None
        if password:
            secrets.register(password)
        if (user or "").startswith("-") or parts.hostname.startswith("-"):
            raise PipeError(_OPTION)
        netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
        if parts.scheme == "ssh" and user:
            netloc = f"{user}@{netloc}"
        clean = urlunsplit((parts.scheme, netloc, parts.path, "", ""))
        return Remote(clean, parts.scheme, parts.hostname, parts.path, user, password)
    if "@" in url and ":" in url.split("@", 1)[1]:
        user, rest = url.split("@", 1)
        host, path = rest.split(":", 1)
        if user.startswith("-") or host.startswith("-"):
            raise PipeError(_OPTION)
        if user and host and path.strip("/") and " " not in url:
            return Remote(url, "ssh", host, path, user)
    raise PipeError(hint)


@dataclass
class Credentials:
    """What git needs in its environment; ``files`` are removed by :func:`cleanup`."""
    env: dict[str, str] = field(default_factory=dict)
    kind: str = "none"  # "token", "api-token", "password", "ssh", "none"
    files: list[Path] = field(default_factory=list)


def cleanup(creds: Credentials) -> None:
    """Remove the files holding credentials (the private key copy)."""
    for path in creds.files:
        path.unlink(missing_ok=True)
    creds.files.clear()


def _private_file(path: Path, text: str) -> Path:
    """Write ``text`` to a new file readable by its owner only (0600 from its creation)."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text if text.endswith("\n") else text + "\n")
    return path


API_TOKEN_USER = "x-bitbucket-api-token-auth"  # Atlassian's static git username for API tokens
ACCESS_TOKEN_USER = "x-token-auth"  # and for repository, project and workspace access tokens


def https(remote: Remote, workdir: Path, token: str | None, username: str | None,
          password: str | None, api_token: str | None = None) -> Credentials:
    askpass = workdir / "askpass.sh"
    askpass.write_text(ASKPASS)
    askpass.chmod(0o700)
    env = {"GIT_ASKPASS": str(askpass), "GIT_TERMINAL_PROMPT": "0"}
    if password:
        secrets.register(password)
        env.update({USER_ENV: username or remote.username or "git", PASS_ENV: password})
        return Credentials(env, "password")
    if api_token:
        secrets.register(api_token)
        env.update({USER_ENV: API_TOKEN_USER, PASS_ENV: api_token})
        return Credentials(env, "api-token")
    if token:
        secrets.register(token)
        env.update({USER_ENV: ACCESS_TOKEN_USER, PASS_ENV: token})
        return Credentials(env, "token")
    if remote.password:
        env.update({USER_ENV: remote.username or "git", PASS_ENV: remote.password})
        return Credentials(env, "password")
    # no credentials: a public repository; the askpass answers empty, git fails fast on 401
    env.update({USER_ENV: "", PASS_ENV: ""})
    return Credentials(env, "none")


def ssh(remote: Remote, workdir: Path, key_b64: str | None, known_hosts: str | None) -> Credentials:
    key = sshkey.private_key(key_b64, PIPELINES_SSH_DIR, missing=(
        "No SSH key for GITOPS_REPO: set SSH_KEY (base64 of the private key of an account that may "
        "write; a repository access key only reads) or "
        "configure the repository's SSH key in Repository settings > Pipelines > SSH keys"))
    if known_hosts:
        hosts_file = workdir / "known_hosts"
        hosts_file.write_text(sshkey.known_hosts_lines(known_hosts))
    else:
        hosts_file = PIPELINES_SSH_DIR / "known_hosts"
        if not hosts_file.is_file() or not hosts_file.read_text(errors="replace").strip():
            raise PipeError(f"Host keys are always checked and none is known for {remote.host}: "
                            "set KNOWN_HOSTS (lines from 'ssh-keyscan <host>', after checking the "
                            "fingerprint) or add the host in Repository settings > Pipelines > "
                            "SSH keys > Known hosts")
    # ssh refuses a key that others can read: git gets a private copy, removed by cleanup()
    key_file = _private_file(workdir / "id_key", key)
    command = ["ssh", "-i", str(key_file), "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
               "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={hosts_file}",
               "-o", "GlobalKnownHostsFile=/dev/null", "-o", "ConnectTimeout=30",
               "-o", "LogLevel=ERROR", "-F", "/dev/null"]
    env = {"GIT_SSH_COMMAND": " ".join(shlex.quote(c) for c in command), "GIT_SSH_VARIANT": "ssh",
           "GIT_TERMINAL_PROMPT": "0"}
    return Credentials(env, "ssh", [key_file])
