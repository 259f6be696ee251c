"""The run's settings: every variable read once, as one frozen value.

:meth:`Settings.from_values` is the only reader of the variables (``values``, checked at the door
from ``schema.VARIABLES``); everything after it takes typed fields."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pipes_common.bitbucket import StepContext
from pipes_common.errors import PipeError

UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def duration(text: str) -> timedelta:
    """``30m``, ``12h``, ``7d`` (checked by the schema) as a timedelta."""
    match = re.fullmatch(r"(\d+)([mhd])", text)
    assert match is not None, text
    return timedelta(**{UNITS[match[2]]: int(match[1])})


@dataclass(frozen=True)
class Branches:
    """Where the existing branches of the application come from (None: no branch taken as gone)."""
    token: str
    workspace: str
    slug: str
    api_url: str


@dataclass(frozen=True)
class GitOps:
    url: str
    branches: tuple[str, ...]
    token: str | None


@dataclass(frozen=True)
class Policy:
    keep_per_branch: int
    keep_releases: int | None     # None: every release
    min_age: timedelta
    protect: tuple[str, ...]


@dataclass(frozen=True)
class Settings:
    token: str
    registry: str
    repositories: tuple[str, ...]  # () every repository
    policy: Policy
    branches: Branches | None
    gitops: GitOps | None
    dry_run: bool
    garbage_collection: bool
    gc_wait: timedelta
    api_url: str

    @classmethod
    def from_values(cls, values: dict[str, Any], ctx: StepContext) -> Settings:
        branches = None
        if values["BITBUCKET_ACCESS_TOKEN"]:
            full = values["SOURCE_REPOSITORY"] or (
                ctx.repo_full_name or (f"{ctx.workspace}/{ctx.repo_slug}" if ctx.workspace and ctx.repo_slug
                                       else None))
            if not full:
                raise PipeError("SOURCE_REPOSITORY is not set and the step names no repository "
                                "(BITBUCKET_REPO_FULL_NAME): set SOURCE_REPOSITORY to <workspace>/<repository>")
            workspace, _, slug = full.partition("/")
            branches = Branches(values["BITBUCKET_ACCESS_TOKEN"], workspace, slug, values["BITBUCKET_API_URL"])
        gitops = None
        if values["GITOPS_REPO"]:
            gitops = GitOps(values["GITOPS_REPO"], tuple(dict.fromkeys(values["GITOPS_BRANCHES"] or ["main"])),
                            values["GITOPS_ACCESS_TOKEN"])
        keep = values["KEEP_RELEASES"]
        return cls(
            token=values["DIGITALOCEAN_ACCESS_TOKEN"],
            registry=values["REGISTRY_NAME"],
            repositories=tuple(dict.fromkeys(values["REPOSITORIES"] or [])),
            policy=Policy(values["KEEP_PER_BRANCH"], None if keep == "all" else int(keep),
                          duration(values["MIN_AGE"]), tuple(values["PROTECT"] or [])),
            branches=branches,
            gitops=gitops,
            dry_run=values["DRY_RUN"],
            garbage_collection=values["GARBAGE_COLLECTION"],
            gc_wait=duration(values["GC_WAIT"]),
            api_url=values["DIGITALOCEAN_API_URL"],
        )
