"""``SSH: true``: the step's SSH key (``SSH_KEY``, or the repository's Pipelines SSH key that
Bitbucket mounts into the pipe) forwarded to ``RUN --mount=type=ssh``, and the known hosts
(``KNOWN_HOSTS``, or the Pipelines known hosts) handed to the build as the secret ``known_hosts``."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pipes_common import sshkey
from pipes_common.errors import PipeError

KNOWN_HOSTS_ID = "known_hosts"


@dataclass(frozen=True)
class SshForward:
    key: str = field(repr=False)
    known_hosts: str | None


def forward(key_b64: str | None, known_hosts: str | None,
            folder: Path = sshkey.PIPELINES_SSH_DIR) -> SshForward:
    key = sshkey.private_key(key_b64, folder, missing=(
        "SSH is true but there is no SSH key: configure the repository's SSH key in Repository "
        "settings > Pipelines > SSH keys, or set SSH_KEY (base64 of a private key)"))
    hosts = sshkey.known_hosts_lines(known_hosts) if known_hosts else sshkey.folder_known_hosts(folder)
    return SshForward(key, hosts)


def check_secret_ids(ssh: SshForward | None, secret_ids: set[str]) -> None:
    if ssh is not None and ssh.known_hosts and KNOWN_HOSTS_ID in secret_ids:
        raise PipeError(f"SECRETS: the id '{KNOWN_HOSTS_ID}' is the known hosts of SSH: give "
                        "your secret another id")
