"""The local base image for the pipe Dockerfiles, for when ``python:3.12-slim`` cannot be pulled.

debootstrap minbase of the Debian release ``python:3.12-slim`` is built on (trixie, Debian 13:
the pipe images' apt steps run here against the release they ship with) with python3,
python3-venv, ca-certificates and git, this machine's CA bundle copied in (so pip works through
this network).  The root file system becomes a ``docker save`` archive written here (one layer, a
fixed config), kept in the test bed cache under a hash of its recipe and the CA bundle, and each
engine gets it with ``docker load``: the same image id on every engine and every run (``docker
import`` makes a new id each time, which breaks the build cache across fresh engines).
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import docker
from docker.errors import ImageNotFound

from . import cachedir, debian, trixie
from .docker_engine import CACHE

SUITE = trixie.SUITE
PACKAGES = ("python3", "python3-venv", "ca-certificates", "git")
MIRROR = os.environ.get("DO_PIPES_DEBIAN_MIRROR") or trixie.archive()
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
REPOSITORY = "do-pipes-testbed/base"
ENV = (
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG=C.UTF-8",
    "PIP_CERT=/etc/ssl/certs/ca-certificates.crt",
    "REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt",
)
CMD = ("/bin/bash",)
# the same as ``docker import --change`` lines (a benchmark re-imports the base's file system)
CHANGES = (*(f"ENV {e}" for e in ENV), f"CMD {json.dumps(list(CMD))}")
# trimmed from the root file system: documentation, locales, apt lists and caches
TRIM = ("usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale",
        "var/lib/apt/lists", "var/cache/apt", "var/cache/debconf/templates.dat-old")
CREATED = "2025-01-01T00:00:00Z"  # fixed: the config, hence the image id, depends on nothing else


def recipe_hash() -> str:
    digest = hashlib.sha256()
    digest.update(repr((SUITE, PACKAGES, ENV, CMD, TRIM, "minbase", "docker-save")).encode())
    if CA_BUNDLE.is_file():
        digest.update(CA_BUNDLE.read_bytes())
    return digest.hexdigest()[:16]


def tag() -> str:
    return f"{REPOSITORY}:{recipe_hash()}"


def ensure(client: docker.DockerClient, cache: Path | None = None) -> str:
    """Return the tag of the base image, loading it into the engine of ``client`` first when it
    is missing (the archive is made once per recipe and kept in ``cache``)."""
    name = tag()
    try:
        client.images.get(name)
        return name
    except ImageNotFound:
        pass
    archive = saved_archive(cache or CACHE)
    with archive.open("rb") as handle:
        client.images.load(handle.read())
    client.images.get(name)
    return name


def saved_archive(cache: Path) -> Path:
    """The ``docker save`` archive of the base image, made once (under a lock) and reused."""
    def make(work: Path) -> Path:
        debian.ensure({"debootstrap": "debootstrap"})
        layer = work / "layer.tar"
        _rootfs_tar(work / "rootfs", layer)
        _docker_save(layer, work / "image.tar")
        return work / "image.tar"

    return cachedir.made_once(cache / f"base-{recipe_hash()}.tar", "base.lock", make,
                              ready=Path.is_file)


def _rootfs_tar(rootfs: Path, layer: Path) -> None:
    subprocess.run(
        ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE,
         str(rootfs), MIRROR],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    for rel in TRIM:
        shutil.rmtree(rootfs / rel, ignore_errors=True)
    (rootfs / "var/lib/apt/lists/partial").mkdir(parents=True, exist_ok=True)
    if CA_BUNDLE.is_file():
        shutil.copyfile(CA_BUNDLE, rootfs / "etc/ssl/certs/ca-certificates.crt")
    subprocess.run(["tar", "--numeric-owner", "--sort=name", "-C", str(rootfs), "-cf", str(layer),
                    "."], check=True)
    shutil.rmtree(rootfs)


def _docker_save(layer: Path, out: Path) -> None:
    """Write the ``docker save`` archive of one layer with a fixed config to ``out``."""
    digest = hashlib.sha256()
    with layer.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    diff_id = f"sha256:{digest.hexdigest()}"
    config = json.dumps({
        "architecture": "amd64", "os": "linux", "created": CREATED,
        "config": {"Env": list(ENV), "Cmd": list(CMD)},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": CREATED,
                     "created_by": f"debootstrap --variant=minbase {SUITE} (do-pipes test bed)"}],
    }, sort_keys=True).encode()
    config_name = f"{hashlib.sha256(config).hexdigest()}.json"
    layer_name = f"{digest.hexdigest()}/layer.tar"
    manifest = json.dumps([{"Config": config_name, "RepoTags": [tag()],
                            "Layers": [layer_name]}]).encode()
    with tarfile.open(out, "w") as archive:
        for name, data in ((config_name, config), ("manifest.json", manifest)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        archive.add(str(layer), arcname=layer_name)
