"""Signed commits (issue 14 §5): SIGNING_KEY, an SSH key; the signature verified by git itself
against an allowed-signers file; the key never in the output, the history or a file left behind."""
from __future__ import annotations

import base64
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from testbed import leaks
from testbed.bitbucket_stub import BitbucketStub
from testbed.pipes import run_local

from .conftest import GitopsRepo, fail_lines, move_main_once

FILES = {"apps/web.yaml": "image: ghcr.io/acme/web:1.0.0\n"}
EMAIL = "flux-bump@noreply.bitbucket.org"


def keypair(folder: Path, name: str, passphrase: str = "") -> tuple[str, str]:
    """(private key text, public key line) of a new ed25519 key."""
    path = folder / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-C", "", "-f",
                    str(path)], check=True)
    return path.read_text(), (folder / f"{name}.pub").read_text().strip()


def verify(repo: GitopsRepo, ref: str, public: str, folder: Path) -> subprocess.CompletedProcess[str]:
    signers = folder / "allowed_signers"
    signers.write_text(f'{EMAIL} namespaces="git" {public}\n')
    return subprocess.run(["git", "-c", f"gpg.ssh.allowedSignersFile={signers}", "verify-commit",
                           "-v", ref], cwd=repo.path, capture_output=True, text=True, check=False)


def test_commits_are_signed_and_verify(make_repo: Callable[..., GitopsRepo],
                                       flux_env: Callable[..., dict[str, str]], build_dir: Path,
                                       tmp_path: Path, pr_api: BitbucketStub) -> None:
    repo = make_repo(FILES)
    key, public = keypair(tmp_path, "signing")
    _, other = keypair(tmp_path, "other")
    encoded = base64.b64encode(key.encode()).decode()
    clone = tmp_path / "clone"
    run = run_local("flux-bump", flux_env(repo.http_url, SIGNING_KEY=encoded, DEBUG="true",
                                          CLONE_DIR=str(clone)), build_dir)
    assert run.code == 0, run.output
    good = verify(repo, "main", public, tmp_path)
    assert good.returncode == 0, good.stderr
    assert f'Good "git" signature for {EMAIL} with ED25519 key' in good.stderr
    assert verify(repo, "main", other, tmp_path).returncode != 0  # another key does not verify
    assert verify(repo, "main~1", public, tmp_path).returncode != 0  # the unsigned first commit

    # the key in plain text works too, and the pull-request commit is signed as well
    run2 = run_local("flux-bump", flux_env(repo.http_url, SIGNING_KEY=key, TAG="3.0.0",
                                           MODE="pull-request", BITBUCKET_API_URL=pr_api.url),
                     build_dir)
    assert run2.code == 0, run2.output
    [pr] = pr_api.state.pullrequests
    assert verify(repo, pr["source"]["branch"]["name"], public, tmp_path).returncode == 0

    history = subprocess.run(["git", "log", "-p", "--all"], cwd=repo.path, capture_output=True,
                             text=True, check=True).stdout
    for secret in (key, encoded, key.split("\n")[1]):
        leaks.assert_absent(secret, text=run.output + run2.output + history,
                            paths=[build_dir, repo.path, clone])
    assert not (clone / ".git" / "config").read_text().count("signing")


@pytest.mark.parametrize(("value", "needle"), [
    ("not a key at all", "SIGNING_KEY is not an SSH private key"),
    ("-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n",
     "SIGNING_KEY cannot be used to sign"),
    ("A" * 20_000, "SIGNING_KEY is longer than 16384 characters"),
    ("<passphrase>", "SIGNING_KEY cannot be used to sign (protected by a passphrase"),
])
def test_bad_signing_key_is_one_line(make_repo: Callable[..., GitopsRepo],
                                     flux_env: Callable[..., dict[str, str]], build_dir: Path,
                                     tmp_path: Path, value: str, needle: str) -> None:
    repo = make_repo(FILES)
    head = repo.head()
    if value == "<passphrase>":
        value, _ = keypair(tmp_path, "locked", passphrase="correct horse")
    run = run_local("flux-bump", flux_env(repo.http_url, SIGNING_KEY=value), build_dir)
    assert run.code == 1, run.output
    assert "Traceback" not in run.output
    assert fail_lines(run.output) == [run.last_line()], run.output
    assert needle in run.last_line()
    leaks.assert_absent(value, text=run.output, paths=[build_dir])
    assert repo.head() == head


def test_the_commit_replayed_after_a_race_is_signed(make_repo: Callable[..., GitopsRepo],
                                                    flux_env: Callable[..., dict[str, str]],
                                                    build_dir: Path, tmp_path: Path) -> None:
    repo = make_repo(FILES)
    move_main_once(repo)
    key, public = keypair(tmp_path, "signing")
    run = run_local("flux-bump", flux_env(repo.http_url, SIGNING_KEY=key, DEBUG="true"), build_dir)
    assert run.code == 0, run.output
    assert "Replayed the edit" in run.output  # the commit-tree path, not a new commit
    assert [line.split(" ", 2)[-1] for line in repo.log("main")][:2] == [
        "Bump ghcr.io/acme/web to 2.0.0", "someone else pushed"]
    assert verify(repo, "main", public, tmp_path).returncode == 0
