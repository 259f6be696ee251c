"""``./dev pipe <name> --env-file vars.env [--build-dir DIR]``: run a pipe on this machine exactly as
Bitbucket Pipelines runs it.

Builds the pipe's image from this repository (Docker's cache makes a rebuild quick), plays what
Bitbucket provides around a pipe - the Docker engine at ``tcp://host.docker.internal:2375`` and the
Pipelines API proxy at port 29418 on a loopback address of their own, the ssh folder, the docker
CLI - prints the exact ``docker container run`` line (``testbed.pipes.pipe_command``, the one the
tests, the demo and the benchmarks use) and runs it.  The engine is the one at ``DOCKER_HOST`` (or
``/var/run/docker.sock``) when it answers, else a dockerd of the test bed's own.  The step's
variables come from the build folder's git checkout (commit, branch); the pipe's variables from
the env file (``NAME=value`` lines, as ``docker run --env-file`` reads them).  A Code Insights
report the pipe sends is printed.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

from . import base_image, images, terraform_image
from .docker_engine import DockerEngine
from .pipe_host import PROXY_PORT, PipeHostAddress, agent_ssh_dir, docker_cli
from .pipes import PACKAGES, PipeHost, bitbucket_env, pipe_command
from .reports_stub import BitbucketReportsStub


def _git(build: Path, *args: str) -> str | None:
    proc = subprocess.run(["git", *args], cwd=build, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return None
    return proc.stdout.strip() or None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./dev pipe", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", choices=sorted(PACKAGES), help="the pipe to run")
    parser.add_argument("--env-file", type=Path, required=True,
                        help="the pipe's variables, NAME=value lines")
    parser.add_argument("--build-dir", type=Path, default=Path.cwd(),
                        help="the step's clone folder (default: the current folder)")
    parser.add_argument("--repo", default="acme/web", help="BITBUCKET_REPO_FULL_NAME (workspace/slug)")
    parser.add_argument("--ssh-key", type=Path, help="the repository's Pipelines SSH key (private key file)")
    parser.add_argument("--known-hosts", type=Path, help="the repository's Pipelines known hosts file")
    args = parser.parse_args(argv)
    build = args.build_dir.resolve()
    env_file = args.env_file.resolve()
    work = Path(tempfile.mkdtemp(prefix="do-pipes-local-"))
    try:
        with ExitStack() as stack:
            address = stack.enter_context(PipeHostAddress()).address
            engine = stack.enter_context(DockerEngine(workdir=work, pipe_address=address))
            client = engine.client()
            stack.callback(client.close)
            base = images.pick_base(client, lambda: base_image.ensure(client))
            if args.name == "tf-apply":
                terraform_image.ensure(client)
            image = images.build_pipe(client, args.name, base, tag=f"do-pipes/{args.name}:local")
            reports = stack.enter_context(BitbucketReportsStub(address, PROXY_PORT))
            ssh_dir = agent_ssh_dir(
                work / "agent-ssh", key=args.ssh_key.read_text() if args.ssh_key else None,
                known_hosts=args.known_hosts.read_text() if args.known_hosts else "")
            host = PipeHost(address=address, engine=engine.host, ssh_dir=ssh_dir, docker_cli=docker_cli())
            step = bitbucket_env(build, commit=_git(build, "rev-parse", "HEAD"),
                                 branch=_git(build, "branch", "--show-current"), repo=args.repo)
            command = pipe_command(f"docker://{image}", build, step, host, env_file=env_file)
            print(command.shell(), flush=True)
            code = subprocess.run(command.args, env=command.env, check=False).returncode
            for report in reports.state.reports.values():
                print(f"Code Insights report received: {report['title']}: {report['details']}")
            return code
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
