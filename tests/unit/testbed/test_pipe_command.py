"""The one ``docker container run`` of a pipe (testbed.pipes.pipe_command): the shape Bitbucket
starts a pipe with, the storage folder named after the pipe reference, no secret on the line."""
from __future__ import annotations

from pathlib import Path

import pytest
from testbed.pipes import SHARED_STORAGE, PipeHost, bitbucket_env, pipe_command, pipe_reference

HOST = PipeHost(address="127.0.0.2", engine="unix:///tmp/d/docker.sock", ssh_dir=Path("/tmp/agent-ssh"),
                docker_cli=Path("/usr/bin/docker"))


@pytest.mark.parametrize(("reference", "image", "folder"), [
    ("docker://acme/build-push:1.2.3", "acme/build-push:1.2.3", "acme/build-push"),
    ("atlassian/aws-s3-deploy:1.0.0", "bitbucketpipelines/aws-s3-deploy:1.0.0", "atlassian/aws-s3-deploy"),
    ("docker://registry.example.com:5000/team/do-pipes/tf-apply:0.1.0@sha256:" + "a" * 64,
     "registry.example.com:5000/team/do-pipes/tf-apply:0.1.0@sha256:" + "a" * 64, "do-pipes/tf-apply"),
    ("docker://docker.io/acme/flux-bump", "docker.io/acme/flux-bump", "acme/flux-bump"),
])
def test_pipe_reference(reference: str, image: str, folder: str) -> None:
    assert pipe_reference(reference) == (image, folder)


@pytest.mark.parametrize("reference", ["acme/build-push:1.0", "docker://alpine:3", "docker://"])
def test_pipe_reference_refused(reference: str) -> None:
    with pytest.raises(ValueError, match="pipe reference"):
        pipe_reference(reference)


def test_the_command_bitbucket_runs(tmp_path: Path) -> None:
    build = tmp_path / "build"
    step = bitbucket_env(build, commit="ab" * 20, branch="main")
    command = pipe_command("docker://acme/build-push:1.2.3", build, step, HOST,
                           variables={"DIGITALOCEAN_ACCESS_TOKEN": "dop_v1_secret-value", "IMAGE": "web"})
    pipes = build / SHARED_STORAGE
    storage = pipes / "acme" / "build-push"
    args = command.args
    assert args[:4] == ["docker", "container", "run", "--rm"] and args[-1] == "acme/build-push:1.2.3"
    for expected in (f"--volume={build}:{build}",
                     "--volume=/tmp/agent-ssh:/opt/atlassian/pipelines/agent/ssh:ro",
                     "--volume=/usr/bin/docker:/usr/local/bin/docker:ro",
                     f"--volume={pipes}:{pipes}", f"--volume={storage}:{storage}",
                     f"--workdir={build}", "--label=org.bitbucket.pipelines.system=true",
                     "--env=CI=true", f"--env=BITBUCKET_COMMIT={'ab' * 20}", "--env=BITBUCKET_BRANCH=main",
                     f"--env=BITBUCKET_CLONE_DIR={build}",
                     f"--env=BITBUCKET_PIPE_STORAGE_DIR={storage}",
                     f"--env=BITBUCKET_PIPE_SHARED_STORAGE_DIR={pipes}",
                     "--env=BITBUCKET_DOCKER_HOST_INTERNAL=127.0.0.2",
                     "--env=DOCKER_HOST=tcp://host.docker.internal:2375",
                     "--add-host=host.docker.internal:127.0.0.2", "--network=host",
                     "--env=DIGITALOCEAN_ACCESS_TOKEN", "--env=IMAGE"):
        assert expected in args, expected
    assert command.storage_dir == storage
    # the secret is in the docker CLI's environment, never on the command line
    assert "dop_v1_secret-value" not in command.shell()
    assert command.env["DIGITALOCEAN_ACCESS_TOKEN"] == "dop_v1_secret-value"
    assert command.env["DOCKER_HOST"] == HOST.engine
    assert sum(a.startswith("--env=BITBUCKET_PIPE_SHARED_STORAGE_DIR=") for a in args) == 1


@pytest.mark.parametrize("name", ["DOCKER_HOST", "BITBUCKET_PIPE_STORAGE_DIR", "BITBUCKET_DOCKER_HOST_INTERNAL",
                                  "PATH", "bad-name"])
def test_variables_bitbucket_sets_are_refused(name: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="variable"):
        pipe_command("docker://acme/p:1", tmp_path, {}, HOST, variables={name: "x"})


def test_step_holds_only_step_variables(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a step variable"):
        pipe_command("docker://acme/p:1", tmp_path, {"TOKEN": "x"}, HOST)


def test_env_file_is_checked_and_passed(tmp_path: Path) -> None:
    good = tmp_path / "vars.env"
    good.write_text("# comment\nIMAGE=web\nDIGITALOCEAN_ACCESS_TOKEN\n")
    command = pipe_command("docker://acme/p:1", tmp_path, {}, HOST, env_file=good)
    assert f"--env-file={good}" in command.args
    bad = tmp_path / "bad.env"
    bad.write_text("DOCKER_HOST=tcp://127.0.0.1:2375\n")
    with pytest.raises(ValueError, match="DOCKER_HOST cannot be a pipe variable"):
        pipe_command("docker://acme/p:1", tmp_path, {}, HOST, env_file=bad)


def test_entrypoint_for_the_container_start_floor(tmp_path: Path) -> None:
    args = pipe_command("docker://acme/p:1", tmp_path, {}, HOST, entrypoint=["/bin/echo", "ready"]).args
    assert args[-3:] == ["--entrypoint=/bin/echo", "acme/p:1", "ready"]
