"""Outputs read back from the dotenv file a step passes on as artifacts: what was written."""
from __future__ import annotations

from pathlib import Path

import pytest
from pipes_common import artifacts, outputs
from pipes_common.bitbucket import StepContext
from pipes_common.handoff import BuildPushOutputs, HandoffError


@pytest.mark.parametrize("written", [
    BuildPushOutputs(image="r.io/acme/web", tags=("sha-1234567", "1.4.2", "latest"),
                     digest="sha256:" + "ab" * 32, ref="r.io/acme/web@sha256:" + "ab" * 32,
                     skipped=True, image_id="sha256:" + "cd" * 32, version="1.4.2"),
    BuildPushOutputs(image="r.io/acme/web", tags=("main",), digest="", ref="r.io/acme/web:main",
                     skipped=False),
])
def test_the_dotenv_file_reads_back_as_written(tmp_path: Path, written: BuildPushOutputs) -> None:
    ctx = StepContext.from_env({"BITBUCKET_CLONE_DIR": str(tmp_path)})
    assert artifacts.read(ctx, BuildPushOutputs, "set IMAGE") is None
    outputs.publish(ctx, written, "0.2.0")
    assert artifacts.read(ctx, BuildPushOutputs, "set IMAGE") == written


def test_a_file_missing_a_key_names_it(tmp_path: Path) -> None:
    ctx = StepContext.from_env({"BITBUCKET_CLONE_DIR": str(tmp_path)})
    (tmp_path / ".do-pipes").mkdir()
    (tmp_path / ".do-pipes/build-push.env").write_text("BUILD_PUSH_IMAGE=r.io/a\n")
    with pytest.raises(HandoffError, match=r"BUILD_PUSH_TAGS is missing.*or set IMAGE"):
        artifacts.read(ctx, BuildPushOutputs, "set IMAGE")
