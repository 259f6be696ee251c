"""tf-apply's client of ``GET .../commit/{commit}/pullrequests`` against the Bitbucket stub: every
page read, the indexing answer (202) asked again, each refusal one message naming the fix, and
the merged pull request of a merge commit chosen, and every answer that means Bitbucket's Pull
Request Commit Links app is not installed or still indexing named as such (no terraform needed)."""
from __future__ import annotations

import re
from collections.abc import Iterator
from types import SimpleNamespace
from typing import cast

import pytest
from pipes_common import bbapi
from pipes_common.errors import PipeError
from testbed.bitbucket_comments import open_pull_request
from testbed.bitbucket_commits import merged_pull_request
from testbed.bitbucket_stub import BitbucketState, BitbucketStub
from tf_apply import bbcomment, reviewed
from tf_apply.run import Run

TOKEN = "bb-commit-links-token"
HEAD, MERGE = "a" * 40, "b" * 40


@pytest.fixture()
def api() -> Iterator[BitbucketStub]:
    with BitbucketStub(BitbucketState(tokens={TOKEN})) as stub:
        yield stub


def client(api: BitbucketStub, waits: list[float] | None = None) -> bbcomment.CommentClient:
    kept: list[float] = [] if waits is None else waits
    return bbcomment.CommentClient(TOKEN, api.url, sleep=kept.append)


def test_every_page_and_the_merged_pull_request(api: BitbucketStub) -> None:
    prs = api.state.pullrequests
    for n in range(1, 61):  # the commit was part of 61 pull requests: two pages of 50
        merged_pull_request(prs, api.state.commit_links, "acme/web", n, [HEAD], f"{n:040x}",
                            destination="develop" if n != 42 else "main")
    merged_pull_request(prs, api.state.commit_links, "acme/web", 61, [HEAD, "c" * 40], MERGE)
    found = client(api).pull_requests_of_commit("acme", "web", HEAD[:12])
    assert sorted(pr["id"] for pr in found) == list(range(1, 62))
    assert any("page=2" in path for path in api.state.commit_links.requests)
    # the merge commit of 61 names 61; a commit merged into develop by many is not main's
    merged = client(api).pull_requests_of_commit("acme", "web", MERGE)
    assert reviewed.merged_into(merged, MERGE, "main")["id"] == 61  # type: ignore[index]
    assert reviewed.merged_into(found, HEAD, "main")["id"] == 42  # type: ignore[index]
    assert reviewed.merged_into(found, HEAD, "release") is None


def test_indexing_is_asked_again_then_answered(api: BitbucketStub) -> None:
    merged_pull_request(api.state.pullrequests, api.state.commit_links, "acme/web", 1, [HEAD], MERGE)
    api.state.commit_links.indexing = 2
    waits: list[float] = []
    (pr,) = client(api, waits).pull_requests_of_commit("acme", "web", MERGE)
    assert pr["id"] == 1 and waits.count(bbcomment.INDEXING_WAIT) == 2
    api.state.commit_links.indexing = 10
    with pytest.raises(bbapi.Transient, match="still indexing"):
        client(api).pull_requests_of_commit("acme", "web", MERGE)


@pytest.mark.parametrize(("case", "needle"), [
    ("unknown-token", "(401)"), ("no-scope", "(403)"), ("not-indexed", "(404)")])
def test_refusals_name_the_fix(api: BitbucketStub, case: str, needle: str) -> None:
    merged_pull_request(api.state.pullrequests, api.state.commit_links, "acme/web", 1, [HEAD], MERGE)
    used = TOKEN
    if case == "unknown-token":
        used = "bb-other-token"
    elif case == "no-scope":
        api.state.commit_links.no_read.add(TOKEN)
    else:
        api.state.commit_links.indexed = False
    with pytest.raises(PipeError, match=r"BITBUCKET_ACCESS_TOKEN " + re.escape(needle)):
        bbcomment.CommentClient(used, api.url, sleep=lambda _: None).pull_requests_of_commit(
            "acme", "web", MERGE)


def test_rate_limit_waits_as_told(api: BitbucketStub) -> None:
    merged_pull_request(api.state.pullrequests, api.state.commit_links, "acme/web", 1, [HEAD], MERGE)
    api.state.commit_links.faults.append((429, {"Retry-After": "7"}))
    waits: list[float] = []
    (pr,) = client(api, waits).pull_requests_of_commit("acme", "web", MERGE)
    assert pr["id"] == 1 and 7.0 in waits


# -- the one-time Bitbucket step: the Pull Request Commit Links app --------------------------------

def lookup_run(api: BitbucketStub, commit: str) -> Run:
    """What :func:`reviewed.find` reads of a run on ``main`` of acme/web (no Space needed: every
    case here ends before the plan store)."""
    s = SimpleNamespace(bb_token=TOKEN, bb_api_url=api.url, commit=commit)
    ctx = SimpleNamespace(workspace="acme", repo_slug="web", branch="main")
    return cast(Run, SimpleNamespace(s=s, ctx=ctx))


def test_a_commit_without_pull_requests_names_the_commit_links_app(api: BitbucketStub) -> None:
    """Bitbucket answers a commit it links to no pull request with an empty list: a direct push,
    or a merge before the Pull Request Commit Links app was installed. The reason names the app
    and how to install it."""
    open_pull_request(api.state.pullrequests, "acme/web", 9)  # the repository has pull requests
    lookup = reviewed.find(lookup_run(api, HEAD))
    assert lookup.reviewed is None
    assert lookup.why.startswith(f"commit {HEAD[:12]} is not the merge of a pull request into main")
    for needle in ("direct push", "Pull Request Commit Links app", "'Go to pull request' once",
                   "run this step again"):
        assert needle in lookup.why, lookup.why
    # a commit that does belong to pull requests, none merged into main: no app advice
    merged_pull_request(api.state.pullrequests, api.state.commit_links, "acme/web", 1, [HEAD], MERGE,
                        destination="develop")
    other = reviewed.find(lookup_run(api, HEAD)).why
    assert "not the merge of a pull request into main" in other and "Commit Links" not in other


def test_indexing_throughout_and_not_indexed_name_the_app(api: BitbucketStub,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    merged_pull_request(api.state.pullrequests, api.state.commit_links, "acme/web", 1, [HEAD], MERGE)
    monkeypatch.setattr(bbcomment, "INDEXING_WAIT", 0.0)
    api.state.commit_links.indexing = 10
    with pytest.raises(PipeError) as indexing:
        reviewed.find(lookup_run(api, MERGE))
    line = str(indexing.value)
    assert line.startswith("BITBUCKET_ACCESS_TOKEN: could not look up the pull request of commit")
    for needle in ("Pull Request Commit Links app is still indexing", "(202", "run the step again"):
        assert needle in line, line
    api.state.commit_links.indexing = 0
    api.state.commit_links.indexed = False
    with pytest.raises(PipeError) as missing:
        reviewed.find(lookup_run(api, MERGE))
    line = str(missing.value)
    for needle in ("(404)", "Pull Request Commit Links app", "'Go to pull request' once", "PLAN_ID"):
        assert needle in line, line
