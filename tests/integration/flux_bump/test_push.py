"""flux-bump against real git servers (smart HTTP with auth, and SSH), run as a process."""
from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from pipes_common import handoff
from pipes_common.bitbucket import StepContext
from pipes_common.contracts import BuildPushOutputs
from testbed import dotenv
from testbed.git_http import GitHttpServer
from testbed.pipes import SHARED_STORAGE, run_local

from ..handoff import outputs_of
from .conftest import GitopsRepo, expected_tree


def test_http_token_push_is_byte_exact(make_repo: Callable[..., GitopsRepo],
                                       flux_env: Callable[..., dict[str, str]], build_dir: Path,
                                       git_http: GitHttpServer) -> None:
    repo = make_repo()
    seed = repo.head()
    run = run_local("flux-bump", flux_env(repo.http_url), build_dir)
    assert run.code == 0, run.output
    assert "✔ Pushed" in run.output
    assert "Skipped apps/broken.yaml: not valid YAML" in run.output
    for path, content in expected_tree("auto").items():
        assert repo.show(path) == content, path
    log = repo.log("main")
    assert len(log) == 2 and log[0].split()[1] == seed  # one commit, on top of the seed
    message = repo.log("-1", "--format=%B%n%an <%ae>", "main")
    assert message[0] == "Bump ghcr.io/acme/web to 2.0.0"
    assert any("apps/web/kustomization.yaml:8 newTag: 1.0.0 -> 2.0.0" in m for m in message)
    assert message[-1] == "flux-bump <flux-bump@noreply.bitbucket.org>"
    out = outputs_of(build_dir, "flux-bump")
    assert out["commit"] == repo.head() and out["changed"] is True
    assert "apps/web/deployment.yaml" in out["files"]
    sourced = dotenv.source(build_dir / ".do-pipes/flux-bump.env")
    assert dotenv.documented("flux-bump") <= set(sourced), sourced
    assert sourced["FLUX_BUMP_COMMIT"] == repo.head()
    assert (sourced["FLUX_BUMP_BRANCH"], sourced["FLUX_BUMP_MODE"], sourced["FLUX_BUMP_CHANGED"]) == \
        ("main", "push", "true")
    assert "apps/web/deployment.yaml" in sourced["FLUX_BUMP_FILES"].split()
    assert "apps/web/kustomization.yaml:8 newTag: 1.0.0 -> 2.0.0" in sourced["FLUX_BUMP_CHANGES"]
    assert (sourced["FLUX_BUMP_PR_URL"], sourced["FLUX_BUMP_PR_ID"]) == ("", "")
    assert [(u.phase, u.kind, u.ref) for u in repo.updates()] == [
        ("attempt", "fast-forward", "refs/heads/main"), ("updated", "fast-forward", "refs/heads/main")]


def test_username_password_and_custom_message(make_repo: Callable[..., GitopsRepo],
                                              flux_env: Callable[..., dict[str, str]],
                                              build_dir: Path, git_password: str) -> None:
    repo = make_repo({"app.yaml": "image: ghcr.io/acme/web:1.0.0\n"})
    env = flux_env(repo.http_url, BITBUCKET_ACCESS_TOKEN="<unset>", GIT_USERNAME="gituser",
                   GIT_PASSWORD=git_password, GIT_AUTHOR_NAME="Deploy Bot",
                   GIT_AUTHOR_EMAIL="deploy@example.com",
                   COMMIT_MESSAGE="deploy {image}:{tag} (was {old}) in {files} from {commit}")
    run = run_local("flux-bump", env, build_dir)
    assert run.code == 0, run.output
    assert repo.show("app.yaml") == b"image: ghcr.io/acme/web:2.0.0\n"
    assert repo.log("-1", "--format=%s|%an", "main") == [
        "deploy ghcr.io/acme/web:2.0.0 (was ghcr.io/acme/web:1.0.0) in app.yaml from "
        + "c0ffee" * 6 + "abcd|Deploy Bot"]


def test_ssh_push(make_repo: Callable[..., GitopsRepo], ssh_env: Callable[..., dict[str, str]],
                  build_dir: Path) -> None:
    repo = make_repo({"apps/web.yaml": "image: ghcr.io/acme/web:1.0.0 # {\"$imagepolicy\": \"f:web\"}\n"})
    run = run_local("flux-bump", ssh_env(repo, POLICY="f:web", TAG="3.1.4"), build_dir)
    assert run.code == 0, run.output
    assert repo.show("apps/web.yaml") == b"image: ghcr.io/acme/web:3.1.4 # {\"$imagepolicy\": \"f:web\"}\n"


def test_ssh_host_key_is_checked(make_repo: Callable[..., GitopsRepo],
                                 ssh_env: Callable[..., dict[str, str]], build_dir: Path,
                                 git_ssh: object) -> None:
    repo = make_repo({"a.yaml": "image: ghcr.io/acme/web:1.0.0\n"})
    port = git_ssh.port  # type: ignore[attr-defined]
    wrong = f"[127.0.0.1]:{port} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
    run = run_local("flux-bump", ssh_env(repo, KNOWN_HOSTS=wrong), build_dir)
    assert run.code == 1
    assert "KNOWN_HOSTS" in run.last_line() and "Traceback" not in run.output
    assert len(repo.log("main")) == 1


def test_bump_to_current_tag_makes_no_commit(make_repo: Callable[..., GitopsRepo],
                                             flux_env: Callable[..., dict[str, str]],
                                             build_dir: Path) -> None:
    repo = make_repo()
    assert run_local("flux-bump", flux_env(repo.http_url), build_dir).code == 0
    head = repo.head()
    again = run_local("flux-bump", flux_env(repo.http_url), build_dir)
    assert again.code == 0, again.output
    assert "already at 2.0.0" in again.last_line()
    assert repo.head() == head


def test_dry_run_changes_nothing_remote(make_repo: Callable[..., GitopsRepo],
                                        flux_env: Callable[..., dict[str, str]],
                                        build_dir: Path) -> None:
    repo = make_repo()
    head, branches = repo.head(), repo.branches()
    run = run_local("flux-bump", flux_env(repo.http_url, MODE="dry-run"), build_dir)
    assert run.code == 0, run.output
    assert "--- a/apps/web/deployment.yaml" in run.output
    assert "+          image: ghcr.io/acme/web:2.0.0" in run.output
    assert "Dry run" in run.last_line()
    assert repo.head() == head and repo.branches() == branches


def test_defaults_from_build_push_outputs(make_repo: Callable[..., GitopsRepo],
                                          flux_env: Callable[..., dict[str, str]],
                                          build_dir: Path) -> None:
    repo = make_repo({"k/kustomization.yaml": "images:\n- name: registry.example.com/acme/web\n  newTag: old\n"})
    digest = "sha256:" + "cd" * 32
    # written by build-push as Bitbucket runs it from an image of another namespace than ours
    own = build_dir / SHARED_STORAGE / "someones-mirror" / "build-push"
    handoff.write(StepContext.from_env({"BITBUCKET_PIPE_STORAGE_DIR": str(own)}), BuildPushOutputs(
        image="registry.example.com/acme/web", tags=("sha-1234567", "main"), digest=digest,
        ref=f"registry.example.com/acme/web@{digest}", skipped=False), "0.2.0")
    env = flux_env(repo.http_url, IMAGE="<unset>", TAG="<unset>", PIN_DIGEST="true")
    run = run_local("flux-bump", env, build_dir)
    assert run.code == 0, run.output
    assert repo.show("k/kustomization.yaml") == (
        f"images:\n- name: registry.example.com/acme/web\n  newTag: sha-1234567\n  digest: {digest}\n"
    ).encode()


def test_clone_fetches_little(make_repo: Callable[..., GitopsRepo],
                              flux_env: Callable[..., dict[str, str]], build_dir: Path,
                              git_http: GitHttpServer, tmp_path: Path) -> None:
    """Shallow, blob-filtered: a large non-YAML file and the history are not fetched, and only the
    files that can hold a reference are written to disk."""
    import os

    files: dict[str, bytes | str] = {"charts/web-1.0.0.tgz": os.urandom(3_000_000),
                                     "apps/web.yaml": "image: ghcr.io/acme/web:1.0.0\n"}
    files.update({f"apps/other{i}.yaml": f"image: ghcr.io/acme/other{i}:1.0.0\n" for i in range(50)})
    repo = make_repo(files)
    git_http.stats.reset()
    clone = tmp_path / "clone"
    run = run_local("flux-bump", flux_env(repo.http_url, CLONE_DIR=str(clone)), build_dir)
    assert run.code == 0, run.output
    fetched = sum(b for m, p, s, b in git_http.stats.requests if "upload-pack" in p)
    assert fetched < 100_000, fetched
    on_disk = sorted(p.relative_to(clone).as_posix() for p in clone.rglob("*")
                     if p.is_file() and ".git" not in p.parts)
    assert on_disk == ["apps/web.yaml"]
    assert repo.show("apps/other7.yaml") == b"image: ghcr.io/acme/other7:1.0.0\n"
    assert len(repo.show("charts/web-1.0.0.tgz")) == 3_000_000


def test_server_without_partial_clone(make_repo: Callable[..., GitopsRepo],
                                      flux_env: Callable[..., dict[str, str]], build_dir: Path,
                                      git_http_no_filter: GitHttpServer, tmp_path: Path) -> None:
    """A server that ignores ``--filter`` sends the shallow tip in full: the pipe says so and the
    bump works the same (the later blob fetch finds nothing missing)."""
    repo = make_repo({"apps/web.yaml": "image: ghcr.io/acme/web:1.0.0\n", "docs/big.bin": b"x" * 200_000})
    clone = tmp_path / "clone"
    url = git_http_no_filter.url(f"{repo.name}.git")
    run = run_local("flux-bump", flux_env(url, CLONE_DIR=str(clone)), build_dir)
    assert run.code == 0, run.output
    assert "does not support partial clone: fetched the shallow tip in full" in run.output
    assert repo.show("apps/web.yaml") == b"image: ghcr.io/acme/web:2.0.0\n"
    # the tip really came in full: the large blob is in the clone's object store
    big = subprocess.run(["git", "rev-parse", "HEAD~1:docs/big.bin"], cwd=clone, capture_output=True,
                         text=True, check=True).stdout.strip()
    local = subprocess.run(["git", "cat-file", "--batch-all-objects", "--batch-check=%(objectname)"],
                           cwd=clone, capture_output=True, text=True, check=True).stdout.split()
    assert big in local  # listed from the local store only: no lazy fetch of a promised object
