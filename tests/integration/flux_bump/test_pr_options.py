"""Pull-request options (issue 14 §5): REVIEWERS, BRANCH_NAME and COMMIT_MESSAGE templates,
CLOSE_SOURCE_BRANCH, and an open pull request of the same branch updated (PUT), not duplicated;
its branch moved forward without a forced update (the server refuses those here)."""
from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from testbed.bitbucket_stub import BitbucketStub
from testbed.git_http import git
from testbed.pipes import run_local

from .conftest import GitopsRepo, fail_lines

FILES = {"apps/web.yaml": "image: ghcr.io/acme/web:1.0.0\n", "apps/other.yaml": "x: 1\n"}
DIGEST = "sha256:" + "9f" * 32
ALICE, BOB = "557058:0b7c0a34-aaaa-bbbb-cccc-000000000001", "5b10a2844c20165700ede21g"
BOB_UUID = "{d1c4e6a2-1111-2222-3333-444455556666}"
COMMIT = "c0ffee" * 6 + "abcd"  # the source commit flux_env sets


def _repo(make_repo: Callable[..., GitopsRepo]) -> GitopsRepo:
    repo = make_repo(FILES)
    git("config", "receive.denyNonFastForwards", "true", cwd=repo.path)  # no forced updates
    return repo


def test_reviewers_templates_and_an_updated_pull_request(
        make_repo: Callable[..., GitopsRepo], flux_env: Callable[..., dict[str, str]],
        build_dir: Path, pr_api: BitbucketStub) -> None:
    repo = _repo(make_repo)
    head = repo.head()
    pr_api.state.accounts = {ALICE: "{a11ce000-0000-0000-0000-000000000001}", BOB: BOB_UUID}
    env = flux_env(repo.http_url, MODE="pull-request", BITBUCKET_API_URL=pr_api.url,
                   DIGEST=DIGEST, PIN_DIGEST="true", BRANCH_NAME="deploy/{name}",
                   COMMIT_MESSAGE="Deploy {image}:{tag} ({short_digest}) from {commit}",
                   REVIEWERS_COUNT="2", REVIEWERS_0=ALICE, REVIEWERS_1=BOB_UUID,
                   CLOSE_SOURCE_BRANCH="false")
    first = run_local("flux-bump", env, build_dir)
    assert first.code == 0, first.output
    [pr] = pr_api.state.pullrequests
    assert pr["source"]["branch"]["name"] == "deploy/web"
    assert pr["title"] == f"Deploy ghcr.io/acme/web:2.0.0 (sha256:9f9f9f9f9f9f) from {COMMIT}"
    assert [r["account_id"] for r in pr["reviewers"]] == [ALICE, BOB]
    assert pr["close_source_branch"] is False
    assert [m for m, _ in pr_api.state.bodies] == ["POST"]
    body = pr_api.state.bodies[0][1]
    assert body["reviewers"] == [{"account_id": ALICE}, {"uuid": BOB_UUID}]
    first_tip = repo.head("deploy/web")

    # the same branch template again, another tag: the open pull request is updated
    again = run_local("flux-bump", dict(env, TAG="2.1.0", REVIEWERS_COUNT="1"), build_dir)
    assert again.code == 0, again.output
    assert "Updated the open pull request #1" in again.last_line()
    assert len(pr_api.state.pullrequests) == 1
    assert [m for m, _ in pr_api.state.bodies] == ["POST", "PUT"]
    assert pr["title"].startswith("Deploy ghcr.io/acme/web:2.1.0 ")
    assert [r["account_id"] for r in pr["reviewers"]] == [ALICE]
    tip = repo.head("deploy/web")
    # moved forward: the old tip is an ancestor (no forced update), and the change against the
    # target branch is exactly the edit
    assert subprocess.run(["git", "merge-base", "--is-ancestor", first_tip, tip],
                          cwd=repo.path).returncode == 0
    assert git("merge-base", "main", tip, cwd=repo.path).strip() == head
    assert git("diff", "--name-only", f"main...{tip}", cwd=repo.path).split() == ["apps/web.yaml"]
    assert repo.show("apps/web.yaml", tip) == f"image: ghcr.io/acme/web:2.1.0@{DIGEST}\n".encode()
    assert repo.head() == head

    # the same change once more: nothing new to push, the pull request still updated
    third = run_local("flux-bump", dict(env, TAG="2.1.0", REVIEWERS_COUNT="1"), build_dir)
    assert third.code == 0, third.output
    assert "already holds this change" in third.output
    assert repo.head("deploy/web") == tip


@pytest.mark.parametrize(("extra", "needle"), [
    ({"REVIEWERS_COUNT": "1", "REVIEWERS_0": "alice smith"}, "REVIEWERS 'alice smith' is not an Atlassian account id"),
    ({"REVIEWERS_COUNT": "21", **{f"REVIEWERS_{i}": f"a{i}" for i in range(21)}}, "REVIEWERS"),
    ({"REVIEWERS_COUNT": "1", "REVIEWERS_0": "5b10a2844c20165700ede999"}, "is not a valid user"),
    ({"BRANCH_NAME": "deploy {tag}"}, "BRANCH_NAME 'deploy {tag}' holds characters a branch name cannot"),
    ({"BRANCH_NAME": "deploy/{nope}"}, "BRANCH_NAME uses {nope}, which is not a field"),
    ({"BRANCH_NAME": "main"}, "the target BRANCH itself"),
    ({"BRANCH_NAME": "x" * 201}, "BRANCH_NAME"),
    ({"MODE": "push", "REVIEWERS_COUNT": "1", "REVIEWERS_0": ALICE},
     "REVIEWERS is only used with MODE pull-request"),
    ({"COMMIT_MESSAGE": "{image.__class__}"}, "COMMIT_MESSAGE uses {image.__class__}"),
])
def test_bad_pull_request_options_are_one_line(
        make_repo: Callable[..., GitopsRepo], flux_env: Callable[..., dict[str, str]],
        build_dir: Path, pr_api: BitbucketStub, git_token: str, extra: dict[str, str],
        needle: str) -> None:
    repo = _repo(make_repo)
    head = repo.head()
    pr_api.state.accounts = {ALICE: "{a11ce000-0000-0000-0000-000000000001}"}
    variables = {"MODE": "pull-request", "BITBUCKET_API_URL": pr_api.url, **extra}
    run = run_local("flux-bump", flux_env(repo.http_url, **variables), build_dir)
    assert run.code == 1, run.output
    assert "Traceback" not in run.output
    assert fail_lines(run.output) == [run.last_line()], run.output
    assert needle in run.last_line()
    assert git_token not in run.output
    assert repo.head() == head and pr_api.state.pullrequests == []
