"""Tags never point wrong (issue 12): on a version-tag build the version build-push pushed is
written (a ``v`` prefix understood), a tag or digest that is not in the registry is refused before
anything is cloned, build-push's outputs reach a later step through its artifacts, and a re-run
after success is a no-op."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from pipes_common import handoff, outputs
from pipes_common.bitbucket import StepContext
from pipes_common.contracts import BuildPushOutputs
from testbed import oci
from testbed.do_stub import DOApiStub
from testbed.fixtures import DOCR_REGISTRY_NAME
from testbed.git_http import GitHttpServer
from testbed.pipes import SHARED_STORAGE, run_local
from testbed.registry import LocalRegistry

from .conftest import GitopsRepo, fail_lines

WEB = "registry.example.com/acme/web"
DIGEST = "sha256:" + "cd" * 32
VERSION_TAGS = ("sha-1234567", "1.4.2", "1.4", "1", "latest")  # what build-push pushes for v1.4.2


def _roles(tags: tuple[str, ...]) -> dict[str, Any]:
    """The roles build-push names for ``tags`` on the build of git tag v1.4.2."""
    version = "1.4.2" if "1.4.2" in tags else ""
    return {"version": version, "git_tag": "v1.4.2", "commit_tag": tags[0],
            "floating": tuple(t for t in ("latest", "1", "1.4") if t in tags and version)}


def _handed_over(build_dir: Path, tags: tuple[str, ...] = VERSION_TAGS, image: str = WEB,
                 pipe_version: str = "0.2.1") -> None:
    """build-push's outputs earlier in the step, as it writes them (0.2.0: without the roles
    added since, but with ``version``)."""
    own = build_dir / SHARED_STORAGE / "dopipes" / "build-push"
    roles = _roles(tags)
    if pipe_version == "0.2.0":
        roles = {"version": roles["version"]}
    handoff.write(StepContext.from_env({"BITBUCKET_PIPE_STORAGE_DIR": str(own)}), BuildPushOutputs(
        image=image, tags=tags, digest=DIGEST, ref=f"{image}@{DIGEST}", skipped=False, **roles),
        pipe_version)


def _kustomization(image: str) -> dict[str, str]:
    return {"k/kustomization.yaml": f"images:\n- name: {image}\n  newTag: 1.4.1\n"}


@pytest.mark.parametrize("variables", [
    {"BITBUCKET_TAG": "v1.4.2"},                             # the defaults on a tag build
    {"TAG": "v1.4.2"},                                      # TAG: $BITBUCKET_TAG, IMAGE from build-push
    {"TAG": "v1.4.2", "IMAGE": WEB},                        # both set: still what was pushed
    {"TAG": "v1.4.2", "IMAGE": WEB, "BITBUCKET_TAG": "v1.4.2"},
])
@pytest.mark.parametrize("pipe_version", ["0.2.1", "0.2.0"])
def test_a_v_prefixed_version_writes_the_tag_build_push_pushed(
        make_repo: Callable[..., GitopsRepo], flux_env: Callable[..., dict[str, str]],
        build_dir: Path, variables: dict[str, str], pipe_version: str) -> None:
    if pipe_version == "0.2.0" and "BITBUCKET_TAG" not in variables:
        variables = {**variables, "BITBUCKET_TAG": "v1.4.2"}  # TAG: $BITBUCKET_TAG, as in Pipelines
    repo = make_repo(_kustomization(WEB))
    _handed_over(build_dir, pipe_version=pipe_version)
    env = flux_env(repo.http_url, IMAGE="<unset>", TAG="<unset>")
    env.update(variables)
    run = run_local("flux-bump", env, build_dir)
    assert run.code == 0, run.output
    assert repo.show("k/kustomization.yaml") == f"images:\n- name: {WEB}\n  newTag: 1.4.2\n".encode()


def test_a_tag_build_without_the_version_pushed_keeps_the_commit_tag(
        make_repo: Callable[..., GitopsRepo], flux_env: Callable[..., dict[str, str]],
        build_dir: Path) -> None:
    """build-push run with its own TAGS on a tag build: the version was not pushed, so it is not
    written; the commit's tag (pushed) is."""
    repo = make_repo(_kustomization(WEB))
    _handed_over(build_dir, tags=("sha-1234567", "stable"))
    env = flux_env(repo.http_url, IMAGE="<unset>", TAG="<unset>", BITBUCKET_TAG="v1.4.2")
    run = run_local("flux-bump", env, build_dir)
    assert run.code == 0, run.output
    assert b"newTag: sha-1234567" in repo.show("k/kustomization.yaml")


def test_build_push_outputs_from_an_earlier_step_and_a_rerun(
        make_repo: Callable[..., GitopsRepo], flux_env: Callable[..., dict[str, str]],
        build_dir: Path) -> None:
    """A later step: the pipe storage of the build step is gone, its .do-pipes/build-push.env
    came as an artifact (written here by the same code build-push writes it with)."""
    repo = make_repo(_kustomization(WEB))
    outputs.publish(StepContext.from_env({"BITBUCKET_CLONE_DIR": str(build_dir)}), BuildPushOutputs(
        image=WEB, tags=VERSION_TAGS, digest=DIGEST, ref=f"{WEB}@{DIGEST}", skipped=False,
        **_roles(VERSION_TAGS), build_number="42", source_commit="c0ffee" * 6 + "abcd"), "0.2.0")  # flux_env's run
    assert not (build_dir / SHARED_STORAGE).exists()
    env = flux_env(repo.http_url, IMAGE="<unset>", TAG="<unset>", BITBUCKET_TAG="v1.4.2",
                   PIN_DIGEST="true")
    run = run_local("flux-bump", env, build_dir)
    assert run.code == 0, run.output
    assert "from an earlier step (.do-pipes/build-push.env" in run.output
    assert repo.show("k/kustomization.yaml") == (
        f"images:\n- name: {WEB}\n  newTag: 1.4.2\n  digest: {DIGEST}\n").encode()
    head = repo.head()

    # "Rerun" of the step that succeeded: nothing to do, said so, exit 0, nothing pushed
    again = run_local("flux-bump", env, build_dir)
    assert again.code == 0, again.output
    assert f"{WEB} is already at 1.4.2 in main: nothing to commit" in again.last_line()
    assert repo.head() == head
    assert [u.phase for u in repo.updates()] == ["attempt", "updated"]


def test_a_damaged_artifact_is_one_line(make_repo: Callable[..., GitopsRepo],
                                        flux_env: Callable[..., dict[str, str]],
                                        build_dir: Path) -> None:
    repo = make_repo(_kustomization(WEB))
    (build_dir / ".do-pipes").mkdir()
    (build_dir / ".do-pipes/build-push.env").write_text("BUILD_PUSH_IMAGE=x\nBUILD_PUSH_SKIPPED=maybe\n")
    run = run_local("flux-bump", flux_env(repo.http_url, IMAGE="<unset>", TAG="<unset>"), build_dir)
    assert run.code == 1, run.output
    assert fail_lines(run.output) == [run.last_line()]
    assert ".do-pipes/build-push.env (from an earlier step's artifacts) cannot be used" in run.last_line()
    assert "or set IMAGE and TAG" in run.last_line()


# -- the registry check, against the bed's registry and the DigitalOcean API stub ---------------
@pytest.fixture()
def pushed(registry: LocalRegistry, push_credentials: tuple[str, str]) -> Iterator[oci.PushedImage]:
    session = requests.Session()
    session.auth = push_credentials
    repo = f"{DOCR_REGISTRY_NAME}/web-{id(session):x}"
    image = oci.push_image(session, f"http://{registry.host}", repo, "1.4.2")
    oci.tag_manifest(session, f"http://{registry.host}", image, "sha-1234567")
    yield image


@pytest.fixture()
def checked_env(flux_env: Callable[..., dict[str, str]], registry: LocalRegistry,
                do_api: DOApiStub, do_token: str) -> Callable[..., dict[str, str]]:
    def make(repo_url: str, **variables: str) -> dict[str, str]:
        return flux_env(repo_url, DIGITALOCEAN_ACCESS_TOKEN=do_token,
                        DIGITALOCEAN_API_URL=do_api.url, **variables)
    return make


def test_a_tag_in_the_registry_is_written(
        make_repo: Callable[..., GitopsRepo], checked_env: Callable[..., dict[str, str]],
        build_dir: Path, registry: LocalRegistry, pushed: oci.PushedImage, do_api: DOApiStub,
        do_token: str) -> None:
    image = f"{registry.host}/{pushed.repo}"
    repo = make_repo(_kustomization(image))
    run = run_local("flux-bump", checked_env(repo.http_url, IMAGE=image, TAG="v1.4.2",
                                             DIGEST=pushed.digest, PIN_DIGEST="true"), build_dir)
    assert run.code == 0, run.output
    assert f"{image}:1.4.2 is in the registry ({pushed.digest})" in run.output
    assert repo.show("k/kustomization.yaml") == (
        f"images:\n- name: {image}\n  newTag: 1.4.2\n  digest: {pushed.digest}\n").encode()
    # read-only credentials were asked for, never push ones
    asked = [path for method, path in do_api.state.requests if "docker-credentials" in path]
    assert asked and all("read_write=false" in path for path in asked), asked
    assert do_token not in run.output


@pytest.mark.parametrize(("variables", "needle"), [
    ({"TAG": "1.4.3"}, "TAG: {image}:1.4.3 is not in the registry"),
    ({"TAG": "v1.4.3"}, "TAG: {image}:v1.4.3 is not in the registry"),
    ({"TAG": "1.4.2", "DIGEST": "sha256:" + "ab" * 32},
     "DIGEST: {image}@sha256:" + "ab" * 32 + " is not in the registry"),
])
def test_a_tag_or_digest_not_in_the_registry_is_refused_before_the_clone(
        make_repo: Callable[..., GitopsRepo], checked_env: Callable[..., dict[str, str]],
        build_dir: Path, registry: LocalRegistry, pushed: oci.PushedImage,
        git_http: GitHttpServer, variables: dict[str, str], needle: str) -> None:
    image = f"{registry.host}/{pushed.repo}"
    repo = make_repo(_kustomization(image))
    git_http.stats.reset()
    run = run_local("flux-bump", checked_env(repo.http_url, IMAGE=image, **variables), build_dir)
    assert run.code == 1, run.output
    assert "Traceback" not in run.output
    assert fail_lines(run.output) == [run.last_line()], run.output
    assert needle.format(image=image) in run.last_line()
    assert not [r for r in git_http.stats.requests if repo.name in r[1]], "nothing was cloned"
    assert repo.updates() == []


def test_a_tag_moved_to_another_digest_is_refused(
        make_repo: Callable[..., GitopsRepo], checked_env: Callable[..., dict[str, str]],
        build_dir: Path, registry: LocalRegistry, pushed: oci.PushedImage,
        push_credentials: tuple[str, str]) -> None:
    session = requests.Session()
    session.auth = push_credentials
    other = oci.push_image(session, f"http://{registry.host}", pushed.repo, "1.4.2")  # re-pushed
    image = f"{registry.host}/{pushed.repo}"
    repo = make_repo(_kustomization(image))
    run = run_local("flux-bump", checked_env(repo.http_url, IMAGE=image, TAG="1.4.2",
                                             DIGEST=pushed.digest), build_dir)
    assert run.code == 1, run.output
    assert (f"DIGEST: {image}:1.4.2 points at {other.digest} in the registry, not at "
            f"{pushed.digest}") in run.last_line()
    assert repo.updates() == []
