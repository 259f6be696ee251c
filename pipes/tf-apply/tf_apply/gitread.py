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
from dulwich.errors import NotGitRepository
from dulwich.graph import find_merge_base
from dulwich.objects import Commit, ObjectID
from dulwich.objectspec import AmbiguousShortId, parse_commit
from dulwich.repo import Repo


class GitError(Exception):
    pass


def changed_files(worktree: Path, base: str, head: str = "HEAD", merge_base: bool = False) -> set[str]:
    """The files changed from ``base`` to ``head`` (``merge_base``: from where ``head`` left
    ``base``, as ``git diff base...head``; where they have several common ancestors, the files
    changed since any of them)."""
    try:
        repo = Repo(str(worktree))
    except NotGitRepository as err:
        raise GitError(f"no git repository at {worktree}") from err
    except Exception as err:  # the clone is repository content: whatever it holds, an answer
        raise GitError(_why(err)) from err
    try:
        try:
            return _compare(repo, base, head, merge_base)
        except GitError as err:
            why = str(err)
        except Exception as err:  # a pack or object cut short or altered, of any kind
            why = _why(err)
    finally:
        repo.close()  # once the error is let go: its frames may hold views of the packs' maps
    raise GitError(why)


def _compare(repo: Repo, base: str, head: str, merge_base: bool) -> set[str]:
    new = _commit(repo, head)
    old = _commit(repo, base)
    bases = find_merge_base(repo, [old.id, new.id]) if merge_base else [old.id]
    if not bases:
        raise GitError("the two commits have no common ancestor in the clone (a shallow clone?)")
    return set().union(*(_changed(repo, _tree(repo, sha), new.tree) for sha in bases))


def _commit(repo: Repo, rev: str) -> Commit:
    try:
        return parse_commit(repo, rev)
    except AmbiguousShortId:
        raise GitError(f"{rev[:40]} names more than one object of the clone") from None
    except KeyError:
        raise GitError(f"{rev[:40]} is not a commit, branch or tag of the clone") from None


def _tree(repo: Repo, commit: ObjectID) -> ObjectID:
    found = repo.object_store[commit]
    if not isinstance(found, Commit):
        raise GitError(f"{commit.decode()[:12]} is not a commit")
    return ObjectID(found.tree)


def _changed(repo: Repo, old: ObjectID, new: ObjectID) -> set[str]:
    """The paths of the files that differ between trees ``old`` and ``new`` (a rename is a
    deletion and an addition, as ``git diff --no-renames``)."""
    out: set[str] = set()
    for change in tree_changes(repo.object_store, old, new):
        for entry in (change.old, change.new):
            if entry is not None and entry.path is not None:
                out.add(entry.path.decode("utf-8", "surrogateescape"))
    return out


def _why(err: Exception) -> str:
    if isinstance(err, KeyError) and err.args and isinstance(err.args[0], bytes):
        return f"object {err.args[0].decode('ascii', 'replace')[:12]} is not in the clone"
    return f"the clone's .git could not be read ({type(err).__name__}: {str(err)[:200]})"
