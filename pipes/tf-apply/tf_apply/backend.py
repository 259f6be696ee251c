"""What the pipe injects into ``backend "s3" {}``, and Terraform's environment.

The Spaces keys reach Terraform only as ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` in its
environment: ``-backend-config`` values are written into ``.terraform/`` and into plan files.
"""
from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path

from .settings import Settings

# variables of the pipe (and of the AWS SDK) that must not leak into Terraform's environment
_DROP_PREFIXES = ("SPACES_", "AWS_")
_LISTS = re.compile(r"^(VARS|VAR_FILES|TARGETS|EXTRA_ARGS)(_COUNT|_[0-9]+)?$")
_DROP = frozenset({"DIGITALOCEAN_ACCESS_TOKEN", "DIGITALOCEAN_TOKEN", "PLAN_ID", "STATE_KEY",
                   "LOCKING", "LOCK_TIMEOUT", "MODE", "WORKSPACE", "TF_WORKSPACE", "WORKING_DIR",
                   "BITBUCKET_API_PROXY", "CODE_INSIGHTS"})


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


def terraform_env(s: Settings, base: Mapping[str, str] | None = None) -> dict[str, str]:
    source = os.environ if base is None else base
    env = {k: v for k, v in source.items()
           if k not in _DROP and not k.startswith(_DROP_PREFIXES) and not _LISTS.match(k)}
    env.update({
        "AWS_ACCESS_KEY_ID": s.access_key,
        "AWS_SECRET_ACCESS_KEY": s.secret_key,
        # Terraform >= 1.11.2 sends and checks new-style checksums that S3-compatible stores reject
        "AWS_REQUEST_CHECKSUM_CALCULATION": "when_required",
        "AWS_RESPONSE_CHECKSUM_VALIDATION": "when_required",
        "TF_IN_AUTOMATION": "1",
        "TF_INPUT": "0",
        "CHECKPOINT_DISABLE": "1",
        "TF_PLUGIN_CACHE_DIR": str(plugin_cache_dir(s)),
    })
    if source.get("AWS_CA_BUNDLE"):
        env["AWS_CA_BUNDLE"] = source["AWS_CA_BUNDLE"]
    if s.do_token:
        env["DIGITALOCEAN_TOKEN"] = s.do_token
    for name, value in s.tf_vars.items():
        env[f"TF_VAR_{name}"] = value
    return env
