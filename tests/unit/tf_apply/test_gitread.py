"""gitread: the files two commits differ in, read from .git in Python, equal to what git itself
says (``git diff --name-only --no-renames``), loose and packed (deltas by offset after ``git gc
--aggressive``), for two commits and for what a branch changed since it left another."""
from __future__ import annotations

import os
import random
import subprocess
from pathlib import Path

import pytest
from tf_apply import gitread

ENV = {**os.environ, "GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@example.com",
       "GIT_COMMITTER_NAME": "a", "GIT_COMMITTER_EMAIL": "a@example.com"}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True, env=ENV).stdout.strip()


@pytest.fixture()
def history(tmp_path: Path) -> tuple[Path, list[str]]:
    """60 commits changing, adding and deleting files in nested folders, on two branches."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    rnd = random.Random(7)
    paths = [f"d{i}/s{j}/f{k}.tf" for i in range(4) for j in range(3) for k in range(3)]
    commits = []
    for n in range(60):
        if n == 30:
            git(repo, "checkout", "-q", "-b", "feature")
        if n == 45:
            git(repo, "checkout", "-q", "main")
        for path in rnd.sample(paths, 3):
            target = repo / path
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists() and rnd.random() < 0.2:
                target.unlink()
            else:
                target.write_text("x" * rnd.randint(1, 3000) + f"{n}\n")
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "--allow-empty", "-m", str(n))
        commits.append(git(repo, "rev-parse", "HEAD"))
    git(repo, "checkout", "-q", "feature")
    return repo, commits


def same_as_git(repo: Path, commits: list[str]) -> None:
    for a, b in ((commits[0], commits[-1]), (commits[10], commits[44]), (commits[50], commits[20])):
        assert gitread.changed_files(repo, a, b) == set(
            git(repo, "diff", "--name-only", "--no-renames", a, b).split())
    assert gitread.changed_files(repo, "main", "HEAD", merge_base=True) == set(
        git(repo, "diff", "--name-only", "--no-renames", "main...HEAD").split())
    assert gitread.Repo(repo).resolve(commits[5][:10]) == commits[5]


def test_loose_objects_as_git_reads_them(history: tuple[Path, list[str]]) -> None:
    same_as_git(*history)


def test_packed_objects_with_deltas_as_git_reads_them(history: tuple[Path, list[str]]) -> None:
    repo, commits = history
    git(repo, "gc", "-q", "--aggressive")
    assert not list((repo / ".git" / "objects").glob("??/*"))
    same_as_git(repo, commits)


def test_a_shallow_clone_without_the_base_says_so(history: tuple[Path, list[str]],
                                                   tmp_path: Path) -> None:
    repo, _ = history
    shallow = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "2", "--branch", "feature",
                    f"file://{repo}", str(shallow)], check=True, env=ENV)
    with pytest.raises(gitread.GitError, match=r"no common ancestor|not in the clone|not a commit"):
        gitread.changed_files(shallow, "origin/main", "HEAD", merge_base=True)
