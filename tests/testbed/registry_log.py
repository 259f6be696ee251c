"""What a registry of the test bed was asked, read from its log (``docker-registry``'s own).

distribution writes one ``response completed`` line per answered request that got past the auth
check, with the method, the URI, the status, the user agent and the authenticated user
(``auth.user.name``), and one combined access-log line per request of any kind.  A line is written
after its answer: :func:`requests_since` first sends a request of its own (a *sentinel*, after
every request of interest was answered) and waits until the log holds it, so the lines of those
requests are there too, and no test has to sleep.
"""
from __future__ import annotations

import re
import secrets as pysecrets
import time
from dataclasses import dataclass
from pathlib import Path

import requests

_FIELD = re.compile(r'([a-z][a-z0-9_.]*)=("(?:[^"\\]|\\.)*"|\S+)')
_ACCESS = re.compile(r'"([A-Z]+) (\S+) HTTP/[0-9.]+" (\d{3}) ')


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    uri: str
    status: int
    user: str | None  # None: not authenticated
    agent: str


def offset(log: Path) -> int:
    """The current end of the log: pass it to :func:`requests_since`."""
    return log.stat().st_size


def _fields(line: str) -> dict[str, str]:
    return {key: value[1:-1].replace('\\"', '"') if value.startswith('"') else value
            for key, value in _FIELD.findall(line)}


def parse(text: str) -> list[LoggedRequest]:
    """The answered requests of ``text`` (``response completed`` lines), in order."""
    found = []
    for line in text.splitlines():
        if 'msg="response completed' not in line:
            continue
        fields = _fields(line)
        found.append(LoggedRequest(fields.get("http.request.method", ""),
                                   fields.get("http.request.uri", ""),
                                   int(fields.get("http.response.status", "0")),
                                   fields.get("auth.user.name"),
                                   fields.get("http.request.useragent", "")))
    return found


def requests_since(log: Path, host: str, start: int = 0, timeout: float = 30.0) -> list[LoggedRequest]:
    """Every request answered by the registry at ``host`` since ``start`` (see :func:`offset`)."""
    sentinel = f"/v2/testbed-sync-{pysecrets.token_hex(6)}/tags/list"
    requests.get(f"http://{host}{sentinel}", timeout=30)  # 401: logged by the access log only
    deadline = time.monotonic() + timeout
    while True:
        with open(log, "rb") as handle:
            handle.seek(start)
            text = handle.read().decode(errors="replace")
        if any(m.group(2) == sentinel for m in _ACCESS.finditer(text)):
            return parse(text)
        if time.monotonic() > deadline:
            raise TimeoutError(f"the registry at {host} did not log the sentinel request in {timeout}s")
        time.sleep(0.05)
