"""Commit messages and remote URL parsing (credentials never stay in the URL)."""
from __future__ import annotations

from pathlib import Path

import pytest
from flux_bump import auth, engine, gitrepo, message
from flux_bump.references import Target
from pipes_common import secrets
from pipes_common.errors import PipeError


def _result(tmp_path: Path) -> engine.Result:
    (tmp_path / "a.yaml").write_text("image: reg.io/web:1\n")
    return engine.scan(tmp_path, Target("reg.io/web", "2"))


def test_default_message(tmp_path: Path) -> None:
    text = message.render(None, Target("reg.io/web", "2"), _result(tmp_path), "abc", "https://b/1")
    assert text == ("Bump reg.io/web to 2\n\na.yaml:1 image: reg.io/web:1 -> reg.io/web:2\n\n"
                    "Source commit: abc\nBuild: https://b/1\n")


def test_template_and_bad_field(tmp_path: Path) -> None:
    result = _result(tmp_path)
    target = Target("reg.io/web", "2", "sha256:" + "a" * 64)
    assert message.render("{image}@{digest} {{x}} {old} {files}", target, result, None, None) == (
        f"reg.io/web@sha256:{'a' * 64} {{x}} reg.io/web:1 a.yaml\n")
    with pytest.raises(PipeError, match=r"COMMIT_MESSAGE uses \{nope\}"):
        message.render("{nope}", target, result, None, None)
    with pytest.raises(PipeError, match="unmatched brace"):
        message.render("{", target, result, None, None)


@pytest.mark.parametrize(("url", "clean", "scheme"), [
    ("https://bitbucket.org/acme/gitops.git", "https://bitbucket.org/acme/gitops.git", "https"),
    ("git@bitbucket.org:acme/gitops.git", "git@bitbucket.org:acme/gitops.git", "ssh"),
    ("ssh://git@host:2222/acme/gitops.git", "ssh://git@host:2222/acme/gitops.git", "ssh"),
    ("https://user:s3cr3t-pass@host/a/b.git", "https://host/a/b.git", "https"),
])
def test_remote_urls(url: str, clean: str, scheme: str) -> None:
    remote = auth.parse_remote(url)
    assert (remote.url, remote.scheme) == (clean, scheme)
    if "s3cr3t" in url:
        assert remote.password == "s3cr3t-pass" and secrets.mask("s3cr3t-pass") != "s3cr3t-pass"


@pytest.mark.parametrize("url", ["ftp://h/a.git", "https://host", "host/path", "", "git@host"])
def test_bad_urls(url: str) -> None:
    with pytest.raises(PipeError, match="GITOPS_REPO must be a git URL"):
        auth.parse_remote(url)


def test_refusals_name_the_read_scopes_and_read_only_access_keys() -> None:
    """An Atlassian API token's write scopes do not include the read scopes, and a repository access
    key only reads: the advice on a refusal says both."""
    line = gitrepo.refused("api-token", "https://bitbucket.org/acme/gitops.git", True)
    for scope in ("read:repository:bitbucket", "write:repository:bitbucket", "read:pullrequest:bitbucket",
                  "write:pullrequest:bitbucket"):
        assert scope in line, line
