"""Bad input: one ✖ line naming the problem and the fix, exit 1, no traceback, nothing pushed."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from testbed.fixtures import READER_TOKEN
from testbed.git_http import GitHttpServer
from testbed.net import free_port
from testbed.pipes import run_local

from .conftest import GitopsRepo, fail_lines

CASES: dict[str, tuple[dict[str, str], list[str]]] = {
    "no repo variable": ({"GITOPS_REPO": "<unset>"}, ["GITOPS_REPO is required"]),
    "bad url": ({"GITOPS_REPO": "ftp://example/x.git"}, ["GITOPS_REPO must be a git URL"]),
    "repo missing": ({"GITOPS_REPO": "{http}/acme/missing.git"}, ["GITOPS_REPO: no repository at"]),
    "unreachable": ({"GITOPS_REPO": "http://127.0.0.1:{closed}/acme/x.git"},
                    ["GITOPS_REPO:", "unreachable"]),
    "bad auth": ({"BITBUCKET_ACCESS_TOKEN": "wrong-token-value"},
                 ["rejected the credentials", "BITBUCKET_ACCESS_TOKEN"]),
    "read-only credentials": ({"BITBUCKET_ACCESS_TOKEN": READER_TOKEN},
                              ["rejected the credentials (403)", "BITBUCKET_ACCESS_TOKEN may not "
                               "write to the repository"]),
    "unknown branch": ({"BRANCH": "release/9"}, ["BRANCH: the branch 'release/9' does not exist"]),
    "bad branch name": ({"BRANCH": "a..b"}, ["BRANCH 'a..b' is not a git branch name"]),
    "invalid tag": ({"TAG": "-bad tag"}, ["TAG '-bad tag' is not a valid image tag"]),
    "invalid digest": ({"DIGEST": "sha256:xyz"}, ["DIGEST 'sha256:xyz' is not a valid digest"]),
    "pin without digest": ({"PIN_DIGEST": "true"}, ["PIN_DIGEST is true but no DIGEST"]),
    "invalid image": ({"IMAGE": "Acme/Web:1"}, ["IMAGE 'Acme/Web:1' is not an image repository"]),
    "invalid policy": ({"POLICY": "web"}, ["POLICY 'web' is not <namespace>:<policy>"]),
    "bad mode": ({"MODE": "force"}, ["MODE must be one of: push, pull-request, dry-run"]),
    "pr without token": ({"MODE": "pull-request", "BITBUCKET_ACCESS_TOKEN": "<unset>"},
                         ["MODE pull-request needs BITBUCKET_ACCESS_TOKEN"]),
    "no matching reference": ({"IMAGE": "ghcr.io/acme/nothing"},
                              ["No reference to ghcr.io/acme/nothing", "searched 10 files",
                               "no searched file mentions an image named nothing",
                               "kustomize images entries",
                               "HelmRelease spec.values", "plain 'image:"]),
    "no marker of policy": ({"POLICY": "flux-system:nope"},
                            ["Flux setter markers of POLICY flux-system:nope"]),
    "username without password": ({"GIT_USERNAME": "gituser"}, ["GIT_PASSWORD is not"]),
    "bad template": ({"COMMIT_MESSAGE": "bump {{nope}}"}, ["COMMIT_MESSAGE uses {nope}"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input(case: str, make_repo: Callable[..., GitopsRepo],
                   flux_env: Callable[..., dict[str, str]], build_dir: Path,
                   git_http: GitHttpServer) -> None:
    repo = make_repo()
    head = repo.head()
    overrides, expected = CASES[case]
    fill = {"http": f"http://127.0.0.1:{git_http.port}", "closed": str(free_port())}
    env = flux_env(repo.http_url, **{k: v.format(**fill) for k, v in overrides.items()})
    run = run_local("flux-bump", env, build_dir)
    assert run.code == 1, run.output
    assert "Traceback" not in run.output
    lines = fail_lines(run.output)
    assert len(lines) == 1, run.output
    for text in expected:
        assert text in lines[0], run.output
    assert repo.head() == head and len(repo.branches()) == 1


def test_only_unparseable_yaml(make_repo: Callable[..., GitopsRepo],
                               flux_env: Callable[..., dict[str, str]], build_dir: Path) -> None:
    repo = make_repo({"bad.yaml": "a: [1, 2\nimage: ghcr.io/acme/web:1.0.0\n"})
    run = run_local("flux-bump", flux_env(repo.http_url), build_dir)
    assert run.code == 1 and "Traceback" not in run.output
    assert "WARNING: Skipped bad.yaml: not valid YAML" in run.output
    lines = fail_lines(run.output)
    assert len(lines) == 1 and "skipped as unparseable: bad.yaml" in lines[0]
