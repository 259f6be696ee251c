"""The main job, end to end on the local test bed: ``./dev demo``.

One Bitbucket step of an application, with every service real and on loopback:

1. ``build-push`` builds the sample app and pushes it to the DOCR stand-in (after the DigitalOcean
   API pre-flight against the API stub), then a rerun of the same commit skips the build;
2. ``tf-apply`` applies the app's Terraform with its state in the Spaces stand-in (moto's S3);
3. ``flux-bump`` takes the image and digest that build-push left in the pipe shared storage and
   bumps them in a Flux GitOps repository served over smart HTTP with token auth.

Each pipe runs as its image, exactly as Bitbucket runs a pipe (``testbed.pipes.pipe_command``):
the Docker engine and the Pipelines API proxy (Code Insights) on the pipe's own host, reached as
``host.docker.internal``.  Prints the pushed digest and the GitOps commit.
"""
from __future__ import annotations

import argparse
import secrets as pysecrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import docker

from . import base_image as base_image_mod
from . import images
from . import terraform_image as terraform_image_mod
from .do_stub import DOApiStub, StubState
from .docker_engine import DockerEngine
from .fixtures import DOCR_REGISTRY_NAME, canary
from .git_http import Accounts, GitHttpServer, create_repo, git
from .pipe_host import PROXY_PORT, PipeHostAddress, agent_ssh_dir, docker_cli
from .pipes import REPO_ROOT, PipeHost, PipeRun, bitbucket_env, pipe_command, read_handoff, run_pipe
from .registry import LocalRegistry
from .reports_stub import BitbucketReportsStub
from .s3 import MotoS3

APP = "sample-app"


def say(message: str) -> None:
    print(f"==> {message}", flush=True)


def gitops_files(image: str) -> dict[str, bytes | str]:
    """A Flux GitOps repository that deploys ``image``: a setter marker and a kustomization."""
    return {
        "apps/sample-app/deployment.yaml": (
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: sample-app\nspec:\n"
            "  template:\n    spec:\n      containers:\n        - name: app\n"
            f'          image: {image}:sha-0000000 # {{"$imagepolicy": "flux-system:sample-app"}}\n'),
        "apps/sample-app/kustomization.yaml": (
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
            f"resources:\n  - deployment.yaml\nimages:\n  - name: {image}\n    newTag: sha-0000000\n"),
    }


@contextmanager
def _engine(work: Path, pipe_address: str) -> Iterator[tuple[DockerEngine, docker.DockerClient]]:
    with DockerEngine(workdir=work, pipe_address=pipe_address) as engine:
        client = engine.client()
        try:
            yield engine, client
        finally:
            client.close()


def step_pipe(name: str, image: str, step: dict[str, str], variables: dict[str, str], build: Path,
              host: PipeHost) -> PipeRun:
    command = pipe_command(f"docker://{image}", build, step, host, variables=variables)
    say(f"pipe {name}: {command.shell()}")
    run = run_pipe(command)
    print(run.output, end="", flush=True)
    if run.code != 0:
        raise SystemExit(f"==> the {name} pipe failed with exit code {run.code}")
    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./dev demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="do-pipes-demo-"))
    token, push_user, push_password = canary("dop_v1_demo"), canary("demo-push-"), canary("demo-pw-")
    git_token = canary("demo-bb-")
    spaces_key, spaces_secret = canary("DO00DEMO"), canary("demo-spaces-")
    try:
        with ExitStack() as stack:
            address = stack.enter_context(PipeHostAddress()).address
            say(f"Docker engine (for the pipes at tcp://host.docker.internal:2375 = {address}:2375)")
            engine, client = stack.enter_context(_engine(work, address))
            say(f"  {engine.host}{' (started for the demo)' if engine.owned else ''}")
            reports = stack.enter_context(BitbucketReportsStub(address, PROXY_PORT))
            host = PipeHost(address=address, engine=engine.host,
                            ssh_dir=agent_ssh_dir(work / "agent-ssh"), docker_cli=docker_cli())
            say("Base image (debootstrap bookworm, cached after the first run)")
            base = images.pick_base(client, lambda: base_image_mod.ensure(client))
            try:
                terraform_image_mod.local_binary()
                terraform: str | None = terraform_image_mod.ensure(client)
            except RuntimeError as err:
                terraform = None
                say(f"  no terraform here ({err}): the tf-apply step is left out")
            say("Pipe images, built from the repository root as released")
            pipe_images = {name: images.build_pipe(client, name, base)
                           for name in ("build-push", "flux-bump", *(["tf-apply"] if terraform else []))}
            registry = stack.enter_context(LocalRegistry(token, push_user, push_password, workdir=work))
            api = stack.enter_context(DOApiStub(StubState(
                registry_name=DOCR_REGISTRY_NAME, registry_host=registry.host, tokens={token},
                push_user=push_user, push_password=push_password)))
            spaces = stack.enter_context(MotoS3(workdir=work))
            gitserver = stack.enter_context(GitHttpServer(Accounts(access_tokens={git_token}), workdir=work))
            image_name = f"{registry.host}/{DOCR_REGISTRY_NAME}/{APP}"
            gitops = create_repo(gitserver.root / "acme/gitops.git", gitops_files(image_name))
            bucket = spaces.create_bucket("acme-tfstate")
            say(f"DOCR stand-in {registry.host}, DigitalOcean API stub {api.url}, Spaces stand-in "
                f"{spaces.url}, GitOps repo {gitserver.url('acme/gitops.git')}")

            build = work / "build"
            shutil.copytree(REPO_ROOT / "tests" / "fixtures" / "sample-app", build)
            shutil.copytree(REPO_ROOT / "tests" / "fixtures" / "tf-apply" / "basic", build / "infra")
            subprocess.run(["git", "init", "-q", str(build)], check=True)
            step = bitbucket_env(build, commit=pysecrets.token_hex(20), branch="main")

            build_push = {
                "DIGITALOCEAN_ACCESS_TOKEN": token, "REGISTRY_NAME": DOCR_REGISTRY_NAME,
                "IMAGE": APP, "REGISTRY_HOST": registry.host, "DIGITALOCEAN_API_URL": api.url,
                "BUILD_ARGS_COUNT": "1", "BUILD_ARGS_0": f"BASE_IMAGE={base}", "NETWORK": "host"}
            first = step_pipe("build-push", pipe_images["build-push"], step, build_push, build, host)
            built = read_handoff(build, "build-push")
            say("Rerun of the same commit: the build is skipped")
            rerun = step_pipe("build-push", pipe_images["build-push"], step, build_push, build, host)

            if terraform:
                step_pipe("tf-apply", pipe_images["tf-apply"], step, {
                    "SPACES_ACCESS_KEY_ID": spaces_key, "SPACES_SECRET_ACCESS_KEY": spaces_secret,
                    "SPACES_BUCKET": bucket, "SPACES_ENDPOINT": spaces.url, "WORKING_DIR": "infra",
                    "VARS_COUNT": "1", "VARS_0": f"name={APP}"}, build, host)
                for report in reports.state.reports.values():
                    say(f"Code Insights report received by the Pipelines proxy: {report['title']} "
                        f"({report['details']})")

            step_pipe("flux-bump", pipe_images["flux-bump"], step, {
                "GITOPS_REPO": gitserver.url("acme/gitops.git"),
                "BITBUCKET_ACCESS_TOKEN": git_token}, build, host)

            say(f"Tags in the registry: {', '.join(registry.tags(f'{DOCR_REGISTRY_NAME}/{APP}'))}")
            say(f"build-push: first run {first.seconds:.1f}s, rerun {rerun.seconds:.1f}s")
            say("GitOps commit:")
            print(git("log", "-1", "--stat", "--format=%h %s", "main", cwd=gitops), end="")
            say(f"Image:  {built['image']}")
            say(f"Digest: {built['digest']}")
        return 0
    finally:
        if args.keep:
            say(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
