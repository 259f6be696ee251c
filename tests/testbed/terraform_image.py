"""``hashicorp/terraform:<version>`` seeded locally from the terraform binary on PATH.

The tf-apply Dockerfile takes Terraform with ``COPY --from=hashicorp/terraform:<version>``; no
image can be pulled here, so the tag is made with ``docker import`` of a tar that holds
``bin/terraform`` (where the official image has it).  The binary's version must be the one the
Dockerfile pins, or the test would exercise a different Terraform than users get.
"""
from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import docker
from docker.errors import ImageNotFound

from .images import REPO_ROOT

REPOSITORY = "hashicorp/terraform"
# the start of the reason of every test skipped for want of Terraform (counted by tests/conftest.py)
MISSING = "no terraform for the tf-apply tests"


def pinned_version(dockerfile: Path = REPO_ROOT / "pipes" / "tf-apply" / "Dockerfile") -> str:
    match = re.search(r"^ARG TERRAFORM_VERSION=(\S+)$", dockerfile.read_text(), re.MULTILINE)
    if not match:
        raise RuntimeError(f"no 'ARG TERRAFORM_VERSION=' in {dockerfile}")
    return match.group(1)


def local_binary() -> tuple[Path, str]:
    found = shutil.which("terraform")
    if not found:
        raise RuntimeError("terraform is not on PATH: install the version the tf-apply Dockerfile "
                           "pins (ARG TERRAFORM_VERSION)")
    out = subprocess.run([found, "version", "-json"], capture_output=True, text=True, check=True,
                         env={"CHECKPOINT_DISABLE": "1", "PATH": "/usr/bin:/bin"})
    return Path(found).resolve(), str(json.loads(out.stdout)["terraform_version"])


def ensure(client: docker.DockerClient) -> str:
    """Return ``hashicorp/terraform:<pinned>``, importing it from the local binary if missing."""
    version = pinned_version()
    ref = f"{REPOSITORY}:{version}"
    try:
        client.images.get(ref)
        return ref
    except ImageNotFound:
        pass
    binary, local = local_binary()
    if local != version:
        raise RuntimeError(f"terraform on PATH is {local}, the Dockerfile pins {version}: install "
                           f"Terraform {version} (or change the pin)")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tar.gettarinfo(str(binary), arcname="bin/terraform")
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        info.mode = 0o755
        with open(binary, "rb") as handle:
            tar.addfile(info, handle)
    client.api.import_image_from_data(buf.getvalue(), repository=REPOSITORY, tag=version,
                                      changes=['ENTRYPOINT ["/bin/terraform"]'])
    client.images.get(ref)
    return ref
