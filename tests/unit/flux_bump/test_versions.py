"""flux-bump's idea of the tag build-push pushes for a git tag is build-push's own."""
from __future__ import annotations

import pytest
from build_push.tags import version_tags
from flux_bump.targets import handed_tag, pushed_version
from pipes_common.contracts import BuildPushOutputs

GIT_TAGS = ["v1.4.2", "1.4.2", "v0.0.1", "v2.0.0-rc.1", "v2.0.0-rc.1+b7", "v1.2.3+build.5",
            "v1.4", "release/2026-01", "V1.2.3", "v01.2.3", "..odd", "x" * 200]


@pytest.mark.parametrize("git_tag", GIT_TAGS)
def test_pushed_version_is_build_pushs_version_tag(git_tag: str) -> None:
    assert pushed_version(git_tag) == version_tags(git_tag)[0]


def test_the_version_tag_wins_on_a_tag_build() -> None:
    run = BuildPushOutputs(image="r.io/a/web", tags=("sha-1234567", "1.4.2", "1.4", "1", "latest"),
                           digest="", ref="r.io/a/web:sha-1234567", skipped=False)
    assert handed_tag(run, "v1.4.2") == "1.4.2"
    assert handed_tag(run, None) == "sha-1234567"
    assert handed_tag(run, "v9.9.9") == "sha-1234567"  # not pushed: never written


def test_the_version_build_push_handed_over_wins() -> None:
    """build-push names the version it pushed for the git tag: that is the tag written."""
    run = BuildPushOutputs(image="r.io/a/web", tags=("sha-1234567", "2026.11.27"), digest="",
                           ref="r.io/a/web:sha-1234567", skipped=False, version="2026.11.27")
    assert handed_tag(run, "release-2026.11.27") == "2026.11.27"
    assert handed_tag(run, None) == "sha-1234567"  # not a tag build: the commit's tag
