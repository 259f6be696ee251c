"""Which tf-apply release bundles which Terraform, and Terraform's version constraints.

:data:`RELEASES` lists every release (newest first) with the Terraform its image bundles; a
unit test keeps the entry of this version equal to the Dockerfile's ``TERRAFORM_VERSION``.  Used to
tell a configuration whose ``required_version`` rules out the bundled Terraform which release
has a matching one.
"""
from __future__ import annotations

import re

RELEASES: tuple[tuple[str, str], ...] = (  # (tf-apply version, bundled Terraform), newest first
    ("0.2.0", "1.11.4"),
    ("0.1.0", "1.11.4"),
)

_TERM = re.compile(r"^\s*(=|!=|>=|<=|>|<|~>)?\s*v?(\d+(?:\.\d+){0,2})(?:-[0-9A-Za-z.-]+)?\s*$")


def _parts(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


def _pad(parts: tuple[int, ...]) -> tuple[int, ...]:
    return (*parts, 0, 0, 0)[:3]


def satisfies(version: str, constraint: str) -> bool | None:
    """Whether ``version`` meets a Terraform constraint such as ``">= 1.5, ~> 1.5.0"``; None
    when the constraint cannot be read."""
    have = _pad(_parts(version))
    for term in constraint.split(","):
        match = _TERM.match(term)
        if match is None:
            return None
        op, raw = match.group(1) or "=", match.group(2)
        want = _parts(raw)
        if op == "~>":
            low = _pad(want)
            head = want[:-1] if len(want) > 1 else want
            high = _pad((*head[:-1], head[-1] + 1))
            ok = low <= have < high
        else:
            w = _pad(want)
            ok = {"=": have == w, "!=": have != w, ">": have > w, ">=": have >= w,
                  "<": have < w, "<=": have <= w}[op]
        if not ok:
            return False
    return True


def release_for(constraint: str) -> tuple[str, str] | None:
    """The newest (tf-apply, Terraform) release whose Terraform meets ``constraint``."""
    for pipe, terraform in RELEASES:
        if satisfies(terraform, constraint):
            return pipe, terraform
    return None
