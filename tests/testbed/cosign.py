"""cosign 2.5.0, the standard tool, run against the test bed's registry: it checks what our pipes
sign and signs what our verifier must accept or refuse.  No transparency log here, so every call
passes ``--tlog-upload=false`` or ``--insecure-ignore-tlog=true``."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

from . import trixie
from .docker_engine import CACHE


def binary() -> Path:
    return trixie.cosign(CACHE)


def run(*args: str, env: dict[str, str] | None = None, docker_config: Path | None = None,
        check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``cosign args...`` with an environment of its own: no proxy, no sigstore TUF fetches
    (``SIGSTORE_NO_CACHE``), registry credentials only from ``docker_config``."""
    child = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root"),
             "COSIGN_EXPERIMENTAL": "0", "TUF_ROOT": str(CACHE / "cosign-tuf")}
    if docker_config is not None:
        child["DOCKER_CONFIG"] = str(docker_config)
    child.update(env or {})
    return subprocess.run([str(binary()), *args], env=child, capture_output=True, text=True,
                          check=check, timeout=timeout)


def generate_key_pair(folder: Path, password: str) -> tuple[Path, Path]:
    """``cosign generate-key-pair`` in ``folder``: (cosign.key, cosign.pub), the private key in
    cosign's own encrypted format."""
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run([str(binary()), "generate-key-pair"], cwd=folder, check=True, timeout=60,
                   env={"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root"),
                        "COSIGN_PASSWORD": password},
                   capture_output=True, text=True)
    return folder / "cosign.key", folder / "cosign.pub"
