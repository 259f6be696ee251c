"""Atomic file writes: a file is either the old one or the complete new one, never half written.

Given the ``root`` the pipe was pointed at (the build directory, its storage folder), a write
never goes through a symbolic link below it: a repository can commit ``.do-pipes`` as a link to
any folder of the runner, and a tool the pipe runs (Terraform) can make one while it runs.
"""
from __future__ import annotations

import contextlib
import errno
import os
import secrets
import tempfile
from pathlib import Path

from .errors import PipeError

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def atomic_write(path: str | os.PathLike[str], data: str | bytes, mode: int = 0o644, *,
                 root: str | os.PathLike[str] | None = None) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and ``os.replace``.

    With ``root``, ``path`` must lie below it, and every folder from ``root`` down to the file is
    opened without following a symbolic link (missing ones are created): a link there is one
    :class:`PipeError` and nothing is written.  A link in place of the file itself is replaced,
    never followed."""
    target = Path(path)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if root is not None:
        return _write_below(Path(root), target, raw, mode)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(raw)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return target


def _refuse(root: Path, rel: str) -> PipeError:
    return PipeError(f"{rel} in {root} is a symbolic link or not a folder: the pipe writes only "
                     "into real folders of the directory it was given, never through a link; "
                     f"remove {rel} (e.g. from the repository) and run again")


def open_folder(root: Path, folder: Path) -> int:
    """A descriptor of ``folder`` (created when missing), reached from ``root`` without following
    a symbolic link; :class:`PipeError` when one is in the way or ``folder`` is not below ``root``."""
    base, wanted = Path(os.path.abspath(root)), Path(os.path.abspath(folder))
    if not wanted.is_relative_to(base):
        raise PipeError(f"{folder} is not inside {base}: the pipe writes only inside the "
                        "directory it was given")
    rel = wanted.relative_to(base)
    base.mkdir(parents=True, exist_ok=True)  # the root itself is what the pipe was given
    fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    done = Path()
    try:
        for name in rel.parts:
            done = done / name
            with contextlib.suppress(FileExistsError):
                os.mkdir(name, 0o755, dir_fd=fd)
            try:
                child = os.open(name, _DIR_FLAGS, dir_fd=fd)
            except OSError as err:
                if err.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise _refuse(base, str(done)) from None
                raise
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def _write_below(root: Path, target: Path, raw: bytes, mode: int) -> Path:
    folder = open_folder(root, target.parent)
    tmp = f".{target.name}.{secrets.token_hex(6)}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600, dir_fd=folder)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(raw)
                handle.flush()
                os.fchmod(handle.fileno(), mode)
                os.fsync(handle.fileno())
            os.replace(tmp, target.name, src_dir_fd=folder, dst_dir_fd=folder)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp, dir_fd=folder)
            raise
    finally:
        os.close(folder)
    return target


def check_folder(root: Path, rel: str) -> None:
    """Refuse at once (before any work) a ``rel`` below ``root`` that is a symbolic link or not a
    folder, where the pipe will write; a missing one is fine."""
    path = root / rel
    if os.path.lexists(path) and (path.is_symlink() or not path.is_dir()):
        raise _refuse(root, rel)
