"""The hand-off between pipes: one typed model, written by one pipe, read by the next."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from pipes_common import contracts, handoff, outputs
from pipes_common.bitbucket import StepContext
from pipes_common.contracts import BuildPushOutputs, FluxBumpOutputs, TfApplyOutputs
from pipes_common.errors import PipeError
from pipes_common.handoff import HandoffError

BUILT = BuildPushOutputs(image="registry.digitalocean.com/acme/web", tags=("sha-1234567", "main"),
                         digest="sha256:" + "ab" * 32, ref="registry.digitalocean.com/acme/web@sha256:"
                         + "ab" * 32, skipped=False, image_id="sha256:" + "cd" * 32)
INSTEAD = "set IMAGE and TAG"


def step(tmp_path: Path, pipe: str | None = None, owner: str = "some-owner") -> StepContext:
    shared = tmp_path / ".bitbucket/pipelines/generated/pipeline/pipes"
    env = {"BITBUCKET_CLONE_DIR": str(tmp_path), "BITBUCKET_PIPE_SHARED_STORAGE_DIR": str(shared)}
    if pipe:
        env["BITBUCKET_PIPE_STORAGE_DIR"] = str(shared / owner / pipe)
    return StepContext.from_env(env)


@pytest.mark.parametrize("value", [
    BUILT,
    BuildPushOutputs(image="r/a/w", tags=("dev",), digest="", ref="r/a/w:dev", skipped=False),
    TfApplyOutputs(mode="apply", workspace="default", state_key="web/terraform.tfstate",
                   plan_id="abc", has_changes=True,
                   counts={"create": 2, "update": 0, "replace": 0, "delete": 0},
                   outputs={"app": "web-1", "settings": {"size": 1, "tags": ["a"]}},
                   sensitive_outputs=("db_password",)),
    TfApplyOutputs(mode="output", workspace="staging", state_key="k", outputs={}),
    FluxBumpOutputs(commit="c" * 40, branch="main", mode="pull-request", files=("a.yaml",),
                    changes=("a.yaml:3 image: x:1 -> x:2",), pr_url="https://b/pr/1", pr_id=1,
                    changed=True),
])
def test_round_trip_through_the_storage_folders(tmp_path: Path,
                                                value: contracts.Outputs) -> None:
    """What a pipe writes to its own folder is what the next pipe reads from the shared one."""
    written = outputs.publish(step(tmp_path, value.PIPE), value, "9.8.7")
    doc = json.loads(written[0].read_text())
    shared = tmp_path / ".bitbucket/pipelines/generated/pipeline/pipes"
    assert written[0] == shared / "some-owner" / value.PIPE / "outputs.json"
    assert (doc["kind"], doc["schema"], doc["pipe"], doc["pipe_version"]) == (
        handoff.KIND, handoff.SCHEMA_VERSION, value.PIPE, "9.8.7")
    assert written[1] == tmp_path / f".do-pipes/{value.PIPE}.env"
    assert handoff.read(step(tmp_path), type(value), INSTEAD) == value  # type: ignore[type-var]


def test_the_dotenv_keys_are_the_documented_ones(tmp_path: Path) -> None:
    outputs.publish(step(tmp_path, "build-push"), BUILT, "1.0.0")
    names = [line.split("=", 1)[0] for line in (tmp_path / ".do-pipes/build-push.env").read_text().splitlines()]
    assert names == ["BUILD_PUSH_IMAGE", "BUILD_PUSH_TAGS", "BUILD_PUSH_DIGEST", "BUILD_PUSH_REF",
                     "BUILD_PUSH_SKIPPED", "BUILD_PUSH_IMAGE_ID", "BUILD_PUSH_VERSION",
                     "BUILD_PUSH_BUILD_NUMBER", "BUILD_PUSH_SOURCE_COMMIT", "BUILD_PUSH_COMMIT_TAG",
                     "BUILD_PUSH_GIT_TAG", "BUILD_PUSH_FLOATING", "BUILD_PUSH_SIGNATURES",
                     "BUILD_PUSH_ATTESTATIONS"]


def test_no_own_folder_writes_only_the_dotenv_file(tmp_path: Path) -> None:
    written = outputs.publish(step(tmp_path), BUILT, "1.0.0")
    assert written == [tmp_path / ".do-pipes/build-push.env"]
    assert handoff.read(step(tmp_path), BuildPushOutputs, INSTEAD) is None


def test_a_missing_file_is_none(tmp_path: Path) -> None:
    assert handoff.read(step(tmp_path), BuildPushOutputs, INSTEAD) is None
    (tmp_path / ".bitbucket/pipelines/generated/pipeline/pipes/x/tf-apply").mkdir(parents=True)
    assert handoff.read(step(tmp_path), BuildPushOutputs, INSTEAD) is None
    assert handoff.read(StepContext.from_env({"BITBUCKET_CLONE_DIR": str(tmp_path)}),
                        BuildPushOutputs, INSTEAD) is None


def test_the_owner_is_found_and_the_newest_file_wins(tmp_path: Path) -> None:
    older = BuildPushOutputs(image="r/old", tags=("1",), digest="", ref="r/old:1", skipped=True)
    handoff.write(step(tmp_path, "build-push", owner="a-mirror"), older, "1.0.0")
    handoff.write(step(tmp_path, "build-push", owner="do-pipes"), BUILT, "1.0.0")
    mirror = tmp_path / ".bitbucket/pipelines/generated/pipeline/pipes/a-mirror/build-push/outputs.json"
    os.utime(mirror, ns=(1, 1))  # written long before
    assert handoff.read(step(tmp_path), BuildPushOutputs, INSTEAD) == BUILT
    os.utime(mirror, ns=(2**62, 2**62))  # written after
    assert handoff.read(step(tmp_path), BuildPushOutputs, INSTEAD) == older


def test_a_newer_file_of_another_suites_pipe_is_passed_over(tmp_path: Path) -> None:
    handoff.write(step(tmp_path, "build-push", owner="do-pipes"), BUILT, "1.0.0")
    ours = tmp_path / ".bitbucket/pipelines/generated/pipeline/pipes/do-pipes/build-push/outputs.json"
    os.utime(ours, ns=(1, 1))
    _raw(tmp_path, json.dumps({"image": "elsewhere"}), name="../someone/build-push/outputs.json")
    assert handoff.read(step(tmp_path), BuildPushOutputs, INSTEAD) == BUILT
    ours.unlink()  # alone, the other suite's file is reported as such
    _one_line_error(tmp_path, "is not an outputs file of this suite's build-push")


def test_a_newer_damaged_file_is_reported_not_passed_over(tmp_path: Path) -> None:
    handoff.write(step(tmp_path, "build-push", owner="do-pipes"), BUILT, "1.0.0")
    ours = tmp_path / ".bitbucket/pipelines/generated/pipeline/pipes/do-pipes/build-push/outputs.json"
    os.utime(ours, ns=(1, 1))
    _raw(tmp_path, "{torn")
    _one_line_error(tmp_path, "cannot be read")


def _raw(tmp_path: Path, text: str, name: str = "build-push/outputs.json") -> Path:
    path = tmp_path / ".bitbucket/pipelines/generated/pipeline/pipes/acme" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _one_line_error(tmp_path: Path, *needles: str) -> None:
    with pytest.raises(HandoffError) as caught:
        handoff.read(step(tmp_path), BuildPushOutputs, INSTEAD)
    message = caught.value.message
    assert "\n" not in message
    for needle in (*needles, INSTEAD):
        assert needle in message, message


def test_the_file_of_version_0_1_0_is_an_older_format(tmp_path: Path) -> None:
    _raw(tmp_path, json.dumps({"image": "r/a/w", "tags": ["x"], "digest": "", "skipped": False}),
         name="build-push.json")
    _one_line_error(tmp_path, "build-push 0.1.0", "update build-push")


def test_an_older_schema_is_refused_with_what_to_do(tmp_path: Path) -> None:
    doc = json.loads(handoff.encode(BUILT, "0.2.0"))
    doc["schema"] = 0
    _raw(tmp_path, json.dumps(doc))
    _one_line_error(tmp_path, "older format", "schema 0", "update build-push")


def test_a_newer_schema_is_refused_with_what_to_do(tmp_path: Path) -> None:
    doc = json.loads(handoff.encode(BUILT, "7.0.0"))
    doc["schema"] = handoff.SCHEMA_VERSION + 1
    _raw(tmp_path, json.dumps(doc))
    _one_line_error(tmp_path, "newer format", "build-push 7.0.0", "update this pipe")


@pytest.mark.parametrize(("text", "needle"), [
    ("{not json", "cannot be read (JSONDecodeError)"),
    ("", "cannot be read"),
    ('["a list"]', "not an outputs file"),
    ('{"kind": "something/else", "schema": 1, "pipe": "build-push", "outputs": {}}', "not an outputs file"),
    ('{"kind": "do-pipes/outputs", "schema": 1, "pipe": "build-push", "outputs": {"image": "x"}}',
     "damaged (key 'tags' is missing)"),
    ('{"kind": "do-pipes/outputs", "schema": 1, "pipe": "build-push", "outputs": {"image": "x", '
     '"tags": "main", "digest": "", "ref": "x:main", "skipped": false}}', "key 'tags': Expected `array`, got `str`"),
    ('{"kind": "do-pipes/outputs", "schema": 1, "pipe": "build-push", "outputs": []}', "damaged"),
])
def test_a_corrupt_file_is_refused_with_what_to_do(tmp_path: Path, text: str, needle: str) -> None:
    _raw(tmp_path, text)
    _one_line_error(tmp_path, needle, "run build-push again" if "damaged" in needle or "read" in needle
                    else "build-push")


def test_bytes_that_are_not_utf8_are_a_clear_error(tmp_path: Path) -> None:
    _raw(tmp_path, "").write_bytes(b"\xff\xfe{")
    _one_line_error(tmp_path, "cannot be read (UnicodeDecodeError)")


def test_a_do_pipes_link_made_during_the_run_redirects_no_output(tmp_path: Path) -> None:
    """``.do-pipes`` turned into a link after the pipe started (by a tool it ran, e.g. a
    Terraform provisioner): the dotenv file is refused, nothing lands where the link points."""
    build, outside = tmp_path / "build", tmp_path / "outside"
    build.mkdir()
    outside.mkdir()
    (build / ".do-pipes").symlink_to(outside)
    with pytest.raises(PipeError, match=r"^\.do-pipes in .* is a symbolic link"):
        outputs.publish(step(build), BUILT, "1.0.0")
    assert list(outside.iterdir()) == []


def test_the_outputs_of_build_push_0_2_0_still_read(tmp_path: Path) -> None:
    """0.2.0 wrote schema 1 without the tag roles added since (commit_tag, git_tag, floating)."""
    doc = json.loads(handoff.encode(BUILT, "0.2.0"))
    for key in ("commit_tag", "git_tag", "floating"):
        del doc["outputs"][key]
    _raw(tmp_path, json.dumps(doc))
    read = handoff.read(step(tmp_path), BuildPushOutputs, INSTEAD)
    assert read == BUILT and (read.commit_tag, read.git_tag, read.floating) == ("", "", ())


def test_keys_of_a_newer_writer_are_ignored(tmp_path: Path) -> None:
    """A release of build-push that hands over more keys (same schema) is read by this one."""
    doc = json.loads(handoff.encode(BUILT, "0.3.0"))
    doc["outputs"]["provenance"] = {"builder": "x"}
    _raw(tmp_path, json.dumps(doc))
    assert handoff.read(step(tmp_path), BuildPushOutputs, INSTEAD) == BUILT


def test_a_list_of_the_wrong_items_is_damaged(tmp_path: Path) -> None:
    doc = json.loads(handoff.encode(BUILT, "0.2.1"))
    doc["outputs"]["floating"] = ["latest", 1]
    _raw(tmp_path, json.dumps(doc))
    _one_line_error(tmp_path, "damaged (key 'floating'[1]: Expected `str`, got `int`)", "run build-push again")
