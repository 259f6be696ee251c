"""The tf-apply test bed of the e2e tests on saved and reviewed plans: the pipe image run as
Bitbucket runs it, state in moto's S3, the Bitbucket stub holding pull requests, their comments
and the commit -> pull request links."""
from __future__ import annotations

import secrets as pysecrets
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from testbed.bitbucket_comments import open_pull_request
from testbed.bitbucket_commits import merged_pull_request
from testbed.bitbucket_stub import BitbucketState, BitbucketStub
from testbed.fixtures import canary
from testbed.leaks import assert_absent
from testbed.pipes import REPO_ROOT, PipeHost, PipeRun, bitbucket_env, pipe_command, run_pipe
from testbed.s3 import MotoS3

KEY = "web/infra/terraform.tfstate"


def sha() -> str:
    return pysecrets.token_hex(20)


@dataclass
class Bed:
    image: str
    build: Path
    bucket: str
    s3: MotoS3
    host: PipeHost
    api: BitbucketStub
    token: str
    secrets: tuple[str, ...]
    runs: list[PipeRun] = field(default_factory=list)

    def run(self, commit: str, branch: str, pr: int | None = None, **variables: str) -> PipeRun:
        step = bitbucket_env(self.build, commit=commit, branch=branch, pipe="tf-apply")
        if pr is not None:
            step["BITBUCKET_PR_ID"] = str(pr)
        given = {"SPACES_ACCESS_KEY_ID": self.secrets[0], "SPACES_SECRET_ACCESS_KEY": self.secrets[1],
                 "SPACES_BUCKET": self.bucket, "SPACES_ENDPOINT": self.s3.url, "WORKING_DIR": "infra",
                 "CODE_INSIGHTS": "false", "BITBUCKET_ACCESS_TOKEN": self.token,
                 "BITBUCKET_API_URL": self.api.url, "VARS_COUNT": "1",
                 "VARS_0": f"db_password={self.secrets[2]}"}
        given.update(variables)
        given = {k: v for k, v in given.items() if v != "<unset>"}
        result = run_pipe(pipe_command(f"docker://{self.image}", self.build, step, self.host,
                                       variables=given), timeout=300)
        self.runs.append(result)
        return result

    def plan_in_pr(self, pr: int, commit: str, **variables: str) -> PipeRun:
        open_pull_request(self.api.state.pullrequests, "acme/web", pr, source=f"feature-{pr}")
        result = self.run(commit, f"feature-{pr}", pr, MODE="plan", **variables)
        assert result.code == 0, result.output
        assert f"Stored as the plan of pull request #{pr} (commit {commit[:12]})" in result.output
        return result

    def merge(self, pr: int, commits: list[str]) -> str:
        merge = sha()
        merged_pull_request(self.api.state.pullrequests, self.api.state.commit_links, "acme/web",
                            pr, commits, merge, source=f"feature-{pr}")
        return merge

    def state_etag(self) -> str | None:
        try:
            return str(self.s3.client.head_object(Bucket=self.bucket, Key=KEY)["ETag"])
        except ClientError as err:  # only "no such object" means no state: anything else fails the test
            if err.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
                return None
            raise

    def no_leaks(self, *more: str) -> None:
        text = "\n".join(r.output for r in self.runs)
        text += "".join(c["content"]["raw"] for c in self.api.state.comments.comments)
        for secret in (self.token, *self.secrets, *more):
            assert_absent(secret, text=text, paths=[self.build])


@pytest.fixture()
def bed(request: pytest.FixtureRequest, tmp_path: Path, moto_s3: MotoS3, terraform_image: str,
        pipe_image: Callable[[str], str], pipe_host: PipeHost) -> Iterator[Bed]:
    """``@pytest.mark.parametrize("bed", ["<fixture config>"], indirect=True)`` picks another
    configuration than ``basic``."""
    image = pipe_image("tf-apply")  # after terraform_image: COPY --from needs the seeded tag
    build = tmp_path / "build"
    config = getattr(request, "param", "basic")
    shutil.copytree(REPO_ROOT / "tests" / "fixtures" / "tf-apply" / config, build / "infra")
    token = canary("bbtoken-rev-")
    with BitbucketStub(BitbucketState(tokens={token})) as api:
        yield Bed(image, build, moto_s3.create_bucket(f"e2e-{pysecrets.token_hex(6)}"), moto_s3,
                  pipe_host, api, token, (canary("DO00REV"), canary("rev-secret-"), canary("rev-pw-")))


def one_failure_line(run: PipeRun, *needles: str) -> str:
    assert run.code == 1, run.output
    fails = [line for line in run.output.splitlines() if "✖" in line]
    assert len(fails) == 1 and fails[0] == run.last_line(), run.output
    assert "Traceback" not in run.output, run.output
    for needle in needles:
        assert needle in fails[0], run.output
    return fails[0]


