"""docr-retention against the DO API stub backed by the local registry, the Bitbucket branches API
stub and a GitOps repository on the smart-HTTP git server: the plan, exactly the plan deleted,
garbage collection once and awaited, and the refusals."""
from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import unquote

import pytest
import requests
from docr_retention import collect
from testbed import oci
from testbed.bitbucket_stub import BitbucketStub
from testbed.do_stub import DOApiStub, RegistryBackend, TagRow
from testbed.fixtures import DOCR_REGISTRY_NAME
from testbed.git_http import GitHttpServer, create_repo, git
from testbed.pipes import bitbucket_env, run_in_process
from testbed.registry import LocalRegistry

OLD = "2026-09-01T00:00:00Z"
YOUNG = "2099-01-01T00:00:00Z"  # updated "in the future": always younger than MIN_AGE


@dataclass
class Bed:
    repo: str
    env: dict[str, str]
    stub: DOApiStub
    registry: LocalRegistry
    digests: dict[str, str]          # tag -> digest as pushed
    build: Path

    def tags(self) -> set[str]:
        return set(self.registry.tags(self.repo))

    def deletes(self) -> list[str]:
        return [unquote_tag(path) for method, path in self.stub.state.requests if method == "DELETE"]


def unquote_tag(path: str) -> str:
    return unquote(path.rsplit("/", 1)[1])


def build_history(session: requests.Session, base: str, repo: str) -> dict[str, str]:
    """The tags build-push and a GitOps flow leave: (tag -> digest)."""
    digests: dict[str, str] = {}

    def push(*tags: str) -> oci.PushedImage:
        image = oci.push_image(session, base, repo, tags[0])
        for extra in tags[1:]:
            oci.tag_manifest(session, base, image, extra)
        for t in tags:
            digests[t] = image.digest
        return image

    push("sha-0000001")                          # main, oldest: named in GitOps by tag
    push("sha-0000002")                          # main: named in GitOps by digest
    push("sha-0000003")                          # main: only a commit tag, old
    push("sha-0000004")                          # main: a commit tag, kept as newest commit
    newest = push("sha-0000005", "main")         # main's current build
    gone = push("sha-0000006", "feature-gone")   # a deleted branch
    push("dev-41")
    push("dev-42")                               # dev, newest of its family
    push("1.0.0")
    push("1.1.0", "latest", "1", "1.1")
    push("sha-0000007", "feature-young")         # a deleted branch, but young
    push(f"sha256-{newest.digest[7:]}.sig")      # the signature of main's image: kept with it
    push(f"sha256-{gone.digest[7:]}.sig")        # of the deleted branch's image: goes with it
    return digests


@pytest.fixture()
def bed(registry: LocalRegistry, do_api: DOApiStub, do_token: str, bitbucket_api: BitbucketStub,
        git_http: GitHttpServer, git_token: str, tmp_path: Path) -> Iterator[Bed]:
    repo = f"ret{uuid.uuid4().hex[:8]}"
    session = requests.Session()
    session.auth = (do_token, do_token)
    base = f"http://{registry.host}"
    digests = build_history(session, base, repo)
    backend = RegistryBackend(base, (do_token, do_token))
    # pushed in this order, an hour apart, long ago (but the young branch)
    updated = {tag: f"2026-09-01T{n:02d}:00:00Z" for n, tag in enumerate(digests)}
    backend.load(do_api.state, [repo], {**updated, "feature-young": YOUNG, "sha-0000007": YOUNG}, OLD)
    bitbucket_api.state.branches["acme/web"] = ["main", "dev"]
    host = "registry.digitalocean.com/" + DOCR_REGISTRY_NAME
    gitops = create_repo(git_http.root / f"{repo}-gitops.git", {
        "apps/web.yaml": f"spec:\n  containers:\n    - image: {host}/{repo}:sha-0000001\n"})
    work = tmp_path / "seed"
    git("clone", "-q", str(gitops), str(work))
    (work / "kustomization.yaml").write_text(
        f"images:\n  - name: {host}/{repo}\n    digest: {digests['sha-0000002']}\n")
    git("checkout", "-q", "-b", "production", cwd=work)
    git("add", "-A", cwd=work)
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "prod", cwd=work)
    git("push", "-q", "origin", "production", cwd=work)
    build = tmp_path / "build"
    build.mkdir()
    env = {**bitbucket_env(build), "DIGITALOCEAN_ACCESS_TOKEN": do_token, "REGISTRY_NAME": DOCR_REGISTRY_NAME,
           "DIGITALOCEAN_API_URL": do_api.url, "KEEP_PER_BRANCH": "1", "KEEP_RELEASES": "1",
           "BITBUCKET_ACCESS_TOKEN": git_token, "BITBUCKET_API_URL": bitbucket_api.url, "SOURCE_REPOSITORY": "acme/web",
           "GITOPS_REPO": git_http.url(f"{repo}-gitops.git"), "GITOPS_BRANCHES_COUNT": "2",
           "GITOPS_BRANCHES_0": "main", "GITOPS_BRANCHES_1": "production", "GITOPS_ACCESS_TOKEN": git_token}
    yield Bed(repo, env, do_api, registry, digests, build)


# what the policy must decide for the bed (KEEP_PER_BRANCH 1, KEEP_RELEASES 1)
DELETED = {"sha-0000003", "sha-0000006", "feature-gone", "dev-41", "1.0.0"}


def plan_of(output: str) -> dict[str, str]:
    """tag -> keep or delete, from the plan's lines."""
    return {m.group(2): m.group(1) for m in re.finditer(r"(keep|delete)\s+(\S+)\s{2}", output)}


def test_the_dry_run_prints_the_plan_and_deletes_nothing(bed: Bed) -> None:
    before = bed.tags()
    run = run_in_process("docr-retention", bed.env, bed.build)
    assert run.code == 0, run.output
    plan = plan_of(run.output)
    gone_sig = f"sha256-{bed.digests['feature-gone'][7:]}.sig"
    assert {t for t, what in plan.items() if what == "delete"} == DELETED | {gone_sig}
    assert "named in GITOPS_REPO" in run.output and "its digest is named in GITOPS_REPO" in run.output
    assert "branch feature-gone no longer exists" in run.output
    assert "younger than MIN_AGE" in run.output
    assert "goes with its image (main)" in run.output or "goes with its image (sha-0000005)" in run.output
    assert "Dry run:" in run.output and "freed" in run.output
    assert bed.deletes() == [] and not [r for r in bed.stub.state.requests if r[0] == "POST"]
    assert bed.tags() == before


def test_the_real_run_deletes_exactly_the_plan_and_collects_once(bed: Bed,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    dry = run_in_process("docr-retention", bed.env, bed.build)
    planned = {t for t, what in plan_of(dry.output).items() if what == "delete"}
    bed.stub.state.requests.clear()
    bed.stub.state.gc_steps = ["waiting for write JWTs to expire", "scanning manifests", "succeeded"]
    slept: list[float] = []
    monkeypatch.setattr(collect, "time", SimpleNamespace(sleep=slept.append))
    before = bed.tags()
    run = run_in_process("docr-retention", {**bed.env, "DRY_RUN": "false"}, bed.build)
    assert run.code == 0, run.output
    assert sorted(bed.deletes()) == sorted(planned)
    posts = [path for method, path in bed.stub.state.requests if method == "POST"]
    assert posts == [f"/v2/registries/{DOCR_REGISTRY_NAME}/garbage-collection"]
    assert bed.stub.state.collections[0].kind == "untagged manifests and unreferenced blobs"
    assert slept == [collect.POLL, collect.POLL]  # awaited: two looks while it ran, the third saw it end
    assert re.search(r"garbage collection \S+ \(started\) freed [1-9]", run.output), run.output
    # the registry itself: the deleted tags' manifests are gone, everything kept is still there
    assert bed.tags() == before - planned


def test_a_running_garbage_collection_is_refused_and_nothing_deleted(bed: Bed) -> None:
    bed.stub.state.gc_status = "scanning manifests"
    run = run_in_process("docr-retention", {**bed.env, "DRY_RUN": "false"}, bed.build)
    assert run.code == 1
    assert "read-only until it ends" in run.output and "nothing was deleted" in run.output
    assert bed.deletes() == []
    dry = run_in_process("docr-retention", bed.env, bed.build)
    assert dry.code == 0 and "read-only until it ends" in dry.output and "Dry run:" in dry.output


def test_a_read_only_registry_stops_the_deletions(bed: Bed) -> None:
    bed.stub.state.registry_read_only = True
    run = run_in_process("docr-retention", {**bed.env, "DRY_RUN": "false"}, bed.build)
    assert run.code == 1
    fails = [line for line in run.output.splitlines() if "✖" in line]
    assert len(fails) == 1 and "is read-only" in fails[0], run.output
    assert len(bed.deletes()) == 1  # the first refusal stops it
    assert not [r for r in bed.stub.state.requests if r[0] == "POST"]


def test_a_collection_still_running_after_gc_wait_is_reported_with_its_id(
        bed: Bed, monkeypatch: pytest.MonkeyPatch) -> None:
    bed.stub.state.gc_steps = ["scanning manifests"] * 50
    slept: list[float] = []
    monkeypatch.setattr(collect, "time", SimpleNamespace(sleep=slept.append))
    run = run_in_process("docr-retention", {**bed.env, "DRY_RUN": "false", "GC_WAIT": "1m"}, bed.build)
    assert run.code == 0, run.output
    assert sum(slept) == 60
    gc = bed.stub.state.collections[0]
    assert f"garbage collection {gc.uuid} (started) is still scanning manifests" in run.output


def test_rate_limits_are_waited_for_as_retry_after_says(bed: Bed) -> None:
    bed.stub.state.throttled = 2
    bed.stub.state.retry_after = "3"
    run = run_in_process("docr-retention", bed.env, bed.build)
    assert run.code == 0, run.output
    assert run.waits[:2] == [3.0, 3.0]


def test_the_tags_and_repositories_are_read_page_by_page(bed: Bed) -> None:
    for n in range(450):
        bed.stub.state.catalog[bed.repo][f"pr-{n}"] = bed.stub.state.catalog[bed.repo]["dev-41"]
    run = run_in_process("docr-retention", {**bed.env, "PROTECT": "pr-*"}, bed.build)
    assert run.code == 0, run.output
    pages = [path for method, path in bed.stub.state.requests if method == "GET" and "/tags" in path]
    assert len(pages) == 3, pages  # 200 per page
    assert "protected by PROTECT pr-*" in run.output


def test_every_page_of_branches_is_read_before_a_branch_is_taken_as_gone(
        bed: Bed, bitbucket_api: BitbucketStub) -> None:
    bitbucket_api.state.branches["acme/web"] = [f"topic-{n:03d}" for n in range(150)] + ["main", "dev"]
    run = run_in_process("docr-retention", bed.env, bed.build)
    assert run.code == 0, run.output
    pages = [path for method, path in bitbucket_api.state.requests if "/refs/branches" in path]
    assert len(pages) == 2, pages  # 100 per page
    assert plan_of(run.output)["dev-42"] == "keep"
    assert plan_of(run.output)["feature-gone"] == "delete"


def test_without_the_branch_token_no_branch_is_gone(bed: Bed) -> None:
    env = {k: v for k, v in bed.env.items() if k not in ("BITBUCKET_ACCESS_TOKEN", "SOURCE_REPOSITORY")}
    run = run_in_process("docr-retention", env, bed.build)
    assert run.code == 0, run.output
    assert plan_of(run.output)["feature-gone"] == "keep"
    assert "the current tag of branch feature-gone" in run.output


def test_a_tag_moved_since_the_plan_is_left_alone(bed: Bed, monkeypatch: pytest.MonkeyPatch) -> None:
    """Between the plan and the deletion, build-push tags another image dev-41 (the listing right
    before acting shows it): that tag is not deleted, the rest of the plan is."""
    listings: list[str] = []
    rows = bed.stub.state.catalog[bed.repo]

    def push_meanwhile(repo: str) -> None:
        listings.append(repo)
        if len(listings) == 2:
            rows["dev-41"] = TagRow(rows["dev-42"].digest, rows["dev-42"].size, YOUNG)

    bed.stub.state.on_list = push_meanwhile
    monkeypatch.setattr(collect, "time", SimpleNamespace(sleep=lambda _: None))
    run = run_in_process("docr-retention", {**bed.env, "DRY_RUN": "false"}, bed.build)
    assert run.code == 0, run.output
    assert "dev-41 moved or went since the plan: left alone" in run.output
    assert "dev-41" not in bed.deletes() and "sha-0000003" in bed.deletes()
    assert "dev-41" in bed.tags()
