"""The locking probe in a process of its own, started before anything else of the pipe.

The probe (:mod:`probe`) must have answered before Terraform takes the state's lock, and its S3
client costs about 0.2 s of CPU (botocore's import and its S3 model).  In a thread of the pipe's
own process that time queues behind the pipe's start-up and ``terraform init`` (one interpreter
lock), and ``terraform apply`` waits for it.  So ``python -m tf_apply`` forks this worker first
thing (:meth:`Prober.fork`): it imports botocore and loads the S3 model on the other CPU while the
pipe imports its own modules, checks its variables and runs ``terraform init``, then waits.  Once
the variables are good the pipe hands it the settings (:meth:`Prober.ask`; a run that needs no
probe stops it); it answers whether the store honours conditional writes, then deletes its probe
object and ends.  Code that is not at the top of a fresh process (tests calling ``main``) starts
it as a new interpreter instead (:meth:`Prober.spawn`): the same worker, a slower start.

The worker never writes to the step's log itself (its stdout and stderr are /dev/null): its log
records, its answer and any error come back as JSON lines on a pipe of its own, and the pipe logs
them through its masking logger.  The settings (credentials included) reach it through a pipe too,
never in its arguments.
"""
from __future__ import annotations

import io
import json
import os
import pickle
import select
import signal
import sys
from collections.abc import Callable, Iterator
from typing import IO, TYPE_CHECKING

from pipes_common.errors import PipeError

if TYPE_CHECKING:
    import subprocess

    from .settings import Settings

CANCELLED = b""  # what the worker reads when the run needs no probe


class Prober:
    """The pipe's side of the worker: hand it the settings, read its answer, reap it."""

    def __init__(self, pid: int, jobs: IO[bytes], messages: IO[str],
                 process: subprocess.Popen[bytes] | None = None) -> None:
        self._pid = pid
        self._jobs = jobs
        self._messages_in = messages
        self._process = process  # when spawned: the handle that reaps it
        self._asked = False
        self._closed = False
        self.exit_code: int | None = None

    @classmethod
    def fork(cls) -> Prober:
        """The worker as a fork of this process: only at the top of a fresh process, with one
        thread and nothing but this module imported (``tf_apply.__main__``)."""
        job_r, job_w = os.pipe()
        msg_r, msg_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the worker: it never returns from here
            code = 1
            try:
                os.close(job_w)
                os.close(msg_r)
                quiet = os.open(os.devnull, os.O_RDWR)
                for fd in (0, 1, 2):  # the step's log is the pipe's, never the worker's
                    os.dup2(quiet, fd)
                with os.fdopen(job_r, "rb") as jobs, os.fdopen(msg_w, "w", encoding="utf-8") as out:
                    serve(jobs, out)
                code = 0
            finally:
                os._exit(code)
        os.close(job_r)
        os.close(msg_w)
        return cls(pid, os.fdopen(job_w, "wb"), os.fdopen(msg_r, encoding="utf-8"))

    @classmethod
    def spawn(cls) -> Prober:
        """The worker as a new interpreter (``python -m tf_apply.prober``)."""
        from pipes_common import proc

        process = proc.spawn([sys.executable, "-m", __name__])
        assert process.stdin is not None and process.stdout is not None
        return cls(process.pid, process.stdin, io.TextIOWrapper(process.stdout, encoding="utf-8"),
                   process)

    def ask(self, s: Settings) -> None:
        """Hand the worker the settings: it probes the store now."""
        assert not self._asked
        self._asked = True
        try:
            self._jobs.write(pickle.dumps(s))
            self._jobs.close()
        except OSError:  # the worker is gone: answer() says so
            pass

    def answer(self) -> bool:
        """Whether the store honours conditional writes; its error as a :class:`PipeError`."""
        assert self._asked
        for message in self._messages():
            if "conditional" in message:
                return bool(message["conditional"])
            if "error" in message:
                raise PipeError(str(message["error"]), int(str(message.get("exit_code", 1))))
        raise PipeError(f"The locking probe's process ended without an answer (exit code "
                        f"{self._reap()}): run again with DEBUG: 'true' and report it to the pipe "
                        "maintainers")

    def close(self) -> None:
        """Let an asked worker finish (the probe object's delete: its warning is logged), stop one
        never asked; either way the process is reaped (once: a second call does nothing)."""
        if self._closed:
            return
        self._closed = True
        if not self._asked:
            self._kill()
        else:
            for _ in self._messages():
                pass
        self._reap()

    def __enter__(self) -> Prober:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _kill(self) -> None:
        if self._process is not None:
            self._process.kill()
        else:
            os.kill(self._pid, signal.SIGKILL)

    def _reap(self) -> int:
        if self.exit_code is None:
            for stream in (self._jobs, self._messages_in):
                if not stream.closed:
                    stream.close()
            if self._process is not None:
                self.exit_code = self._process.wait()
            else:
                self.exit_code = os.waitstatus_to_exitcode(os.waitpid(self._pid, 0)[1])
        return self.exit_code

    def _messages(self) -> Iterator[dict[str, object]]:
        """The worker's messages up to its answer or its end, its log records logged on the way."""
        from pipes_common.log import get_logger

        for line in self._messages_in:
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

        # the S3 model is loaded while waiting for the settings, if they are not there yet
        waiting = not select.select([stdin], [], [], 0)[0]
        session = s3.warm_session() if waiting else None
        data = stdin.read()
        if data == CANCELLED:
            return
        s: Settings = pickle.loads(data)  # noqa: S301 - from the pipe's own process, through a pipe
        later: list[Callable[[], None]] = []
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
    """``python -m tf_apply.prober`` (:meth:`Prober.spawn`): the job on stdin, messages on stdout."""
    channel = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    sys.stdout = sys.stderr  # nothing but the messages may reach the pipe's side
    serve(sys.stdin.buffer, channel)
    channel.close()


if __name__ == "__main__":
    _worker()
