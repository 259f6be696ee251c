"""Canary tokens never show up: not in the output (DEBUG on), the clone's .git/config, the commits,
the pushed history or the files the pipe writes."""
from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from testbed import leaks
from testbed.bitbucket_stub import BitbucketStub
from testbed.git_ssh import GitSshServer
from testbed.pipes import run_local

from .conftest import GitopsRepo


def history(repo: GitopsRepo) -> str:
    return subprocess.run(["git", "log", "-p", "--all", "--format=fuller"], cwd=repo.path,
                          capture_output=True, text=True, check=True).stdout


@pytest.mark.parametrize("mode", ["push", "pull-request", "bad-auth"])
def test_token_canary(mode: str, make_repo: Callable[..., GitopsRepo],
                      flux_env: Callable[..., dict[str, str]], build_dir: Path, tmp_path: Path,
                      git_token: str, pr_api: BitbucketStub) -> None:
    repo = make_repo()
    clone = tmp_path / "clone"
    extra = {"DEBUG": "true", "CLONE_DIR": str(clone), "BITBUCKET_API_URL": pr_api.url}
    if mode == "pull-request":
        extra["MODE"] = "pull-request"
    token = git_token
    if mode == "bad-auth":
        token = "bbtoken-canary-" + "f" * 48  # a wrong token must not leak either
        extra["BITBUCKET_ACCESS_TOKEN"] = token
    run = run_local("flux-bump", flux_env(repo.http_url, **extra), build_dir)
    assert run.code == (1 if mode == "bad-auth" else 0), run.output
    assert "$ git clone" in run.output  # DEBUG shows the commands
    leaks.assert_absent(token, text=run.output + history(repo),
                        paths=[build_dir, repo.path, clone])
    if mode != "bad-auth":
        config = (clone / ".git" / "config").read_text()
        assert "url = " + repo.http_url + "\n" in config


def test_password_and_ssh_key_canaries(make_repo: Callable[..., GitopsRepo],
                                       flux_env: Callable[..., dict[str, str]],
                                       ssh_env: Callable[..., dict[str, str]], build_dir: Path,
                                       tmp_path: Path, git_password: str,
                                       git_ssh: GitSshServer) -> None:
    repo = make_repo({"a.yaml": "image: ghcr.io/acme/web:1.0.0\n"})
    run = run_local("flux-bump", flux_env(repo.http_url, BITBUCKET_ACCESS_TOKEN="<unset>",
                                          GIT_USERNAME="gituser", GIT_PASSWORD=git_password,
                                          DEBUG="true", CLONE_DIR=str(tmp_path / "c1")), build_dir)
    assert run.code == 0, run.output
    leaks.assert_absent(git_password, text=run.output + history(repo),
                        paths=[build_dir, repo.path, tmp_path / "c1"])
    # a password written into the URL is refused, naming GITOPS_REPO, before git sees it
    url = repo.http_url.replace("http://", f"http://gituser:{git_password}@")
    run = run_local("flux-bump", flux_env(url, BITBUCKET_ACCESS_TOKEN="<unset>", TAG="3.0.0",
                                          DEBUG="true", CLONE_DIR=str(tmp_path / "c2")), build_dir)
    assert run.code == 1 and run.last_line().startswith("\x1b[31m✖ GITOPS_REPO holds credentials")
    leaks.assert_absent(git_password, text=run.output + history(repo),
                        paths=[build_dir, repo.path, tmp_path / "c2"])
    key_line = next(line for line in git_ssh.client_key.splitlines() if len(line) > 40)
    own_tmp = tmp_path / "tmp"  # the pipe's temporary files, apart from other runs on the machine
    own_tmp.mkdir()
    run = run_local("flux-bump", ssh_env(repo, TAG="4.0.0", DEBUG="true", TMPDIR=str(own_tmp),
                                         CLONE_DIR=str(tmp_path / "c3")), build_dir)
    assert run.code == 0, run.output
    for secret in (git_ssh.client_key_b64, key_line):
        leaks.assert_absent(secret, text=run.output + history(repo),
                            paths=[build_dir, repo.path, tmp_path / "c3", own_tmp])
    assert list(own_tmp.iterdir()) == [], "the key file (and the whole work folder) is removed"
