"""The checked pipe variables (``schema.VARIABLES``, checked at the door) and the step context
made into one frozen value; every check of a single value or of variables together is declared in
``schema.py``: here only what needs the build directory (folders and files that must exist)."""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from pipes_common import secrets
from pipes_common.bitbucket import StepContext
from pipes_common.errors import PipeError

DEFAULT_TEMPLATE = "{repo_slug}/{root}/terraform.tfstate"  # STATE_KEY_TEMPLATE


@dataclass(frozen=True)
class Settings:
    access_key: str
    secret_key: str
    bucket: str
    region: str
    endpoint: str
    path_style: bool
    state_key: str
    clone_dir: Path
    working_dir: Path
    working_dir_rel: str
    mode: str
    plan_id: str | None
    workspace: str
    var_files: list[str]
    tf_vars: dict[str, str]
    targets: list[str]
    locking: str
    lock_timeout: str
    do_token: str | None
    extra_args: list[str]
    code_insights: bool
    api_proxy: str
    debug: bool
    comment: bool
    refresh_only: bool
    fail_on_drift: bool
    bb_api_url: str
    require_reviewed: bool
    bb_token: str | None = None
    pr_id: str | None = None
    branch: str | None = None
    commit: str | None = None
    build_number: str | None = None
    signing_key: str | None = None
    # many roots (WORKING_DIRS): empty for one root (WORKING_DIR)
    working_dirs: tuple[str, ...] = ()
    state_key_template: str = ""
    changed_only: bool = False
    parallelism: int = 4
    fail_fast: bool = False
    pr_destination: str | None = None  # the pull request's destination commit (or branch)

    @classmethod
    def from_values(cls, values: dict[str, Any], ctx: StepContext) -> Settings:
        """The settings from the validated variables (defaults applied by the schema) and the
        step context."""
        return _from_values(values, ctx)

    @property
    def state_object(self) -> str:
        """The key of the state object: Terraform's S3 backend puts other workspaces under env:/."""
        if self.workspace == "default":
            return self.state_key
        return f"env:/{self.workspace}/{self.state_key}"

    @property
    def lock_object(self) -> str:
        return f"{self.state_object}.tflock"

    @property
    def plans_prefix(self) -> str:
        return f"{self.state_key}.plans/{self.workspace}/"


def lock_timeout(raw: str) -> str:
    """``LOCK_TIMEOUT`` (checked: a duration) as Terraform's duration (a bare number means
    seconds)."""
    text = raw.strip()
    return f"{int(text)}s" if text.isdigit() else text


def tf_vars(entries: list[str] | None) -> dict[str, str]:
    """``VARS`` entries ``name=value`` (checked: schema.py) as ``{name: value}`` (passed as
    ``TF_VAR_name``)."""
    pairs = (entry.partition("=") for entry in entries or [])
    return {name.strip(): value for name, _, value in pairs}


def endpoint(region: str, custom: str | None) -> tuple[str, bool]:
    """The S3 endpoint and whether it needs path-style addressing (IP addresses, localhost)."""
    if not custom:
        return f"https://{region}.digitaloceanspaces.com", False
    url = custom.rstrip("/")
    host = urlsplit(url).hostname or ""
    try:
        ipaddress.ip_address(host)
        is_ip = True
    except ValueError:
        is_ip = False
    return url, is_ip or host == "localhost" or "." not in host


def default_state_key(ctx: StepContext, working_dir_rel: str) -> str:
    """``<repo slug>/<working dir>/terraform.tfstate`` (workspaces go under env:/<workspace>/)."""
    if not ctx.repo_slug:
        raise PipeError("STATE_KEY: no default without BITBUCKET_REPO_SLUG (not running in "
                        "Bitbucket Pipelines): set STATE_KEY, e.g. web/terraform.tfstate")
    parts = [ctx.repo_slug] + ([] if working_dir_rel == "." else [working_dir_rel])
    return "/".join([*parts, "terraform.tfstate"])


def _from_values(values: dict[str, Any], ctx: StepContext) -> Settings:
    # VARS and EXTRA_ARGS (-var=name=value) may hold secrets: masked like them from here on
    secrets.register_assigned([*(values.get("VARS") or []), *(values.get("EXTRA_ARGS") or [])],
                              (ctx.commit, ctx.branch, ctx.tag))
    rel = str(PurePosixPath(str(values["WORKING_DIR"]).strip()))  # relative: schema.py
    working = (ctx.clone_dir / rel).resolve()
    many = tuple(str(g).strip() for g in values.get("WORKING_DIRS") or [] if str(g).strip())
    if not working.is_dir():
        raise PipeError(f"WORKING_DIR: '{values['WORKING_DIR']}' is not a folder in the build "
                        "directory: set WORKING_DIR to the folder of the Terraform configuration, "
                        "relative to the repository root")
    var_files = list(values.get("VAR_FILES") or [])
    for name in [] if many else var_files:  # many roots: checked in each root (roots.py)
        if not (working / name).is_file():
            raise PipeError(f"VAR_FILES: '{name}' was not found: give paths relative to "
                            f"WORKING_DIR ({rel})")
    url, path_style = endpoint(str(values["SPACES_REGION"]), values.get("SPACES_ENDPOINT"))
    mode = str(values["MODE"])
    plan_id = values.get("PLAN_ID")
    if mode == "plan" and not plan_id:
        if not ctx.commit:
            raise PipeError("PLAN_ID: no default without BITBUCKET_COMMIT: set PLAN_ID to name "
                            "the saved plan")
        plan_id = ctx.commit
    return Settings(
        access_key=str(values["SPACES_ACCESS_KEY_ID"]),
        secret_key=str(values["SPACES_SECRET_ACCESS_KEY"]),
        bucket=str(values["SPACES_BUCKET"]),
        region=str(values["SPACES_REGION"]),
        endpoint=url,
        # a bucket name with dots does not fit the endpoint's wildcard TLS certificate as a host
        path_style=path_style or "." in str(values["SPACES_BUCKET"]),
        state_key=str(values.get("STATE_KEY") or ("" if many else default_state_key(ctx, rel))),
        clone_dir=ctx.clone_dir,
        working_dir=working,
        working_dir_rel=rel,
        mode=mode,
        plan_id=plan_id,
        workspace=str(values["WORKSPACE"]),
        var_files=var_files,
        tf_vars=tf_vars(values.get("VARS")),
        targets=list(values.get("TARGETS") or []),
        locking=str(values["LOCKING"]),
        lock_timeout=lock_timeout(str(values["LOCK_TIMEOUT"])),
        do_token=values.get("DIGITALOCEAN_ACCESS_TOKEN") or None,
        extra_args=list(values.get("EXTRA_ARGS") or []),
        code_insights=bool(values["CODE_INSIGHTS"]),
        api_proxy=str(values["BITBUCKET_API_PROXY"]).rstrip("/"),
        debug=bool(values["DEBUG"]),
        comment=bool(values["COMMENT"]),
        refresh_only=bool(values["REFRESH_ONLY"]),
        fail_on_drift=bool(values["FAIL_ON_DRIFT"]),
        bb_token=values.get("BITBUCKET_ACCESS_TOKEN") or None,
        bb_api_url=str(values["BITBUCKET_API_URL"]).rstrip("/"),
        require_reviewed=bool(values["REQUIRE_REVIEWED_PLAN"]),
        pr_id=ctx.pr_id,
        branch=ctx.branch,
        commit=ctx.commit,
        build_number=ctx.build_number,
        signing_key=values.get("PLAN_SIGNING_KEY") or None,
        working_dirs=many,
        state_key_template=str(values.get("STATE_KEY_TEMPLATE") or DEFAULT_TEMPLATE),
        changed_only=bool(ctx.pr_id) if values.get("CHANGED_ONLY") is None
        else bool(values["CHANGED_ONLY"]),
        parallelism=int(values["PARALLELISM"]),
        fail_fast=bool(values["FAIL_FAST"]),
        pr_destination=ctx.pr_destination_commit or (
            f"origin/{ctx.pr_destination_branch}" if ctx.pr_destination_branch else None),
    )
