"""Re-runs after a failure (issue 12): a run fails at one of its failure points, then "Rerun" with
the same variables and no new commit finishes the work and leaves what a clean run leaves: exactly
one bump commit on the branch, or exactly one open pull request and no other branch of the pipe."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from testbed.bitbucket_stub import BitbucketStub
from testbed.git_http import GitHttpServer
from testbed.pipes import run_local

from .conftest import GitopsRepo, fail_lines

FILES = {"apps/web.yaml": "image: ghcr.io/acme/web:1.0.0\n"}
BUMPED = b"image: ghcr.io/acme/web:2.0.0\n"


def test_a_rejected_push_then_a_rerun_lands_exactly_one_commit(
        make_repo: Callable[..., GitopsRepo], flux_env: Callable[..., dict[str, str]],
        build_dir: Path, git_http: GitHttpServer, git_token: str) -> None:
    repo = make_repo(FILES)
    seed = repo.head()
    env = flux_env(repo.http_url)
    git_http.accounts.read_only.add(git_token)  # the server refuses the push (403)
    try:
        failed = run_local("flux-bump", env, build_dir)
    finally:
        git_http.accounts.read_only.discard(git_token)
    assert failed.code == 1, failed.output
    assert "Traceback" not in failed.output
    assert fail_lines(failed.output) == [failed.last_line()], failed.output
    assert "rejected the credentials (403): BITBUCKET_ACCESS_TOKEN may not write" in failed.last_line()
    assert repo.head() == seed and repo.updates() == []

    again = run_local("flux-bump", env, build_dir)
    assert again.code == 0, again.output
    log = repo.log("main")
    assert len(log) == 2 and log[1].split()[0] == seed, log
    assert log[0].split()[1] == seed, "one commit, on the tip the failed run saw"
    assert repo.show("apps/web.yaml") == BUMPED
    assert [(u.phase, u.kind) for u in repo.updates()] == [
        ("attempt", "fast-forward"), ("updated", "fast-forward")]

    # and a further re-run, after that success, changes nothing
    third = run_local("flux-bump", env, build_dir)
    assert third.code == 0, third.output
    assert "nothing to commit" in third.last_line()
    assert repo.log("main") == log


@pytest.mark.parametrize("failure", ["403", "500", "500-after-create"])
def test_a_pull_request_that_failed_then_a_rerun_opens_exactly_one(
        make_repo: Callable[..., GitopsRepo], flux_env: Callable[..., dict[str, str]],
        build_dir: Path, pr_api: BitbucketStub, git_token: str, failure: str) -> None:
    """The API refuses the token (403), is down (500), or created the pull request but its answer
    was an error (500 after create): the re-run opens or finds exactly one pull request, from one
    branch of the pipe; the target branch is never pushed."""
    repo = make_repo(FILES)
    seed = repo.head()
    env = flux_env(repo.http_url, MODE="pull-request", BITBUCKET_API_URL=pr_api.url)
    if failure == "403":
        pr_api.state.no_write.add(git_token)
    else:
        pr_api.state.post_error = 500
        pr_api.state.post_error_after_create = failure == "500-after-create"
    failed = run_local("flux-bump", env, build_dir)
    assert failed.code == 1, failed.output
    assert "Traceback" not in failed.output
    assert fail_lines(failed.output) == [failed.last_line()], failed.output
    assert "was deleted again" in failed.last_line()
    if failure == "403":  # a refusal: the API opened nothing
        assert "again, nothing is left behind" in failed.last_line(), failed.last_line()
    else:  # a 5xx to the POST: the pull request may exist all the same
        assert "may have opened the pull request all the same: a re-run finds it" in failed.last_line()
    assert repo.branches() == ["main"], "the branch pushed for the pull request is deleted again"

    pr_api.state.no_write.clear()
    pr_api.state.post_error = None
    again = run_local("flux-bump", env, build_dir)
    assert again.code == 0, again.output
    if failure == "500-after-create":  # the pull request the API did create is found, not duplicated
        assert "Updated the open pull request #1" in again.last_line()
    else:
        assert "Opened pull request #1" in again.last_line()
    assert [m for m, _ in pr_api.state.requests].count("POST") == (
        1 if failure == "500-after-create" else 2), "one POST a run, none when the re-run found it"
    open_prs = [pr for pr in pr_api.state.pullrequests if pr["state"] == "OPEN"]
    assert len(open_prs) == 1, pr_api.state.pullrequests
    branch = open_prs[0]["source"]["branch"]["name"]
    assert sorted(repo.branches()) == sorted(["main", branch]), repo.branches()
    assert repo.show("apps/web.yaml", branch) == BUMPED
    assert len(repo.log(branch)) == 2, "one bump commit on the pull request's branch"
    assert repo.head() == seed
    assert not [u for u in repo.updates() if u.ref == "refs/heads/main"]
