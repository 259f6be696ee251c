"""flux-bump writes the tag build-push named for its role in the hand-off; it derives none itself
(issue 21)."""
from __future__ import annotations

from flux_bump.targets import handed_tag
from pipes_common.contracts import BuildPushOutputs

RELEASE = ("sha-1234567", "1.4.2", "latest", "1", "1.4")


def test_the_version_tag_wins_on_a_tag_build() -> None:
    run = BuildPushOutputs(image="r.io/a/web", tags=RELEASE, digest="", ref="r.io/a/web:sha-1234567",
                           skipped=False, version="1.4.2", commit_tag="sha-1234567", git_tag="v1.4.2",
                           floating=("latest", "1", "1.4"))
    assert handed_tag(run, "v1.4.2") == "1.4.2"
    assert handed_tag(run, None) == "sha-1234567"


def test_the_commit_tag_is_the_one_named_not_the_first() -> None:
    run = BuildPushOutputs(image="r.io/a/web", tags=("main", "sha-1234567"), digest="",
                           ref="r.io/a/web:main", skipped=False, commit_tag="sha-1234567")
    assert handed_tag(run, None) == "sha-1234567"


def test_a_tag_build_without_a_version_pushed_writes_the_commit_tag() -> None:
    """build-push with its own TAGS on a tag build named no version: never one derived here."""
    run = BuildPushOutputs(image="r.io/a/web", tags=("sha-1234567", "1.4.2", "stable"), digest="",
                           ref="r.io/a/web:sha-1234567", skipped=False, commit_tag="sha-1234567")
    assert handed_tag(run, "v1.4.2") == "sha-1234567"
    # ... unless it pushed the git tag itself as a tag
    assert handed_tag(BuildPushOutputs(image="r.io/a/web", tags=("sha-1234567", "v1.4.2"), digest="",
                                       ref="", skipped=False), "v1.4.2") == "v1.4.2"


def test_a_hand_off_of_build_push_0_2_0_is_handled() -> None:
    """0.2.0 handed over ``version`` and the commit tag first, without ``commit_tag``."""
    run = BuildPushOutputs(image="r.io/a/web", tags=RELEASE, digest="", ref="r.io/a/web:sha-1234567",
                           skipped=False, version="1.4.2")
    assert handed_tag(run, "v1.4.2") == "1.4.2"
    assert handed_tag(run, None) == "sha-1234567"
    assert handed_tag(BuildPushOutputs(image="r.io/a/web", tags=(), digest="", ref="", skipped=False),
                      None) is None
