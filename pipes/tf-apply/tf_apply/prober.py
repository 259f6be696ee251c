"""The locking probe in a process of its own, started before anything else of the pipe.

The probe (:mod:`probe`) must have answered before Terraform takes the state's lock, and its S3
client costs about 0.3 s of CPU (botocore's import and its S3 model).  In a thread of the pipe's
own process that time queues behind the pipe's start-up and ``terraform init`` (one interpreter
lock), and ``terraform apply`` waits for it.  So ``python -m tf_apply`` starts this worker first
(:meth:`Prober.start`): it imports botocore and loads the S3 model on the other CPU while the pipe
starts and checks its variables, then waits.  Once the variables are good the pipe hands it the
settings (:meth:`Prober.ask`; a run that needs no probe stops it); it answers whether the store
honours conditional writes, then deletes its probe object and ends.

The worker never writes to the step's log itself: its log records, its answer and any error come
back on its stdout as JSON lines, and the pipe logs them through its masking logger.  The settings
(credentials included) go to it through a pipe, never in its arguments or its environment.
"""
from __future__ import annotations

import json
import os
import pickle
import sys
from typing import IO, TYPE_CHECKING, Any

from pipes_common import proc
from pipes_common.errors import PipeError

if TYPE_CHECKING:
    import subprocess

    from .settings import Settings

CANCELLED = b""  # what the worker reads when the run needs no probe


class Prober:
    """The pipe's side of the worker."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self._process = process
        self._asked = False
        self._closed = False

    @classmethod
    def start(cls) -> Prober:
        return cls(proc.spawn([sys.executable, "-m", __name__]))

    def ask(self, s: Settings) -> None:
        """Hand the worker the settings: it probes the store now."""
        stdin = self._process.stdin
        assert stdin is not None and not self._asked
        self._asked = True
        try:
            stdin.write(pickle.dumps(s))
            stdin.close()
        except OSError:  # the worker is gone: answer() says so
            pass

    def answer(self) -> bool:
        """Whether the store honours conditional writes; its error as a :class:`PipeError`."""
        assert self._asked
        for message in self._messages():
            if "conditional" in message:
                return bool(message["conditional"])
            if "error" in message:
                raise PipeError(str(message["error"]), int(message.get("exit_code", 1)))
        code = self._process.wait()
        raise PipeError(f"The locking probe's process ended without an answer (exit code {code}): "
                        "run again with DEBUG: 'true' and report it to the pipe maintainers")

    def close(self) -> None:
        """Let an asked worker finish (the probe object's delete: its warning is logged), stop one
        never asked; either way the process is reaped (once: a second call does nothing)."""
        if self._closed:
            return
        self._closed = True
        if not self._asked:
            self._process.kill()
        else:
            for _ in self._messages():
                pass
        for stream in (self._process.stdin, self._process.stdout):
            if stream is not None and not stream.closed:
                stream.close()
        self._process.wait()

    def __enter__(self) -> Prober:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _messages(self) -> Any:
        """The worker's messages up to its answer or its end, its log records logged on the way."""
        from pipes_common.log import get_logger

        stdout = self._process.stdout
        assert stdout is not None
        for line in stdout:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if not isinstance(message, dict):
                continue
            if "log" in message:
                level, text = message["log"]
                get_logger().log(int(level), "%s", text)
                continue
            yield message


# --- the worker ---------------------------------------------------------------------------------

def _send(channel: IO[str], **message: object) -> None:
    channel.write(json.dumps(message) + "\n")
    channel.flush()


def _forward_logs(channel: IO[str]) -> None:
    """The pipe logger's records go back to the pipe (it filters by level and masks)."""
    import logging

    from pipes_common.log import LOGGER_NAME

    class Forward(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            _send(channel, log=[record.levelno, record.getMessage()])

    logger = logging.getLogger(LOGGER_NAME)
    logger.handlers[:] = [Forward()]
    logger.setLevel(logging.DEBUG)
    logger.propagate = False


def serve(stdin: IO[bytes], channel: IO[str]) -> None:
    """Warm the S3 client up, wait for the settings, probe, answer, then delete the probe object."""
    try:
        _forward_logs(channel)
        from . import probe, s3  # botocore: the slow part, done while the pipe starts

        session = s3.warm_session()
        data = stdin.read()
        if data == CANCELLED:
            return
        s: Settings = pickle.loads(data)  # noqa: S301 - from the pipe's own process, through a pipe
        later: list[Any] = []
        conditional = probe.conditional_writes_work(s3.Spaces(s, session=session), s.state_object,
                                                    later.append)
        _send(channel, conditional=conditional)
        for job in later:
            job()
    except PipeError as err:
        _send(channel, error=err.message, exit_code=err.exit_code)
    except Exception as err:  # a bug of ours: one line, as the pipe's own bugs are
        _send(channel, error=f"Unexpected error in the locking probe ({type(err).__name__}): {err}. "
                             "Run again with DEBUG: 'true' and report it to the pipe maintainers",
              exit_code=1)


def _worker() -> None:
    channel = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    sys.stdout = sys.stderr  # nothing but the messages may reach the pipe's side
    serve(sys.stdin.buffer, channel)
    channel.close()


if __name__ == "__main__":
    _worker()
