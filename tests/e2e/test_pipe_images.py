"""The pipe images as the one recipe (shared/image/install-pipe.sh) builds them on the test bed's
Debian base: the pipe and the shared library installed as packages with exactly the pinned runtime
dependencies, nothing on an import path by hand, and each pipe's own tools in place."""
from __future__ import annotations

import json
from collections.abc import Callable

import docker
import pytest
from testbed.pipes import PACKAGES, PIPES, REPO_ROOT
from testbed.terraform_image import pinned_version

PROBE = """
import importlib, importlib.metadata as md, importlib.util, json, os, sys, sysconfig
pipe, package = sys.argv[1], sys.argv[2]
print(json.dumps({
    "site": sysconfig.get_paths()["purelib"],
    "pipe": importlib.import_module(package).__file__,
    "common": importlib.import_module("pipes_common").__file__,
    "requires": md.requires(pipe),
    "installed": sorted(f"{d.metadata['Name']}=={d.version}" for d in md.distributions()),
    "pip": importlib.util.find_spec("pip") is not None,
    "setuptools": importlib.util.find_spec("setuptools") is not None,
    "python_env": {k: v for k, v in os.environ.items() if k.startswith("PYTHON")},
}))
"""


def pins(pipe: str) -> list[str]:
    lines = (REPO_ROOT / "pipes" / pipe / "requirements.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def run(client: docker.DockerClient, image: str, *command: str) -> str:
    out = client.containers.run(image, entrypoint=list(command), remove=True, network_mode="host")
    return bytes(out).decode()


@pytest.mark.parametrize("pipe", PIPES)
def test_the_image_holds_the_installed_pipe_and_exactly_its_pins(
        pipe: str, pipe_image: Callable[[str], str], docker_client: docker.DockerClient,
        request: pytest.FixtureRequest) -> None:
    if pipe == "tf-apply":  # its Dockerfile copies Terraform from the seeded hashicorp/terraform tag
        request.getfixturevalue("terraform_image")
    image = pipe_image(pipe)
    found = json.loads(run(docker_client, image, "/opt/pipe/bin/python", "-c", PROBE, pipe, PACKAGES[pipe]))
    assert found["pipe"].startswith(found["site"] + "/")
    assert found["common"].startswith(found["site"] + "/")
    assert found["python_env"] == {"PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    assert not found["pip"] and not found["setuptools"]
    assert found["requires"] == pins(pipe)
    expected = {pin.lower().replace("_", "-") for pin in pins(pipe)} | {f"{pipe}==0.0.0", "pipes-common==0.1.0"}
    assert {dist.lower().replace("_", "-") for dist in found["installed"]} == expected
    assert run(docker_client, image, "cat", "/pipe.yml") == (REPO_ROOT / "pipes" / pipe / "pipe.yml").read_text()


def test_flux_bump_has_git_and_ssh_from_its_apt_steps(base_image: str, pipe_image: Callable[[str], str],
                                                      docker_client: docker.DockerClient) -> None:
    """The base has no ssh client (python:3.12-slim has neither git nor ssh): the image has it only
    through the Dockerfile's apt steps, which leave no package lists behind."""
    assert run(docker_client, base_image, "sh", "-c", "command -v ssh || echo none").strip() == "none"
    image = pipe_image("flux-bump")
    out = run(docker_client, image, "sh", "-c",
              "git --version && ssh -V 2>&1 && dpkg-query -W -f='${Status}\\n' openssh-client "
              "&& ls -A /var/lib/apt/lists | grep -v '^partial$' | wc -l")
    lines = out.splitlines()
    assert lines[0].startswith("git version ")
    assert lines[1].startswith("OpenSSH_")
    assert lines[2] == "install ok installed"
    assert lines[3].strip() == "0"


def test_tf_apply_bundles_the_pinned_terraform(terraform_image: str, pipe_image: Callable[[str], str],
                                               docker_client: docker.DockerClient) -> None:
    image = pipe_image("tf-apply")
    out = run(docker_client, image, "terraform", "version", "-json")
    assert json.loads(out)["terraform_version"] == pinned_version()


def test_build_push_ships_the_docker_cli_and_buildx_of_its_base_release(
        pipe_image: Callable[[str], str], docker_client: docker.DockerClient) -> None:
    """Runtime 3 mounts no docker CLI: the image has its own, and the buildx plugin, from the
    Debian packages of its base's release (docker-cli, docker-buildx), not the engine."""
    image = pipe_image("build-push")
    release = run(docker_client, image, "sh", "-c", ". /etc/os-release && echo $VERSION_CODENAME").strip()
    assert release == "trixie"  # python:3.12-slim's release, and the test bed base's
    out = run(docker_client, image, "sh", "-c",
              "docker --version && docker buildx version && ls /usr/bin/dockerd 2>&1 || true")
    assert "Docker version 26.1.5" in out, out
    assert "github.com/docker/buildx 0.13.1" in out, out
    assert "No such file" in out  # the CLI only, no engine
