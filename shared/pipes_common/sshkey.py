"""The SSH key a pipe uses: ``SSH_KEY`` (base64 of a private key), else the repository's Pipelines
SSH key that Bitbucket mounts world-readable into every pipe as
``/opt/atlassian/pipelines/agent/ssh/id_rsa_tmp``; and ``KNOWN_HOSTS`` lines, plain or base64.
Every key read is registered for masking.  Writing a private copy is each caller's job."""
from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from . import secrets, validate
from .errors import PipeError
from .variables import Var

PIPELINES_SSH_DIR = Path("/opt/atlassian/pipelines/agent/ssh")
PIPELINES_KEY = "id_rsa_tmp"  # the repository's SSH key, as Bitbucket mounts it into a pipe



def variables(key_doc: str, hosts_doc: str,
              only_if: tuple[Callable[[Mapping[str, Any]], bool], str]) -> tuple[Var, Var]:
    """``SSH_KEY`` and ``KNOWN_HOSTS`` as every pipe that uses SSH declares them: the pipe gives
    their docs and when they are used at all (``only_if``, its end of message naming the name)."""
    def when(name: str) -> tuple[Callable[[Mapping[str, Any]], bool], str]:
        return only_if[0], only_if[1] + name
    return (
        Var("SSH_KEY", doc=key_doc, secret=True, rule=validate.Text(max_len=16384, multiline=True),
            hint="give the base64 of a private key ('base64 -w0 < id_ed25519') as a secured variable, "
                 "or unset it to use the repository's SSH key",
            only_if=when("SSH_KEY")),
        Var("KNOWN_HOSTS", doc=hosts_doc, rule=validate.Text(max_len=65536, multiline=True),
            hint="give known_hosts lines ('ssh-keyscan -t ed25519 <host>'), plain or base64",
            only_if=when("KNOWN_HOSTS")),
    )


def decode_b64(value: str) -> str | None:
    try:
        return base64.b64decode("".join(value.split()), validate=True).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None


def private_key(key_b64: str | None, folder: Path, *, missing: str) -> str:
    """The private key of ``SSH_KEY`` (base64) or of ``folder``'s ``id_rsa_tmp``; ``missing`` is
    the error when neither is there."""
    if key_b64:
        secrets.register(key_b64)
        key = decode_b64(key_b64)
        if key is None or "PRIVATE KEY" not in key:
            raise PipeError("SSH_KEY is not a base64-encoded private key: encode it with "
                            "'base64 -w0 < id_ed25519' and pass it as a secured variable")
    else:
        source = folder / PIPELINES_KEY
        try:
            key = source.read_text(encoding="utf-8")
        except (FileNotFoundError, NotADirectoryError):
            raise PipeError(missing) from None
        except (OSError, UnicodeDecodeError) as err:
            raise PipeError(f"The Pipelines SSH key {source} cannot be read ({type(err).__name__}): "
                            "set SSH_KEY (base64 of a private key) instead") from None
    secrets.register(key)
    return key if key.endswith("\n") else key + "\n"


def known_hosts_lines(value: str) -> str:
    """``KNOWN_HOSTS`` as known_hosts text (given plain or base64)."""
    text = value if " " in value.strip() else (decode_b64(value) or "")
    if " " not in text.strip():
        raise PipeError("KNOWN_HOSTS is not known_hosts lines ('host keytype key'), plain "
                        "or base64: get them with 'ssh-keyscan -t ed25519 <host>' and check "
                        "the fingerprint")
    return text.strip() + "\n"


def folder_known_hosts(folder: Path) -> str | None:
    """The known hosts of the Pipelines ssh folder (Repository settings > Pipelines > SSH keys >
    Known hosts), or None when there are none."""
    path = folder / "known_hosts"
    if not path.is_file():
        return None
    text = path.read_text(errors="replace").strip()
    return text + "\n" if text else None
