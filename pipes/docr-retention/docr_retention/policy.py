"""The retention policy: which tags of one repository to keep, which to delete, and why.

Pure: the tags (as the DigitalOcean API lists them), the policy and what the world says (the
branches that exist, what the GitOps repository names, the time) in; a :class:`Plan` out.

The decision is made per image (manifest digest): an image is kept when one of its tags has a
reason to be kept, and then every tag of it stays (deleting a tag of a kept image frees nothing).
A tag's own reasons, in order: ``PROTECT``, named in the GitOps repository (by tag, or its digest),
a floating release tag (``latest``, ``X``, ``X.Y``), a release (``KEEP_RELEASES``), younger than
``MIN_AGE``, the current tag of an existing branch, one of the newest ``KEEP_PER_BRANCH`` images of
its branch family, or not recognised at all (kept: the pipe deletes only what it understands).
Signature and attestation tags (``sha256-<hex>.sig``/``.att``) go with the image they name.
"""
from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from packaging.version import InvalidVersion, Version
from pipes_common import cosign
from wcmatch import fnmatch

from .settings import Policy

RELEASE = re.compile(r"v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?")
FLOATING = re.compile(r"latest|(0|[1-9]\d*)(\.(0|[1-9]\d*))?")
MEMBER = re.compile(r"(?P<family>.+)-(?:[0-9a-f]{7,40}|\d+)")  # <branch>-<commit>, <branch>-<build>
COMMIT = "sha"  # the family of build-push's commit tags sha-<commit> that no branch tag claims


@dataclass(frozen=True)
class Tag:
    name: str
    digest: str
    size: int            # compressed_size_bytes
    updated: datetime


@dataclass(frozen=True)
class World:
    """What the policy needs to know beyond the tags."""
    now: datetime
    branches: frozenset[str] | None    # the existing branches, tag-safe; None: not asked
    tags: frozenset[str]               # tags of this repository the GitOps repository names
    digests: frozenset[str]            # digests it names


@dataclass(frozen=True)
class Decision:
    tag: Tag
    keep: bool
    why: str


@dataclass(frozen=True)
class Plan:
    repository: str
    decisions: tuple[Decision, ...]

    @property
    def kept(self) -> list[Decision]:
        return [d for d in self.decisions if d.keep]

    @property
    def deleted(self) -> list[Decision]:
        return [d for d in self.decisions if not d.keep]

    @property
    def freed(self) -> int:
        """The compressed size of the manifests no tag keeps (layers another image still uses
        stay: the garbage collection reports what it really freed)."""
        kept = {d.tag.digest for d in self.kept}
        gone = {d.tag.digest: d.tag.size for d in self.deleted if d.tag.digest not in kept}
        return sum(gone.values())


def age(delta: timedelta) -> str:
    hours = int(delta.total_seconds() // 3600)
    return f"{hours // 24}d" if hours >= 48 else f"{hours}h" if hours >= 1 else "<1h"


def release_version(tag: str) -> Version | None:
    """The version of a release tag (``1.4.2``, ``v2.0.0-rc.1``), else None."""
    if not RELEASE.fullmatch(tag):
        return None
    try:
        return Version(tag.removeprefix("v"))
    except InvalidVersion:
        return Version(tag.removeprefix("v").split("-")[0].split("+")[0])


def family(tag: str, siblings: Iterable[str], branches: frozenset[str] | None) -> str | None:
    """The branch family of a (non-release) tag, or None when it is not recognised."""
    if branches is not None and tag in branches:
        return tag
    member = MEMBER.fullmatch(tag)
    if member:
        return member["family"]
    # a bare tag pushed beside a commit tag is build-push's branch tag
    if any(MEMBER.fullmatch(s) and s.startswith(f"{COMMIT}-") for s in siblings):
        return tag
    return None


def protected(repository: str, tag: str, globs: Iterable[str]) -> str | None:
    for glob in globs:
        if fnmatch.fnmatch(f"{repository}:{tag}" if ":" in glob else tag, glob, flags=fnmatch.BRACE):
            return glob
    return None


def plan(repository: str, tags: Iterable[Tag], policy: Policy, world: World) -> Plan:
    all_tags = sorted(tags, key=lambda t: t.name)
    images: dict[str, list[Tag]] = defaultdict(list)
    artefacts: list[Tag] = []
    for tag in all_tags:
        (artefacts if cosign.is_artefact_tag(tag.name) else images[tag.digest]).append(tag)

    own: dict[str, str] = {}       # tag name -> why it is kept on its own
    gone: dict[str, str] = {}      # tag name -> why it may go
    releases = sorted(((v, t) for t in all_tags if (v := release_version(t.name)) is not None),
                      key=lambda vt: vt[0], reverse=True)
    newest_releases = {t.name for _, t in releases[:policy.keep_releases]} if policy.keep_releases is not None \
        else {t.name for _, t in releases}
    families: dict[str, dict[str, datetime]] = defaultdict(dict)  # family -> digest -> newest update
    for digest, members in images.items():
        names = [t.name for t in members]
        fams = {f for t in members if (f := family(t.name, names, world.branches))} if members else set()
        if len(fams) > 1:
            fams.discard(COMMIT)
        for t in members:
            why = _own(repository, t, policy, world, newest_releases)
            if why:
                own[t.name] = why
        for fam in fams:
            families[fam][digest] = max(t.updated for t in members)
        for t in members:
            if t.name in own or release_version(t.name) is not None:
                if t.name not in own:
                    gone[t.name] = f"a release older than the newest {policy.keep_releases} (KEEP_RELEASES)"
                continue
            if family(t.name, names, world.branches) is None and not fams:
                own[t.name] = "not recognised as a branch, commit or release tag (PROTECT it, or delete it yourself)"
    for fam, digests in families.items():
        exists = world.branches is None or fam == COMMIT or fam in world.branches
        # newest first; at the same time, the image whose tags sort last (sha-…, build numbers)
        ranked = sorted(digests, key=lambda d: (digests[d], max(t.name for t in images[d])), reverse=True)
        for rank, digest in enumerate(ranked):
            for t in images[digest]:
                if t.name in own:
                    continue
                if t.name == fam and exists:
                    own[t.name] = f"the current tag of branch {fam}"
                elif not exists:
                    gone.setdefault(t.name, f"branch {fam} no longer exists")
                elif rank < policy.keep_per_branch:
                    own[t.name] = (f"one of the {policy.keep_per_branch} newest of "
                                   + ("commit tags" if fam == COMMIT else f"branch {fam}"))
                else:
                    gone.setdefault(t.name, f"older than the {policy.keep_per_branch} newest of "
                                    + ("commit tags" if fam == COMMIT else f"branch {fam}"))

    decisions: list[Decision] = []
    kept_by: dict[str, str] = {}   # digest -> the tag that keeps it
    for digest, members in images.items():
        keeper = next((t.name for t in members if t.name in own), None)
        if keeper is not None:
            kept_by[digest] = keeper
        for t in members:
            if t.name in own:
                decisions.append(Decision(t, True, own[t.name]))
            elif keeper is not None:
                decisions.append(Decision(t, True, f"same image as {keeper}"))
            else:
                decisions.append(Decision(t, False, gone.get(t.name, "no reason to keep it")))
    for t in artefacts:
        subject = "sha256:" + t.name.removeprefix("sha256-").rsplit(".", 1)[0]
        why = _protect_or_young(repository, t, policy, world)
        if subject in kept_by or subject in world.digests:
            keeper = kept_by.get(subject) or "an image named in GITOPS_REPO"
            decisions.append(Decision(t, True, f"goes with its image ({keeper})"))
        elif why:
            decisions.append(Decision(t, True, why))
        else:
            decisions.append(Decision(t, False, "goes with its image, deleted" if subject in images
                                      else "its image is no longer tagged"))
    decisions.sort(key=lambda d: (not d.keep, -d.tag.updated.timestamp(), d.tag.name))
    return Plan(repository, tuple(decisions))


def _protect_or_young(repository: str, t: Tag, policy: Policy, world: World) -> str | None:
    glob = protected(repository, t.name, policy.protect)
    if glob:
        return f"protected by PROTECT {glob}"
    if world.now - t.updated < policy.min_age:
        return f"younger than MIN_AGE ({age(world.now - t.updated)} old)"
    return None


def _own(repository: str, t: Tag, policy: Policy, world: World, newest_releases: set[str]) -> str | None:
    """Why ``t`` is kept whatever happens to the rest of its family, or None."""
    glob = protected(repository, t.name, policy.protect)
    if glob:
        return f"protected by PROTECT {glob}"
    if t.name in world.tags:
        return "named in GITOPS_REPO"
    if t.digest in world.digests:
        return "its digest is named in GITOPS_REPO"
    if FLOATING.fullmatch(t.name):
        return "a floating release tag"
    if t.name in newest_releases:
        return "a release" if policy.keep_releases is None else \
            f"a release, one of the newest {policy.keep_releases} (KEEP_RELEASES)"
    if world.now - t.updated < policy.min_age:
        return f"younger than MIN_AGE ({age(world.now - t.updated)} old)"
    return None
