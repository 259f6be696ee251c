"""Several images in one change (issue 14 §1): IMAGES, or every image build-push handed over in
the step; one commit listing each; a set of which one part fails changes nothing."""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from pipes_common import handoff
from pipes_common.bitbucket import StepContext
from pipes_common.contracts import BuildPushOutputs
from testbed.bitbucket_stub import BitbucketStub
from testbed.pipes import SHARED_STORAGE, run_local

from .conftest import GitopsRepo, fail_lines

D_WEB = "sha256:" + "ab" * 32
D_API = "sha256:" + "cd" * 32
FILES = {
    "apps/web.yaml": "spec:\n  containers:\n  - image: reg.example.com/acme/web:1.0.0 # web\n",
    "apps/api/kustomization.yaml": ("images:\n- name: reg.example.com/acme/api\n  newTag: \"1.0\"\n"
                                    "  digest: sha256:" + "00" * 32 + "\n"),
    # both images in one file: each edit must see the other's
    "apps/both.yaml": ("a:\n  image: reg.example.com/acme/web:1.0.0\n"
                       "b:\n  image: reg.example.com/acme/api:1.0\n"),
}


def test_images_list_is_one_commit_listing_each(make_repo: Callable[..., GitopsRepo],
                                                flux_env: Callable[..., dict[str, str]],
                                                build_dir: Path) -> None:
    repo = make_repo(FILES)
    env = flux_env(repo.http_url, IMAGE="<unset>", TAG="<unset>", IMAGES_COUNT="2",
                   IMAGES_0="reg.example.com/acme/web=2.0.0",
                   IMAGES_1=f"reg.example.com/acme/api=2.1@{D_API}")
    run = run_local("flux-bump", env, build_dir)
    assert run.code == 0, run.output
    assert "2 images" in run.last_line()
    assert len(repo.log()) == 2  # the initial commit and ours
    assert repo.show("apps/web.yaml") == FILES["apps/web.yaml"].replace("1.0.0", "2.0.0").encode()
    assert repo.show("apps/api/kustomization.yaml") == (
        f"images:\n- name: reg.example.com/acme/api\n  newTag: \"2.1\"\n  digest: {D_API}\n").encode()
    assert repo.show("apps/both.yaml") == (
        b"a:\n  image: reg.example.com/acme/web:2.0.0\n"
        b"b:\n  image: reg.example.com/acme/api:2.1\n")  # no digest pinned there
    body = repo.log("-1", "--format=%B")
    text = "\n".join(body)
    assert body[0] == "Bump 2 images"
    assert "reg.example.com/acme/web -> 2.0.0" in text
    assert f"reg.example.com/acme/api -> 2.1@{D_API}" in text
    assert "apps/both.yaml:4 image: reg.example.com/acme/api:1.0 -> " in text


def test_a_partly_failing_set_changes_nothing(make_repo: Callable[..., GitopsRepo],
                                              flux_env: Callable[..., dict[str, str]],
                                              build_dir: Path) -> None:
    repo = make_repo(FILES)
    head = repo.head()
    env = flux_env(repo.http_url, IMAGE="<unset>", TAG="<unset>", IMAGES_COUNT="2",
                   IMAGES_0="reg.example.com/acme/web=2.0.0",
                   IMAGES_1="reg.example.com/acme/nowhere=1.0.0")
    run = run_local("flux-bump", env, build_dir)
    assert run.code == 1, run.output
    assert fail_lines(run.output) == [run.last_line()]
    assert "No reference to reg.example.com/acme/nowhere" in run.last_line()
    assert "nothing was changed for the other images either" in run.last_line()
    assert repo.head() == head and repo.branches() == ["main"]


def _build_push(build_dir: Path, image: str, tag: str, digest: str) -> None:
    own = build_dir / SHARED_STORAGE / "dopipes" / "build-push"
    handoff.write(StepContext.from_env({"BITBUCKET_PIPE_STORAGE_DIR": str(own)}), BuildPushOutputs(
        image=image, tags=(tag, "main"), digest=digest, ref=f"{image}@{digest}", skipped=False),
        "0.2.0")
    time.sleep(0.002)  # run files are named by the time written (microseconds)


def test_every_image_build_push_handed_over(make_repo: Callable[..., GitopsRepo],
                                            flux_env: Callable[..., dict[str, str]],
                                            build_dir: Path, pr_api: BitbucketStub) -> None:
    repo = make_repo(FILES)
    head = repo.head()
    _build_push(build_dir, "reg.example.com/acme/web", "sha-1111111", D_WEB)
    _build_push(build_dir, "reg.example.com/acme/api", "sha-1111111", D_API)
    env = flux_env(repo.http_url, IMAGE="<unset>", TAG="<unset>", MODE="pull-request",
                   BITBUCKET_API_URL=pr_api.url)
    run = run_local("flux-bump", env, build_dir)
    assert run.code == 0, run.output
    assert "Opened pull request #1" in run.last_line()
    assert "2 images" in run.last_line()
    [pr] = pr_api.state.pullrequests
    branch = pr["source"]["branch"]["name"]
    assert branch.startswith("flux-bump/2-images-")
    assert repo.show("apps/both.yaml", branch) == (
        b"a:\n  image: reg.example.com/acme/web:sha-1111111\n"
        b"b:\n  image: reg.example.com/acme/api:sha-1111111\n")
    # each image's own digest where a digest was pinned
    assert f"newTag: \"sha-1111111\"\n  digest: {D_API}\n" in repo.show(
        "apps/api/kustomization.yaml", branch).decode()
    assert repo.head() == head  # main untouched


@pytest.mark.parametrize(("items", "needle"), [
    (["reg.example.com/acme/web:2.0.0"], "IMAGES item 'reg.example.com/acme/web:2.0.0' is not "
                                         "image=tag[@digest]"),
    (["reg.example.com/acme/web=2.0.0@sha256:12"], "is not image=tag[@digest]"),
    (["Reg.Example.com/ACME=1"], "is not image=tag[@digest]"),
    (["reg.example.com/acme/web=1", "reg.example.com/acme/web=2"], "IMAGES names "
                                                                    "reg.example.com/acme/web twice"),
    ([f"reg.example.com/acme/web={'x' * 500}"], "longer than 400 characters"),
    ([f"r/i{n}=1" for n in range(51)], "IMAGES"),
])
def test_bad_images_is_one_line(make_repo: Callable[..., GitopsRepo],
                                flux_env: Callable[..., dict[str, str]], build_dir: Path,
                                items: list[str], needle: str, git_token: str) -> None:
    repo = make_repo(FILES)
    env = flux_env(repo.http_url, IMAGE="<unset>", TAG="<unset>", IMAGES_COUNT=str(len(items)),
                   **{f"IMAGES_{i}": v for i, v in enumerate(items)})
    run = run_local("flux-bump", env, build_dir)
    assert run.code == 1, run.output
    assert "Traceback" not in run.output
    assert fail_lines(run.output) == [run.last_line()], run.output
    assert needle in run.last_line()
    assert git_token not in run.output


def test_images_and_image_exclude_each_other(make_repo: Callable[..., GitopsRepo],
                                             flux_env: Callable[..., dict[str, str]],
                                             build_dir: Path) -> None:
    env = flux_env(make_repo(FILES).http_url, IMAGES_COUNT="1", IMAGES_0="reg.example.com/a=1")
    run = run_local("flux-bump", env, build_dir)
    assert run.code == 1, run.output
    assert "IMAGES and IMAGE, TAG are both set" in run.last_line()
