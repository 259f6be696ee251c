"""Debian 13 (trixie) packages for the test bed's modern engine lane, without touching this
machine's packages.

``apt-get download`` runs through a private apt configuration: its own sources list naming the
trixie suite of the same archive this machine's apt uses (read from ``/etc/apt/sources.list*``),
its own lists and cache folders.  Each package is unpacked with ``dpkg -x`` into a folder of the
test bed cache keyed on the pinned versions, so a second run reuses it and makes no request.
"""
from __future__ import annotations

import hashlib
import os
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path

from . import cachedir, debian

SUITE = "trixie"
KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
DEFAULT_ARCHIVE = "http://deb.debian.org/debian"
# the engine lane's packages, pinned (Debian 13's docker.io 26.1.5, buildx 0.13.1, containerd 1.7.24)
ENGINE_PACKAGES: Mapping[str, str] = {
    "docker.io": "26.1.5+dfsg1-9+deb13u1+b1",
    "docker-cli": "26.1.5+dfsg1-9+deb13u1+b1",
    "docker-buildx": "0.13.1+ds1-3",
    "containerd": "1.7.24~ds1-6+deb13u1",
}
# cosign 2.5.0 (Debian 13's package; a static Go binary that runs on Debian 12) checks our
# signatures and makes the ones the verifier must accept or refuse
COSIGN_PACKAGES: Mapping[str, str] = {"cosign": "2.5.0-2+b5"}


def archive(sources: Path = Path("/etc/apt")) -> str:
    """The Debian archive this machine's apt uses (the first ``URIs:``/``deb`` line naming a
    ``/debian`` archive), so the trixie packages come from the same mirror."""
    files = [sources / "sources.list"] if (sources / "sources.list").is_file() else []
    files += sorted((sources / "sources.list.d").glob("*.sources"))
    files += sorted((sources / "sources.list.d").glob("*.list"))
    for path in files:
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            line = line.strip()
            match = re.match(r"^URIs:\s*(\S+)", line) or re.match(r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)",
                                                                 line)
            if match and match.group(1).rstrip("/").endswith("/debian"):
                return match.group(1).rstrip("/")
    return DEFAULT_ARCHIVE


def _key(packages: Mapping[str, str]) -> str:
    return hashlib.sha256(repr(sorted(packages.items())).encode()).hexdigest()[:16]


def unpacked(packages: Mapping[str, str], cache: Path) -> Path:
    """The folder holding ``packages`` (name -> exact version) unpacked with ``dpkg -x``: made once
    (under a lock, renamed into place), then reused."""
    def make(work: Path) -> Path:
        debian.ensure({"apt-get": "apt", "dpkg": "dpkg"})
        debs = download(packages, work)
        root = work / "root"
        for deb in debs:
            subprocess.run(["dpkg", "-x", str(deb), str(root)], check=True)
        for deb in debs:
            deb.unlink()
        (root / ".complete").write_text("\n".join(f"{n}={v}" for n, v in sorted(packages.items())))
        return root

    return cachedir.made_once(cache / f"trixie-{_key(packages)}", "trixie.lock", make,
                              ready=lambda target: (target / ".complete").is_file())


def cosign(cache: Path) -> Path:
    """The path of Debian 13's ``cosign`` binary, unpacked into ``cache`` once."""
    binary = unpacked(COSIGN_PACKAGES, cache) / "usr" / "bin" / "cosign"
    if not binary.is_file():
        raise RuntimeError(f"the cosign package holds no {binary}")
    return binary


def download(packages: Mapping[str, str], work: Path) -> list[Path]:
    """``apt-get download name=version ...`` into ``work`` through a private apt configuration."""
    etc = work / "etc"
    (work / "lists" / "partial").mkdir(parents=True)
    (work / "cache" / "archives" / "partial").mkdir(parents=True)
    etc.mkdir()
    (etc / "trixie.sources").write_text(
        f"Types: deb\nURIs: {archive()}\nSuites: {SUITE}\nComponents: main\n"
        f"Signed-By: {KEYRING}\n")
    options = ["-o", f"Dir::Etc::SourceList={etc / 'trixie.sources'}",
               "-o", "Dir::Etc::SourceParts=-", "-o", f"Dir::State::Lists={work / 'lists'}",
               "-o", f"Dir::Cache={work / 'cache'}", "-o", "APT::Sandbox::User=root"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", *options, "update", "-qq"], check=True, env=env,
                   stdout=subprocess.DEVNULL)
    debs = work / "debs"
    debs.mkdir()
    subprocess.run(["apt-get", *options, "download", "-qq",
                    *(f"{name}={version}" for name, version in sorted(packages.items()))],
                   check=True, env=env, cwd=debs, stdout=subprocess.DEVNULL)
    found = sorted(debs.glob("*.deb"))
    if len(found) != len(packages):
        raise RuntimeError(f"apt-get download fetched {len(found)} of {len(packages)} packages")
    return found
