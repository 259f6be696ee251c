from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
from pipes_common import log, secrets


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    secrets.clear()
    yield
    secrets.clear()
    log.get_logger().setLevel(logging.INFO)


def test_logger_masks_messages_and_args(capsys: pytest.CaptureFixture[str]) -> None:
    secrets.register("tok-SECRET-value")
    log.get_logger().info("token is %s", "tok-SECRET-value")
    out = capsys.readouterr().out
    assert "tok-SECRET-value" not in out and "********" in out and "INFO: token is" in out


def test_debug_is_masked_too(capsys: pytest.CaptureFixture[str]) -> None:
    secrets.register("tok-SECRET-value")
    log.enable_debug()
    log.get_logger().debug("url https://x:tok-SECRET-value@host")
    out = capsys.readouterr().out
    assert "DEBUG: url https://x:********@host" in out


def test_masking_stream_catches_secret_split_over_writes() -> None:
    secrets.register("tok-SECRET-value")
    target = io.StringIO()
    stream = log.MaskingStream(target)
    stream.write("a tok-SEC")
    stream.write("RET-value b\n")
    stream.write("tail tok-SECRET-value")
    stream.flush()
    assert target.getvalue() == "a ******** b\ntail ********"


def test_fail_line_is_one_line_and_masked(capsys: pytest.CaptureFixture[str]) -> None:
    secrets.register("tok-SECRET-value")
    log.fail_line("bad\nthing tok-SECRET-value")
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "✖ bad thing ********" in out


def test_success_line(capsys: pytest.CaptureFixture[str]) -> None:
    log.success("done")
    assert "✔ done" in capsys.readouterr().out
