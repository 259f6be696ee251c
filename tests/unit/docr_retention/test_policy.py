"""The retention policy on its own: which tags of a repository are kept, which deleted, and why."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from docr_retention.policy import Plan, Tag, World, plan
from docr_retention.settings import Policy

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
OLD = NOW - timedelta(days=30)


def digest(n: int) -> str:
    return "sha256:" + f"{n:064x}"


def tag(name: str, n: int, days: float = 30, size: int = 100) -> Tag:
    return Tag(name, digest(n), size, NOW - timedelta(days=days))


def policy(keep: int = 2, releases: int | None = None, protect: tuple[str, ...] = ()) -> Policy:
    return Policy(keep, releases, timedelta(days=7), protect)


def world(branches: set[str] | None = None, tags: set[str] = frozenset(),  # type: ignore[assignment]
          digests: set[str] = frozenset()) -> World:  # type: ignore[assignment]
    return World(NOW, None if branches is None else frozenset(branches), frozenset(tags), frozenset(digests))


def decisions(p: Plan) -> dict[str, tuple[bool, str]]:
    return {d.tag.name: (d.keep, d.why) for d in p.decisions}


def branch_history(name: str, count: int, start: int) -> list[Tag]:
    """build-push's tags of ``count`` builds of a branch: sha-<commit> each, the branch tag on the newest."""
    tags = [tag(f"sha-{start + i:07x}", start + i, days=40 - i) for i in range(count)]
    return [*tags, tag(name, start + count - 1, days=40 - (count - 1))]


def test_keeps_the_newest_of_each_branch_and_the_branch_tag() -> None:
    tags = [tag("main-aaaaaaa", 1, 40), tag("main-bbbbbbb", 2, 30), tag("main-ccccccc", 3, 20),
            tag("main", 3, 20), tag("dev-42", 4, 25), tag("dev-43", 5, 24), tag("dev-44", 6, 23)]
    got = decisions(plan("web", tags, policy(keep=2), world({"main", "dev"})))
    assert got["main"] == (True, "the current tag of branch main")
    assert got["main-ccccccc"][0] and got["main-bbbbbbb"][0]
    assert got["main-aaaaaaa"] == (False, "older than the 2 newest of branch main")
    assert got["dev-44"][0] and got["dev-43"][0] and not got["dev-42"][0]


def test_tags_of_a_deleted_branch_go_unless_young_protected_or_running() -> None:
    tags = [*branch_history("feature-x", 3, 0x100), tag("feature-y-1234567", 9, days=1),
            tag("feature-z-1", 10), tag("feature-z-2", 11)]
    p = plan("web", tags, policy(keep=5, protect=("web:feature-z-2",)), world({"main"}, tags={"feature-z-1"}))
    got = decisions(p)
    assert got["feature-x"] == (False, "branch feature-x no longer exists")
    assert got["sha-0000102"] == (False, "branch feature-x no longer exists")  # beside the branch tag
    assert got["feature-y-1234567"][0] and "MIN_AGE" in got["feature-y-1234567"][1]
    assert got["feature-z-1"] == (True, "named in GITOPS_REPO")
    assert got["feature-z-2"] == (True, "protected by PROTECT web:feature-z-2")


def test_commit_tags_whose_branch_tag_moved_on_are_one_family() -> None:
    tags = branch_history("main", 4, 0x200)
    got = decisions(plan("web", tags, policy(keep=2), world({"main"})))
    assert got["main"] == (True, "the current tag of branch main")
    assert got["sha-0000203"] == (True, "one of the 2 newest of branch main")
    assert got["sha-0000202"] == (True, "one of the 2 newest of commit tags")
    assert got["sha-0000201"] == (True, "one of the 2 newest of commit tags")
    assert got["sha-0000200"] == (False, "older than the 2 newest of commit tags")


def test_releases_and_floating_tags() -> None:
    tags = [tag("1.0.0", 1), tag("v1.1.0", 2), tag("1.2.0", 3), tag("2.0.0-rc.1", 4), tag("latest", 3),
            tag("1", 3), tag("1.2", 3)]
    every = decisions(plan("web", tags, policy(), world()))
    assert all(keep for keep, _ in every.values())
    two = decisions(plan("web", tags, policy(releases=2), world()))
    assert two["2.0.0-rc.1"][0] and two["1.2.0"][0]
    assert two["v1.1.0"] == (False, "a release older than the newest 2 (KEEP_RELEASES)")
    assert two["1.0.0"][0] is False
    assert two["latest"] == (True, "a floating release tag")


def test_an_image_named_by_digest_keeps_every_tag_of_it() -> None:
    tags = branch_history("gone", 3, 0x300)
    p = plan("web", tags, policy(keep=0), world(set(), digests={digest(0x300)}))
    got = decisions(p)
    assert got["sha-0000300"] == (True, "its digest is named in GITOPS_REPO")
    assert not got["gone"][0]


def test_signatures_go_with_their_image_never_alone() -> None:
    kept, gone = digest(0x401), digest(0x400)
    tags = [tag("main-0000400", 0x400), tag("main-0000401", 0x401, days=20),
            tag(f"sha256-{kept[7:]}.sig", 0x500), tag(f"sha256-{gone[7:]}.sig", 0x501),
            tag(f"sha256-{gone[7:]}.att", 0x502), tag(f"sha256-{digest(0x999)[7:]}.sig", 0x503)]
    p = plan("web", tags, policy(keep=1), world({"main"}))
    got = decisions(p)
    assert got[f"sha256-{kept[7:]}.sig"] == (True, "goes with its image (main-0000401)")
    assert got[f"sha256-{gone[7:]}.sig"] == (False, "goes with its image, deleted")
    assert got[f"sha256-{gone[7:]}.att"] == (False, "goes with its image, deleted")
    assert got[f"sha256-{digest(0x999)[7:]}.sig"] == (False, "its image is no longer tagged")
    assert not got["main-0000400"][0]


def test_a_tag_it_does_not_understand_is_kept() -> None:
    got = decisions(plan("web", [tag("stable", 1), tag("nightly", 2)], policy(keep=0), world({"main"})))
    assert all(keep and "not recognised" in why for keep, why in got.values())


def test_without_the_branch_list_no_branch_is_gone() -> None:
    tags = branch_history("feature-x", 3, 0x600)
    got = decisions(plan("web", tags, policy(keep=0), world(None)))
    assert got["feature-x"] == (True, "the current tag of branch feature-x")


def test_bytes_freed_count_each_deleted_image_once() -> None:
    tags = [tag("main-1111111", 1, days=30, size=1000), tag("main-2222222", 2, days=20, size=500),
            tag("sha-2222222", 2, days=20, size=500), tag("main", 3, days=10, size=10),
            tag("main-3333333", 3, days=10, size=10)]
    p = plan("web", tags, policy(keep=1), world({"main"}))
    assert {d.tag.name for d in p.deleted} == {"main-1111111", "main-2222222", "sha-2222222"}
    assert p.freed == 1500
