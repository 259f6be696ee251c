"""cosign 2.5.0, the standard tool, run against the test bed's registry: it checks what our pipes
sign and signs what our verifier must accept or refuse.  No transparency log here, so every call
passes ``--tlog-upload=false`` or ``--insecure-ignore-tlog=true``."""
from __future__ import annotations

import base64
import json
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


def docker_config(folder: Path, host: str, username: str, password: str) -> Path:
    """A ``DOCKER_CONFIG`` folder whose ``config.json`` holds the credentials of ``host`` only, for
    :func:`run`'s ``docker_config``."""
    folder.mkdir(parents=True, exist_ok=True)
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    (folder / "config.json").write_text(json.dumps({"auths": {host: {"auth": auth}}}))
    return folder


def verify(image: str, public_key: Path, docker_config: Path, *, attestation: bool = False,
           check: bool = False) -> subprocess.CompletedProcess[str]:
    """``cosign verify`` (or ``verify-attestation --type spdxjson``) of ``image`` (image@digest)
    with ``public_key``, no transparency log, over plain HTTP for a loopback registry."""
    kind = ["verify-attestation", "--type", "spdxjson"] if attestation else ["verify"]
    return run(*kind, "--key", str(public_key), "--insecure-ignore-tlog=true",
               "--allow-http-registry=true", "--output", "json", image,
               docker_config=docker_config, check=check)
