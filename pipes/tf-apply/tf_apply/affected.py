"""Which roots run with ``CHANGED_ONLY``: those a changed file belongs to.

A root runs when a file changed under its folder, under a local module it uses (transitively,
:mod:`roots`) or is one of its ``VAR_FILES``.  The changed files come from the step's clone
(:mod:`gitread`): in a pull request from where it left its destination to its last commit (as
``git diff dest...HEAD``: what the pull request changes, not what the destination did since),
elsewhere since the commit of the root's last successful apply (recorded beside its state by
:func:`record_apply`).  When the clone cannot tell (a shallow clone that misses the base), the
root runs and the log says why: a root is never skipped on a guess.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from . import gitread
from .roots import Root
from .s3 import Spaces

LAST_APPLY = "last-apply.json"  # under the root's plans prefix: the commit of its last apply
MAX_SHOWN = 3  # changed files named per root in the log


@dataclass(frozen=True)
class Decision:
    root: Root
    runs: bool
    why: str


def changed_files(clone: Path, base: str, head: str = "HEAD",
                  merge_base: bool = False) -> set[str] | str:
    """The files changed from ``base`` to ``head`` (with ``merge_base``: from where ``head`` left
    ``base``, what a pull request changes), read from the clone's ``.git`` (:mod:`gitread`), or
    why they cannot be told."""
    try:
        return gitread.changed_files(clone, base, head, merge_base)
    except gitread.GitError as err:
        return str(err)


def _under(path: str, folder: str) -> bool:
    return folder == "." or path == folder or path.startswith(folder + "/")


def decide(root: Root, files: set[str] | str, var_files: Iterable[str], since: str) -> Decision:
    """Whether ``root`` runs given the changed ``files`` (or why they are unknown)."""
    if isinstance(files, str):
        return Decision(root, True, f"runs: cannot tell what changed ({files})")
    if not root.complete:
        return Decision(root, True, "runs: a .tf file of it or of its modules could not be read "
                                    "to its end, so its modules are not all known")
    own = sorted(f for f in files if _under(f, root.rel))
    if own:
        return Decision(root, True, f"runs: changed {_names(own)} {since}")
    wanted = set(var_files)
    for module in root.modules:
        used = sorted(f for f in files if _under(f, module))
        if used:
            return Decision(root, True, f"runs: its module {module} changed ({_names(used)}) {since}")
    varied = sorted(files & wanted)
    if varied:
        return Decision(root, True, f"runs: its var file {_names(varied)} changed {since}")
    return Decision(root, False, f"skipped: nothing it uses changed {since}")


def _names(files: list[str]) -> str:
    shown = ", ".join(files[:MAX_SHOWN])
    return shown + (f" and {len(files) - MAX_SHOWN} more" if len(files) > MAX_SHOWN else "")


def last_apply(spaces: Spaces, prefix: str) -> str | None:
    """The commit of the root's last successful apply, as :func:`record_apply` wrote it."""
    doc = spaces.get_json(f"{prefix}{LAST_APPLY}")
    commit = doc.get("commit") if doc is not None else None
    return str(commit) if isinstance(commit, str) and commit.isalnum() else None


def record_apply(spaces: Spaces, prefix: str, commit: str | None, build: str | None,
                 when: str) -> None:
    """After a successful apply of a root: the commit it applied, for the next CHANGED_ONLY run."""
    if not commit:
        return
    doc = {"commit": commit, "build": build, "applied": when}
    spaces.put(f"{prefix}{LAST_APPLY}", json.dumps(doc, indent=2, sort_keys=True).encode(),
               content_type="application/json")
