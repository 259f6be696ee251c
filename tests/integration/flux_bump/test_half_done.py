"""Nothing half done (issue 11): in pull-request mode the Bitbucket API and every template are
checked before anything is cloned or pushed, and a branch pushed for a pull request that cannot
be opened is deleted again (a plain deletion, never a forced update)."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from testbed.bitbucket_stub import BitbucketStub
from testbed.git_http import GitHttpServer
from testbed.pipes import run_local

from .conftest import GitopsRepo, fail_lines

FILES = {"apps/web.yaml": "image: ghcr.io/acme/web:1.0.0\n"}


def _git_requests(git_http: GitHttpServer, repo: GitopsRepo) -> list[tuple[str, str, int, int]]:
    return [r for r in git_http.stats.requests if repo.name in r[1]]


def test_a_pull_request_that_cannot_be_opened_leaves_no_branch(
        make_repo: Callable[..., GitopsRepo], flux_env: Callable[..., dict[str, str]],
        build_dir: Path, pr_api: BitbucketStub, git_token: str) -> None:
    """The token may read the repository and its pull requests (all that can be checked before),
    but not open one: the branch pushed for it is deleted again."""
    repo = make_repo(FILES)
    pr_api.state.no_write.add(git_token)
    run = run_local("flux-bump", flux_env(repo.http_url, MODE="pull-request",
                                          BITBUCKET_API_URL=pr_api.url), build_dir)
    assert run.code == 1, run.output
    assert "Traceback" not in run.output
    assert fail_lines(run.output) == [run.last_line()], run.output
    assert "The Bitbucket API refused BITBUCKET_ACCESS_TOKEN (403)" in run.last_line()
    assert "pushed for it was deleted again, nothing is left behind" in run.last_line()
    assert repo.branches() == ["main"]
    branch = next(u.ref for u in repo.updates() if u.ref.startswith("refs/heads/flux-bump/"))
    assert [(u.phase, u.kind, u.ref) for u in repo.updates()] == [
        ("attempt", "create", branch), ("updated", "create", branch),
        ("attempt", "delete", branch), ("updated", "delete", branch)]
    assert [m for m, _ in pr_api.state.requests] == ["GET", "GET", "POST"]

    # the rerun once the token has the scope opens the pull request from a fresh branch
    pr_api.state.no_write.clear()
    again = run_local("flux-bump", flux_env(repo.http_url, MODE="pull-request",
                                            BITBUCKET_API_URL=pr_api.url), build_dir)
    assert again.code == 0, again.output
    assert "Opened pull request #1" in again.last_line()


@pytest.mark.parametrize(("variables", "needle"), [
    ({"COMMIT_MESSAGE": "Bump {image!x}"}, "COMMIT_MESSAGE uses {image!x}: a format spec or "
                                           "conversion is not allowed"),
    ({"COMMIT_MESSAGE": "Bump {tag:d}"}, "COMMIT_MESSAGE uses {tag:d}: a format spec"),
    ({"COMMIT_MESSAGE": "Bump {nope}"}, "COMMIT_MESSAGE uses {nope}, which is not a field"),
    ({"BRANCH_NAME": "flux-bump/{tag}.lock", "MODE": "pull-request"},
     "BRANCH_NAME gives 'flux-bump/2.0.0.lock', which is not a valid branch name"),
    ({"BRANCH_NAME": "main", "MODE": "pull-request"}, "BRANCH_NAME gives 'main', the target BRANCH"),
    ({"BITBUCKET_ACCESS_TOKEN": "<unset>", "GIT_USERNAME": "gituser", "GIT_PASSWORD": "<pw>",
      "ATLASSIAN_EMAIL": "ci-bot@example.com", "ATLASSIAN_API_TOKEN": "not-known-to-the-api",
      "MODE": "pull-request"}, "The Bitbucket API refused ATLASSIAN_API_TOKEN (401)"),
    ({"MODE": "pull-request", "GITOPS_REPO": "<other>"},
     "shows no repository acme/no-such-repo to BITBUCKET_ACCESS_TOKEN (404)"),
])
def test_bad_templates_and_api_failures_stop_before_the_clone(
        make_repo: Callable[..., GitopsRepo], flux_env: Callable[..., dict[str, str]],
        build_dir: Path, pr_api: BitbucketStub, git_http: GitHttpServer, git_password: str,
        variables: dict[str, str], needle: str) -> None:
    repo = make_repo(FILES)
    variables = {k: {"<pw>": git_password, "<other>": git_http.url("acme/no-such-repo.git")}.get(v, v)
                 for k, v in variables.items()}
    git_http.stats.reset()
    run = run_local("flux-bump", flux_env(repo.http_url, BITBUCKET_API_URL=pr_api.url,
                                          **variables), build_dir)
    assert run.code == 1, run.output
    assert "Traceback" not in run.output
    assert fail_lines(run.output) == [run.last_line()], run.output
    assert needle in run.last_line()
    assert git_http.stats.requests == [], "nothing was cloned"
    assert repo.updates() == [] and repo.branches() == ["main"]
    assert not [m for m, _ in pr_api.state.requests if m != "GET"]
