"""docs/examples/monorepo-pipelines.yml, executed as a team would copy it (testbed.pipelines_yaml,
each step in a fresh clone, the tf-apply image built from this tree): a pull request that changes
one shared module plans the two roots using it in one comment; after the merge the main branch
applies those two reviewed plans and skips the two roots the pull request did not change.  The
test changes only the pipe image, the repository variables' values and where the services are."""
from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from testbed.bitbucket_comments import open_pull_request
from testbed.bitbucket_commits import merged_pull_request
from testbed.bitbucket_stub import BitbucketStub
from testbed.fixtures import canary
from testbed.git_http import git
from testbed.pipelines_yaml import Pipeline
from testbed.pipes import REPO_ROOT, PipeHost
from testbed.s3 import MotoS3

EXAMPLE = REPO_ROOT / "docs" / "examples" / "monorepo-pipelines.yml"
PR = 12


def monorepo(path: Path) -> tuple[Path, str]:
    """The monorepo fixture with the example as its bitbucket-pipelines.yml, and a pull request
    branch that changes modules/net. Returns (repository, pull request commit)."""
    shutil.copytree(REPO_ROOT / "tests" / "fixtures" / "tf-apply" / "monorepo", path)
    shutil.copy(EXAMPLE, path / "bitbucket-pipelines.yml")
    git("init", "-q", "-b", "main", cwd=path)
    git("add", "-A", cwd=path)
    git("commit", "-q", "-m", "monorepo", cwd=path)
    git("checkout", "-q", "-b", "feature/net", cwd=path)
    module = path / "modules" / "net" / "main.tf"
    module.write_text(module.read_text() + "\n# a wider network\n")
    git("commit", "-q", "-am", "net", cwd=path)
    pr_commit = git("rev-parse", "HEAD", cwd=path).strip()
    git("checkout", "-q", "main", cwd=path)
    return path, pr_commit


def merge(path: Path) -> str:
    git("merge", "-q", "--no-ff", "-m", "Merge feature/net", "feature/net", cwd=path)
    return git("rev-parse", "HEAD", cwd=path).strip()


def test_the_monorepo_example_pipeline_runs(tmp_path: Path, pipe_image: Callable[[str], str],
                                            terraform_image: str, pipe_host: PipeHost,
                                            moto_s3: MotoS3, git_token: str,
                                            bitbucket_api: BitbucketStub) -> None:
    config: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    origin, pr_commit = monorepo(tmp_path / "repo")
    moto_s3.create_bucket("acme-terraform")
    open_pull_request(bitbucket_api.state.pullrequests, "acme/web", PR, source="feature/net")
    values = {"DIGITALOCEAN_ACCESS_TOKEN": canary("dop_v1_"), "SPACES_ACCESS_KEY_ID": canary("DO00"),
              "SPACES_SECRET_ACCESS_KEY": canary("mono-secret-"), "PR_ACCESS_TOKEN": git_token}
    testbed: dict[str, dict[str, str | list[str]]] = {
        "tf-apply": {"SPACES_ENDPOINT": moto_s3.url, "BITBUCKET_API_URL": bitbucket_api.url,
                     "CODE_INSIGHTS": "false"}}
    pipeline = Pipeline(config, origin, tmp_path / "agent", pipe_host,
                        {"tf-apply": pipe_image("tf-apply")}, values, extra=testbed)

    planned = pipeline.run("pull-requests", "**", commit=pr_commit, branch="feature/net",
                           pr_id=str(PR), destination="main")
    assert [s.ok for s in planned] == [True], planned[0].output()
    out = planned[0].output()
    assert "root infra/network runs: its module modules/net changed" in out
    assert "root apps/web/infra skipped" in out
    comments = [c["content"]["raw"] for c in bitbucket_api.state.comments.on("acme", "web", PR)]
    assert len(comments) == 1 and "### Terraform plan: 2 of 4 roots" in comments[0]

    merged = merge(origin)
    merged_pull_request(bitbucket_api.state.pullrequests, bitbucket_api.state.commit_links,
                        "acme/web", PR, [pr_commit], merged, source="feature/net")
    applied = pipeline.run("branches", "main", commit=merged, branch="main")
    assert [s.ok for s in applied] == [True], applied[0].output()
    out = applied[0].output()
    assert out.count(f"Applied the plan reviewed in pull request #{PR}") == 2
    assert "root apps/api/infra skipped: pull request #12 changed nothing it uses" in out
    env = (applied[0].build / ".do-pipes" / "tf-apply.env").read_text()
    assert "TF_APPLY_ROOTS='infra/cluster infra/network'" in env
    for secret in values.values():
        assert secret not in out
