"""Signed commits: ``SIGNING_KEY``, an SSH private key git signs with (``gpg.format ssh``).

The key only ever lives in a 0600 file of the pipe's temporary folder, removed when the pipe
ends (:func:`cleanup`); git finds it through ``GIT_CONFIG_*`` variables of its environment, so
nothing is written to the clone's ``.git/config``.  The key's text and its base64 are registered
with the masking logger before anything can print them."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pipes_common import proc, secrets, sshkey
from pipes_common.errors import PipeError

HINT = ("give an unencrypted SSH private key (ssh-keygen -t ed25519 -N ''), plain or base64 "
        "(base64 -w0 < signing_key), as a secured variable")


@dataclass(frozen=True)
class Signing:
    key_file: Path
    fingerprint: str

    @property
    def env(self) -> dict[str, str]:
        """git configuration through the environment (git 2.31+): sign every commit with it."""
        pairs = [("gpg.format", "ssh"), ("user.signingKey", str(self.key_file)),
                 ("commit.gpgSign", "true")]
        env = {"GIT_CONFIG_COUNT": str(len(pairs))}
        for i, (key, value) in enumerate(pairs):
            env[f"GIT_CONFIG_KEY_{i}"] = key
            env[f"GIT_CONFIG_VALUE_{i}"] = value
        return env


def _text(value: str) -> str | None:
    if "PRIVATE KEY-----" in value:
        return value.replace("\r\n", "\n")
    decoded = sshkey.decode_b64(value)
    if decoded is None:
        return None
    secrets.register(decoded)
    return decoded if "PRIVATE KEY-----" in decoded else None


def prepare(value: str | None, workdir: Path) -> Signing | None:
    """The signing set-up for ``SIGNING_KEY`` (None when it is not set)."""
    if not value:
        return None
    secrets.register(value)
    key = _text(value)
    if key is None:
        raise PipeError(f"SIGNING_KEY is not an SSH private key: {HINT}")
    secrets.register(key)
    path = workdir / "signing_key"
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key if key.endswith("\n") else key + "\n")
    # the public half proves the key is usable without a passphrase (git cannot ask for one);
    # ssh-keygen's own words are not shown: nothing of the key may reach the log
    check = proc.run(["ssh-keygen", "-y", "-P", "", "-f", str(path)], check=False,
                     env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    if not check.ok or not check.stdout.startswith(("ssh-", "ecdsa-", "sk-")):
        path.unlink(missing_ok=True)
        raise PipeError(f"SIGNING_KEY cannot be used to sign (protected by a passphrase, or not "
                        f"an SSH key): {HINT}")
    listed = proc.run(["ssh-keygen", "-l", "-f", str(path)], check=False,
                      env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    fingerprint = listed.stdout.split()[1] if listed.ok and len(listed.stdout.split()) > 1 else "?"
    return Signing(path, fingerprint)


def cleanup(signing: Signing | None) -> None:
    if signing is not None:
        signing.key_file.unlink(missing_ok=True)
