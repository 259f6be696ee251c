"""Pull-request mode touches only branches it made (issue 20): BRANCH_NAME naming a branch
someone else owns is refused, and the branch deleted after a failed pull request is deleted
only while it still holds what the pipe pushed (a lease)."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from testbed.bitbucket_stub import BitbucketStub
from testbed.git_http import git
from testbed.pipes import run_local

from .conftest import GitopsRepo, fail_lines

FILES = {"apps/web.yaml": "image: ghcr.io/acme/web:1.0.0\n"}


def _other_commit(repo: GitopsRepo, branch: str, parent: str) -> str:
    """A commit of someone else's on ``branch`` (made on the server, as a push of theirs)."""
    tree = git("rev-parse", f"{parent}^{{tree}}", cwd=repo.path).strip()
    commit = git("-c", "user.name=ops", "-c", "user.email=ops@example.com", "commit-tree", tree,
                 "-p", parent, "-m", "ops: production hotfix", cwd=repo.path).strip()
    git("update-ref", f"refs/heads/{branch}", commit, cwd=repo.path)
    return commit


def test_branch_name_naming_a_branch_someone_else_owns_is_refused(
        make_repo: Callable[..., GitopsRepo], flux_env: Callable[..., dict[str, str]],
        build_dir: Path, pr_api: BitbucketStub) -> None:
    repo = make_repo(FILES)
    production = _other_commit(repo, "production", repo.head())
    head = repo.head()
    run = run_local("flux-bump", flux_env(repo.http_url, MODE="pull-request",
                                          BRANCH_NAME="production",
                                          BITBUCKET_API_URL=pr_api.url), build_dir)
    assert run.code == 1, run.output
    assert "Traceback" not in run.output
    assert fail_lines(run.output) == [run.last_line()], run.output
    assert "BRANCH_NAME gives 'production', a branch that exists in" in run.last_line()
    assert "flux-bump did not make" in run.last_line()
    assert (repo.head("production"), repo.head()) == (production, head)
    assert repo.updates() == []
    assert [m for m, _ in pr_api.state.requests if m != "GET"] == []


def test_the_pipes_own_named_branch_is_moved_forward(
        make_repo: Callable[..., GitopsRepo], flux_env: Callable[..., dict[str, str]],
        build_dir: Path, pr_api: BitbucketStub) -> None:
    """A branch the pipe made (its last commit says so) is the pipe's to update."""
    repo = make_repo(FILES)
    env = flux_env(repo.http_url, MODE="pull-request", BRANCH_NAME="deploy/{name}",
                   BITBUCKET_API_URL=pr_api.url)
    first = run_local("flux-bump", env, build_dir)
    assert first.code == 0, first.output
    tip = repo.head("deploy/web")
    assert "Flux-Bump-Branch: deploy/web" in git("log", "-1", "--format=%B", tip, cwd=repo.path)
    again = run_local("flux-bump", {**env, "TAG": "2.0.1"}, build_dir)
    assert again.code == 0, again.output
    assert repo.head("deploy/web") != tip
    assert [u.kind for u in repo.updates() if u.phase == "updated"] == ["create", "fast-forward"]


def test_deleting_the_pr_branch_is_a_lease_on_the_commit_pushed(
        make_repo: Callable[..., GitopsRepo], flux_env: Callable[..., dict[str, str]],
        build_dir: Path, pr_api: BitbucketStub) -> None:
    """The pull request cannot be opened, and someone pushed onto its new branch meanwhile: the
    pipe's deletion (a lease on its own commit) leaves their commit alone."""
    repo = make_repo(FILES)
    moved: list[str] = []

    def someone_pushes(workspace: str, slug: str, branch: str) -> bool:
        moved.append(_other_commit(repo, branch, repo.head(branch)))
        return False  # and the API refuses the pull request: "Branch not found"

    pr_api.state.branch_exists = someone_pushes
    run = run_local("flux-bump", flux_env(repo.http_url, MODE="pull-request",
                                          BITBUCKET_API_URL=pr_api.url), build_dir)
    assert run.code == 1, run.output
    assert fail_lines(run.output) == [run.last_line()], run.output
    assert "was not deleted (it moved since" in run.last_line()
    branch = next(b for b in repo.branches() if b.startswith("flux-bump/"))
    assert repo.head(branch) == moved[0]
    assert [u.kind for u in repo.updates()] == ["create", "create"]  # no deletion reached it
