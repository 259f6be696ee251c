from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from build_push import tags
from build_push.schema import VARIABLES
from pipes_common import imageref
from pipes_common.bitbucket import StepContext
from pipes_common.errors import PipeError

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def ctx(**env: str) -> StepContext:
    return StepContext.from_env({"BITBUCKET_CLONE_DIR": "/build", **env})


@pytest.mark.parametrize(("branch", "tag"), [
    ("main", "main"),
    ("feature/Login-42", "feature-Login-42"),
    ("release/1.2", "release-1.2"),
    ("-weird..name-", "weird..name"),
    ("a" * 200, "a" * 128),
    ("///", "unnamed"),
])
def test_tag_safe(branch: str, tag: str) -> None:
    assert imageref.tag_safe(branch) == tag
    assert imageref.is_tag(imageref.tag_safe(branch))


@pytest.mark.parametrize(("git_tag", "expected"), [
    ("v1.2.3", ["1.2.3", "1.2", "1", "latest"]),
    ("1.2.3", ["1.2.3", "1.2", "1", "latest"]),
    ("v1.2.3+build.7", ["1.2.3", "1.2", "1", "latest"]),
    ("v2.0.0-rc.1", ["2.0.0-rc.1"]),
    ("1.10.0", ["1.10.0", "1.10", "1", "latest"]),
    ("release-2024", ["release-2024"]),
])
def test_version_tags(git_tag: str, expected: list[str]) -> None:
    assert tags.version_tags(git_tag) == expected


def test_plan_branch_build() -> None:
    plan = tags.plan(ctx(BITBUCKET_COMMIT=COMMIT, BITBUCKET_BRANCH="feature/x"), None)
    assert plan.tags == ["sha-0123456", "feature-x"]
    assert plan.commit_tag == "sha-0123456" and plan.branch_tag == "feature-x"


def test_plan_git_tag_build() -> None:
    plan = tags.plan(ctx(BITBUCKET_COMMIT=COMMIT, BITBUCKET_TAG="v1.4.0"), None)
    assert plan.tags == ["sha-0123456", "1.4.0", "1.4", "1", "latest"]
    assert plan.branch_tag is None


def test_plan_user_tags_keep_commit_tag_first_and_dedupe() -> None:
    plan = tags.plan(ctx(BITBUCKET_COMMIT=COMMIT, BITBUCKET_BRANCH="main"), ["stable", "stable", "1.10"])
    assert plan.tags == ["sha-0123456", "stable", "1.10"]


def test_plan_without_anything_fails() -> None:
    with pytest.raises(PipeError, match=r"^TAGS: no tag could be derived"):
        tags.plan(ctx(), None)


@pytest.mark.parametrize("bad", ["-x", ".x", "a b", "a/b", "x" * 129, "ü"])
def test_invalid_tags(bad: str) -> None:
    with pytest.raises(PipeError, match=r"^TAGS: .* is not a valid Docker tag"):
        tags.validate([bad])


def _checked(**lists: list[str]) -> None:
    """BUILD_ARGS and LABELS through build-push's declarations (their entries are checked there)."""
    VARIABLES.check(lists, Path("."))


def test_key_values() -> None:
    assert tags.key_values(["A=1", "B=x=y", "C="]) == {"A": "1", "B": "x=y", "C": ""}
    _checked(BUILD_ARGS=["A=1", "B=x=y", "C="], LABELS=["a.b= c"])
    with pytest.raises(PipeError, match=r"^BUILD_ARGS: entry 1 .*KEY=VALUE"):
        _checked(BUILD_ARGS=["A=1", "NOEQUALS"])
    with pytest.raises(PipeError, match=r"^LABELS: entry 0"):
        _checked(LABELS=["=v"])


def test_key_values_error_does_not_echo_the_entry() -> None:
    with pytest.raises(PipeError) as err:
        _checked(BUILD_ARGS=["supersecretvalue"])
    assert "supersecretvalue" not in err.value.message


def test_oci_labels() -> None:
    c = ctx(BITBUCKET_COMMIT=COMMIT, BITBUCKET_TAG="v1.4.0", BITBUCKET_REPO_FULL_NAME="acme/web")
    labels = tags.oci_labels(c, tags.plan(c, None), now=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert labels == {
        "org.opencontainers.image.created": "2026-01-02T03:04:05Z",
        "org.opencontainers.image.source": "https://bitbucket.org/acme/web",
        "org.opencontainers.image.revision": COMMIT,
        "org.opencontainers.image.version": "1.4.0",
    }


def test_clone_dir_defaults_to_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert StepContext.from_env({}).clone_dir == tmp_path


@pytest.mark.parametrize(("git_tag", "version", "release"), [
    ("v1.4.2", "1.4.2", (1, 4, 2)),
    ("1.4.2+build.7", "1.4.2", (1, 4, 2)),
    ("v2.0.0-rc.1", "2.0.0-rc.1", None),  # a pre-release moves no floating tag at all
    ("release-2024", "release-2024", None),
])
def test_plan_version_for_the_hand_off(git_tag: str, version: str, release: tuple[int, ...] | None) -> None:
    plan = tags.plan(ctx(BITBUCKET_COMMIT=COMMIT, BITBUCKET_TAG=git_tag), None)
    assert (plan.version_tag, plan.release) == (version, release)


def test_plan_user_tags_have_no_release_and_a_version_only_when_pushed() -> None:
    plan = tags.plan(ctx(BITBUCKET_COMMIT=COMMIT, BITBUCKET_TAG="v1.4.2"), ["latest", "stable"])
    assert (plan.version_tag, plan.release) == (None, None)
    plan = tags.plan(ctx(BITBUCKET_COMMIT=COMMIT, BITBUCKET_TAG="v1.4.2"), ["1.4.2", "latest"])
    assert (plan.version_tag, plan.release) == ("1.4.2", None)  # the user's latest: theirs to move
    assert tags.plan(ctx(BITBUCKET_COMMIT=COMMIT, BITBUCKET_BRANCH="main"), None).version_tag is None


@pytest.mark.parametrize(("git_tag", "pushed", "kept", "held"), [
    # a hotfix of an older line moves only its own X.Y
    ("v1.3.5", ["1.4.0", "1.4", "1", "latest", "1.3.4", "1.3"], ["1.3.5", "1.3"],
     [("1", "1.4.0"), ("latest", "1.4.0")]),
    # a newer patch of the current line under a newer major: all but latest
    ("v1.4.1", ["2.0.0", "1.4.0", "main", "sha-0000000"], ["1.4.1", "1.4", "1"], [("latest", "2.0.0")]),
    ("v1.10.0", ["1.9.3", "1.2.0"], ["1.10.0", "1.10", "1", "latest"], []),  # 1.10 > 1.9 (not text)
    ("v1.3.5", ["1.3.5", "1.3", "1", "latest"], ["1.3.5", "1.3", "1", "latest"], []),  # a re-run
    ("v1.0.0", [], ["1.0.0", "1.0", "1", "latest"], []),  # the first release
    ("v1.3.5", ["1.4.0-rc.1", "v9.0.0", "1.4"], ["1.3.5", "1.3", "1", "latest"], []),  # not releases
])
def test_floating_tags_move_only_forward(git_tag: str, pushed: list[str], kept: list[str],
                                         held: list[tuple[str, str]]) -> None:
    plan = tags.plan(ctx(BITBUCKET_COMMIT=COMMIT, BITBUCKET_TAG=git_tag), None)
    narrowed, holds = tags.forward_only(plan, pushed)
    assert narrowed.tags == ["sha-0123456", *kept]
    assert sorted((h.tag, h.newer) for h in holds) == sorted(held)
    # the hand-off names the floating tags pushed: those not held
    assert sorted(narrowed.floating) == sorted(t for t in kept if t != narrowed.version_tag)


def test_the_hand_off_names_each_tag_by_its_role() -> None:
    """build-push hands over the commit tag, the version tag and the floating ones (issue 21)."""
    plan = tags.plan(ctx(BITBUCKET_COMMIT=COMMIT, BITBUCKET_TAG="v1.4.2"), None)
    assert (plan.commit_tag, plan.version_tag, plan.floating) == ("sha-0123456", "1.4.2", ("latest", "1", "1.4"))
    plan = tags.plan(ctx(BITBUCKET_COMMIT=COMMIT, BITBUCKET_BRANCH="main"), None)
    assert (plan.commit_tag, plan.version_tag, plan.floating) == ("sha-0123456", None, ())
    plan = tags.plan(ctx(BITBUCKET_COMMIT=COMMIT, BITBUCKET_TAG="v1.4.2"), ["1.4.2", "latest"])
    assert plan.floating == ()  # the user's latest: theirs to move


def test_branch_and_user_tags_are_never_held() -> None:
    for plan in (tags.plan(ctx(BITBUCKET_COMMIT=COMMIT, BITBUCKET_BRANCH="main"), None),
                 tags.plan(ctx(BITBUCKET_COMMIT=COMMIT, BITBUCKET_TAG="v1.0.0"), ["latest"])):
        assert tags.forward_only(plan, ["9.9.9"]) == (plan, [])
