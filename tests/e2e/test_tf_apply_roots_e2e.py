"""tf-apply over many roots (WORKING_DIRS) as its image, exactly as Bitbucket runs it: the
monorepo applied in parallel, then a pull request that changes one shared module plans exactly the
roots that use it (git in the image, the clone owned by another user than the pipe's)."""
from __future__ import annotations

import secrets as pysecrets
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from testbed.fixtures import canary
from testbed.pipes import REPO_ROOT, PipeHost, PipeRun, bitbucket_env, pipe_command, read_handoff, run_pipe
from testbed.s3 import MotoS3

GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "PATH": "/usr/bin:/bin"}


def git(build: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(build), *args], check=True, capture_output=True,
                          text=True, env={**GIT_ENV, "HOME": str(build)}).stdout.strip()


def test_many_roots_in_the_image(tmp_path: Path, moto_s3: MotoS3, terraform_image: str,
                                 pipe_image: Callable[[str], str], pipe_host: PipeHost) -> None:
    image = pipe_image("tf-apply")
    build = tmp_path / "build"
    shutil.copytree(REPO_ROOT / "tests" / "fixtures" / "tf-apply" / "monorepo", build)
    (build / ".gitignore").write_text(".do-pipes/\n.terraform/\n.terraform.d/\n.terraform.lock.hcl\n")
    git(build, "init", "-q", "-b", "main")
    git(build, "add", "-A")
    git(build, "commit", "-qm", "monorepo")
    base = git(build, "rev-parse", "HEAD")
    bucket = moto_s3.create_bucket(f"e2e-{pysecrets.token_hex(6)}")
    keys = (canary("DO00E2E"), canary("e2e-secret-"))

    def run(commit: str, **variables: str) -> PipeRun:
        step = bitbucket_env(build, commit=commit, branch="main")
        given = {"SPACES_ACCESS_KEY_ID": keys[0], "SPACES_SECRET_ACCESS_KEY": keys[1],
                 "SPACES_BUCKET": bucket, "SPACES_ENDPOINT": moto_s3.url, "CODE_INSIGHTS": "false",
                 "WORKING_DIRS_COUNT": "2", "WORKING_DIRS_0": "infra/*",
                 "WORKING_DIRS_1": "apps/*/infra", "PARALLELISM": "2"}
        given.update(variables)
        return run_pipe(pipe_command(f"docker://{image}", build, step, pipe_host, variables=given),
                        timeout=600)

    applied = run(base, MODE="apply")
    assert applied.code == 0, applied.output
    assert "4 roots: apply done" in applied.last_line()
    assert any(line.startswith("[infra/cluster] ") for line in applied.output.splitlines())
    outs = read_handoff(build, "tf-apply", "tf-apply-outputs.json")
    assert outs["roots"]["infra/network"]["outputs"] == {"name": "network-1"}

    git(build, "checkout", "-q", "-b", "feature")
    module = build / "modules/net/main.tf"
    module.write_text(module.read_text() + "\n# a change\n")
    git(build, "commit", "-qam", "change net")
    head = git(build, "rev-parse", "HEAD")
    planned = run(head, MODE="plan", BITBUCKET_PR_ID="3", BITBUCKET_PR_DESTINATION_COMMIT=base[:12],
                  COMMENT="false")
    assert planned.code == 0, planned.output
    assert "root infra/network runs: its module modules/net changed" in planned.output
    assert "root apps/web/infra skipped" in planned.output
    assert "2 roots: plan done, 2 skipped" in planned.last_line()
    for secret in keys:
        assert secret not in applied.output + planned.output
