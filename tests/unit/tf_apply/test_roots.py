"""roots: WORKING_DIRS globs, the roots found (module folders are not roots), the local modules
each root uses, transitively, and their state keys (two roots with one key refused)."""
from __future__ import annotations

from pathlib import Path

import pytest
from pipes_common.errors import PipeError
from testbed.pipes import REPO_ROOT
from tf_apply import roots

MONO = REPO_ROOT / "tests" / "fixtures" / "tf-apply" / "monorepo"


@pytest.mark.parametrize(("glob", "path", "matches"), [
    ("infra/*", "infra/network", True), ("infra/*", "infra/a/b", False),
    ("envs/**", "envs", True), ("envs/**", "envs/prod/eu", True), ("envs/**", "envsx", False),
    ("apps/*/infra", "apps/web/infra", True), ("**/infra", "infra", True),
    ("infra/[!n]*", "infra/network", False), ("infra/[nc]*", "infra/cluster", True),
    (".", ".", True), ("./infra/", "infra", True),
])
def test_glob(glob: str, path: str, matches: bool) -> None:
    assert bool(roots.glob_regex(glob).fullmatch(path)) is matches


def test_monorepo_roots_and_their_modules() -> None:
    found = roots.discover(MONO, ["infra/*", "apps/*/infra", "modules/**"])
    assert [(r.rel, r.modules) for r in found] == [
        ("apps/api/infra", ()), ("apps/web/infra", ("modules/tags",)),
        ("infra/cluster", ("modules/net", "modules/tags")),
        ("infra/network", ("modules/net", "modules/tags"))]


def test_state_keys_default_as_state_key_does_for_one_root() -> None:
    found = roots.with_state_keys(roots.discover(MONO, ["infra/network"]),
                                  "{repo_slug}/{root}/terraform.tfstate", "web")
    assert found[0].state_key == "web/infra/network/terraform.tfstate"
    assert roots.state_key("{repo_slug}/{root}/terraform.tfstate", ".", "web") == \
        "web/terraform.tfstate"


def test_two_roots_with_one_state_key_are_refused() -> None:
    with pytest.raises(PipeError, match="the roots apps/api/infra and apps/web/infra would share"):
        roots.with_state_keys(roots.discover(MONO, ["infra/*", "apps/*/infra"]),
                              "{repo_slug}/terraform.tfstate", "web")


def test_no_root_matched_is_one_clear_error() -> None:
    with pytest.raises(PipeError, match="WORKING_DIRS: no Terraform root"):
        roots.discover(MONO, ["modules/*"])


def test_a_root_with_another_backend_is_refused(tmp_path: Path) -> None:
    (tmp_path / "gcs").mkdir()
    (tmp_path / "gcs" / "main.tf").write_text('terraform {\n  backend "gcs" {}\n}\n')
    with pytest.raises(PipeError, match='declares backend "gcs"'):
        roots.discover(tmp_path, ["*"])


def test_links_are_not_followed(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "main.tf").write_text("terraform {\n}\n")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    assert [r.rel for r in roots.discover(tmp_path, ["*"])] == ["real"]


def test_a_module_cycle_ends(tmp_path: Path) -> None:
    for name, other in (("a", "b"), ("b", "a")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "main.tf").write_text(f'module "x" {{\n  source = "../{other}"\n}}\n')
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "main.tf").write_text('terraform {\n}\nmodule "a" {\n  source = "../a"\n}\n')
    found = roots.discover(tmp_path, ["root"])
    assert found[0].modules == ("a", "b")


def test_a_root_whose_file_cannot_be_followed_is_found_and_marked_incomplete(tmp_path: Path) -> None:
    """Hostile Terraform in a root (an unterminated heredoc, a file over the bound): the root is
    still found, read in bounded time, and marked incomplete, so that CHANGED_ONLY runs it."""
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "main.tf").write_text('terraform {\n  backend "s3" {}\n}\n')
    (tmp_path / "a" / "bad.tf").write_text('locals {\n  x = <<EOT\nnever ends\n')
    (tmp_path / "a" / "huge.tf").write_bytes(b"#" * (2_000_001))
    found = roots.discover(tmp_path, ["*"])
    assert [(r.rel, r.complete) for r in found] == [("a", False)]
