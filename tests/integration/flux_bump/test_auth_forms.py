"""Bitbucket credentials as they are now (issue 14 §3): access tokens (git as ``x-token-auth``,
REST as Bearer), Atlassian API tokens (git as ``x-bitbucket-api-token-auth``, REST as HTTP Basic
with the account's email), and a 401 or 403 that names the likely cause and the fix.  The git
server here accepts exactly those usernames; the stub exactly those REST forms."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from testbed.bitbucket_stub import BitbucketStub
from testbed.git_http import Accounts, GitHttpServer, create_repo, git
from testbed.pipes import bitbucket_env, run_local

from .conftest import fail_lines

EMAIL = "ci-bot@example.com"
API_TOKEN = "ATATT3xFfGF0-api-token-canary-7Qz"
FILES = {"apps/web.yaml": "image: ghcr.io/acme/web:1.0.0\n"}


@pytest.fixture()
def servers(tmp_path: Path, git_token: str) -> Iterator[tuple[GitHttpServer, GitHttpServer]]:
    """A server taking an access token and an API token (by the static username), and one where
    the access token may only read (403 on push)."""
    def accounts(read_only: set[str]) -> Accounts:
        return Accounts(access_tokens={git_token}, api_tokens={"ci-bot": API_TOKEN},
                        read_only=read_only)

    with GitHttpServer(accounts(set()), workdir=tmp_path) as writable, \
            GitHttpServer(accounts({git_token}), workdir=tmp_path) as ro:
        for srv in (writable, ro):
            create_repo(srv.root / "acme/gitops.git", FILES)
            git("config", "receive.denyNonFastForwards", "true", cwd=srv.root / "acme/gitops.git")
        yield writable, ro


def _env(build_dir: Path, url: str, **variables: str) -> dict[str, str]:
    env = bitbucket_env(build_dir, commit="ab" * 20, branch="main", pipe="flux-bump")
    env.update({"GITOPS_REPO": url, "IMAGE": "ghcr.io/acme/web", "TAG": "2.0.0", **variables})
    return {k: v for k, v in env.items() if v != "<unset>"}


def test_api_token_for_git_and_the_rest_api(servers: tuple[GitHttpServer, GitHttpServer],
                                            build_dir: Path, bitbucket_api: BitbucketStub) -> None:
    writable, _ = servers
    url = writable.url("acme/gitops.git")
    run = run_local("flux-bump", _env(build_dir, url, ATLASSIAN_EMAIL=EMAIL,
                                      ATLASSIAN_API_TOKEN=API_TOKEN), build_dir)
    assert run.code == 0, run.output
    assert "ghcr.io/acme/web:2.0.0" in git("show", "main:apps/web.yaml",
                                           cwd=writable.root / "acme/gitops.git")
    bitbucket_api.state.api_tokens[EMAIL] = API_TOKEN
    pr = run_local("flux-bump", _env(build_dir, url, ATLASSIAN_EMAIL=EMAIL, TAG="2.1.0",
                                     ATLASSIAN_API_TOKEN=API_TOKEN, MODE="pull-request",
                                     BITBUCKET_API_URL=bitbucket_api.url), build_dir)
    assert pr.code == 0, pr.output
    assert "Opened pull request #1" in pr.last_line()
    assert API_TOKEN not in run.output + pr.output


@pytest.mark.parametrize(("variables", "api", "needles"), [
    # an access token that expired: 401 from git
    ({"BITBUCKET_ACCESS_TOKEN": "expired-token"}, {},
     ["rejected the credentials (401)", "BITBUCKET_ACCESS_TOKEN is expired, revoked"]),
    # an app password: 401, and the message says app passwords are gone
    ({"GIT_USERNAME": "alice", "GIT_PASSWORD": "app-password-value"}, {},
     ["GIT_USERNAME/GIT_PASSWORD was refused", "app passwords no longer work",
      "ATLASSIAN_API_TOKEN"]),
    # an API token without scopes (the git server does not know it): 401
    ({"ATLASSIAN_EMAIL": EMAIL, "ATLASSIAN_API_TOKEN": "unscoped-token"}, {},
     ["rejected the credentials (401)", "ATLASSIAN_API_TOKEN", "without scopes"]),
    # git accepts the API token, the REST API refuses a username in place of the email: 401
    ({"ATLASSIAN_EMAIL": "other@example.com", "ATLASSIAN_API_TOKEN": API_TOKEN,
      "MODE": "pull-request"}, {"api_tokens": True},
     ["The Bitbucket API refused ATLASSIAN_API_TOKEN (401)", "ATLASSIAN_EMAIL is not its "
      "account's email"]),
    # an access token without pullrequest:write: 403 from the REST API
    ({"BITBUCKET_ACCESS_TOKEN": "<git_token>", "MODE": "pull-request"}, {"no_write": True},
     ["The Bitbucket API refused BITBUCKET_ACCESS_TOKEN (403)", "pullrequest:write"]),
])
def test_refused_credentials_name_the_cause(
        servers: tuple[GitHttpServer, GitHttpServer], build_dir: Path,
        bitbucket_api: BitbucketStub, git_token: str, variables: dict[str, str],
        api: dict[str, bool], needles: list[str]) -> None:
    writable, _ = servers
    variables = {k: (git_token if v == "<git_token>" else v) for k, v in variables.items()}
    if api.get("api_tokens"):
        bitbucket_api.state.api_tokens[EMAIL] = API_TOKEN
    if api.get("no_write"):
        bitbucket_api.state.no_write.add(git_token)
    env = _env(build_dir, writable.url("acme/gitops.git"), BITBUCKET_API_URL=bitbucket_api.url,
               **variables)
    run = run_local("flux-bump", env, build_dir)
    assert run.code == 1, run.output
    assert "Traceback" not in run.output
    assert fail_lines(run.output) == [run.last_line()], run.output
    for needle in needles:
        assert needle in run.last_line()
    for secret in (git_token, API_TOKEN, "app-password-value", "unscoped-token", "expired-token"):
        assert secret not in run.output


def test_read_only_access_token_is_a_403_naming_the_scope(
        servers: tuple[GitHttpServer, GitHttpServer], build_dir: Path, git_token: str) -> None:
    _, read_only = servers
    run = run_local("flux-bump", _env(build_dir, read_only.url("acme/gitops.git"),
                                      BITBUCKET_ACCESS_TOKEN=git_token), build_dir)
    assert run.code == 1, run.output
    assert "rejected the credentials (403)" in run.last_line()
    assert "repository:write scope" in run.last_line()


@pytest.mark.parametrize(("variables", "needle"), [
    ({"ATLASSIAN_EMAIL": "not-an-email", "ATLASSIAN_API_TOKEN": API_TOKEN}, "ATLASSIAN_EMAIL"),
    ({"ATLASSIAN_API_TOKEN": API_TOKEN}, "ATLASSIAN_API_TOKEN is set but ATLASSIAN_EMAIL is not"),
    ({"ATLASSIAN_EMAIL": EMAIL}, "ATLASSIAN_EMAIL is set but ATLASSIAN_API_TOKEN is not"),
    ({"ATLASSIAN_EMAIL": EMAIL, "ATLASSIAN_API_TOKEN": API_TOKEN, "BITBUCKET_ACCESS_TOKEN": "t"},
     "BITBUCKET_ACCESS_TOKEN and ATLASSIAN_API_TOKEN are both set"),
    ({"ATLASSIAN_EMAIL": EMAIL, "ATLASSIAN_API_TOKEN": f"{API_TOKEN} x"},
     "ATLASSIAN_API_TOKEN contains spaces"),
    ({"ATLASSIAN_EMAIL": EMAIL, "ATLASSIAN_API_TOKEN": "A" * 1025}, "ATLASSIAN_API_TOKEN"),
    ({"MODE": "pull-request"}, "MODE pull-request needs BITBUCKET_ACCESS_TOKEN (pullrequest:write) "
                               "or ATLASSIAN_EMAIL and ATLASSIAN_API_TOKEN"),
])
def test_bad_credential_variables_are_one_line(
        servers: tuple[GitHttpServer, GitHttpServer], build_dir: Path,
        variables: dict[str, str], needle: str) -> None:
    writable, _ = servers
    run = run_local("flux-bump", _env(build_dir, writable.url("acme/gitops.git"), **variables),
                    build_dir)
    assert run.code == 1, run.output
    assert "Traceback" not in run.output
    assert fail_lines(run.output) == [run.last_line()], run.output
    assert needle in run.last_line()
    assert API_TOKEN not in run.output
