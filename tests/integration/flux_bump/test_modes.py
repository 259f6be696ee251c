"""Pull-request mode against the Bitbucket stub, and concurrent bumps into one repository."""
from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from testbed import dotenv
from testbed.bitbucket_stub import BitbucketStub
from testbed.git_http import GitHttpServer, git
from testbed.pipes import bitbucket_env, run_local

from ..handoff import outputs_of
from .conftest import GitopsRepo, hold_first_pushes, move_main_once


def test_pull_request_created_then_reused(make_repo: Callable[..., GitopsRepo],
                                          flux_env: Callable[..., dict[str, str]],
                                          build_dir: Path, pr_api: BitbucketStub) -> None:
    repo = make_repo()
    head = repo.head()
    env = flux_env(repo.http_url, MODE="pull-request", BITBUCKET_API_URL=pr_api.url)
    first = run_local("flux-bump", env, build_dir)
    assert first.code == 0, first.output
    assert "Opened pull request #1 https://bitbucket.org/" in first.last_line()
    assert repo.head() == head, "the target branch is never pushed in pull-request mode"
    branch = next(b for b in repo.branches() if b.startswith("flux-bump/"))
    assert repo.show("apps/web/deployment.yaml", branch).count(b"ghcr.io/acme/web:2.0.0") == 3
    prs = pr_api.state.pullrequests
    assert len(prs) == 1 and prs[0]["source"]["branch"]["name"] == branch
    assert prs[0]["destination"]["branch"]["name"] == "main"
    assert prs[0]["title"] == "Bump ghcr.io/acme/web to 2.0.0"
    out = outputs_of(build_dir, "flux-bump")
    assert out["pr_url"] == prs[0]["links"]["html"]["href"] and out["branch"] == branch

    requests_before = len(pr_api.state.requests)
    again = run_local("flux-bump", env, build_dir)
    assert again.code == 0, again.output
    assert "Updated the open pull request #1" in again.last_line()
    assert len(pr_api.state.pullrequests) == 1
    assert [m for m, _ in pr_api.state.requests].count("POST") == 1
    # the rerun read the repository, looked its pull request up (open, by source branch), created
    # none and updated it (PUT .../pullrequests/1: title, description; issue 14)
    rerun = pr_api.state.requests[requests_before:]
    assert [m for m, _ in rerun] == ["GET", "GET", "PUT"], rerun
    assert rerun[0][1] == f"/2.0/repositories/{repo.name}"
    assert rerun[2][1].endswith("/pullrequests/1")
    assert "source.branch.name" in rerun[1][1] and "OPEN" in rerun[1][1]
    # the target branch was never pushed to; only the pipe's own branch was (moved forward on the
    # rerun, not forced)
    updates = [(u.phase, u.ref) for u in repo.updates()]
    assert ("updated", f"refs/heads/{branch}") in updates
    assert not [u for u in repo.updates() if u.ref == "refs/heads/main"]
    sourced = dotenv.source(build_dir / ".do-pipes/flux-bump.env")
    assert dotenv.documented("flux-bump") <= set(sourced), sourced
    assert sourced["FLUX_BUMP_MODE"] == "pull-request" and sourced["FLUX_BUMP_BRANCH"] == branch
    assert sourced["FLUX_BUMP_PR_URL"] == prs[0]["links"]["html"]["href"]
    assert sourced["FLUX_BUMP_PR_ID"] == "1" and sourced["FLUX_BUMP_CHANGED"] == "true"


def test_git_credentials_with_the_token_for_the_api(
        make_repo: Callable[..., GitopsRepo], flux_env: Callable[..., dict[str, str]],
        build_dir: Path, pr_api: BitbucketStub, git_http: GitHttpServer, git_password: str,
        git_token: str) -> None:
    """GIT_USERNAME/GIT_PASSWORD with BITBUCKET_ACCESS_TOKEN: git uses the former, the API the token."""
    repo = make_repo({"a.yaml": "image: ghcr.io/acme/web:1.0.0\n"})
    git_http.stats.reset()
    env = flux_env(repo.http_url, MODE="pull-request", BITBUCKET_API_URL=pr_api.url,
                   GIT_USERNAME="gituser", GIT_PASSWORD=git_password)
    run = run_local("flux-bump", env, build_dir)
    assert run.code == 0, run.output
    assert "Opened pull request #1" in run.last_line()
    users = {user for user, path in git_http.stats.users if repo.name in path}
    assert users == {"gituser"}, git_http.stats.users
    assert any("receive-pack" in path for _, path in git_http.stats.users), "it pushed"
    # the API stub accepts the token alone (401 otherwise): the pull request opened with it
    assert pr_api.state.tokens == {git_token}
    assert [m for m, _ in pr_api.state.requests] == ["GET", "GET", "POST"]


def _attempts(output: str) -> int:
    """How many pushes a successful run made, from its last line ("..., 3 attempts)")."""
    found = re.search(r", (\d+) attempts\)", output.strip().splitlines()[-1])
    return int(found.group(1)) if found else 1


def test_concurrent_bumps_all_land_on_defaults(make_repo: Callable[..., GitopsRepo], tmp_path: Path,
                                               git_token: str) -> None:
    """Eight runs bump different images into one branch at once, on the default RETRIES: the
    server holds their first pushes until all eight were made on the same tip, so exactly one
    lands first and each other one is rejected and retried; a run is rejected at most once for
    each other run that landed, so the default 10 retries are enough and every one lands, history
    linear (issue 14: a retry is cheap, so the defaults are enough)."""
    writers = 8
    files = {f"apps/app{i}/deployment.yaml":
             f"apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n"
             f"      containers:\n        - name: app{i}\n          image: ghcr.io/acme/app{i}:1.0.0\n"
             for i in range(writers)}
    repo = make_repo(files)
    seed = repo.head()
    hold_first_pushes(repo, writers)

    def bump(i: int) -> tuple[int, str]:
        build = tmp_path / f"build{i}"
        build.mkdir()
        env = bitbucket_env(build, branch="main")
        env.update({"GITOPS_REPO": repo.http_url, "BITBUCKET_ACCESS_TOKEN": git_token,
                    "IMAGE": f"ghcr.io/acme/app{i}", "TAG": f"2.0.{i}"})
        run = run_local("flux-bump", env, build)
        return run.code, run.output

    with ThreadPoolExecutor(max_workers=writers) as pool:
        results = list(pool.map(bump, range(writers)))
    for code, output in results:
        assert code == 0, output
    log = repo.log("main")
    assert len(log) == writers + 1, "every commit landed"
    assert git("rev-list", "--merges", "--count", "main", cwd=repo.path).strip() == "0"
    assert git("rev-list", "--first-parent", "--count", "main", cwd=repo.path).strip() == str(writers + 1)
    assert log[-1].split()[0] == seed
    for i in range(writers):
        assert repo.show(f"apps/app{i}/deployment.yaml").endswith(
            f"image: ghcr.io/acme/app{i}:2.0.{i}\n".encode())
    # the race, counted: one run landed at its first push, every other one retried (at most once
    # per run that landed before it); the server saw every first push (a later one may be refused
    # by git before it is sent, when the tip moved again since the fetch)
    attempts = sorted(_attempts(out) for _, out in results)
    assert attempts[0] == 1 and attempts[1] >= 2 and attempts[-1] <= writers, attempts
    for _, out in results:
        assert out.count("re-applying the edit on the new tip") == _attempts(out) - 1, out
    pushed = [u for u in repo.updates() if u.phase == "attempt" and u.ref == "refs/heads/main"]
    assert writers <= len(pushed) <= sum(attempts), (pushed, attempts)
    assert sum(u.old == seed for u in pushed) == writers, "every first push was made on the seed"
    landed = [u for u in repo.updates() if u.phase == "updated"]
    assert len(landed) == writers
    assert {(u.ref, u.kind) for u in landed} == {("refs/heads/main", "fast-forward")}


def test_concurrent_bumps_in_one_file_rescan(make_repo: Callable[..., GitopsRepo], tmp_path: Path,
                                             git_token: str) -> None:
    """Writers editing the same file cannot replay their commit: they re-read the new tip and
    edit it again; every bump lands and nothing is lost (their first pushes held until all four
    were made on the same tip: three of them are rejected and edit again)."""
    text = "".join(f"- name: c{i}\n  image: ghcr.io/acme/svc{i}:1.0.0\n" for i in range(4))
    repo = make_repo({"apps/containers.yaml": text})
    hold_first_pushes(repo, 4)

    def bump(i: int) -> tuple[int, str]:
        build = tmp_path / f"b{i}"
        build.mkdir()
        env = bitbucket_env(build, branch="main")
        env.update({"GITOPS_REPO": repo.http_url, "BITBUCKET_ACCESS_TOKEN": git_token,
                    "IMAGE": f"ghcr.io/acme/svc{i}", "TAG": "2.0.0"})
        run = run_local("flux-bump", env, build)
        return run.code, run.output

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(bump, range(4)))
    for code, output in results:
        assert code == 0, output
    assert repo.show("apps/containers.yaml") == text.replace(":1.0.0", ":2.0.0").encode()
    assert len(repo.log("main")) == 5
    assert git("rev-list", "--merges", "--count", "main", cwd=repo.path).strip() == "0"
    attempts = sorted(_attempts(out) for _, out in results)
    assert attempts[0] == 1 and attempts[1] >= 2 and attempts[-1] <= 4, attempts


def test_rejected_push_is_retried_never_forced(make_repo: Callable[..., GitopsRepo],
                                               flux_env: Callable[..., dict[str, str]],
                                               build_dir: Path) -> None:
    repo = make_repo({"a.yaml": "image: ghcr.io/acme/web:1.0.0\n"})
    move_main_once(repo)
    run = run_local("flux-bump", flux_env(repo.http_url), build_dir)
    assert run.code == 0, run.output
    assert "re-applying the edit on the new tip (retry 1 of 10" in run.output
    assert "2 attempts" in run.last_line()
    # the first push lost the race (its update of main failed), the second landed; none forced
    assert [(u.phase, u.kind) for u in repo.updates()] == [
        ("attempt", "fast-forward"), ("attempt", "fast-forward"), ("updated", "fast-forward")]
    subjects = [line.split(" ", 2)[-1] for line in repo.log("main")]
    assert subjects[:2] == ["Bump ghcr.io/acme/web to 2.0.0", "someone else pushed"]
    assert repo.show("a.yaml") == b"image: ghcr.io/acme/web:2.0.0\n"


def test_retries_exhausted(make_repo: Callable[..., GitopsRepo],
                           flux_env: Callable[..., dict[str, str]], build_dir: Path) -> None:
    repo = make_repo({"a.yaml": "image: ghcr.io/acme/web:1.0.0\n"})
    move_main_once(repo)
    run = run_local("flux-bump", flux_env(repo.http_url, RETRIES="0"), build_dir)
    assert run.code == 1 and "Traceback" not in run.output
    assert "rejected 1 times because the branch kept moving" in run.last_line()
    assert "RETRIES" in run.last_line()
    assert [line.split(" ", 2)[-1] for line in repo.log("main")] == ["someone else pushed", "seed"]


def test_a_reference_added_upstream_while_we_pushed_is_bumped_too(
        make_repo: Callable[..., GitopsRepo], flux_env: Callable[..., dict[str, str]],
        build_dir: Path) -> None:
    repo = make_repo({"a.yaml": "image: ghcr.io/acme/web:1.0.0\n"})
    move_main_once(repo, add=("apps/b.yaml", "image: ghcr.io/acme/web:1.0.0"))
    run = run_local("flux-bump", flux_env(repo.http_url, DEBUG="true"), build_dir)
    assert run.code == 0, run.output
    assert "re-applying the edit on the new tip" in run.output
    assert "Replayed the edit" not in run.output, "a new reference upstream: the tip is scanned again"
    subjects = [line.split(" ", 2)[-1] for line in repo.log("main")]
    assert subjects[:2] == ["Bump ghcr.io/acme/web to 2.0.0", "someone else added apps/b.yaml"]
    assert repo.show("a.yaml") == b"image: ghcr.io/acme/web:2.0.0\n"
    assert repo.show("apps/b.yaml") == b"image: ghcr.io/acme/web:2.0.0\n"


@pytest.mark.parametrize(("path", "line"), [
    ("README.md", "image: ghcr.io/acme/web:1.0.0 is documented here"),  # not a searched file
    # the usual race in a GitOps monorepo: another app's bump lands first; its file is searched
    # but holds nothing of ours
    ("apps/api.yaml", "image: ghcr.io/acme/api:1.1.0"),
])
def test_upstream_changes_with_nothing_to_edit_are_replayed_without_a_new_scan(
        make_repo: Callable[..., GitopsRepo], flux_env: Callable[..., dict[str, str]],
        build_dir: Path, path: str, line: str) -> None:
    repo = make_repo({"a.yaml": "image: ghcr.io/acme/web:1.0.0\n",
                      "apps/api.yaml": "image: ghcr.io/acme/api:1.0.0\n"})
    move_main_once(repo, add=(path, line))
    run = run_local("flux-bump", flux_env(repo.http_url, DEBUG="true"), build_dir)
    assert run.code == 0, run.output
    assert "Replayed the edit" in run.output
    assert repo.show("a.yaml") == b"image: ghcr.io/acme/web:2.0.0\n"
    assert repo.show(path) == f"{line}\n".encode()
