"""The one logger of the pipes: coloured ``LEVEL: message`` lines, every secret masked.

Everything a pipe prints goes through here or through the masked ``sys.stdout``/``sys.stderr``
that :func:`install_masking` sets up, so a secret cannot reach the log by any path.
"""
from __future__ import annotations

import io
import logging
import sys
from typing import TextIO

from . import secrets

LOGGER_NAME = "pipe"
_RED = "\x1b[31m"
_GREEN = "\x1b[32m"
_RESET = "\x1b[0m"
# the toolkit's colours (it uses colorlog): a Bitbucket log renders them
LEVEL_COLOURS = {"DEBUG": "\x1b[36m", "INFO": "\x1b[34m", "WARNING": "\x1b[33m",
                 "ERROR": _RED, "CRITICAL": _RED}


class MaskingFilter(logging.Filter):
    """Masks secrets in the fully formatted record (message, args and exception text)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg = secrets.mask(message)
        record.args = None
        if record.exc_info:
            record.exc_text = secrets.mask(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


class MaskingStream(io.TextIOBase):
    """A text stream that masks secrets line by line before writing to the real stream.

    Whole lines are masked at once, so a secret split over several ``write`` calls is still caught.
    """

    def __init__(self, target: TextIO) -> None:
        self._target = target
        self._pending = ""

    @property
    def target(self) -> TextIO:
        return self._target

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return self._target.isatty()

    def fileno(self) -> int:
        return self._target.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._target, "encoding", "utf-8") or "utf-8"

    def write(self, text: str) -> int:
        self._pending += text
        if "\n" in self._pending:
            head, _, self._pending = self._pending.rpartition("\n")
            self._target.write(secrets.mask(head + "\n"))
        return len(text)

    def flush(self) -> None:
        if self._pending:
            self._target.write(secrets.mask(self._pending))
            self._pending = ""
        self._target.flush()


def install_masking() -> None:
    """Route ``sys.stdout`` and ``sys.stderr`` through the masker (idempotent)."""
    if not isinstance(sys.stdout, MaskingStream):
        sys.stdout = MaskingStream(sys.stdout)
    if not isinstance(sys.stderr, MaskingStream):
        sys.stderr = MaskingStream(sys.stderr)
    for handler in logging.getLogger().handlers:
        _add_filter(handler)


def _add_filter(handler: logging.Handler) -> None:
    if not any(isinstance(f, MaskingFilter) for f in handler.filters):
        handler.addFilter(MaskingFilter())


class ColourFormatter(logging.Formatter):
    """``LEVEL: message`` in the level's colour, as the toolkit prints it (one Terraform event is
    one line of this, so it is kept cheap)."""

    def format(self, record: logging.LogRecord) -> str:
        text = f"{LEVEL_COLOURS.get(record.levelname, '')}{record.levelname}: {record.getMessage()}"
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            text += "\n" + record.exc_text
        return text + _RESET


class _StdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stdout`` is now (the masking stream, or a test's capture)."""

    @property
    def stream(self) -> TextIO:
        return sys.stdout

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


def get_logger() -> logging.Logger:
    """The pipe logger, configured once: colour, ``LEVEL: message``, masking, INFO by default."""
    logger = logging.getLogger(LOGGER_NAME)
    if not logger.handlers:
        handler = _StdoutHandler()
        handler.setFormatter(ColourFormatter())
        _add_filter(handler)
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger


def enable_debug() -> None:
    get_logger().setLevel(logging.DEBUG)
    get_logger().debug("Debug logging enabled (secrets stay masked).")


def is_debug() -> bool:
    return get_logger().isEnabledFor(logging.DEBUG)


def _one_line(message: str) -> str:
    return " ".join(part.strip() for part in message.splitlines() if part.strip())


def success(message: str) -> None:
    """Print the green ``✔`` line."""
    print(f"{_GREEN}✔ {_one_line(secrets.mask(message))}{_RESET}", flush=True)


MAX_FAIL_LINE = 1000  # characters of the ✖ line's message


def fail_line(message: str) -> None:
    """Print the red ``✖`` line (one line, masked, at most :data:`MAX_FAIL_LINE` characters, any
    character the terminal cannot take escaped); the caller exits."""
    sys.stdout.flush()
    text = _one_line(secrets.mask(message))
    if len(text) > MAX_FAIL_LINE:
        text = text[:MAX_FAIL_LINE - 1] + "…"
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    print(f"{_RED}✖ {text}{_RESET}", flush=True)
