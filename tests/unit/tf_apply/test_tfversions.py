"""Terraform version constraints, and the release table kept equal to the Dockerfile."""
from __future__ import annotations

import re

import pytest
from testbed.pipes import REPO_ROOT
from tf_apply import __version__, terraform, tfversions


@pytest.mark.parametrize(("version", "constraint", "ok"), [
    ("1.11.4", ">= 1.10", True), ("1.11.4", "~> 1.5.0", False), ("1.5.7", "~> 1.5.0", True),
    ("1.11.4", "~> 1.5", True), ("2.0.0", "~> 1.5", False), ("1.11.4", ">= 1.5, < 1.11", False),
    ("1.11.4", "1.11.4", True), ("1.11.4", "!= 1.11.4", False), ("1.11.4", "> 1.11.3", True),
    ("1.11.4", "<= 1.11", False), ("1.11.4", "= v1.11.4", True),
    ("1.11.4", "~> 1", True), ("2.0.0", "~> 1", False), ("1.11.4", "~> 1.11.4", True),
    ("1.12.0", "~> 1.11.4", False), ("1.11.0", "= 1.11", True), ("1.11.4", ">= 1.2, < 2", True),
    # a pre-release is below its release (its suffix was dropped: 1.11.4-rc1 read as 1.11.4)
    ("1.11.4", "1.11.4-rc1", False), ("1.11.4", "<= 1.11.4-rc1", False),
    ("1.11.4", ">= 1.11.4-beta2", True), ("1.11.4", "> 1.11.4-alpha1", True),
])
def test_satisfies(version: str, constraint: str, ok: bool) -> None:
    assert tfversions.satisfies(version, constraint) is ok


def test_unreadable_constraint() -> None:
    assert tfversions.satisfies("1.11.4", ">= banana") is None
    assert tfversions.release_for(">= banana") is None


def test_this_release_is_in_the_table_with_the_dockerfiles_terraform() -> None:
    dockerfile = (REPO_ROOT / "pipes" / "tf-apply" / "Dockerfile").read_text()
    bundled = re.search(r"ARG TERRAFORM_VERSION=(\S+)", dockerfile)
    assert bundled is not None
    assert (__version__, bundled.group(1)) in tfversions.RELEASES


def test_version_error_names_both_versions_and_the_release() -> None:
    text = ('Error: Unsupported Terraform Core version\n\n  on main.tf line 2, in terraform:\n'
            '   2:   required_version = "~> 1.11.0"\n')
    err = terraform.version_error(text, "1.12.0")
    assert err is not None
    assert "(~> 1.11.0)" in err.message and "Terraform 1.12.0" in err.message
    assert f"use tf-apply {tfversions.RELEASES[0][0]} (it bundles Terraform 1.11.4)" in err.message
    none = terraform.version_error(text.replace("~> 1.11.0", "~> 1.5.0"), "1.11.4")
    assert none is not None and "no tf-apply release bundles a matching Terraform" in none.message
