"""The one fatal error type of the pipes."""
from __future__ import annotations


class PipeError(Exception):
    """A failure the pipe reports as one ``✖`` line and an exit code.

    ``message`` says what went wrong and how to fix it; it must not contain a secret (the logger
    masks registered secrets anyway).  ``exit_code`` is the process exit status (default 1).
    """

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message
