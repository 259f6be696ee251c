from __future__ import annotations

import os
from pathlib import Path

import pytest
from pipes_common.errors import PipeError
from pipes_common.fsutil import atomic_write, check_folder


def test_writes_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b.txt"
    atomic_write(target, "one")
    atomic_write(target, b"two", mode=0o600)
    assert target.read_text() == "two"
    assert oct(target.stat().st_mode & 0o777) == "0o600"
    assert [p.name for p in target.parent.iterdir()] == ["b.txt"]


def test_failure_leaves_old_file_and_no_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "f.txt"
    target.write_text("old")

    def boom(*_: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        atomic_write(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_symlinked_do_pipes_redirects_no_write(tmp_path: Path) -> None:
    """A committed ``.do-pipes`` link sent the pipes' outputs anywhere (issue 20): with the root
    given, a link on the way is one PipeError and nothing is written outside."""
    build, outside = tmp_path / "build", tmp_path / "outside"
    build.mkdir()
    outside.mkdir()
    (build / ".do-pipes").symlink_to(outside)
    with pytest.raises(PipeError, match=r"^\.do-pipes in .* is a symbolic link"):
        atomic_write(build / ".do-pipes" / "build-push.env", "X=1\n", root=build)
    assert list(outside.iterdir()) == []
    (build / "real" / "deeper").mkdir(parents=True)
    (build / "real" / "deeper" / "up").symlink_to(outside)
    with pytest.raises(PipeError, match=r"^real/deeper/up in .* is a symbolic link"):
        atomic_write(build / "real" / "deeper" / "up" / "x" / "f", "1", root=build)
    assert list(outside.iterdir()) == []


def test_a_link_in_place_of_the_file_is_replaced_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep")
    (tmp_path / "build" / ".do-pipes").mkdir(parents=True)
    link = tmp_path / "build" / ".do-pipes" / "out.env"
    link.symlink_to(victim)
    atomic_write(link, "new", mode=0o600, root=tmp_path / "build")
    assert victim.read_text() == "keep"
    assert not link.is_symlink() and link.read_text() == "new"
    assert oct(link.stat().st_mode & 0o777) == "0o600"
    assert [p.name for p in link.parent.iterdir()] == ["out.env"]  # no temporary file left


def test_root_creates_missing_folders_and_refuses_a_path_outside(tmp_path: Path) -> None:
    target = atomic_write(tmp_path / "a" / "b" / "c.txt", "x", root=tmp_path)
    assert target.read_text() == "x"
    with pytest.raises(PipeError, match="is not inside"):
        atomic_write(tmp_path / "a" / ".." / ".." / "escape.txt", "x", root=tmp_path / "a")
    (tmp_path / "file").write_text("")
    with pytest.raises(PipeError, match=r"^file in .* not a folder"):
        atomic_write(tmp_path / "file" / "x", "x", root=tmp_path)


def test_check_folder(tmp_path: Path) -> None:
    check_folder(tmp_path, ".do-pipes")  # missing: fine
    (tmp_path / ".do-pipes").symlink_to(tmp_path)
    with pytest.raises(PipeError, match=r"^\.do-pipes in"):
        check_folder(tmp_path, ".do-pipes")
