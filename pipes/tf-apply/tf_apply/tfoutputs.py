"""Terraform outputs for the next steps: non-sensitive values only; sensitive ones by name."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pipes_common import secrets
from pipes_common.bitbucket import StepContext
from pipes_common.fsutil import atomic_write

from . import PIPE

OUTPUTS_FILE = f"{PIPE}-outputs.json"


@dataclass(frozen=True)
class Outputs:
    values: dict[str, Any]      # non-sensitive outputs only
    sensitive: list[str]        # names of the sensitive outputs, never their values


def _register_leaves(value: Any) -> None:
    if isinstance(value, dict):
        for v in value.values():
            _register_leaves(v)
    elif isinstance(value, list):
        for v in value:
            _register_leaves(v)
    elif isinstance(value, str):
        secrets.register(value)


def split(raw: dict[str, Any]) -> Outputs:
    """``terraform output -json`` (or the apply ``outputs`` event) split by sensitivity.

    Sensitive values are registered with the masker (in case anything ever prints them) and
    dropped here, so nothing downstream can write them.
    """
    values: dict[str, Any] = {}
    sensitive: list[str] = []
    for name, spec in sorted(raw.items()):
        if not isinstance(spec, dict):
            continue
        if spec.get("sensitive"):
            _register_leaves(spec.get("value"))
            sensitive.append(name)
        elif "value" in spec:
            values[name] = spec["value"]
    return Outputs(values, sensitive)


def write_json(ctx: StepContext, outs: Outputs) -> None:
    """``.do-pipes/tf-apply-outputs.json`` in the build dir: exact values, for ``jq``."""
    doc = {"outputs": outs.values, "sensitive_outputs": outs.sensitive}
    atomic_write(ctx.clone_dir / ".do-pipes" / OUTPUTS_FILE,
                 json.dumps(doc, indent=2, sort_keys=True) + "\n", root=ctx.clone_dir)
