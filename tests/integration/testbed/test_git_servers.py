"""The git servers of the test bed guard what the flux-bump tests rely on: they refuse to force
or delete a branch (over HTTP and SSH alike) and record every ref update pushed to them."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import requests
from testbed.git_http import GIT_ENV, GitHttpServer, create_repo, git, ref_updates
from testbed.git_ssh import GitSshServer


def _push(work: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "push", "--porcelain", "origin", *args], cwd=work, env=env,
                          capture_output=True, text=True, check=False)


@pytest.fixture()
def ways(git_http: GitHttpServer, git_ssh: GitSshServer, git_token: str,
         tmp_path: Path) -> dict[str, tuple[str, dict[str, str]]]:
    """How to reach a repository by name: (URL, environment) per protocol."""
    askpass = tmp_path / "askpass.sh"
    askpass.write_text(f"#!/bin/sh\ncase \"$1\" in [Uu]sername*) echo x-token-auth ;; *) echo {git_token} ;; esac\n")
    askpass.chmod(0o700)
    key = tmp_path / "id_key"
    key.write_text(git_ssh.client_key)
    key.chmod(0o600)
    hosts = tmp_path / "known_hosts"
    hosts.write_text(git_ssh.known_hosts_line + "\n")
    base = {**os.environ, **GIT_ENV, "GIT_TERMINAL_PROMPT": "0"}
    ssh = (f"ssh -i {key} -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=yes "
           f"-o UserKnownHostsFile={hosts} -F /dev/null")
    return {"http": ("http", {**base, "GIT_ASKPASS": str(askpass)}),
            "ssh": ("ssh", {**base, "GIT_SSH_COMMAND": ssh})}


@pytest.mark.parametrize("protocol", ["http", "ssh"])
def test_force_push_and_delete_are_refused_and_recorded(
        protocol: str, ways: dict[str, tuple[str, dict[str, str]]], git_http: GitHttpServer,
        git_ssh: GitSshServer, tmp_path: Path) -> None:
    name = f"acme/guarded-{protocol}.git"
    repo = create_repo(git_http.root / name, {"a.yaml": "image: x:1\n"},
                       delete_allowed=("refs/heads/mine/*",))
    _, env = ways[protocol]
    url = git_http.url(name) if protocol == "http" else git_ssh.url(name)
    work = tmp_path / "work"
    subprocess.run(["git", "clone", "-q", url, str(work)], env=env, check=True, capture_output=True)
    seed = git("rev-parse", "main", cwd=repo).strip()

    (work / "a.yaml").write_text("image: x:2\n")
    git("commit", "-qam", "two", cwd=work)
    assert _push(work, env, "main").returncode == 0  # a fast-forward goes through
    ahead = git("rev-parse", "main", cwd=repo).strip()

    git("commit", "-q", "--amend", "-m", "two, rewritten", cwd=work)
    forced = _push(work, env, "+main:main")
    assert forced.returncode != 0
    assert "refuses the forced update of refs/heads/main" in forced.stderr, forced.stderr
    assert git("rev-parse", "main", cwd=repo).strip() == ahead  # untouched
    assert _push(work, env, "main:refs/heads/other").returncode == 0
    deleted = _push(work, env, ":refs/heads/other")
    assert deleted.returncode != 0
    assert "refuses the delete update of refs/heads/other" in deleted.stderr, deleted.stderr

    assert _push(work, env, "HEAD:refs/heads/mine/x").returncode == 0
    git("commit", "-q", "--amend", "-m", "two, again", cwd=work)
    assert _push(work, env, "+HEAD:refs/heads/mine/x").returncode != 0  # never forced, even there
    assert _push(work, env, ":refs/heads/mine/x").returncode == 0  # deleted: by delete_allowed

    seen = [(u.phase, u.verdict, u.kind, u.ref) for u in ref_updates(repo)]
    assert seen == [
        ("attempt", "accepted", "fast-forward", "refs/heads/main"),
        ("updated", "done", "fast-forward", "refs/heads/main"),
        ("attempt", "refused", "forced", "refs/heads/main"),
        ("attempt", "accepted", "create", "refs/heads/other"),
        ("updated", "done", "create", "refs/heads/other"),
        ("attempt", "refused", "delete", "refs/heads/other"),
        ("attempt", "accepted", "create", "refs/heads/mine/x"),
        ("updated", "done", "create", "refs/heads/mine/x"),
        ("attempt", "refused", "forced", "refs/heads/mine/x"),
        ("attempt", "accepted", "delete", "refs/heads/mine/x"),
        ("updated", "done", "delete", "refs/heads/mine/x"),
    ]
    first = ref_updates(repo)[0]
    assert (first.old, first.new) == (seed, ahead)


def test_http_takes_exactly_the_credentials_bitbucket_documents(
        git_http: GitHttpServer, git_token: str, git_password: str) -> None:
    """Access tokens as ``x-token-auth``; an API token as ``x-bitbucket-api-token-auth`` or as the
    Bitbucket username of its account; nothing else (issue 14 §3)."""
    name = "acme/auth-forms.git"
    create_repo(git_http.root / name, {"a.yaml": "image: x:1\n"})
    url = f"{git_http.url(name)}/info/refs?service=git-upload-pack"

    def status(user: str, secret: str) -> int:
        return requests.get(url, auth=(user, secret), timeout=30).status_code

    accepted = [("x-token-auth", git_token), ("x-bitbucket-api-token-auth", git_password),
                ("gituser", git_password)]
    refused = [
        ("gituser", git_token),                        # an access token under a user's name
        ("someone", git_token), ("git", git_token),    # ... or any other name
        ("x-token-auth", git_password),                # an API token as an access token
        ("x-bitbucket-api-token-auth", git_token),     # an access token as an API token
        ("other-user", git_password),                  # an API token under another user's name
        ("ci-bot@example.com", git_password),          # the email is not the git username
        ("x-token-auth", "wrong"), ("gituser", ""),
    ]
    assert [status(u, s) for u, s in accepted] == [200] * len(accepted)
    assert [status(u, s) for u, s in refused] == [401] * len(refused)
    assert requests.get(url, timeout=30).status_code == 401  # no credentials at all
