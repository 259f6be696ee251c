"""Tags and OCI labels derived from the Bitbucket step, and their validation."""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from pipes_common.bitbucket import StepContext
from pipes_common.errors import PipeError
from pipes_common.imageref import is_tag, tag_safe

REVISION_LABEL = "org.opencontainers.image.revision"
SEMVER_RE = re.compile(
    r"^v?(?P<major>0|[1-9]\d*)\.(?P<minor>0|[1-9]\d*)\.(?P<patch>0|[1-9]\d*)"
    r"(?:-(?P<pre>[0-9A-Za-z.-]+))?(?:\+(?P<build>[0-9A-Za-z.-]+))?$")


def commit_tag(commit: str) -> str:
    return f"sha-{commit[:7]}"


def version_tags(git_tag: str) -> list[str]:
    """``v1.2.3`` -> ``1.2.3, 1.2, 1, latest``; a pre-release gets only its own version."""
    match = SEMVER_RE.match(git_tag)
    if not match:
        return [tag_safe(git_tag)]
    core = f"{match['major']}.{match['minor']}.{match['patch']}"
    if match["pre"]:
        return [tag_safe(f"{core}-{match['pre']}")]
    return [core, f"{match['major']}.{match['minor']}", match["major"], "latest"]


def default_tags(ctx: StepContext) -> list[str]:
    tags: list[str] = []
    if ctx.tag:
        tags.extend(version_tags(ctx.tag))
    elif ctx.branch:
        tags.append(tag_safe(ctx.branch))
    return tags


def validate(tags: Iterable[str]) -> list[str]:
    """De-duplicated tags in order; a bad one raises naming TAGS and the rule."""
    seen: list[str] = []
    for tag in tags:
        tag = tag.strip()
        if not is_tag(tag):
            shown = tag if len(tag) <= 40 else tag[:37] + "..."
            raise PipeError(f"TAGS: '{shown}' is not a valid Docker tag: use letters, digits, "
                            "'_', '.' and '-', not starting with '.' or '-', at most 128 characters")
        if tag not in seen:
            seen.append(tag)
    return seen


Version = tuple[int, int, int]


@dataclass(frozen=True)
class TagPlan:
    tags: list[str]          # every tag to push, commit tag first when known
    commit_tag: str | None   # the tag that identifies this commit's build (for SKIP_IF_EXISTS)
    branch_tag: str | None
    version_tag: str | None = None  # the version pushed for the git tag (v1.4.2 -> 1.4.2)
    release: Version | None = None  # a release X.Y.Z whose latest, X and X.Y move only forward

    @property
    def floating(self) -> tuple[str, ...]:
        """The release's tags that move with later releases (``latest``, ``X``, ``X.Y``) that
        the plan still pushes."""
        return tuple(t for t in floating_scopes(self.release) if t in self.tags)


def plan(ctx: StepContext, user_tags: list[str] | None) -> TagPlan:
    ctag = commit_tag(ctx.commit) if ctx.commit else None
    chosen = validate(user_tags) if user_tags else default_tags(ctx)
    tags = validate(([ctag] if ctag else []) + chosen)
    if not tags:
        raise PipeError("TAGS: no tag could be derived (no BITBUCKET_COMMIT, BITBUCKET_BRANCH or "
                        "BITBUCKET_TAG): set TAGS, e.g. TAGS: ['1.0.0']")
    branch = tag_safe(ctx.branch) if ctx.branch and not ctx.tag else None
    version = version_tags(ctx.tag)[0] if ctx.tag else None
    release = None if user_tags or ctx.tag is None else release_of(version_tags(ctx.tag))
    return TagPlan(tags, ctag, branch, version if version in tags else None, release)


def floating_scopes(release: Version | None) -> dict[str, tuple[int, ...]]:
    """The floating tags of ``release`` and the versions each stands for: ``latest`` every
    version, ``X`` major ``X``, ``X.Y`` minor ``X.Y`` (none without a release)."""
    if release is None:
        return {}
    major, minor, _ = release
    return {"latest": (), str(major): (major,), f"{major}.{minor}": (major, minor)}


def release_of(derived: list[str]) -> Version | None:
    """The version of a release's tags (``X.Y.Z, X.Y, X, latest``); None for anything else."""
    return core_version(derived[0]) if len(derived) == 4 else None


def core_version(tag: str) -> Version | None:
    """``1.4.2`` -> ``(1, 4, 2)``: a tag of the form the pipe pushes for a release, else None."""
    match = re.fullmatch(r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)", tag)
    return None if match is None else (int(match[1]), int(match[2]), int(match[3]))


@dataclass(frozen=True)
class Held:
    """A floating tag left where it is: ``newer`` is already pushed in its scope."""
    tag: str
    newer: str


def forward_only(plan_: TagPlan, pushed: Iterable[str]) -> tuple[TagPlan, list[Held]]:
    """The plan without the floating tags of a release that would move backwards.

    ``latest``, ``X`` and ``X.Y`` move only when the release is at least the highest version
    already pushed (``pushed``: the repository's tags) in their scope: every version, major ``X``,
    minor ``X.Y``.  A hotfix 1.3.5 after 1.4.0 moves only ``1.3``."""
    if plan_.release is None:
        return plan_, []
    release = plan_.release
    scopes = floating_scopes(release)
    versions = [v for v in map(core_version, pushed) if v is not None]
    held = []
    for tag, scope in scopes.items():
        newest = max((v for v in versions if v[:len(scope)] == scope), default=None)
        if tag in plan_.tags and newest is not None and newest > release:
            held.append(Held(tag, ".".join(map(str, newest))))
    kept = [t for t in plan_.tags if t not in {h.tag for h in held}]
    return replace(plan_, tags=kept), held


def key_values(entries: list[str] | None) -> dict[str, str]:
    """``KEY=VALUE`` entries (checked: schema.py) as a dict."""
    pairs = (entry.partition("=") for entry in entries or [])
    return {key.strip(): value for key, _, value in pairs}


def oci_labels(ctx: StepContext, plan_: TagPlan, now: datetime | None = None) -> dict[str, str]:
    created = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    labels = {"org.opencontainers.image.created": created}
    if ctx.source_url:
        labels["org.opencontainers.image.source"] = ctx.source_url
    if ctx.commit:
        labels[REVISION_LABEL] = ctx.commit
    version = (version_tags(ctx.tag)[0] if ctx.tag else plan_.branch_tag or plan_.commit_tag
               or plan_.tags[0])
    labels["org.opencontainers.image.version"] = version
    return labels
