"""Build-push integration fixtures: a sample app checkout and the pipe's variables."""
from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from testbed.do_stub import DOApiStub
from testbed.fixtures import DOCR_REGISTRY_NAME
from testbed.pipes import REPO_ROOT, bitbucket_env
from testbed.registry import LocalRegistry
from testbed.wheelhouse import WheelHouse, with_build_arg

SAMPLE_APP = REPO_ROOT / "tests" / "fixtures" / "sample-app"


@pytest.fixture()
def app_dir(tmp_path: Path) -> Path:
    """A clone of the sample app, as the build directory of a step."""
    build = tmp_path / "build"
    shutil.copytree(SAMPLE_APP, build)
    subprocess.run(["git", "init", "-q", str(build)], check=True)
    return build


@pytest.fixture()
def pipe_env(app_dir: Path, registry: LocalRegistry, do_api: DOApiStub, do_token: str,
             base_image: str, sample_wheels: WheelHouse) -> Callable[..., dict[str, str]]:
    """``pipe_env(image="web", commit=..., **vars)``: the variables of one pipe run."""

    def make(image: str = "web", commit: str | None = None, branch: str | None = "main",
             tag: str | None = None, **variables: str) -> dict[str, str]:
        env = bitbucket_env(app_dir, commit=commit, branch=branch, tag=tag, pipe="build-push")
        env.update({
            "DIGITALOCEAN_ACCESS_TOKEN": do_token,
            "REGISTRY_NAME": DOCR_REGISTRY_NAME,
            "IMAGE": image,
            "REGISTRY_HOST": registry.host,
            "DIGITALOCEAN_API_URL": do_api.url,
            "BUILD_ARGS_COUNT": "1",
            "BUILD_ARGS_0": f"BASE_IMAGE={base_image}",
            "NETWORK": "host",  # RUN steps never use a bridge network on the test bed
        })
        env.update(variables)
        return with_build_arg(env, sample_wheels.build_arg)  # the sample app's wheels, locally

    return make
