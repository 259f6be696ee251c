"""The hostile-input corpus (``cases.yaml``): every case run in-process, plain and with DEBUG.

Each case is one bad variable on top of a pipe's valid base variables, in which every secret holds
a unique canary and every service (APIs, registry, S3 endpoint, git remote, Docker engine) is a
loopback recorder.  For each run: exit 1, exactly one ``✖`` line, naming the variable, bounded in
length, no traceback, no canary in any form in the output or in any file the pipe wrote, and not
one connection to any service (so nothing can have been written to a registry, bucket or
repository), and none of the tools (terraform, git, docker) started.
``test_base_reaches_the_services`` shows that the base variables do reach the recorder, so that a
case that slipped through validation would be caught.
"""
from __future__ import annotations

import importlib
import os
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from pipes_common import log as plog
from pipes_common import runner
from testbed import leaks
from testbed.net import free_port
from testbed.pipes import PACKAGES, PIPES, as_the_process
from testbed.recorder import Recorder

HERE = Path(__file__).parent
CORPUS: dict[str, Any] = yaml.safe_load((HERE / "cases.yaml").read_text())
CASES: list[dict[str, Any]] = CORPUS["cases"]
MAX_LINE = plog.MAX_FAIL_LINE + 40  # the message bound, its colour codes and the ✖ itself
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _main(pipe: str) -> Callable[[], int | None]:
    main: Callable[[], int | None] = importlib.import_module(f"{PACKAGES[pipe]}.pipe").main
    return main


# the valid base variables of each pipe (cases.yaml ``base``): every secret a canary, every service
# the recorder; the cases add their one bad variable on top
BASE: dict[str, dict[str, str]] = CORPUS["base"]


@dataclass
class Run:
    code: int
    canaries: list[str]
    written: list[Path]
    seen: list[bytes] = field(default_factory=list)  # connections to the services
    tools: list[str] = field(default_factory=list)  # the tools started (terraform, git, docker)


def _value(raw: Any, rec: Recorder, canaries: list[str]) -> str:
    """A case's value with its placeholders filled: {canary} (a new unique secret), {url},
    {host}, {port} (the recorder's), {free_url} / {free_host} (a loopback port nothing listens
    on), {bad_byte} (a byte that is not UTF-8), {repeat:N:text}."""
    text = str(raw).lower() if isinstance(raw, bool) else str(raw)

    def canary(_: re.Match[str]) -> str:
        value = f"cnry{uuid.uuid4().hex}"
        canaries.append(value)
        return value

    text = re.sub(r"\{canary\}", canary, text)
    text = re.sub(r"\{repeat:(\d+):([^}]*)\}", lambda m: m.group(2) * int(m.group(1)), text)
    if "{free_url}" in text or "{free_host}" in text:
        free = f"127.0.0.1:{free_port()}"
        text = text.replace("{free_url}", f"http://{free}").replace("{free_host}", free)
    return (text.replace("{url}", rec.url).replace("{host}", rec.host)
            .replace("{port}", rec.host.rpartition(":")[2])
            .replace("{bad_byte}", "\udcff"))


def _tree(root: Path, pipe: str, links: dict[str, str]) -> Path:
    clone = root / "build"
    (clone / "infra").mkdir(parents=True)
    (clone / "Dockerfile").write_text("FROM scratch\n")
    (clone / "infra" / "main.tf").write_text('terraform {\n  backend "s3" {}\n}\n')
    (clone / "infra" / "prod.tfvars").write_text('region = "nyc3"\n')
    for name, target in links.items():
        (clone / name).symlink_to(target)
    return clone


TOOLS = ("terraform", "git", "docker")


def _recording_tools(folder: Path, log: Path) -> str:
    """Stand-ins for the tools a pipe runs, first on PATH: each records that it was started."""
    folder.mkdir()
    for tool in TOOLS:
        script = folder / tool
        script.write_text(f'#!/bin/sh\necho "{tool}" >> "{log}"\nexit 1\n')
        script.chmod(0o755)
    return str(folder)


def run_case(case: dict[str, Any], debug: bool, rec: Recorder, root: Path,
             real_tools: bool = False) -> Run:
    pipe = case["pipe"]
    canaries: list[str] = []
    clone = _tree(root, pipe, case.get("links") or {})
    dirs = {name: root / name for name in ("storage", "shared", "tmp", "home")}
    for d in dirs.values():
        d.mkdir()
    path = os.environ.get("PATH", "/usr/bin:/bin")
    if not real_tools:
        path = _recording_tools(root / "bin", root / "tools.log") + os.pathsep + path
    env = {"PATH": path, "HOME": str(dirs["home"]),
           "TMPDIR": str(dirs["tmp"]), "BITBUCKET_CLONE_DIR": str(clone),
           "BITBUCKET_PIPE_STORAGE_DIR": str(dirs["storage"]),
           "BITBUCKET_PIPE_SHARED_STORAGE_DIR": str(dirs["shared"]), "BITBUCKET_COMMIT": COMMIT,
           "BITBUCKET_BRANCH": "main", "BITBUCKET_REPO_SLUG": "app", "BITBUCKET_WORKSPACE": "acme",
           "BITBUCKET_BUILD_NUMBER": "7", "DOCKER_HOST": f"tcp://{rec.host}",
           "GIT_CONFIG_NOSYSTEM": "1"}
    env.update({k: _value(v, rec, canaries) for k, v in BASE[pipe].items()})
    for name in case.get("unset") or []:
        env.pop(name, None)
    env.update({k: _value(v, rec, canaries) for k, v in (case.get("set") or {}).items()})
    if debug and "DEBUG" not in (case.get("set") or {}):
        env["DEBUG"] = "true"
    rec.clear()
    with as_the_process(env, clone, str(dirs["tmp"])):
        code = runner.run(_main(pipe))
    tools = root / "tools.log"
    return Run(code, canaries, [clone, *dirs.values()], rec.seen,
               tools.read_text().split() if tools.exists() else [])


@pytest.fixture(scope="module")
def recorder() -> Iterator[Recorder]:
    with Recorder() as rec:
        yield rec


def _ids() -> list[str]:
    seen: set[str] = set()
    for case in CASES:
        assert case["id"] not in seen, f"case id {case['id']} twice in cases.yaml"
        seen.add(case["id"])
    return [c["id"] for c in CASES]


def test_corpus_is_big_enough() -> None:
    assert len(CASES) >= 150
    assert {c["pipe"] for c in CASES} == set(PIPES) == set(BASE), "every pipe has its base and its cases"
    _ids()


@pytest.mark.parametrize("debug", [False, True], ids=["plain", "debug"])
@pytest.mark.parametrize("case", [
    pytest.param(c, marks=pytest.mark.xfail(strict=True, reason=c["known_gap"])) if c.get("known_gap")
    else c for c in CASES], ids=_ids())
def test_hostile_input(case: dict[str, Any], debug: bool, recorder: Recorder, tmp_path: Path,
                       capfd: pytest.CaptureFixture[str]) -> None:
    run = run_case(case, debug, recorder, tmp_path, real_tools=bool(case.get("real_tools")))
    out, err = capfd.readouterr()
    output = out + err
    fails = [line for line in output.splitlines() if "✖" in line]
    assert run.code == 1, output
    assert len(fails) == 1, output
    line = fails[0]
    assert re.search(rf"\b{case['blames']}", line), line
    for other in case.get("not_blamed") or []:  # named, if at all, after the one to blame
        assert other not in line or line.index(other) > line.index(case["blames"]), line
    assert len(line) <= MAX_LINE, len(line)
    assert "Traceback" not in output and "Unexpected error" not in output, output
    for canary in run.canaries:
        leaks.assert_absent(canary, text=output, paths=run.written)
    assert run.seen == [], f"the pipe connected to a service: {run.seen[:3]}"
    assert run.tools == [], f"the pipe started {run.tools}"  # (none recorded with real_tools)


@pytest.mark.parametrize("pipe", sorted(BASE))
def test_base_reaches_the_services(pipe: str, recorder: Recorder, tmp_path: Path,
                                   capfd: pytest.CaptureFixture[str]) -> None:
    """The base variables alone pass validation and reach the recorder: the corpus's 'no
    connection' assertion can fail."""
    run = run_case({"pipe": pipe}, False, recorder, tmp_path, real_tools=True)
    out, err = capfd.readouterr()
    assert run.seen, out + err
    assert "is not valid" not in out
