"""The Bitbucket Pipelines step context, read from the BITBUCKET_* variables (no HTTP here: the
REST API client is :mod:`pipes_common.bbapi`)."""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_API_URL = "https://api.bitbucket.org"  # the REST API (BITBUCKET_API_URL)


@dataclass(frozen=True)
class StepContext:
    clone_dir: Path
    commit: str | None
    branch: str | None
    tag: str | None
    repo_slug: str | None
    workspace: str | None
    repo_full_name: str | None
    build_number: str | None
    git_http_origin: str | None
    shared_storage_dir: Path | None
    pipe_storage_dir: Path | None
    pr_id: str | None
    ci: bool = False  # CI=true: Bitbucket Pipelines (or another CI) runs the step
    pr_destination_branch: str | None = None  # BITBUCKET_PR_DESTINATION_BRANCH
    pr_destination_commit: str | None = None  # BITBUCKET_PR_DESTINATION_COMMIT

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> StepContext:
        e: Mapping[str, str] = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = e.get(name, "").strip()
            return value or None

        clone = get("BITBUCKET_CLONE_DIR") or os.getcwd()
        shared = get("BITBUCKET_PIPE_SHARED_STORAGE_DIR")
        own = get("BITBUCKET_PIPE_STORAGE_DIR")
        return cls(
            clone_dir=Path(clone),
            commit=get("BITBUCKET_COMMIT"),
            branch=get("BITBUCKET_BRANCH"),
            tag=get("BITBUCKET_TAG"),
            repo_slug=get("BITBUCKET_REPO_SLUG"),
            workspace=get("BITBUCKET_WORKSPACE") or get("BITBUCKET_REPO_OWNER"),
            repo_full_name=get("BITBUCKET_REPO_FULL_NAME"),
            build_number=get("BITBUCKET_BUILD_NUMBER"),
            git_http_origin=get("BITBUCKET_GIT_HTTP_ORIGIN"),
            shared_storage_dir=Path(shared) if shared else None,
            pipe_storage_dir=Path(own) if own else None,
            pr_id=get("BITBUCKET_PR_ID"),
            ci=(get("CI") or "").lower() == "true",
            pr_destination_branch=get("BITBUCKET_PR_DESTINATION_BRANCH"),
            pr_destination_commit=get("BITBUCKET_PR_DESTINATION_COMMIT"),
        )

    @property
    def source_url(self) -> str | None:
        if self.git_http_origin:
            return self.git_http_origin
        if self.repo_full_name:
            return f"https://bitbucket.org/{self.repo_full_name}"
        return None

    @property
    def build_url(self) -> str | None:
        if self.repo_full_name and self.build_number:
            return (f"https://bitbucket.org/{self.repo_full_name}/addon/pipelines/home"
                    f"#!/results/{self.build_number}")
        return None
