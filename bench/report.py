"""Helpers every benchmark shares: statistics, the machine description, docs/BENCHMARKS.md."""
from __future__ import annotations

import os
import platform
import re
import shlex
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import bench

REPO_ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS_MD = REPO_ROOT / "docs" / "BENCHMARKS.md"
INTRO = """# Benchmarks

Speed goals of the pipes, measured against the plain tools they replace, side by side in one run
on the local test bed (real Docker engine, registry and stubs on loopback). Each benchmark writes
its own section below with the command that produced it, the date and the machine; rerun the
command to refresh a section. Times are medians of paired runs whose order alternates.
"""


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def command_line(module: str, argv: Sequence[str]) -> str:
    """The command that started this benchmark, as a user would type it from the repo root."""
    head = bench.INVOKED_AS or f".venv/bin/python -m bench.{module}"
    env = ""
    if os.environ.get("DOCKER_HOST"):
        env = f"DOCKER_HOST={shlex.quote(os.environ['DOCKER_HOST'])} "
    return env + " ".join([head, *(shlex.quote(a) for a in argv)])


def _meminfo_gib() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


@dataclass(frozen=True)
class Machine:
    nproc: int
    memory: str
    cpu: str
    kernel: str
    python: str

    @classmethod
    def here(cls) -> Machine:
        return cls(nproc=os.cpu_count() or 0, memory=_meminfo_gib(), cpu=_cpu_model(),
                   kernel=platform.release(), python=platform.python_version())

    def describe(self) -> str:
        return (f"nproc {self.nproc}, memory {self.memory}, CPU {self.cpu}, Linux {self.kernel}, "
                f"Python {self.python} (host)")


def load_average() -> str:
    """The 1-minute load average (the machine may be shared: it says how busy it was)."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "unknown"


def now_utc() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def write_section(title: str, body: str, path: Path = BENCHMARKS_MD) -> Path:
    """Replace (or append) the ``## <title>`` section of ``path``, keeping every other section."""
    from pipes_common.fsutil import atomic_write

    text = path.read_text(encoding="utf-8") if path.is_file() else INTRO
    section = f"## {title}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(title)}[ \t]*\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _m: section + "\n", text, count=1).rstrip("\n") + "\n"
    else:
        text = text.rstrip("\n") + "\n\n" + section
    atomic_write(path, text)
    return path


def write_heading_section(text: str, path: Path = BENCHMARKS_MD) -> Path:
    """:func:`write_section` for a section given whole, its first line the ``## <title>``."""
    heading, _, body = text.partition("\n")
    if not heading.startswith("## "):
        raise ValueError(f"a section starts with '## <title>', not {heading!r}")
    return write_section(heading[3:].strip(), body, path)


def say(message: str) -> None:
    print(message, flush=True)


def warn(message: str) -> None:
    print(f"WARNING: {message}", file=sys.stderr, flush=True)
