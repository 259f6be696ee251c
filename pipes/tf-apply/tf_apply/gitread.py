"""The files that differ between two commits of the step's clone, read from ``.git`` with dulwich.

The pipe image has no ``git`` (it would add more to the image than Terraform's providers need);
dulwich, a git implementation in Python, reads the clone as git does (loose objects, packs and
their deltas, packed refs, shallow clones, worktrees).  ``CHANGED_ONLY`` needs only this: resolve
a revision (a full or abbreviated commit, ``HEAD``, a branch, a tag or ``origin/<branch>``), find
where a pull request left its destination (its common ancestors), and compare two trees (a tree
shared by both sides is skipped whole, so the cost follows what changed, not the size of the
repository).  Anything the clone cannot tell (a commit it does not hold, a shallow history that
ends before a common ancestor, an object it cannot read) is a :class:`GitError`: the caller then
runs every root and says why.
"""
from __future__ import annotations

from pathlib import Path

from dulwich.diff_tree import tree_changes
from dulwich.errors import (
    ApplyDeltaError,
    ChecksumMismatch,
    FileFormatException,
    NotGitRepository,
    WrongObjectException,
)
from dulwich.graph import find_merge_base
from dulwich.objects import Commit, ObjectID
from dulwich.objectspec import AmbiguousShortId, parse_commit
from dulwich.repo import Repo

# what dulwich raises on a clone it cannot read to the end (KeyError: an object it does not hold)
UNREADABLE = (KeyError, ValueError, ApplyDeltaError, ChecksumMismatch, FileFormatException,
              WrongObjectException)


class GitError(Exception):
    pass


def _commit(repo: Repo, rev: str) -> Commit:
    try:
        return parse_commit(repo, rev)
    except AmbiguousShortId as err:
        raise GitError(f"{rev[:40]} names more than one object of the clone") from err
    except UNREADABLE as err:
        raise GitError(f"{rev[:40]} is not a commit, branch or tag of the clone") from err


def _changed(repo: Repo, old: ObjectID, new: ObjectID) -> set[str]:
    """The paths of the files that differ between trees ``old`` and ``new`` (a rename is a
    deletion and an addition, as ``git diff --no-renames``)."""
    out: set[str] = set()
    for change in tree_changes(repo.object_store, old, new):
        for entry in (change.old, change.new):
            if entry is not None and entry.path is not None:
                out.add(entry.path.decode("utf-8", "surrogateescape"))
    return out


def changed_files(worktree: Path, base: str, head: str = "HEAD", merge_base: bool = False) -> set[str]:
    """The files changed from ``base`` to ``head`` (``merge_base``: from where ``head`` left
    ``base``, as ``git diff base...head``; where they have several common ancestors, the files
    changed since any of them)."""
    try:
        repo = Repo(str(worktree))
    except (NotGitRepository, OSError, *UNREADABLE) as err:
        raise GitError(f"no git repository readable at {worktree} ({err})") from err
    with repo:
        new = _commit(repo, head)
        old = _commit(repo, base)
        try:
            bases = find_merge_base(repo, [old.id, new.id]) if merge_base else [old.id]
            if not bases:
                raise GitError("the two commits have no common ancestor in the clone (a shallow "
                               "clone?)")
            return set().union(*(_changed(repo, _tree(repo, sha), new.tree) for sha in bases))
        except UNREADABLE as err:
            raise GitError(_why(err)) from err


def _tree(repo: Repo, commit: ObjectID) -> ObjectID:
    found = repo.object_store[commit]
    if not isinstance(found, Commit):
        raise GitError(f"{commit.decode()[:12]} is not a commit")
    return ObjectID(found.tree)


def _why(err: Exception) -> str:
    if isinstance(err, KeyError) and err.args and isinstance(err.args[0], bytes):
        return f"object {err.args[0].decode('ascii', 'replace')[:12]} is not in the clone"
    return f"the clone's .git could not be read ({type(err).__name__}: {err})"
