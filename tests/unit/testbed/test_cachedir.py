"""The test bed's made-once cache entries (testbed.cachedir): built once, reused, never half there."""
from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from testbed.cachedir import made_once


def _folder(calls: list[Path]) -> Callable[[Path], Path]:
    def make(work: Path) -> Path:
        calls.append(work)
        (work / "out").mkdir()
        (work / "out" / ".complete").write_text("yes")
        return work / "out"
    return make


def _ready(target: Path) -> bool:
    return (target / ".complete").is_file()


def test_made_once_then_reused(tmp_path: Path) -> None:
    calls: list[Path] = []
    target = tmp_path / "cache" / "thing"
    assert made_once(target, "thing.lock", _folder(calls), _ready) == target
    assert made_once(target, "thing.lock", _folder(calls), _ready) == target
    assert len(calls) == 1 and _ready(target)
    assert sorted(p.name for p in target.parent.iterdir()) == ["thing", "thing.lock"]  # no work left


def test_a_failed_make_leaves_nothing_and_a_half_target_is_replaced(tmp_path: Path) -> None:
    target = tmp_path / "thing"
    target.mkdir()
    (target / "partial").write_text("left by a run that was killed")

    def broken(work: Path) -> Path:
        (work / "half").write_text("x")
        raise RuntimeError("download failed")

    with pytest.raises(RuntimeError):
        made_once(target, "thing.lock", broken, _ready)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thing", "thing.lock"]
    made_once(target, "thing.lock", _folder([]), _ready)
    assert sorted(p.name for p in target.iterdir()) == [".complete"]


def test_a_file_target(tmp_path: Path) -> None:
    def make(work: Path) -> Path:
        (work / "image.tar").write_bytes(b"tar")
        return work / "image.tar"
    target = made_once(tmp_path / "base.tar", "base.lock", make, Path.is_file)
    assert target.read_bytes() == b"tar"


def test_processes_at_once_make_it_once(tmp_path: Path) -> None:
    """Threads stand in for test processes: the lock is a file lock on a descriptor of each."""
    calls: list[Path] = []
    target = tmp_path / "thing"
    threads = [threading.Thread(target=made_once, args=(target, "t.lock", _folder(calls), _ready))
               for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1 and _ready(target)
