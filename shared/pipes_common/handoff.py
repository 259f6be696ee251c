"""The hand-off between the pipes of one step: each pipe's outputs as one typed, versioned file.

Bitbucket gives every pipe two folders.  ``BITBUCKET_PIPE_STORAGE_DIR`` is the pipe's own,
``$PIPES_DIR/<owner>/<pipe>``; ``BITBUCKET_PIPE_SHARED_STORAGE_DIR`` is ``$PIPES_DIR``, under which
every pipe of the step has its folder.  A pipe writes its outputs to ``<own folder>/outputs.json``
(:func:`write`); a later pipe reads them from ``<shared folder>/<owner>/<pipe>/outputs.json``
(:func:`read`).  Both sides use the pipe's outputs class of :mod:`contracts`, so the writer and the
reader cannot disagree on a key or a type, and the file says which version of the format it holds.

Which file the reader takes: ``<owner>`` is whatever Bitbucket makes of the namespace of the image
the step named (ours, a fork's, a mirror's), so it is never assumed.  Every ``outputs.json`` in a
folder named after the pipe below the shared folder is a candidate, at any depth (one folder for
``<namespace>/<pipe>``, more if an image path has more parts).  Of those, the right one is the
file written last (by modification time) that is not plainly another suite's pipe of the same name
(a JSON object without our ``kind``): that is the run of our pipe the step made most recently.  A
file that cannot be read at all counts as ours, since nothing says it is not: it is reported
rather than passed over for an older one.  When every candidate is another suite's, the newest is
reported as such.

A file of an older or newer format, a damaged one, or the single JSON file that version 0.1.0 of
the pipes wrote at ``<shared folder>/do-pipes/<pipe>.json``, stops the reading pipe with one line
naming what to do (:class:`HandoffError`); no file at all is ``None``, and the reader says what it
needed.
"""
from __future__ import annotations

import json
import os
import subprocess
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import contracts, proc
from .bitbucket import StepContext
from .contracts import Outputs, T
from .errors import PipeError
from .fsutil import atomic_write

SCHEMA_VERSION = 1
KIND = "do-pipes/outputs"
FILE_NAME = "outputs.json"
RUNS_DIR = "runs"  # beside outputs.json: one file per run of the pipe in the step (read_all)


class HandoffError(PipeError):
    """A hand-off file that exists but cannot be used (older, newer or damaged)."""


@dataclass(frozen=True)
class Handoff:
    """One hand-off file: the format version, who wrote it and when, and the outputs."""
    schema: int
    pipe: str
    pipe_version: str
    written: str
    outputs: dict[str, Any]

    def to_json(self) -> str:
        doc = {"kind": KIND, **asdict(self)}
        return json.dumps(doc, indent=2, sort_keys=True) + "\n"


# -- writing ---------------------------------------------------------------------------------
def own_file(ctx: StepContext) -> Path | None:
    return None if ctx.pipe_storage_dir is None else ctx.pipe_storage_dir / FILE_NAME


def encode(outputs: Outputs, pipe_version: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return Handoff(SCHEMA_VERSION, outputs.PIPE, pipe_version, stamp,
                   contracts.encode(outputs)).to_json()


def write(ctx: StepContext, outputs: Outputs, pipe_version: str) -> Path | None:
    """Write ``outputs`` to the pipe's own storage folder; None when Bitbucket gave none."""
    path = own_file(ctx)
    if path is None:
        return None
    text = encode(outputs, pipe_version)
    # every run also keeps its own file, so a later pipe can take what each run handed over
    # (build-push run once per service, then one flux-bump for all of them: read_all)
    stamp = json.loads(text)["written"].replace(":", "").replace(".", "")
    atomic_write(path.parent / RUNS_DIR / f"{stamp}-{os.getpid()}.json", text, root=path.parent)
    return atomic_write(path, text, root=path.parent)


# -- trust -------------------------------------------------------------------------------------
# The hand-off files sit in the build directory (the shared storage folder is
# $BITBUCKET_CLONE_DIR/.bitbucket/pipelines/generated/pipeline/pipes, the artifacts file is
# .do-pipes/<pipe>.env), where a commit can put a file of the same name.  A pipe's outputs are
# never repository content: a file git tracks is refused, and the artifacts file must carry the
# build number and commit of this run (:func:`check_bound`).
BOUND = ("build_number", "source_commit")  # the fields that bind outputs to their pipeline run


def tracked(root: Path, path: Path) -> bool | None:
    """Whether git tracks ``path`` in the repository at ``root`` (the build directory): False
    when it does not or ``root`` is no git repository, None when git cannot tell (git missing, a
    path through a symbolic link)."""
    root = root.resolve()
    try:
        rel = path.relative_to(root)
    except ValueError:
        return None
    env = proc.child_env({"LC_ALL": "C", "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null",
                          "GIT_CEILING_DIRECTORIES": str(root.parent)})
    try:
        res = proc.run(["git", "-c", f"safe.directory={root}", "-C", str(root), "ls-files", "-z",
                        "--", f":(literal){rel.as_posix()}"], env=env, check=False, timeout=60)
    except (OSError, subprocess.SubprocessError, PipeError):
        return None
    if res.ok:
        return bool(res.stdout.strip("\0"))
    if "not a git repository" in res.stderr:
        return False
    return None


def check_untracked(ctx: StepContext, path: Path, pipe: str, instead: str) -> None:
    """:class:`HandoffError` when ``path`` may be repository content: a file of the build
    directory that git tracks, or reached through a symbolic link inside the build directory.
    A file outside the build directory is not repository content."""
    clone = Path(os.path.abspath(ctx.clone_dir))
    root = clone.resolve()
    path = Path(os.path.abspath(path))
    linked = any(p.is_symlink() for p in (path, *path.parents) if clone in p.parents)
    resolved = path.resolve()
    if not linked and root not in resolved.parents:
        return
    state = None if linked else tracked(root, resolved)
    if state is False:
        return
    why = ("is tracked by git: repository content, which never stands for a pipe's outputs"
           if state else "may be repository content (reached through a symbolic link, or git "
           "cannot tell whether it tracks it)")
    raise HandoffError(f"The {pipe} outputs at {path} {why}: remove it from the repository "
                       f"(git rm --cached, and ignore .do-pipes/), or {instead}")


def check_bound(ctx: StepContext, outputs: Any, path: Path, required: bool, instead: str) -> None:
    """:class:`HandoffError` unless ``outputs`` carry this run's build number and commit (only
    when they carry them at all, unless ``required``; a run outside Pipelines, with neither,
    matches outputs that carry neither)."""
    if not all(hasattr(outputs, name) for name in BOUND):
        return
    build, commit = outputs.build_number, outputs.source_commit
    if (build, commit) == (ctx.build_number or "", ctx.commit or ""):
        return
    pipe = outputs.PIPE
    if not (build or commit):
        if not required:
            return
        raise HandoffError(f"The {pipe} outputs at {path} do not say which build wrote them "
                           f"(no {pipe} build number or commit: an older {pipe}, or not {pipe} at "
                           f"all): update {pipe} in the step that runs it, or {instead}")
    raise HandoffError(f"The {pipe} outputs at {path} were written by another run (build "
                       f"{build or '?'}, commit {commit[:12] or '?'}; this is build "
                       f"{ctx.build_number or '?'}, commit {(ctx.commit or '?')[:12]}): pass "
                       f".do-pipes/** as artifacts of this pipeline's step that ran {pipe}, "
                       f"or {instead}")


# -- reading ---------------------------------------------------------------------------------
def candidates(shared: Path, pipe: str) -> list[Path]:
    """Every ``<pipe>/outputs.json`` below ``shared``, the most recently written first."""
    found = [p for p in shared.glob(f"**/{pipe}/{FILE_NAME}") if p.is_file()]
    return sorted(found, key=lambda p: (p.stat().st_mtime_ns, str(p)), reverse=True)


def _legacy(shared: Path, pipe: str) -> Path | None:
    """The file of pipes 0.1.0: ``<shared>/do-pipes/<pipe>.json`` (any folder, for the same reason)."""
    found = [p for p in shared.glob(f"*/{pipe}.json") if p.is_file()]
    return found[0] if found else None


def _foreign(path: Path) -> bool:
    """Whether ``path`` is plainly another pipe's file: a JSON object without our ``kind``."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(doc, dict) and doc.get("kind") != KIND


def load(path: Path, cls: type[T], instead: str) -> T:
    """The outputs in ``path``; :class:`HandoffError` saying what to do when it cannot be used."""
    pipe = cls.PIPE
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise HandoffError(f"The {pipe} outputs at {path} cannot be read ({type(err).__name__}): "
                           f"run {pipe} again earlier in this step, or {instead}") from None
    if not isinstance(doc, dict) or doc.get("kind") != KIND or doc.get("pipe") != pipe:
        raise HandoffError(f"{path} is not an outputs file of this suite's {pipe} (another pipe "
                           f"of that name?): run this suite's {pipe} earlier in this step, or "
                           f"{instead}")
    schema = doc.get("schema")
    if not isinstance(schema, int) or isinstance(schema, bool) or schema < SCHEMA_VERSION:
        raise HandoffError(f"The {pipe} outputs at {path} are in an older format (schema {schema}, "
                           f"this pipe reads {SCHEMA_VERSION}), written by {pipe} "
                           f"{doc.get('pipe_version', '?')}: update {pipe} in this step to a "
                           f"release of the same suite version, or {instead}")
    if schema > SCHEMA_VERSION:
        raise HandoffError(f"The {pipe} outputs at {path} are in a newer format (schema {schema}, "
                           f"this pipe reads {SCHEMA_VERSION}), written by {pipe} "
                           f"{doc.get('pipe_version', '?')}: update this pipe to a release of the "
                           f"same suite version, or {instead}")
    outputs = doc.get("outputs")
    try:
        if not isinstance(outputs, dict):
            raise ValueError("key 'outputs' is not an object")
        return contracts.decode(cls, outputs)
    except ValueError as err:
        raise HandoffError(f"The {pipe} outputs at {path} are damaged ({err}): run {pipe} again "
                           f"earlier in this step, or {instead}") from None


def _trusted(ctx: StepContext, path: Path, cls: type[T], instead: str) -> T:
    """:func:`load` of a file that is not repository content, written by this run if it says."""
    check_untracked(ctx, path, cls.PIPE, instead)
    outputs = load(path, cls, instead)
    check_bound(ctx, outputs, path, required=False, instead=instead)
    return outputs


def read_all(ctx: StepContext, cls: type[T], instead: str) -> list[T]:
    """What every run of a pipe of kind ``cls`` handed over earlier in this step, oldest first
    (one item per run; ``[]`` when none).  The folder chosen is the one :func:`read` chooses; a
    run file that cannot be used stops the reader like :func:`read` does."""
    latest = read(ctx, cls, instead)
    if latest is None:
        return []
    shared = ctx.shared_storage_dir
    assert shared is not None
    chosen = next(p for p in candidates(shared, cls.PIPE) if not _foreign(p))
    runs = sorted((chosen.parent / RUNS_DIR).glob("*.json"))  # named by time written
    if not runs:  # written by a release without run files: the last run only
        return [latest]
    return [_trusted(ctx, p, cls, instead) for p in runs]


def read(ctx: StepContext, cls: type[T], instead: str) -> T | None:
    """The outputs a pipe of kind ``cls`` left earlier in this step, or None when it left none.

    ``instead`` completes the messages: what the user can set rather than rely on the hand-off
    (e.g. "set IMAGE and TAG")."""
    shared = ctx.shared_storage_dir
    if shared is None or not shared.is_dir():
        return None
    found = candidates(shared, cls.PIPE)
    for path in found:
        if not _foreign(path):
            return _trusted(ctx, path, cls, instead)
    if found:
        return load(found[0], cls, instead)  # raises: another suite's file
    legacy = _legacy(shared, cls.PIPE)
    if legacy is not None:
        raise HandoffError(f"The {cls.PIPE} outputs at {legacy} are in the format of {cls.PIPE} "
                           f"0.1.0, which this pipe no longer reads: update {cls.PIPE} in this "
                           f"step to a release of the same suite version, or {instead}")
    return None
