"""gitread: the files two commits differ in, read from .git with dulwich, equal to what git itself
says (``git diff --name-only --no-renames -z``): loose and packed objects (deltas by offset after
``git gc --aggressive``, and a pack beside loose objects), renames, deletions, a file turned into
a folder, names git would quote, for two commits and for what a branch changed since it left
another; in shallow clones as Bitbucket makes them (depth 50) and when the clone cannot tell."""
from __future__ import annotations

import os
import random
import subprocess
from pathlib import Path

import pytest
from tf_apply import gitread

ENV = {**os.environ, "GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@example.com",
       "GIT_COMMITTER_NAME": "a", "GIT_COMMITTER_EMAIL": "a@example.com"}
History = tuple[Path, list[str]]


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True, env=ENV).stdout.strip()


def git_diff(repo: Path, *revs: str) -> set[str]:
    out = subprocess.run(["git", "-C", str(repo), "diff", "--name-only", "--no-renames", "-z", *revs],
                         check=True, capture_output=True, env=ENV).stdout
    return {name.decode("utf-8", "surrogateescape") for name in out.split(b"\0") if name}


def commit(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture()
def history(tmp_path: Path) -> History:
    """60 commits changing, adding and deleting files in nested folders, on two branches, then a
    rename, a file that becomes a folder and names git quotes (a space, a non-ASCII letter)."""
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
        commits.append(commit(repo, str(n)))
    git(repo, "checkout", "-q", "feature")
    (repo / "d0" / "renamed").mkdir()
    for old in sorted((repo / "d0" / "s0").glob("*.tf")):
        old.rename(repo / "d0" / "renamed" / old.name)
    (repo / "env one").mkdir()
    (repo / "env one" / "prod é.tfvars").write_text('region = "fra1"\n')
    (repo / "d1" / "s1" / "f0.tf").unlink(missing_ok=True)
    (repo / "d1" / "s1" / "f0.tf").mkdir()
    (repo / "d1" / "s1" / "f0.tf" / "inner.tf").write_text("# a folder now\n")
    commits.append(commit(repo, "rename, quote, folder"))
    return repo, commits


def same_as_git(repo: Path, commits: list[str]) -> None:
    for a, b in ((commits[0], commits[-1]), (commits[10], commits[44]), (commits[50], commits[20]),
                 (commits[-2], commits[-1]), (commits[7], commits[7])):
        assert gitread.changed_files(repo, a, b) == git_diff(repo, a, b), (a, b)
    assert gitread.changed_files(repo, "main", "HEAD", merge_base=True) == git_diff(repo, "main...HEAD")
    assert gitread.changed_files(repo, "feature", "main", merge_base=True) == git_diff(repo, "feature...main")
    # abbreviated names, a branch, an annotated tag
    git(repo, "tag", "-a", "-m", "v1", "v1", commits[5])
    assert gitread.changed_files(repo, commits[5][:10], "main") == git_diff(repo, commits[5], "main")
    assert gitread.changed_files(repo, "v1", "HEAD") == git_diff(repo, commits[5], "HEAD")


def test_loose_objects_as_git_reads_them(history: History) -> None:
    same_as_git(*history)


def test_packed_objects_with_deltas_as_git_reads_them(history: History) -> None:
    repo, commits = history
    git(repo, "gc", "-q", "--aggressive")
    assert not list((repo / ".git" / "objects").glob("??/*"))
    same_as_git(repo, commits)


def test_a_pack_beside_loose_objects_as_git_reads_them(history: History) -> None:
    repo, commits = history
    git(repo, "gc", "-q")
    (repo / "d2" / "late.tf").write_text("# after the pack\n")
    commits.append(commit(repo, "late"))
    assert list((repo / ".git" / "objects").glob("??/*"))
    same_as_git(repo, commits)


def test_a_rename_is_a_deletion_and_an_addition(history: History) -> None:
    repo, commits = history
    moved = {p.name for p in (repo / "d0" / "renamed").iterdir()}
    assert moved
    changed = gitread.changed_files(repo, commits[-2], commits[-1])
    assert {*(f"d0/{folder}/{name}" for folder in ("s0", "renamed") for name in moved),
            "env one/prod é.tfvars", "d1/s1/f0.tf/inner.tf"} <= changed


def test_a_worktree_of_the_clone_reads_the_same(history: History, tmp_path: Path) -> None:
    repo, commits = history
    git(repo, "worktree", "add", "-q", str(tmp_path / "wt"), "main")
    assert (tmp_path / "wt" / ".git").is_file()
    assert gitread.changed_files(tmp_path / "wt", commits[3], "HEAD") == git_diff(repo, commits[3], "main")


def bitbucket_clone(repo: Path, into: Path, depth: int) -> Path:
    """A pull-request step's clone: the source branch at ``depth``, the destination fetched at
    the same depth (``origin/main``)."""
    subprocess.run(["git", "clone", "-q", "--depth", str(depth), "--branch", "feature",
                    f"file://{repo}", str(into)], check=True, env=ENV)
    git(into, "fetch", "-q", "--depth", str(depth), "origin", "main:refs/remotes/origin/main")
    return into


def test_a_shallow_clone_deep_enough_reads_as_a_full_one(history: History, tmp_path: Path) -> None:
    repo, _ = history
    for branch in ("main", "feature"):  # each 35 or 36 commits since they parted, 65 or 66 in all
        git(repo, "checkout", "-q", branch)
        for n in range(20):
            (repo / "d3" / f"{branch}.tf").write_text(f"{n}\n")
            commit(repo, f"{branch} {n}")
    shallow = bitbucket_clone(repo, tmp_path / "shallow", 50)
    assert (shallow / ".git" / "shallow").is_file()
    assert gitread.changed_files(shallow, "origin/main", "HEAD", merge_base=True) == \
        git_diff(repo, "main...feature")


def test_a_shallow_clone_without_the_common_ancestor_says_so(history: History, tmp_path: Path) -> None:
    repo, _ = history
    shallow = bitbucket_clone(repo, tmp_path / "shallow", 2)
    with pytest.raises(gitread.GitError, match=r"no common ancestor in the clone \(a shallow clone\?\)"):
        gitread.changed_files(shallow, "origin/main", "HEAD", merge_base=True)


def test_a_base_commit_the_clone_does_not_hold_says_so(history: History, tmp_path: Path) -> None:
    """On main, the commit of a root's last apply may be older than the clone's depth."""
    repo, commits = history
    shallow = bitbucket_clone(repo, tmp_path / "shallow", 2)
    with pytest.raises(gitread.GitError, match=f"{commits[3]} is not a commit, branch or tag of the clone"):
        gitread.changed_files(shallow, commits[3], "HEAD")
    with pytest.raises(gitread.GitError, match="is not a commit, branch or tag of the clone"):
        gitread.changed_files(shallow, "no-such-branch", "HEAD")


def test_several_common_ancestors_give_the_files_changed_since_any(tmp_path: Path) -> None:
    """A criss-cross merge: ``git diff a...b`` picks one merge base; a root is never skipped on
    that pick, so the files are those changed since any of them."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "base.tf").write_text("0\n")
    commit(repo, "root")
    git(repo, "checkout", "-q", "-b", "other")
    (repo / "other.tf").write_text("1\n")
    commit(repo, "other 1")
    git(repo, "checkout", "-q", "main")
    (repo / "main.tf").write_text("1\n")
    commit(repo, "main 1")
    git(repo, "merge", "-q", "--no-edit", "other")
    git(repo, "checkout", "-q", "other")
    git(repo, "merge", "-q", "--no-edit", "main~1")
    (repo / "pr.tf").write_text("2\n")
    commit(repo, "pr")
    bases = git(repo, "merge-base", "--all", "main", "other").split()
    assert len(bases) == 2
    expected = set().union(*(git_diff(repo, base, "other") for base in bases))
    assert gitread.changed_files(repo, "main", "other", merge_base=True) == expected
    assert git_diff(repo, "main...other") < expected


def test_a_folder_that_is_no_clone_says_so(tmp_path: Path) -> None:
    with pytest.raises(gitread.GitError, match="no git repository"):
        gitread.changed_files(tmp_path, "main", "HEAD")


def test_an_object_missing_from_the_clone_says_so(history: History) -> None:
    repo, commits = history
    tree = git(repo, "rev-parse", f"{commits[-1]}:d0")
    (repo / ".git" / "objects" / tree[:2] / tree[2:]).unlink()
    with pytest.raises(gitread.GitError, match=f"object {tree[:12]} is not in the clone"):
        gitread.changed_files(repo, commits[0], commits[-1])


@pytest.mark.parametrize("damage", ["cut short", "overwritten"])
def test_a_damaged_pack_says_so(history: History, damage: str) -> None:
    """A pack cut short or overwritten in the middle: an error the caller turns into "every root
    runs", never a crash (nor one while the pack is unmapped afterwards)."""
    repo, commits = history
    git(repo, "gc", "-q")
    pack = next((repo / ".git" / "objects" / "pack").glob("*.pack"))
    pack.chmod(0o644)
    data = pack.read_bytes()
    if damage == "cut short":
        pack.write_bytes(data[:len(data) // 3])
    else:
        middle = len(data) // 2
        pack.write_bytes(data[:12] + b"\xff" * (middle - 12) + data[middle:])
    with pytest.raises(gitread.GitError, match=r"not in the clone|could not be read|not a commit"):
        gitread.changed_files(repo, commits[0], commits[-1])
