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


def test_lines_carry_the_toolkit_level_colours(capsys: pytest.CaptureFixture[str]) -> None:
    log.enable_debug()
    capsys.readouterr()
    logger = log.get_logger()
    logger.debug("d")
    logger.info("i")
    logger.warning("w")
    logger.error("e")
    assert capsys.readouterr().out.splitlines() == [
        "\x1b[36mDEBUG: d\x1b[0m", "\x1b[34mINFO: i\x1b[0m", "\x1b[33mWARNING: w\x1b[0m",
        "\x1b[31mERROR: e\x1b[0m"]


def test_exception_text_is_masked(capsys: pytest.CaptureFixture[str]) -> None:
    secrets.register("tok-SECRET-value")
    try:
        raise ValueError("bad tok-SECRET-value")
    except ValueError:
        log.get_logger().exception("failed")
    out = capsys.readouterr().out
    assert "tok-SECRET-value" not in out and "ValueError: bad ********" in out
