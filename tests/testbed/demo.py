"""The main job, end to end on the local test bed: ``./dev demo``.

Starts a Docker engine (or uses the one at DOCKER_HOST), builds the local base image and the
build-push pipe image, starts the DOCR stand-in registry and the DigitalOcean API stub on loopback,
then runs the pipe image on the sample app exactly as Bitbucket Pipelines runs a pipe, and prints
the pushed image's digest.
"""
from __future__ import annotations

import argparse
import json
import secrets as pysecrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from . import base_image as base_image_mod
from . import images
from .do_stub import DOApiStub, StubState
from .docker_engine import DockerEngine
from .fixtures import DOCR_REGISTRY_NAME, canary
from .pipes import REPO_ROOT, SHARED_STORAGE, bitbucket_env, run_container
from .registry import LocalRegistry


def say(message: str) -> None:
    print(f"==> {message}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./dev demo", description=__doc__)
    parser.add_argument("--keep", action="store_true", help="keep the build directory")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="do-pipes-demo-"))
    token = canary("dop_v1_demo")
    push_user, push_password = canary("demo-push-"), canary("demo-pw-")
    try:
        say("Docker engine")
        with DockerEngine(workdir=work) as engine:
            client = engine.client()
            say(f"  {engine.host}{' (started for the demo)' if engine.owned else ''}")
            say("Base image (debootstrap bookworm, cached after the first run)")
            base = images.pick_base(client, base_image_mod.ensure(client))
            say(f"  {base}")
            say("Pipe image: docker build -f pipes/build-push/Dockerfile .")
            pipe = images.build_pipe(client, "build-push", base)
            with LocalRegistry(token, push_user, push_password, workdir=work) as registry, \
                    DOApiStub(StubState(registry_name=DOCR_REGISTRY_NAME, registry_host=registry.host,
                                        tokens={token}, push_user=push_user,
                                        push_password=push_password)) as api:
                say(f"Registry (DOCR stand-in) on {registry.host}, DigitalOcean API stub on {api.url}")
                build = work / "build"
                shutil.copytree(REPO_ROOT / "tests" / "fixtures" / "sample-app", build)
                subprocess.run(["git", "init", "-q", str(build)], check=True)
                commit = pysecrets.token_hex(20)
                env = bitbucket_env(build, commit=commit, branch="main")
                env.update({
                    "DIGITALOCEAN_ACCESS_TOKEN": token, "REGISTRY_NAME": DOCR_REGISTRY_NAME,
                    "IMAGE": "sample-app", "REGISTRY_HOST": registry.host,
                    "DIGITALOCEAN_API_URL": api.url,
                    "BUILD_ARGS_COUNT": "1", "BUILD_ARGS_0": f"BASE_IMAGE={base}", "NETWORK": "host",
                })
                say("Running the pipe as Bitbucket does (docker run --network host ...)")
                run = run_container(pipe, env, build, engine.host, engine.pipe_args())
                print(run.output, end="", flush=True)
                if run.code != 0:
                    say(f"the pipe failed with exit code {run.code}")
                    return run.code
                outputs = json.loads((build / SHARED_STORAGE / "do-pipes" / "build-push.json").read_text())
                say("Rerun of the same commit (skips the build)")
                rerun = run_container(pipe, env, build, engine.host, engine.pipe_args())
                print(rerun.output, end="", flush=True)
                say(f"Tags in the registry: {', '.join(registry.tags(f'{DOCR_REGISTRY_NAME}/sample-app'))}")
                say(f"first run {run.seconds:.1f}s, rerun {rerun.seconds:.1f}s")
                say(f"Image:  {outputs['image']}")
                say(f"Digest: {outputs['digest']}")
            client.close()
        return 0
    finally:
        if args.keep:
            say(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
