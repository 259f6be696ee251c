"""Running a pipe as Bitbucket does: as a process (integration) or as its image (e2e)."""
from __future__ import annotations

import os
import subprocess
import sys
import time
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

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


def container_command(image: str, env: Mapping[str, str], build_dir: Path, docker_host: str,
                      engine_args: list[str], extra: list[str] | None = None,
                      ) -> tuple[list[str], dict[str, str]]:
    """The ``docker run`` arguments and environment :func:`run_container` uses (for callers that
    need to stream the output, such as the benchmarks)."""
    args = ["docker", "run", "--rm", "--network", "host",
            "-v", f"{build_dir}:{build_dir}", "-w", str(build_dir), *engine_args]
    for name in env:
        args += ["-e", name]
    args += [*(extra or []), image]
    run_env = {k: os.environ[k] for k in PASS_THROUGH if k in os.environ}
    run_env.update(env)
    run_env["DOCKER_HOST"] = docker_host
    return args, run_env


def run_container(image: str, env: Mapping[str, str], build_dir: Path, docker_host: str,
                  engine_args: list[str], extra: list[str] | None = None,
                  timeout: float = 900) -> PipeRun:
    """``docker run --rm --network host`` of a pipe image, as Bitbucket runs a pipe.

    The build directory is mounted at the same path and is the working directory; the variables
    are passed with ``-e NAME`` (values through the environment, never on the command line).
    """
    args, run_env = container_command(image, env, build_dir, docker_host, engine_args, extra)
    started = time.monotonic()
    proc = subprocess.run(args, env=run_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=timeout, check=False)
    return PipeRun(proc.returncode, proc.stdout, time.monotonic() - started)
