"""The one subprocess wrapper: argument lists only, no shell, masked logs and errors."""
from __future__ import annotations

import os
import shlex
import subprocess
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from . import secrets
from .errors import PipeError
from .log import get_logger


@dataclass(frozen=True)
class Result:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


# What every child process may inherit from the pipe's environment: where programs are, the home
# folder, the locale and time zone, the temporary folder, the proxies and the CA certificates.
# Never a pipe variable or a token: a tool gets those only when its caller passes them by name.
BASE_ENV = (
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "LC_MESSAGES",
    "TZ", "TMPDIR",
    "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
    "no_proxy", "all_proxy",
    "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
)
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def child_env(extra: Mapping[str, str] | None = None, allow: Iterable[str] = (), *,
              source: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a child process, built from an allow-list, never the pipe's whole one.

    The variables of ``source`` (the pipe's environment by default) named in :data:`BASE_ENV` or
    in ``allow`` (a name, or a prefix ending in ``*``, e.g. ``DOCKER_*``), then ``extra`` on top
    (what the caller gives the tool explicitly: its credentials, its settings).  ``PATH`` is
    always set.  Terraform's, git's and docker's environments are all this with their own
    ``allow`` and ``extra``."""
    env_in = os.environ if source is None else source
    names = {*BASE_ENV}
    prefixes = []
    for entry in allow:
        if entry.endswith("*"):
            prefixes.append(entry[:-1])
        else:
            names.add(entry)
    env = {k: v for k, v in env_in.items()
           if k in names or (prefixes and k.startswith(tuple(prefixes)))}
    env.setdefault("PATH", DEFAULT_PATH)
    env.update(extra or {})
    return env


def display(args: Sequence[str]) -> str:
    """The command as a masked, shell-quoted line for logs."""
    return secrets.mask(" ".join(shlex.quote(a) for a in args))


def spawn(args: Sequence[str]) -> subprocess.Popen[bytes]:
    """Start a helper process that talks to the caller over its stdin and stdout (its stderr is
    dropped: what it has to say comes through stdout).  The caller owns it: it must reap it."""
    return subprocess.Popen(list(args), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, close_fds=True)


def _tail(text: str, lines: int = 20) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def run(
    args: Sequence[str],
    *,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
    check: bool = True,
    timeout: float | None = None,
    on_line: Callable[[str], None] | None = None,
    error: str | None = None,
    ok_codes: Sequence[int] = (0,),
    merge_stderr: bool = False,
    lossless: bool = False,
) -> Result:
    """Run ``args`` (a list, never a shell string) and return its :class:`Result`.

    ``env`` replaces the environment when given (build it with :func:`child_env`).  ``on_line``
    receives each line of stdout as it comes (stderr is still captured, or with ``merge_stderr``
    read in the same stream: a tool that reports progress on stderr, as ``docker build`` with
    BuildKit) for streaming output.  ``lossless``: stdout and stderr decoded as UTF-8 with
    ``surrogateescape``, so that any bytes (a file's content) decode and encode back unchanged.
    With ``check``, an exit code not in ``ok_codes`` raises :class:`PipeError` whose message is
    ``error`` (or a default naming the command) followed by the masked tail of stderr.
    """
    if isinstance(args, str):  # a shell string would be split wrongly and invite injection
        raise TypeError("proc.run takes an argument list, not a string")
    argv = [str(a) for a in args]
    log = get_logger()
    log.debug("$ %s", display(argv))
    try:
        if on_line is None:
            completed = subprocess.run(
                argv, cwd=cwd, env=dict(env) if env is not None else None, input=input,
                capture_output=True, text=True, timeout=timeout, check=False,
                encoding="utf-8" if lossless else None, errors="surrogateescape" if lossless else None)
            result = Result(tuple(argv), completed.returncode, completed.stdout, completed.stderr)
        else:
            result = _stream(argv, cwd, env, input, timeout, on_line, merge_stderr)
    except FileNotFoundError as err:
        raise PipeError(f"Command not found: {argv[0]} ({err.strerror}). "
                        "Is it installed in the pipe image?") from None
    except subprocess.TimeoutExpired:
        raise PipeError(f"Command timed out after {timeout}s: {display(argv[:2])}") from None
    if result.stderr.strip():
        log.debug("stderr of %s:\n%s", argv[0], secrets.mask(_tail(result.stderr, 50)))
    if check and result.returncode not in ok_codes:
        detail = _tail(result.stderr) or _tail(result.stdout)
        head = error or f"Command failed with exit code {result.returncode}: {display(argv[:3])}"
        raise PipeError(secrets.mask(f"{head}: {detail}" if detail else head))
    return result


def _stream(argv: list[str], cwd: str | os.PathLike[str] | None, env: Mapping[str, str] | None,
            input: str | None, timeout: float | None, on_line: Callable[[str], None],
            merge_stderr: bool = False) -> Result:
    proc = subprocess.Popen(
        argv, cwd=cwd, env=dict(env) if env is not None else None, text=True, bufsize=1,
        stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE)
    err_chunks: list[str] = []

    def _read_err() -> None:
        if proc.stderr is not None:
            err_chunks.append(proc.stderr.read())

    reader = threading.Thread(target=_read_err, daemon=True)
    reader.start()
    if input is not None:
        assert proc.stdin is not None
        proc.stdin.write(input)
        proc.stdin.close()
    out_lines: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        out_lines.append(line)
        on_line(line.rstrip("\n"))
    try:
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    reader.join()
    return Result(tuple(argv), code, "".join(out_lines), "".join(err_chunks))
