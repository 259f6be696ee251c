"""Promotion (issue 14 §2): the reference deployed under FROM_PATHS, digest included, written into
PATHS; no registry is asked (none runs in these tests)."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from testbed.bitbucket_stub import BitbucketStub
from testbed.pipes import run_local

from .conftest import GitopsRepo, fail_lines

WEB = "reg.example.com/acme/web"
D_STAGE = "sha256:" + "5a" * 32
D_PROD = "sha256:" + "0b" * 32
FILES = {
    "clusters/staging/web.yaml": f"containers:\n- name: web\n  image: {WEB}:2.3.0@{D_STAGE}\n",
    "clusters/staging/kustomization.yaml": (f"images:\n- name: {WEB}\n  newTag: 2.3.0\n"
                                            f"  digest: {D_STAGE}\n"),
    "clusters/production/web.yaml": f"containers:\n- name: web\n  image: {WEB}:2.1.0 # prod\n",
    "clusters/production/kustomization.yaml": (f"images:\n- name: {WEB}  # web\n"
                                               f"  newTag: \"2.1.0\"\n  digest: {D_PROD}\n"),
}


def _env(flux_env: Callable[..., dict[str, str]], repo: GitopsRepo, **extra: str) -> dict[str, str]:
    variables = {"IMAGE": WEB, "TAG": "<unset>", "MODE": "promote", "FROM_PATHS_COUNT": "1",
                 "FROM_PATHS_0": "clusters/staging/**", "PATHS_COUNT": "1",
                 "PATHS_0": "clusters/production/**"}
    return flux_env(repo.http_url, **{**variables, **extra})


def test_promote_copies_the_exact_reference(make_repo: Callable[..., GitopsRepo],
                                            flux_env: Callable[..., dict[str, str]],
                                            build_dir: Path) -> None:
    repo = make_repo(FILES)
    run = run_local("flux-bump", _env(flux_env, repo), build_dir)
    assert run.code == 0, run.output
    assert repo.show("clusters/production/web.yaml") == (
        f"containers:\n- name: web\n  image: {WEB}:2.3.0@{D_STAGE} # prod\n").encode()
    assert repo.show("clusters/production/kustomization.yaml") == (
        f"images:\n- name: {WEB}  # web\n  newTag: \"2.3.0\"\n  digest: {D_STAGE}\n").encode()
    for path in ("clusters/staging/web.yaml", "clusters/staging/kustomization.yaml"):
        assert repo.show(path) == FILES[path].encode()
    subject = repo.log("-1", "--format=%s")[0]
    assert subject == f"Promote {WEB} to 2.3.0@sha256:5a5a5a5a5a5a from clusters/staging/**"
    # again: nothing left to promote
    again = run_local("flux-bump", _env(flux_env, repo), build_dir)
    assert again.code == 0, again.output
    assert "already at 2.3.0" in again.last_line()


def test_promote_as_a_pull_request(make_repo: Callable[..., GitopsRepo],
                                   flux_env: Callable[..., dict[str, str]], build_dir: Path,
                                   pr_api: BitbucketStub) -> None:
    repo = make_repo(FILES)
    head = repo.head()
    env = _env(flux_env, repo, MODE="pull-request", BITBUCKET_API_URL=pr_api.url)
    run = run_local("flux-bump", env, build_dir)
    assert run.code == 0, run.output
    assert "promoting" in run.last_line()
    [pr] = pr_api.state.pullrequests
    branch = pr["source"]["branch"]["name"]
    assert f"{WEB}:2.3.0@{D_STAGE} # prod" in repo.show("clusters/production/web.yaml", branch).decode()
    assert repo.head() == head


@pytest.mark.parametrize(("files", "extra", "needle"), [
    ({**FILES, "clusters/staging/other.yaml": f"image: {WEB}:2.2.0\n"}, {},
     "FROM_PATHS (clusters/staging/**) deploys reg.example.com/acme/web with different tags"),
    (FILES, {"FROM_PATHS_0": "clusters/nowhere/**"}, "FROM_PATHS (clusters/nowhere/**) holds no"),
    (FILES, {"FROM_PATHS_COUNT": "<unset>", "FROM_PATHS_0": "<unset>"}, "FROM_PATHS is required"),
    (FILES, {"PATHS_COUNT": "<unset>", "PATHS_0": "<unset>"}, "PATHS is required when promoting"),
    (FILES, {"TAG": "9.9.9"}, "TAG cannot be set when promoting"),
    (FILES, {"PATHS_0": "clusters/**"}, "PATHS and FROM_PATHS both match"),
    (FILES, {"FROM_PATHS_COUNT": "51", **{f"FROM_PATHS_{i}": "a" for i in range(51)}},
     "FROM_PATHS"),
])
def test_bad_promotion_is_one_line(make_repo: Callable[..., GitopsRepo],
                                   flux_env: Callable[..., dict[str, str]], build_dir: Path,
                                   git_token: str, files: dict[str, str], extra: dict[str, str],
                                   needle: str) -> None:
    repo = make_repo(files)
    head = repo.head()
    run = run_local("flux-bump", _env(flux_env, repo, **extra), build_dir)
    assert run.code == 1, run.output
    assert "Traceback" not in run.output
    assert fail_lines(run.output) == [run.last_line()], run.output
    assert needle in run.last_line()
    assert git_token not in run.output
    assert repo.head() == head
