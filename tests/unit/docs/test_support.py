"""One place to report a problem, named alike everywhere: the suite's repository and its issue
tracker are written once, in pyproject.toml's ``[tool.do-pipes]``; every ``pipe.yml`` points its
``repository`` and its maintainer's and vendor's website there, every pipe README's Support section,
the root README and the getting-started guide give the issue tracker, and no document names another
home for the suite."""
from __future__ import annotations

import re
import tomllib

import pytest
import yaml
from testbed.pipes import PACKAGES, REPO_ROOT

PIPES = sorted(PACKAGES)
CONFIG = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["do-pipes"]
REPOSITORY, ISSUES = str(CONFIG["repository"]), str(CONFIG["issues"])


def support(pipe: str) -> str:
    text = (REPO_ROOT / "pipes" / pipe / "README.md").read_text()
    return text.split("\n## Support\n", 1)[1].split("\n## ", 1)[0]


def test_the_issue_tracker_is_the_repositorys() -> None:
    assert re.fullmatch(r"https://bitbucket\.org/[a-z0-9-]+/[a-z0-9._-]+", REPOSITORY), REPOSITORY
    assert ISSUES.removesuffix("/issues") == REPOSITORY
    # the one name: the Bitbucket workspace is the Docker Hub namespace the images are released to
    release = tomllib.loads((REPO_ROOT / "release.toml").read_text())
    assert REPOSITORY.split("/")[3] == release["namespace"]


@pytest.mark.parametrize("pipe", PIPES)
def test_pipe_yml_points_at_the_repository(pipe: str) -> None:
    meta = yaml.safe_load((REPO_ROOT / "pipes" / pipe / "pipe.yml").read_text())
    assert meta["repository"] == REPOSITORY
    assert meta["maintainer"]["website"] == REPOSITORY and meta["vendor"]["website"] == REPOSITORY


@pytest.mark.parametrize("pipe", PIPES)
def test_the_support_section_gives_the_issue_tracker(pipe: str) -> None:
    assert f"<{ISSUES}>" in support(pipe)


def test_the_readme_and_the_guide_give_the_issue_tracker() -> None:
    for path in (REPO_ROOT / "README.md", REPO_ROOT / "docs" / "getting-started.md"):
        assert f"<{ISSUES}>" in path.read_text(), path


def test_no_other_home_is_named() -> None:
    files = [REPO_ROOT / "README.md", *REPO_ROOT.glob("pipes/*/README.md"), *REPO_ROOT.glob("pipes/*/pipe.yml"),
             *REPO_ROOT.glob("docs/**/*.md"), *REPO_ROOT.glob("docs/examples/*.yml")]
    workspace = REPOSITORY.split("/")[3]
    for path in files:
        # acme/...: the user's own repositories in the examples
        homes = set(re.findall(r"bitbucket\.org/([A-Za-z0-9_-]+)/", path.read_text())) - {"acme", workspace}
        assert not homes, (path, homes)
