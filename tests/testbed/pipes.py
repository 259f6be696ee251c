"""Running a pipe: as a local process (integration), or as its image exactly as Bitbucket runs it
(:func:`pipe_command`, the one way the e2e tests, the demo, the benchmarks and ``./dev pipe`` start
a pipe container)."""
from __future__ import annotations

import contextlib
import importlib
import io
import json
import logging
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
import tomllib
import typing
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from pipes_common import contracts, handoff, httpclient, runner, secrets
from pipes_common import log as plog
from pipes_common.bitbucket import StepContext

REPO_ROOT = Path(__file__).resolve().parents[2]
# pipe -> its package, from the one list of pipes (pyproject.toml [tool.do-pipes] pipes)
PIPES: list[str] = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["do-pipes"]["pipes"]
PACKAGES = {pipe: pipe.replace("-", "_") for pipe in PIPES}
# what a pipe process inherits from the machine, besides the variables a test gives it
SHARED_STORAGE = ".bitbucket/pipelines/generated/pipeline/pipes"
PASS_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")


@dataclass(frozen=True)
class PipeRun:
    code: int
    output: str
    seconds: float

    def last_line(self) -> str:
        lines = [line for line in self.output.splitlines() if line.strip()]
        return lines[-1] if lines else ""


def bitbucket_env(build_dir: Path, *, commit: str | None = None, branch: str | None = None,
                  tag: str | None = None, shared_dir: Path | None = None,
                  repo: str = "acme/web", build_number: str = "42", pipe: str | None = None,
                  owner: str = "do-pipes") -> dict[str, str]:
    """The BITBUCKET_* variables a pipelines step hands to a pipe.

    With ``pipe``, also the pipe's own storage folder, ``BITBUCKET_PIPE_STORAGE_DIR`` =
    ``<shared dir>/<owner>/<pipe>``, as Bitbucket sets it for the pipe of image ``<owner>/<pipe>``
    (where the pipe writes its hand-off file for the next pipes)."""
    workspace, slug = repo.split("/")
    shared = shared_dir or build_dir / SHARED_STORAGE
    env = {
        "CI": "true",
        "BITBUCKET_CLONE_DIR": str(build_dir),
        "BITBUCKET_REPO_SLUG": slug,
        "BITBUCKET_REPO_OWNER": workspace,
        "BITBUCKET_WORKSPACE": workspace,
        "BITBUCKET_REPO_FULL_NAME": repo,
        "BITBUCKET_BUILD_NUMBER": build_number,
        "BITBUCKET_GIT_HTTP_ORIGIN": f"http://bitbucket.org/{repo}",
        "BITBUCKET_PIPE_SHARED_STORAGE_DIR": str(shared),
    }
    if pipe:
        env["BITBUCKET_PIPE_STORAGE_DIR"] = str(shared / owner / pipe)
    if commit:
        env["BITBUCKET_COMMIT"] = commit
    if branch:
        env["BITBUCKET_BRANCH"] = branch
    if tag:
        env["BITBUCKET_TAG"] = tag
    return env


def run_local(pipe: str, env: Mapping[str, str], cwd: Path, timeout: float = 900) -> PipeRun:
    """``python -m <pipe package>`` with only ``env`` (plus PATH and friends) set; the pipe and
    the shared library are installed in this interpreter's environment (``./dev``)."""
    full = {k: os.environ[k] for k in PASS_THROUGH if k in os.environ}
    full.update(env)
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", PACKAGES[pipe]], cwd=cwd, env=full,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=timeout, check=False)
    return PipeRun(proc.returncode, proc.stdout, time.monotonic() - started)


@dataclass(frozen=True)
class InProcessRun(PipeRun):
    waits: list[float] = field(default_factory=list)  # what the HTTP client would have slept, in order


@contextlib.contextmanager
def as_the_process(env: Mapping[str, str], cwd: Path, tmp: str | None = None) -> Iterator[None]:
    """This process as a pipe's own for the length of the block: exactly ``env`` as its
    environment, ``cwd`` as its working directory, ``tmp`` (or TMPDIR of ``env``) for temporary
    files, no secret registered; all of it, and the log level, restored afterwards."""
    saved_env, saved_cwd, saved_tmp = dict(os.environ), os.getcwd(), tempfile.tempdir
    secrets.clear()
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    tempfile.tempdir = tmp
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        os.chdir(saved_cwd)
        tempfile.tempdir = saved_tmp
        plog.get_logger().setLevel(logging.INFO)
        secrets.clear()


def run_in_process(pipe: str, env: Mapping[str, str], cwd: Path) -> InProcessRun:
    """The pipe's ``main`` in this process, as :func:`run_local` runs it (only ``env`` plus PATH and
    friends set, in ``cwd``), but every wait of the shared HTTP client between two attempts
    (``Retry-After``, backoff) recorded in ``waits`` instead of slept: the test asserts what the
    pipe would have waited and never waits.  The environment, the working directory, the masked
    secrets and the log level are restored afterwards."""
    main = importlib.import_module(f"{PACKAGES[pipe]}.pipe").main
    full = {k: os.environ[k] for k in PASS_THROUGH if k in os.environ}
    full.update(env)
    waits: list[float] = []
    output = io.StringIO()
    started = time.monotonic()
    # tmp None: from TMPDIR of ``env``, as a process would
    with as_the_process(full, cwd), pytest.MonkeyPatch.context() as patch, \
            contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
        patch.setattr(httpclient, "time", SimpleNamespace(sleep=waits.append))
        code = runner.run(main)
    return InProcessRun(code, output.getvalue(), time.monotonic() - started, waits)


# -- a pipe container, as Bitbucket starts it ----------------------------------------------------

SSH_DIR = "/opt/atlassian/pipelines/agent/ssh"
DOCKER_CLI = "/usr/local/bin/docker"
PIPE_DOCKER_HOST = "tcp://host.docker.internal:2375"
# set by the runner itself: a pipe variable or step variable of these names is refused
RUNNER_SET = frozenset({"BITBUCKET_PIPE_STORAGE_DIR", "BITBUCKET_PIPE_SHARED_STORAGE_DIR",
                        "BITBUCKET_DOCKER_HOST_INTERNAL", "DOCKER_HOST"})
# the docker CLI's own environment: a pipe variable of these names would change the CLI, not the pipe
CLI_ENV = frozenset({"PATH", "HOME", "DOCKER_CONFIG", "DOCKER_CONTEXT", "DOCKER_TLS_VERIFY",
                     "DOCKER_CERT_PATH", "DOCKER_API_VERSION"})
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class PipeHost:
    """What Bitbucket provides around a pipe container, as played on this machine.

    ``address`` is what ``host.docker.internal`` resolves to in the pipe
    (``BITBUCKET_DOCKER_HOST_INTERNAL``): the engine listens there on port 2375 and the reports
    proxy on 29418 (``testbed.pipe_host``).  ``engine`` is the DOCKER_HOST the docker CLI on this
    machine uses to start the container; ``ssh_dir`` and ``docker_cli`` are mounted read-only
    (``docker_cli`` None: none, as on runtime 3).
    """

    address: str
    engine: str
    ssh_dir: Path
    docker_cli: Path | None
    network: str = "host"


@dataclass(frozen=True)
class PipeCommand:
    """``docker container run`` of a pipe: ``args`` (no secret in them) and ``env``, the docker
    CLI's environment, which holds the engine and the values of the pipe's variables."""

    args: list[str]
    env: dict[str, str] = field(repr=False)
    storage_dir: Path

    def shell(self) -> str:
        return shlex.join(self.args)


def pipe_reference(pipe: str) -> tuple[str, str]:
    """``(image, "<owner>/<pipe>")`` of the ``pipe:`` reference of a step.

    ``atlassian/<name>:<version>`` runs the image ``bitbucketpipelines/<name>:<version>``; a
    ``docker://<image>`` reference runs ``<image>``.  The storage folder is named after the last
    two components of the image repository, without registry host, tag or digest:
    ``docker://acme/build-push:1.2.3`` -> ``acme/build-push``, ``atlassian/foo:1.0`` ->
    ``atlassian/foo``.  Other references (a pipe in a Bitbucket repository, whose ``pipe.yml``
    names the image) cannot be resolved here.
    """
    if pipe.startswith("docker://"):
        image = pipe[len("docker://"):]
        repository = image
    elif pipe.startswith("atlassian/"):
        repository = pipe
        image = "bitbucketpipelines/" + pipe[len("atlassian/"):]
    else:
        raise ValueError(f"pipe reference {pipe!r}: give docker://<image> or atlassian/<pipe>:<version>")
    repository = repository.split("@", 1)[0]
    head, _, last = repository.rpartition("/")
    repository = f"{head}/{last.split(':', 1)[0]}" if head else last.split(":", 1)[0]
    parts = repository.split("/")
    if len(parts) > 2 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]  # the registry host
    if len(parts) < 2 or not all(parts):
        raise ValueError(f"pipe reference {pipe!r}: the image needs an owner (<owner>/<pipe>)")
    return image, "/".join(parts[-2:])


def pipe_command(pipe: str, build_dir: Path, step: Mapping[str, str], host: PipeHost, *,
                 variables: Mapping[str, str] | None = None, env_file: Path | None = None,
                 workdir: Path | None = None, entrypoint: Sequence[str] | None = None) -> PipeCommand:
    """The ``docker container run`` command Bitbucket Pipelines starts a pipe with.

    The shape is the one printed in every pipe step's log (issue 8 of this project quotes it),
    checked against Atlassian's documentation and a community re-implementation of the runner:

    - Atlassian, "Advanced techniques for writing pipes" (Sharing information between pipes):
      ``BITBUCKET_PIPE_STORAGE_DIR`` is the pipe's own folder and
      ``BITBUCKET_PIPE_SHARED_STORAGE_DIR`` the folder of every pipe's folders, both under
      ``$BITBUCKET_CLONE_DIR/.bitbucket/pipelines/generated/pipeline/pipes``; a pipe's folder is
      ``<owner>/<pipe>`` of its reference (CyberArk's conjur-bitbucket-pipe documents
      ``docker://cyberark/conjur-bitbucket-pipe`` -> ``pipes/cyberark/conjur-bitbucket-pipe``).
    - mathieu-lemay/pipeline-runner (``pipeline_runner/models.py``, ``Pipe.as_cmd``): the mounts
      of the build folder at the same path, of ``/opt/atlassian/pipelines/agent/ssh`` read-only
      and of the docker CLI read-only at ``/usr/local/bin/docker``; ``--workdir=$(pwd)``; the
      label ``org.bitbucket.pipelines.system=true``; the step's ``BITBUCKET_*`` variables and
      ``CI``; ``BITBUCKET_DOCKER_HOST_INTERNAL``; ``DOCKER_HOST=tcp://host.docker.internal:2375``;
      ``atlassian/<pipe>`` run as ``bitbucketpipelines/<pipe>``.  Its ``container.py`` lays out
      the ssh folder (``id_rsa_tmp`` world-readable for pipes, ``known_hosts``), see
      ``testbed.pipe_host.agent_ssh_dir``.  (ktomk/pipelines, the other re-implementation,
      does not run pipes: its step script says "pipe feature is pending".)
    - bitbucket-pipes-toolkit (``annotations.py``, ``CodeInsights``): a pipe reaches the reports
      proxy at ``host.docker.internal:29418``, so ``--add-host`` points that name at the pipe host.

    On purpose: ``--network`` is ``host.network`` (``host`` on the test bed, whose engine has no
    bridge: a bridge lets a container reach outside addresses), and ``--rm`` (as the
    re-implementation runs it).  The pipe's variables are passed as ``--env=NAME`` with
    their values in the docker CLI's environment (``variables``), or as ``--env-file``, never on
    the command line.  The step's variables (``CI``, ``BITBUCKET_*``; not secret) are literal.
    ``entrypoint`` replaces the image's entry point (the benchmarks' container-start floor only).
    """
    image, owner_pipe = pipe_reference(pipe)
    pipes_dir = build_dir / SHARED_STORAGE
    storage = pipes_dir / owner_pipe
    args = ["docker", "container", "run", "--rm",
            f"--volume={build_dir}:{build_dir}",
            f"--volume={host.ssh_dir}:{SSH_DIR}:ro",
            *([f"--volume={host.docker_cli}:{DOCKER_CLI}:ro"] if host.docker_cli else []),
            f"--volume={pipes_dir}:{pipes_dir}",
            f"--volume={storage}:{storage}",
            f"--workdir={workdir or build_dir}",
            "--label=org.bitbucket.pipelines.system=true"]
    for name, value in step.items():
        if name in ("BITBUCKET_PIPE_STORAGE_DIR", "BITBUCKET_PIPE_SHARED_STORAGE_DIR"):
            continue  # the runner's own values below
        if not (name == "CI" or name.startswith("BITBUCKET_")) or name in RUNNER_SET:
            raise ValueError(f"{name} is not a step variable Bitbucket hands to a pipe")
        args.append(f"--env={name}={value}")
    args += [f"--env=BITBUCKET_PIPE_STORAGE_DIR={storage}",
             f"--env=BITBUCKET_PIPE_SHARED_STORAGE_DIR={pipes_dir}",
             f"--env=BITBUCKET_DOCKER_HOST_INTERNAL={host.address}",
             f"--env=DOCKER_HOST={PIPE_DOCKER_HOST}",
             f"--add-host=host.docker.internal:{host.address}",
             f"--network={host.network}"]
    env = {k: os.environ[k] for k in PASS_THROUGH if k in os.environ}
    env["DOCKER_HOST"] = host.engine
    if env_file is not None:
        for name in env_file_names(env_file):
            _check_variable(name)
        args.append(f"--env-file={env_file}")
    for name, value in (variables or {}).items():
        _check_variable(name)
        args.append(f"--env={name}")
        env[name] = value
    if entrypoint:
        args.append(f"--entrypoint={entrypoint[0]}")
    args.append(image)
    args += list(entrypoint or [])[1:]
    return PipeCommand(args, env, storage)


def _check_variable(name: str) -> None:
    if not _NAME.match(name):
        raise ValueError(f"{name!r} is not a variable name")
    if name in RUNNER_SET or name in CLI_ENV:
        raise ValueError(f"{name} cannot be a pipe variable: Bitbucket sets it (or it is the "
                         "docker CLI's own)")


def env_file_names(path: Path) -> list[str]:
    """The variable names of a ``docker run --env-file`` file (values are not read out)."""
    names = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            names.append(line.split("=", 1)[0].strip())
    return names


def run_pipe(command: PipeCommand, timeout: float = 900) -> PipeRun:
    """Run ``command`` (from :func:`pipe_command`), its output and exit code collected."""
    started = time.monotonic()
    proc = subprocess.run(command.args, env=command.env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=timeout, check=False)
    return PipeRun(proc.returncode, proc.stdout, time.monotonic() - started)


def read_handoff(build_dir: Path, pipe: str, name: str | None = None,
                 commit: str | None = None) -> dict[str, Any]:
    """What a pipe left after its run in ``build_dir``: its hand-off to the pipes after it, read
    as the next pipe of the same step (of ``commit``) reads it (``pipes_common.handoff.read``: the
    pipe storage folders), or (``name``) another file of its outputs.  The one place tests know
    these locations."""
    if name is not None:
        data: dict[str, Any] = json.loads((build_dir / ".do-pipes" / name).read_text(encoding="utf-8"))
        return data
    ctx = StepContext.from_env(bitbucket_env(build_dir, commit=commit))
    # the pipe's contract, named by its PIPE (a pipe that hands nothing over has none)
    cls = next(c for c in typing.get_args(contracts.Outputs) if pipe == c.PIPE)
    found: contracts.Outputs | None = handoff.read(ctx, cls, "read the log")
    if found is None:
        raise FileNotFoundError(f"{pipe} left no hand-off file under {build_dir / SHARED_STORAGE}")
    return found.values()
