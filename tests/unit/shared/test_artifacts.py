"""Outputs read back from the dotenv file a step passes on as artifacts: what was written, and
only what this pipeline run wrote (never a file of the repository, nor one of another run)."""
from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from pipes_common import artifacts, handoff, outputs
from pipes_common.bitbucket import StepContext
from pipes_common.contracts import BuildPushOutputs
from pipes_common.handoff import HandoffError

COMMIT = "c0ffee" * 6 + "abcd"
STEP = {"BITBUCKET_BUILD_NUMBER": "42", "BITBUCKET_COMMIT": COMMIT}
BOUND: dict[str, Any] = {"build_number": "42", "source_commit": COMMIT}


def _ctx(build: Path, **env: str) -> StepContext:
    return StepContext.from_env({"BITBUCKET_CLONE_DIR": str(build), **env})


def _git(build: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
                   cwd=build, check=True, capture_output=True)


def _written(image: str = "registry.digitalocean.com/acme/web", **binding: Any) -> BuildPushOutputs:
    return BuildPushOutputs(image=image, tags=("sha-1234567",), digest="sha256:" + "ab" * 32,
                            ref=f"{image}@sha256:" + "ab" * 32, skipped=False, **binding)


@pytest.mark.parametrize("written", [
    BuildPushOutputs(image="r.io/acme/web", tags=("sha-1234567", "1.4.2", "latest"),
                     digest="sha256:" + "ab" * 32, ref="r.io/acme/web@sha256:" + "ab" * 32,
                     skipped=True, image_id="sha256:" + "cd" * 32, version="1.4.2", commit_tag="sha-1234567",
                     floating=("latest",), **BOUND),
    BuildPushOutputs(image="r.io/acme/web", tags=("main",), digest="", ref="r.io/acme/web:main",
                     skipped=False, **BOUND),
])
def test_the_dotenv_file_reads_back_as_written(tmp_path: Path, written: BuildPushOutputs) -> None:
    ctx = _ctx(tmp_path, **STEP)
    assert artifacts.read(ctx, BuildPushOutputs, "set IMAGE") is None
    outputs.publish(ctx, written, "0.2.0")
    assert artifacts.read(ctx, BuildPushOutputs, "set IMAGE") == written


def test_a_file_missing_a_key_names_it(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    (tmp_path / ".do-pipes").mkdir()
    (tmp_path / ".do-pipes/build-push.env").write_text("BUILD_PUSH_IMAGE=r.io/a\n")
    with pytest.raises(HandoffError, match=r"BUILD_PUSH_TAGS is missing.*or set IMAGE"):
        artifacts.read(ctx, BuildPushOutputs, "set IMAGE")


def test_an_untracked_file_of_this_run_in_a_clone_is_read(tmp_path: Path) -> None:
    """The genuine case: the build directory is a git clone, the file came as an artifact."""
    _git(tmp_path, "init", "-q")
    (tmp_path / "app.py").write_text("print()\n")
    _git(tmp_path, "add", "app.py")
    _git(tmp_path, "commit", "-qm", "app")
    ctx = _ctx(tmp_path, **STEP)
    outputs.publish(ctx, _written(**BOUND), "0.2.0")
    assert artifacts.read(ctx, BuildPushOutputs, "set IMAGE") == _written(**BOUND)


def test_a_committed_handoff_file_is_refused(tmp_path: Path) -> None:
    """A commit holding .do-pipes/build-push.env (naming the attacker's registry, with this very
    run's build number and commit guessed right) is repository content, not outputs."""
    ctx = _ctx(tmp_path, **STEP)
    outputs.publish(ctx, _written("attacker.example.com/acme/web", **BOUND), "0.2.0")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", ".do-pipes/build-push.env")
    _git(tmp_path, "commit", "-qm", "outputs")
    with pytest.raises(HandoffError, match=r"build-push.env is tracked by git.*or set IMAGE"):
        artifacts.read(ctx, BuildPushOutputs, "set IMAGE")


def test_a_committed_same_step_handoff_file_is_refused(tmp_path: Path) -> None:
    """The shared storage folder is inside the build directory: a commit can hold an
    outputs.json there too."""
    shared = tmp_path / ".bitbucket/pipelines/generated/pipeline/pipes"
    env = {"BITBUCKET_CLONE_DIR": str(tmp_path), "BITBUCKET_PIPE_SHARED_STORAGE_DIR": str(shared)}
    handoff.write(StepContext.from_env({**env, "BITBUCKET_PIPE_STORAGE_DIR": str(shared / "x" / "build-push")}),
                  _written("attacker.example.com/acme/web"), "0.2.0")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", ".bitbucket")
    _git(tmp_path, "commit", "-qm", "outputs")
    with pytest.raises(HandoffError, match=r"outputs.json is tracked by git"):
        handoff.read(StepContext.from_env(env), BuildPushOutputs, "set IMAGE")
    with pytest.raises(HandoffError, match=r"is tracked by git"):
        handoff.read_all(StepContext.from_env(env), BuildPushOutputs, "set IMAGE")


def test_a_handoff_file_through_a_symlink_is_refused(tmp_path: Path) -> None:
    """A committed ``.do-pipes`` symbolic link cannot lead the reader to a file elsewhere."""
    ctx = _ctx(tmp_path, **STEP)
    (tmp_path / "elsewhere").mkdir()
    outputs.publish(_ctx(tmp_path / "elsewhere", **STEP), _written(**BOUND), "0.2.0")
    (tmp_path / ".do-pipes").symlink_to("elsewhere/.do-pipes")
    with pytest.raises(HandoffError, match=r"reached through a symbolic link"):
        artifacts.read(ctx, BuildPushOutputs, "set IMAGE")


@pytest.mark.parametrize(("binding", "message"), [
    ({"build_number": "41", "source_commit": COMMIT}, r"written by another run \(build 41"),
    ({"build_number": "42", "source_commit": "f" * 40}, r"written by another run"),
    ({}, r"do not say which build wrote them"),
])
def test_a_stale_handoff_file_from_another_build_is_refused(
        tmp_path: Path, binding: dict[str, str], message: str) -> None:
    """Untracked, but not written by this pipeline run (another build, another commit, or a
    build-push that does not say)."""
    ctx = _ctx(tmp_path, **STEP)
    outputs.publish(ctx, _written(**binding), "0.2.0")
    with pytest.raises(HandoffError, match=message + r".*or set IMAGE"):
        artifacts.read(ctx, BuildPushOutputs, "set IMAGE")
