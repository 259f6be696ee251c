"""Which tf-apply release bundles which Terraform, and Terraform's version constraints.

:data:`RELEASES` lists every release (newest first) with the Terraform its image bundles; a
unit test keeps the entry of this version equal to the Dockerfile's ``TERRAFORM_VERSION``.  Used to
tell a configuration whose ``required_version`` rules out the bundled Terraform which release
has a matching one.
"""
from __future__ import annotations

import re

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

RELEASES: tuple[tuple[str, str], ...] = (  # (tf-apply version, bundled Terraform), newest first
    ("0.3.0", "1.11.4"),
    ("0.2.1", "1.11.4"),
    ("0.2.0", "1.11.4"),
    ("0.1.0", "1.11.4"),
)

# one term of a constraint: an operator (none: '=') and a version, which may be a pre-release
_TERM = re.compile(r"^\s*(=|!=|>=|<=|>|<|~>)?\s*(v?\d+(?:\.\d+){0,2}(?:-[0-9A-Za-z.-]+)?)\s*$")


def _specifier(op: str, raw: str) -> str:
    """One Terraform term as a PEP 440 specifier.  ``~>`` (only the last given component may
    grow) has no spelling of its own there: ``~> 1.5.0`` is ``>=1.5.0,==1.5.*``, ``~> 1.5`` is
    ``>=1.5,==1.*``, ``~> 1`` is ``>=1,==1.*``."""
    want = Version(raw)
    if op == "~>":
        head = want.release[:-1] or want.release
        return f">={want},=={'.'.join(map(str, head))}.*"
    return f"{'==' if op == '=' else op}{want}"


def satisfies(version: str, constraint: str) -> bool | None:
    """Whether ``version`` meets a Terraform constraint such as ``">= 1.5, ~> 1.5.0"``; None
    when the constraint cannot be read."""
    specifiers = []
    for term in constraint.split(","):
        match = _TERM.match(term)
        if match is None:
            return None
        try:
            specifiers.append(_specifier(match.group(1) or "=", match.group(2)))
        except InvalidVersion:  # a pre-release suffix PEP 440 cannot read (1.5.0-foo)
            return None
    return SpecifierSet(",".join(specifiers)).contains(version, prereleases=True)


def release_for(constraint: str) -> tuple[str, str] | None:
    """The newest (tf-apply, Terraform) release whose Terraform meets ``constraint``."""
    for pipe, terraform in RELEASES:
        if satisfies(terraform, constraint):
            return pipe, terraform
    return None
