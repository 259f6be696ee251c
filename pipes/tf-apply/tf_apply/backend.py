"""What the pipe injects into ``backend "s3" {}``, and Terraform's environment.

The Spaces keys reach Terraform only as ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` in its
environment: ``-backend-config`` values are written into ``.terraform/`` and into plan files.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from pipes_common import proc
from pipes_common.errors import PipeError

from .settings import Settings

# what of the pipe's own environment reaches Terraform besides the system's, the proxies and the CA
# files (proc.BASE_ENV); everything else it gets is set below from the settings. Pipe variables
# (BITBUCKET_ACCESS_TOKEN, PLAN_SIGNING_KEY, ...) and the step's BITBUCKET_* never do: a
# configuration's data "external" or local-exec could read them. TF_TOKEN_<host> are the
# credentials Terraform itself reads for a private module or provider registry, set for it on purpose.
ALLOW = ("AWS_CA_BUNDLE", "TF_LOG", "TF_LOG_CORE", "TF_LOG_PROVIDER", "TF_TOKEN_*")


def passed(name: str) -> bool:
    """Whether the pipe's environment variable ``name`` reaches Terraform."""
    return name in proc.child_env(None, ALLOW, source={name: ""})


def _hcl(value: str | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)  # a JSON string is a valid HCL string literal


def backend_config(s: Settings) -> str:
    """The ``-backend-config`` file: DigitalOcean's documented settings for Spaces, no secret."""
    settings: list[tuple[str, str | bool]] = [
        ("bucket", s.bucket),
        ("key", s.state_key),
        ("region", "us-east-1"),  # Spaces ignores it; the AWS SDK needs a valid one
        ("skip_credentials_validation", True),
        ("skip_requesting_account_id", True),
        ("skip_metadata_api_check", True),
        ("skip_region_validation", True),
        ("skip_s3_checksum", True),
        ("use_path_style", s.path_style),
    ]
    if s.locking != "off":
        settings.append(("use_lockfile", True))
    lines = [f"{name} = {_hcl(value)}" for name, value in settings]
    lines.append(f"endpoints = {{ s3 = {_hcl(s.endpoint)} }}")
    return "\n".join(lines) + "\n"


def endpoint_variable(s: Settings) -> str:
    """The variable an unreachable store is blamed on: SPACES_ENDPOINT when set, else the region."""
    return "SPACES_REGION" if s.endpoint == f"https://{s.region}.digitaloceanspaces.com" else \
        "SPACES_ENDPOINT"


def plugin_cache_dir(s: Settings) -> Path:
    """Inside the build directory, so a Bitbucket cache definition can keep it between builds."""
    return s.clone_dir / ".terraform.d" / "plugin-cache"


def written_folders(s: Settings) -> list[Path]:
    """The folders inside the build directory that Terraform writes to (``.do-pipes``, where every
    pipe writes, is checked for all of them when the pipe starts: ``runner.start``)."""
    data = s.working_dir / ".terraform"
    return [s.clone_dir / ".terraform.d", plugin_cache_dir(s), data, data / "providers",
            data / "modules"]


def refuse_links(s: Settings) -> None:
    """A folder the pipe writes to that the repository made a symbolic link would take the
    writes outside the build directory: refused, before anything is written."""
    for folder in written_folders(s):
        if folder.is_symlink():
            rel = folder.relative_to(s.clone_dir).as_posix()
            raise PipeError(f"{rel} in the build directory is a symbolic link: the pipe does not "
                            "write through links to outside BITBUCKET_CLONE_DIR. Remove it from "
                            "the repository (and from any Bitbucket cache or artifact)")


def terraform_env(s: Settings, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Terraform's environment, from an allow-list (:data:`ALLOW`) and the settings."""
    settings = {
        "AWS_ACCESS_KEY_ID": s.access_key,
        "AWS_SECRET_ACCESS_KEY": s.secret_key,
        # Terraform >= 1.11.2 sends and checks new-style checksums that S3-compatible stores reject
        "AWS_REQUEST_CHECKSUM_CALCULATION": "when_required",
        "AWS_RESPONSE_CHECKSUM_VALIDATION": "when_required",
        "TF_IN_AUTOMATION": "1",
        "TF_INPUT": "0",
        "CHECKPOINT_DISABLE": "1",
        "TF_PLUGIN_CACHE_DIR": str(plugin_cache_dir(s)),
    }
    if s.do_token:
        settings["DIGITALOCEAN_TOKEN"] = s.do_token
    for name, value in s.tf_vars.items():
        settings[f"TF_VAR_{name}"] = value
    return proc.child_env(settings, ALLOW, source=base)
