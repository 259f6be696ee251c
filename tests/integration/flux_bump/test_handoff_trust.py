"""build-push's outputs are trusted only when this pipeline run wrote them (issue 20): a file a
commit put in the build directory, or one of another build, never picks the image, the tag or
the registry that DIGITALOCEAN_ACCESS_TOKEN goes to."""
from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pipes_common import outputs
from pipes_common.bitbucket import StepContext
from pipes_common.contracts import BuildPushOutputs
from testbed.pipes import run_local
from testbed.recorder import Recorder

from .conftest import GitopsRepo, fail_lines

COMMIT = "c0ffee" * 6 + "abcd"  # flux_env's BITBUCKET_COMMIT and build number 42
DIGEST = "sha256:" + "cd" * 32
TOKEN = "dop_v1_" + "5e" * 32


@pytest.fixture()
def attacker() -> Iterator[Recorder]:
    with Recorder() as rec:
        yield rec


def _git(build: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
                   cwd=build, check=True, capture_output=True)


def _clone(build: Path) -> None:
    """The build directory as Bitbucket leaves it: a clone of the application."""
    _git(build, "init", "-q")
    (build / "app.py").write_text("print('web')\n")
    _git(build, "add", "app.py")
    _git(build, "commit", "-qm", "app")


def _handoff(build: Path, image: str, build_number: str = "42", commit: str = COMMIT) -> None:
    """.do-pipes/build-push.env as build-push writes it."""
    outputs.publish(StepContext.from_env({"BITBUCKET_CLONE_DIR": str(build)}), BuildPushOutputs(
        image=image, tags=("1.4.2",), digest=DIGEST, ref=f"{image}@{DIGEST}", skipped=False,
        build_number=build_number, source_commit=commit), "0.2.0")


def _kustomization(image: str) -> dict[str, str]:
    return {"k/kustomization.yaml": f"images:\n- name: {image}\n  newTag: 1.4.1\n"}


def _refused(run_output: str, code: int, needle: str) -> None:
    assert code == 1, run_output
    assert "Traceback" not in run_output
    fails = fail_lines(run_output)
    assert len(fails) == 1 and needle in fails[0], run_output
    assert TOKEN not in run_output


def test_a_committed_handoff_file_naming_an_attacker_registry_is_refused(
        make_repo: Callable[..., GitopsRepo], flux_env: Callable[..., dict[str, str]],
        build_dir: Path, attacker: Recorder) -> None:
    image = f"{attacker.host}/acme/web"
    repo = make_repo(_kustomization(image))
    head = repo.head()
    _clone(build_dir)
    _handoff(build_dir, image)  # this run's build number and commit, guessed right
    _git(build_dir, "add", ".do-pipes/build-push.env")
    _git(build_dir, "commit", "-qm", "a pull request adds the outputs file")
    run = run_local("flux-bump", flux_env(repo.http_url, IMAGE="<unset>", TAG="<unset>",
                                          DIGITALOCEAN_ACCESS_TOKEN=TOKEN), build_dir)
    _refused(run.output, run.code, "build-push.env is tracked by git")
    assert attacker.seen == []
    assert repo.head() == head


def test_a_stale_handoff_file_from_another_build_is_refused(
        make_repo: Callable[..., GitopsRepo], flux_env: Callable[..., dict[str, str]],
        build_dir: Path) -> None:
    image = "registry.example.com/acme/web"
    repo = make_repo(_kustomization(image))
    head = repo.head()
    _clone(build_dir)
    _handoff(build_dir, image, build_number="41")
    run = run_local("flux-bump", flux_env(repo.http_url, IMAGE="<unset>", TAG="<unset>"), build_dir)
    _refused(run.output, run.code, "written by another run (build 41")
    assert repo.head() == head


def test_the_genuine_handoff_file_is_accepted(
        make_repo: Callable[..., GitopsRepo], flux_env: Callable[..., dict[str, str]],
        build_dir: Path) -> None:
    image = "registry.example.com/acme/web"
    repo = make_repo(_kustomization(image))
    _clone(build_dir)
    _handoff(build_dir, image)
    run = run_local("flux-bump", flux_env(repo.http_url, IMAGE="<unset>", TAG="<unset>"), build_dir)
    assert run.code == 0, run.output
    assert repo.show("k/kustomization.yaml") == f"images:\n- name: {image}\n  newTag: 1.4.2\n".encode()


def test_the_token_never_goes_to_a_registry_only_the_handoff_names(
        make_repo: Callable[..., GitopsRepo], flux_env: Callable[..., dict[str, str]],
        build_dir: Path, attacker: Recorder) -> None:
    """Even a genuine hand-off naming a registry other than DOCR gets no token: only DOCR or a
    registry the user named in REGISTRY_HOST, IMAGE or IMAGES does."""
    image = f"{attacker.host}/acme/web"
    repo = make_repo(_kustomization(image))
    head = repo.head()
    _clone(build_dir)
    _handoff(build_dir, image)
    run = run_local("flux-bump", flux_env(repo.http_url, IMAGE="<unset>", TAG="<unset>",
                                          DIGITALOCEAN_ACCESS_TOKEN=TOKEN), build_dir)
    _refused(run.output, run.code, "DIGITALOCEAN_ACCESS_TOKEN only goes to DOCR")
    assert attacker.seen == []
    assert repo.head() == head

    # named by the user (REGISTRY_HOST, or IMAGE), the same registry is asked: the user's choice
    for named in ({"REGISTRY_HOST": attacker.host, "IMAGE": "<unset>", "TAG": "<unset>"},
                  {"IMAGE": image, "TAG": "1.4.2"}):
        attacker.clear()
        run = run_local("flux-bump", flux_env(repo.http_url, DIGITALOCEAN_ACCESS_TOKEN=TOKEN,
                                              **named), build_dir)
        assert run.code == 1, run.output
        assert "not on DOCR" not in run.output and attacker.seen != []
