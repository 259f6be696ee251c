#!/usr/bin/env python3
"""Release one pipe image from a ``<pipe>-v<X.Y.Z>`` git tag (the repository's release step).

    python3 .ci/release.py build-push-v1.2.3      (default: $BITBUCKET_TAG)

Checks that the tag names a pipe of this repository (listed in pyproject.toml, ``[tool.do-pipes]
pipes``) at its latest released version (semversioner:
``.semversioner/<X.Y.Z>.json`` exists, no change waits in ``next-release/``, ``pipe.yml`` and the
changelog name that version), refuses a version already in the registry (a released version never
changes), then builds the image from the repository root and pushes ``X.Y.Z``, ``X.Y`` and ``X``.
The floating tags only ever move forward: a tag can only release the pipe's latest version.

Where: the public registry and namespace of ``release.toml`` at the repository root (Docker Hub,
which Bitbucket pulls ``pipe: docker://<namespace>/<pipe>:X.Y.Z`` from without credentials);
``pipe.yml`` must name the image there. ``docker login`` is done before.

Environment: RELEASE_REGISTRY (``<registry>/<namespace>`` to push to instead, e.g. a test registry),
BASE_IMAGE (build argument; default: the Dockerfile's), BUILD_NETWORK (``docker build --network``,
for an engine without a default bridge), BITBUCKET_COMMIT (the revision label).
Standard library only: the release step needs python3 (3.11+) and the docker CLI, nothing else.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = "release.toml"
DOCKER_HUB = "docker.io"
TAG = re.compile(r"(?P<pipe>[a-z0-9][a-z0-9-]*?)-v(?P<version>(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*))")
Version = tuple[int, int, int]


class ReleaseError(Exception):
    pass


def public_registry(root: Path) -> str:
    """``<registry>/<namespace>`` from ``release.toml``: where releases go by default."""
    path = root / CONFIG
    try:
        config = tomllib.loads(path.read_text())
        registry, namespace = str(config["registry"]), str(config["namespace"])
    except (OSError, tomllib.TOMLDecodeError, KeyError) as err:
        raise ReleaseError(f"{path} must set registry and namespace ({err})") from err
    if registry == DOCKER_HUB and not re.fullmatch(r"[a-z0-9]{4,30}", namespace):
        raise ReleaseError(f"{CONFIG}: '{namespace}' is not a Docker Hub namespace (4-30 lowercase "
                           "letters and digits)")
    return f"{registry.rstrip('/')}/{namespace}"


def public_image(root: Path, pipe: str) -> str:
    """The image users name: ``<namespace>/<pipe>`` on Docker Hub (its short form, as ``docker://``
    and ``pipe.yml`` take it), ``<registry>/<namespace>/<pipe>`` anywhere else."""
    repo = f"{public_registry(root)}/{pipe}"
    return repo.removeprefix(f"{DOCKER_HUB}/")


def pipes(root: Path) -> list[str]:
    """The pipes of this repository: the one list, ``[tool.do-pipes] pipes`` in pyproject.toml."""
    path = root / "pyproject.toml"
    try:
        return [str(name) for name in tomllib.loads(path.read_text())["tool"]["do-pipes"]["pipes"]]
    except (OSError, tomllib.TOMLDecodeError, KeyError) as err:
        raise ReleaseError(f"{path} must list the pipes in [tool.do-pipes] pipes ({err})") from err


def parse_tag(tag: str) -> tuple[str, str]:
    match = TAG.fullmatch(tag.strip())
    if not match:
        raise ReleaseError(f"'{tag}' is not a release tag: use <pipe>-v<X.Y.Z>, e.g. build-push-v1.2.3")
    return match["pipe"], match["version"]


def as_version(text: str) -> Version:
    major, minor, patch = (int(part) for part in text.split("."))
    return major, minor, patch


def released(pipe_dir: Path) -> list[Version]:
    """The versions semversioner released for the pipe, oldest first."""
    found = []
    for path in (pipe_dir / ".semversioner").glob("*.json"):
        if re.fullmatch(r"\d+\.\d+\.\d+", path.stem):
            found.append(as_version(path.stem))
    return sorted(found)


def check(root: Path, pipe: str, version: str) -> None:
    """Refuse a tag that is not the pipe's latest released version, with the fix."""
    pipe_dir = root / "pipes" / pipe
    known = pipes(root)
    if pipe not in known:
        raise ReleaseError(f"no pipe '{pipe}' in this repository (pipes: {', '.join(known)})")
    versions = released(pipe_dir)
    if as_version(version) not in versions:
        raise ReleaseError(f"{pipe} {version} was never released with semversioner: run "
                           f"'semversioner release' in pipes/{pipe} and tag the commit it makes")
    latest = ".".join(map(str, versions[-1]))
    if version != latest:
        raise ReleaseError(f"{pipe} {version} is not its latest version ({latest}): only the latest "
                           "version is released, so that the floating tags never move back")
    pending = sorted((pipe_dir / ".semversioner" / "next-release").glob("*.json"))
    if pending:
        raise ReleaseError(f"{pipe} has {len(pending)} unreleased change(s) in .semversioner/next-release: "
                           "run 'semversioner release' first, then tag the commit it makes")
    image = re.search(r"^image:\s*(\S+)", (pipe_dir / "pipe.yml").read_text(), re.MULTILINE)
    if not image or not image.group(1).endswith(f":{version}"):
        raise ReleaseError(f"pipes/{pipe}/pipe.yml names {image.group(1) if image else 'no image'}, "
                           f"not version {version}: update it before tagging")
    public = f"{public_image(root, pipe)}:{version}"
    if image.group(1) != public:
        raise ReleaseError(f"pipes/{pipe}/pipe.yml names {image.group(1)}, not {public} where "
                           f"{CONFIG} releases it: update it before tagging")
    if f"## {version}\n" not in (pipe_dir / "CHANGELOG.md").read_text():
        raise ReleaseError(f"pipes/{pipe}/CHANGELOG.md has no '## {version}' section: run "
                           "'semversioner changelog > CHANGELOG.md'")


def references(registry: str, pipe: str, version: str) -> list[str]:
    major, minor, _ = version.split(".")
    repo = f"{registry.rstrip('/')}/{pipe}"
    return [f"{repo}:{version}", f"{repo}:{major}.{minor}", f"{repo}:{major}"]


def docker(args: Sequence[str], capture: bool = False) -> subprocess.CompletedProcess[str]:
    print("$ docker " + " ".join(args), flush=True)
    return subprocess.run(["docker", *args], text=True, check=False,
                          capture_output=capture)


def _loopback(reference: str) -> bool:
    host = reference.split("/", 1)[0]
    return host.startswith(("127.", "localhost")) or host.startswith("[::1]")


def exists(reference: str) -> bool:
    """Whether the registry already holds ``reference`` (``docker manifest inspect``)."""
    insecure = ["--insecure"] if _loopback(reference) else []
    result = docker(["manifest", "inspect", *insecure, reference], capture=True)
    if result.returncode == 0:
        return True
    text = (result.stderr + result.stdout).lower()
    if any(absent in text for absent in ("no such manifest", "manifest unknown", "name unknown", "not found")):
        return False
    raise ReleaseError(f"cannot tell whether {reference} exists: {result.stderr.strip()[-300:]}")


def release(root: Path, tag: str, registry: str, base_image: str | None, commit: str | None,
            network: str | None = None) -> dict[str, object]:
    """Build and push the tag's pipe image; return what was released (pipe, version, digest, tags)."""
    pipe, version = parse_tag(tag)
    check(root, pipe, version)
    refs = references(registry, pipe, version)
    if exists(refs[0]):
        raise ReleaseError(f"{refs[0]} is already released and a released version never changes: "
                           "release a new version instead")
    args = ["build", "-f", f"pipes/{pipe}/Dockerfile", "--label",
            f"org.opencontainers.image.version={version}"]
    if commit:
        args += ["--label", f"org.opencontainers.image.revision={commit}"]
    if base_image:
        args += ["--build-arg", f"BASE_IMAGE={base_image}"]
    if network:
        args += ["--network", network]
    for ref in refs:
        args += ["-t", ref]
    if docker([*args, str(root)]).returncode:
        raise ReleaseError(f"docker build of {pipe} failed (its output is above)")
    digest = ""
    for ref in refs:
        pushed = docker(["push", ref], capture=True)
        print(pushed.stdout, end="", flush=True)
        if pushed.returncode:
            raise ReleaseError(f"docker push {ref} failed: {pushed.stderr.strip()[-300:]}")
        found = re.search(r"digest: (sha256:[0-9a-f]{64})", pushed.stdout)
        digest = digest or (found.group(1) if found else "")
    return {"pipe": pipe, "version": version, "digest": digest, "tags": refs}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("tag", nargs="?", default=os.environ.get("BITBUCKET_TAG", ""))
    parser.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)  # tests
    args = parser.parse_args(argv)
    try:
        registry = os.environ.get("RELEASE_REGISTRY") or public_registry(args.root)
        done = release(args.root, args.tag, registry, os.environ.get("BASE_IMAGE") or None,
                       os.environ.get("BITBUCKET_COMMIT") or None,
                       os.environ.get("BUILD_NETWORK") or None)
    except ReleaseError as err:
        print(f"✖ {err}", flush=True)
        return 1
    print(json.dumps(done))
    print(f"✔ Released {done['pipe']} {done['version']} ({done['digest'] or 'digest not reported'})",
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
