"""flux-bump integration fixtures: GitOps repositories on the git servers, and the pipe's variables."""
from __future__ import annotations

import itertools
import subprocess
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from testbed.bitbucket_stub import BitbucketStub
from testbed.git_http import GitHttpServer, RefUpdate, create_repo, git, ref_updates
from testbed.git_ssh import GitSshServer
from testbed.pipes import REPO_ROOT, bitbucket_env

CORPUS = REPO_ROOT / "tests" / "fixtures" / "gitops"
_names = itertools.count(1)
# the pipe's own pull-request branches: it deletes one it pushed when the pull request cannot be
# opened (never a forced update: those are refused on every branch)
PR_BRANCHES = "refs/heads/flux-bump/*"


@dataclass
class GitopsRepo:
    name: str  # "acme/gitops-3" (workspace/slug)
    path: Path  # the bare repository on the server
    http_url: str

    def log(self, *args: str) -> list[str]:
        return git("log", "--format=%H %P %s", *args, cwd=self.path).splitlines()

    def head(self, branch: str = "main") -> str:
        return git("rev-parse", f"refs/heads/{branch}", cwd=self.path).strip()

    def show(self, path: str, ref: str = "main") -> bytes:
        out = subprocess.run(["git", "show", f"{ref}:{path}"], cwd=self.path, check=True,
                             capture_output=True)
        return out.stdout

    def branches(self) -> list[str]:
        return git("for-each-ref", "--format=%(refname:short)", "refs/heads", cwd=self.path).split()

    def updates(self) -> list[RefUpdate]:
        """Every ref update pushed to the repository since it was made (see testbed.git_http)."""
        return ref_updates(self.path)


def corpus_files() -> dict[str, bytes]:
    root = CORPUS / "repo"
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture()
def make_repo(git_http: GitHttpServer) -> Iterator[Callable[..., GitopsRepo]]:
    """``make_repo(files=None)``: a new bare repository on the servers (default: the corpus).

    The servers refuse to force any branch, and to delete any but the pipe's pull-request
    branches; after the test, no update may have been forced (nor even attempted), and only a
    pull-request branch deleted."""
    made: list[GitopsRepo] = []

    def make(files: Mapping[str, bytes | str] | None = None, branch: str = "main") -> GitopsRepo:
        name = f"acme/gitops-{next(_names)}"
        path = create_repo(git_http.root / f"{name}.git", files or corpus_files(), branch,
                           delete_allowed=(PR_BRANCHES,))
        made.append(GitopsRepo(name, path, git_http.url(f"{name}.git")))
        return made[-1]

    yield make
    for repo in made:
        forced = [u for u in repo.updates() if u.kind == "forced" or (
            u.kind == "delete" and not u.ref.startswith("refs/heads/flux-bump/"))]
        assert forced == [], f"{repo.name}: forced ref updates or deletions {forced}"


@pytest.fixture()
def build_dir(tmp_path: Path) -> Path:
    build = tmp_path / "build"
    build.mkdir()
    return build


@pytest.fixture()
def flux_env(build_dir: Path, git_token: str) -> Callable[..., dict[str, str]]:
    """``flux_env(repo_url, **vars)``: the variables of one pipe run (token auth by default)."""

    def make(repo_url: str, **variables: str) -> dict[str, str]:
        env = bitbucket_env(build_dir, commit="c0ffee" * 6 + "abcd", branch="main", pipe="flux-bump")
        env.update({"GITOPS_REPO": repo_url, "BITBUCKET_ACCESS_TOKEN": git_token,
                    "IMAGE": "ghcr.io/acme/web", "TAG": "2.0.0"})
        env.update(variables)
        return {k: v for k, v in env.items() if v is not None and v != "<unset>"}

    return make


@pytest.fixture()
def ssh_env(git_ssh: GitSshServer, build_dir: Path) -> Callable[..., dict[str, str]]:
    def make(repo: GitopsRepo, **variables: str) -> dict[str, str]:
        env = bitbucket_env(build_dir, commit="c0ffee" * 6 + "abcd", branch="main", pipe="flux-bump")
        env.update({"GITOPS_REPO": git_ssh.url(f"{repo.name}.git"), "SSH_KEY": git_ssh.client_key_b64,
                    "KNOWN_HOSTS": git_ssh.known_hosts_line, "IMAGE": "ghcr.io/acme/web",
                    "TAG": "2.0.0"})
        env.update(variables)
        return env

    return make


@pytest.fixture()
def pr_api(bitbucket_api: BitbucketStub, git_http: GitHttpServer) -> BitbucketStub:
    """The PR stub, checking that a repository and a pull request's source branch exist on the
    git server."""

    def exists(workspace: str, slug: str, branch: str) -> bool:
        repo = git_http.root / workspace / f"{slug}.git"
        return subprocess.run(["git", "rev-parse", "--verify", "-q", f"refs/heads/{branch}"],
                              cwd=repo, capture_output=True).returncode == 0

    def repo_exists(workspace: str, slug: str) -> bool:
        return (git_http.root / workspace / f"{slug}.git").is_dir()

    bitbucket_api.state.branch_exists = exists
    bitbucket_api.state.repo_exists = repo_exists
    return bitbucket_api


def expected_tree(scenario: str) -> dict[str, bytes]:
    files = corpus_files()
    root = CORPUS / "expected" / scenario
    for p in root.rglob("*"):
        if p.is_file():
            files[p.relative_to(root).as_posix()] = p.read_bytes()
    return files


def fail_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if "✖" in line]


MOVE_ONCE_HOOK = """#!/bin/sh
# moves main once, while the first push is being received: that push then fails to update the ref
unset GIT_QUARANTINE_PATH GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES
if [ ! -f moved ]; then
  touch moved
  commit=$(git -c user.name=other -c user.email=other@example.com commit-tree \\
    refs/heads/main^{tree} -p refs/heads/main -m "someone else pushed")
  git update-ref refs/heads/main "$commit"
fi
"""


ADD_ONCE_HOOK = """#!/bin/sh
# like MOVE_ONCE_HOOK, but the other commit adds the file {path}
unset GIT_QUARANTINE_PATH GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES
if [ ! -f moved ]; then
  touch moved
  export GIT_INDEX_FILE="$PWD/other.index"
  git read-tree refs/heads/main
  blob=$(printf '%s\\n' '{line}' | git hash-object -w --stdin)
  git update-index --add --cacheinfo "100644,$blob,{path}"
  tree=$(git write-tree)
  rm -f "$GIT_INDEX_FILE"
  commit=$(git -c user.name=other -c user.email=other@example.com commit-tree "$tree" \\
    -p refs/heads/main -m "someone else added {path}")
  git update-ref refs/heads/main "$commit"
fi
"""


def hold_first_pushes(repo: GitopsRepo, writers: int) -> None:
    """A pre-receive hook that holds each of the first ``writers`` pushes until all of them have
    arrived: they were all made on the same tip, so exactly one lands and every other is rejected
    and retried (later pushes pass at once)."""
    hook = repo.path / "hooks" / "pre-receive"
    hook.write_text(GATE_HOOK.format(writers=writers))
    hook.chmod(0o755)


def move_main_once(repo: GitopsRepo, add: tuple[str, str] | None = None) -> None:
    """A pre-receive hook that moves main once while the first push is received (with ``add``,
    the other commit adds the file ``add[0]`` holding the line ``add[1]``)."""
    hook = repo.path / "hooks" / "pre-receive"
    hook.write_text(ADD_ONCE_HOOK.format(path=add[0], line=add[1]) if add else MOVE_ONCE_HOOK)
    hook.chmod(0o755)


GATE_HOOK = """#!/bin/sh
# a gate: the first {writers} pushes wait here for one another (a push arriving later passes at once);
# after 120 s the gate opens anyway, and the test's count of attempts fails instead of hanging
mkdir -p gate
mktemp gate/arrived.XXXXXX >/dev/null
waited=0
while [ "$(ls gate | wc -l)" -lt {writers} ] && [ "$waited" -lt 2400 ]; do
  sleep 0.05
  waited=$((waited + 1))
done
"""
