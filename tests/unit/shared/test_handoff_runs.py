"""handoff.read_all: what every run of a pipe handed over in the step (issue 14 §1: build-push run
once per service, then one flux-bump for all their images)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pipes_common import handoff
from pipes_common.bitbucket import StepContext
from pipes_common.contracts import BuildPushOutputs
from pipes_common.handoff import HandoffError


def _ctx(shared: Path, owner: str = "dopipes") -> StepContext:
    return StepContext.from_env({"BITBUCKET_PIPE_SHARED_STORAGE_DIR": str(shared),
                                 "BITBUCKET_PIPE_STORAGE_DIR": str(shared / owner / "build-push")})


def _out(image: str) -> BuildPushOutputs:
    return BuildPushOutputs(image=image, tags=("t1",), digest="", ref=f"{image}:t1", skipped=False)


class _Clock:
    """``datetime`` for :mod:`pipes_common.handoff`: ``now()`` is each of ``times`` in turn."""

    def __init__(self, *times: datetime) -> None:
        self.times = list(times)

    def now(self, tz: object = None) -> datetime:
        return self.times.pop(0)


def test_every_run_oldest_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = _ctx(tmp_path)
    # three runs in one process, one microsecond apart: the order is the time written, never chance
    start = datetime(2026, 1, 2, 3, 4, 5, 999_999, tzinfo=UTC)
    monkeypatch.setattr(handoff, "datetime", _Clock(*(start + timedelta(microseconds=n) for n in range(3))))
    for image in ("reg/web", "reg/api", "reg/web"):
        handoff.write(ctx, _out(image), "0.2.0")
    runs = handoff.read_all(ctx, BuildPushOutputs, instead="set IMAGES")
    assert [r.image for r in runs] == ["reg/web", "reg/api", "reg/web"]
    # read() still gives the last run
    last = handoff.read(ctx, BuildPushOutputs, instead="set IMAGES")
    assert last is not None and last.image == "reg/web"


def test_no_run_files_is_the_last_run_only(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    handoff.write(ctx, _out("reg/web"), "0.2.0")
    for run in (tmp_path / "dopipes" / "build-push" / handoff.RUNS_DIR).iterdir():
        run.unlink()
    assert [r.image for r in handoff.read_all(ctx, BuildPushOutputs, instead="x")] == ["reg/web"]


def test_nothing_handed_over_is_empty(tmp_path: Path) -> None:
    assert handoff.read_all(_ctx(tmp_path), BuildPushOutputs, instead="x") == []


def test_a_damaged_run_file_stops_the_reader(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    handoff.write(ctx, _out("reg/web"), "0.2.0")
    runs = tmp_path / "dopipes" / "build-push" / handoff.RUNS_DIR
    (runs / "0000-1.json").write_text("{half")
    with pytest.raises(HandoffError, match="cannot be read"):
        handoff.read_all(ctx, BuildPushOutputs, instead="set IMAGES")
