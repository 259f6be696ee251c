"""The local base image for the pipe Dockerfiles, for when ``python:3.12-slim`` cannot be pulled.

debootstrap minbase bookworm with python3, python3-venv, ca-certificates and git, this machine's CA
bundle copied in (so pip works through this network), then ``docker import``.  The tag carries a
hash of the recipe and the CA bundle, so a second run finds and reuses it.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import docker
from docker.errors import ImageNotFound

from . import debian

SUITE = "bookworm"
PACKAGES = ("python3", "python3-venv", "ca-certificates", "git")
MIRROR = os.environ.get("DO_PIPES_DEBIAN_MIRROR", "http://deb.debian.org/debian")
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
REPOSITORY = "do-pipes-testbed/base"
CHANGES = (
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "ENV LANG=C.UTF-8",
    "ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt",
    "ENV REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt",
    'CMD ["/bin/bash"]',
)
# trimmed from the root file system: documentation, locales, apt lists and caches
TRIM = ("usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale",
        "var/lib/apt/lists", "var/cache/apt", "var/cache/debconf/templates.dat-old")


def recipe_hash() -> str:
    digest = hashlib.sha256()
    digest.update(repr((SUITE, PACKAGES, CHANGES, TRIM, "minbase")).encode())
    if CA_BUNDLE.is_file():
        digest.update(CA_BUNDLE.read_bytes())
    return digest.hexdigest()[:16]


def tag() -> str:
    return f"{REPOSITORY}:{recipe_hash()}"


def ensure(client: docker.DockerClient) -> str:
    """Return the tag of the base image, building and importing it first when it is missing."""
    name = tag()
    try:
        client.images.get(name)
        return name
    except ImageNotFound:
        pass
    debian.ensure({"debootstrap": "debootstrap"})
    work = Path(tempfile.mkdtemp(prefix="dopipes-base-"))
    try:
        rootfs = work / "rootfs"
        subprocess.run(
            ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE,
             str(rootfs), MIRROR],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for rel in TRIM:
            shutil.rmtree(rootfs / rel, ignore_errors=True)
        (rootfs / "var/lib/apt/lists/partial").mkdir(parents=True, exist_ok=True)
        if CA_BUNDLE.is_file():
            shutil.copyfile(CA_BUNDLE, rootfs / "etc/ssl/certs/ca-certificates.crt")
        archive = work / "rootfs.tar"
        subprocess.run(["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(archive), "."],
                       check=True)
        repository, _, version = name.partition(":")
        client.api.import_image(src=str(archive), repository=repository, tag=version,
                                changes=list(CHANGES))
        client.images.get(name)
        return name
    finally:
        shutil.rmtree(work, ignore_errors=True)
