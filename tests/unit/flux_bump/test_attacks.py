"""Inputs that passed the door and still hurt (issue 20): each test is named after the attack."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flux_bump import auth, engine, message, yamldoc
from flux_bump.references import Target
from flux_bump.schema import BRANCH_FIELDS, VARIABLES
from flux_bump.settings import Settings
from pipes_common.bitbucket import StepContext
from pipes_common.errors import PipeError

WEB = "registry.digitalocean.com/acme/web"


def _bomb(width: int, depth: int) -> str:
    """A reference to WEB and anchors, each level aliasing the one below ``width`` times."""
    lines = [f"image: {WEB}:1.0.0", f"a0: &a0 [{','.join(['x'] * width)}]"]
    lines += [f"a{i}: &a{i} [{','.join([f'*a{i - 1}'] * width)}]" for i in range(1, depth + 1)]
    return "\n".join(lines) + "\n"


def test_a_yaml_alias_bomb_in_a_gitops_file_is_skipped_and_named(tmp_path: Path) -> None:
    """352 bytes expanding to millions of nodes: skipped with its name, the other files bumped."""
    (tmp_path / "bomb.yaml").write_text(_bomb(9, 6))
    (tmp_path / "deploy.yaml").write_text(f"image: {WEB}:1.0.0\n")
    result = engine.scan(tmp_path, Target(WEB, "2.0.0"))
    assert [s.split(":")[0] for s in result.skipped] == ["bomb.yaml"]
    assert "alias bomb" in result.skipped[0]
    assert [c.path for c in result.changes] == ["deploy.yaml"]


def test_a_just_too_large_alias_expansion_is_refused_by_the_parser() -> None:
    """7**6 nodes through aliases: over the bound (the comparison after an edit walks them)."""
    with pytest.raises(yamldoc.AliasBomb):
        yamldoc.compose(_bomb(7, 6))
    assert yamldoc.compose(_bomb(3, 3))  # a few aliases are fine


def test_flow_collections_nested_too_deep_are_skipped_not_a_crash(tmp_path: Path) -> None:
    """libyaml's composer recurses per level: 50000 '[' crash the process (a segfault)."""
    (tmp_path / "deep.yaml").write_text(f"image: {WEB}:1.0.0\nk: {'[' * 50000}{']' * 50000}\n")
    result = engine.scan(tmp_path, Target(WEB, "2.0.0"))
    assert result.skipped == ["deep.yaml: not read: it is nested more than 500 levels deep"]


@pytest.mark.parametrize("template", ["{tag:>9999999999}", "Bump {image!r}", "{tag:{image}}",
                                      "{tag!s:>50}", "{tag:^20}"])
def test_a_commit_message_format_spec_is_refused_before_it_is_filled(template: str) -> None:
    """``{tag:>9999999999}`` would allocate some 10 GB: refused, not formatted."""
    with pytest.raises(PipeError, match=r"^COMMIT_MESSAGE uses .*format spec or conversion"):
        message.check_template(template)


def test_a_branch_name_conversion_is_refused() -> None:
    with pytest.raises(PipeError, match=r"^BRANCH_NAME uses \{tag!a\}: a format spec"):
        message.check_template("deploy/{tag!a}", "BRANCH_NAME", BRANCH_FIELDS)


def _check(url: str) -> str | None:
    return next((m for check in VARIABLES["GITOPS_REPO"].checks if (m := check({"GITOPS_REPO": url}))), None)


@pytest.mark.parametrize("url", [
    "ssh://-oProxyCommand=touch%20/tmp/pwned@bitbucket.org/acme/gitops.git",
    "ssh://%2DoProxyCommand=x@bitbucket.org/acme/gitops.git",
    "-oProxyCommand=x@bitbucket.org:acme/gitops.git",
    "git@-oProxyCommand=x:acme/gitops.git",
])
def test_a_gitops_repo_user_or_host_that_ssh_reads_as_an_option_is_refused(url: str) -> None:
    assert (_check(url) or "").startswith("GITOPS_REPO has a user or host starting with '-'")
    with pytest.raises(PipeError, match=r"^GITOPS_REPO has a user or host starting with '-'"):
        auth.parse_remote(url)


def _values(**over: Any) -> dict[str, Any]:
    values: dict[str, Any] = dict(VARIABLES.defaults)
    values.update(GITOPS_REPO="https://bitbucket.org/acme/gitops.git", IMAGE=WEB, TAG="1.2.3")
    values.update(over)
    return values


def test_a_clone_dir_inside_the_build_directory_is_refused(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    build = tmp_path / "build"
    build.mkdir()
    monkeypatch.chdir(build)
    ctx = StepContext.from_env({"BITBUCKET_CLONE_DIR": str(build)})
    outside = Settings.from_values(_values(CLONE_DIR=str(tmp_path / "gitops")), ctx)
    assert outside.clone_dir == (tmp_path / "gitops").resolve()
    (tmp_path / "looks-outside").symlink_to(build)  # a symbolic link does not get around it
    for clone_dir in ("gitops", str(build / ".do-pipes"), str(build), "./x/../y",
                      str(tmp_path / "looks-outside" / "gitops")):
        with pytest.raises(PipeError, match=r"^CLONE_DIR .* is inside the build directory"):
            Settings.from_values(_values(CLONE_DIR=clone_dir), ctx)
