"""Apply exactly what was reviewed, through the pipe image as Bitbucket runs it: the plan of a
pull request's last commit stored with its id, the apply after the merge finding that pull request
through the Bitbucket API (the stub's commit -> pull requests links), planning again and applying
only when the plan is the reviewed one."""
from __future__ import annotations

import secrets as pysecrets
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from testbed.bitbucket_comments import open_pull_request
from testbed.bitbucket_commits import merged_pull_request
from testbed.bitbucket_stub import BitbucketState, BitbucketStub
from testbed.fixtures import canary
from testbed.leaks import assert_absent
from testbed.pipes import REPO_ROOT, PipeHost, PipeRun, bitbucket_env, pipe_command, read_handoff, run_pipe
from testbed.s3 import MotoS3

KEY = "web/infra/terraform.tfstate"
REFUSED = "[//]: # (tf-apply refused infra default)"


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
        except Exception:
            return None

    def no_leaks(self, *more: str) -> None:
        text = "\n".join(r.output for r in self.runs)
        text += "".join(c["content"]["raw"] for c in self.api.state.comments.comments)
        for secret in (self.token, *self.secrets, *more):
            assert_absent(secret, text=text, paths=[self.build])


@pytest.fixture()
def bed(tmp_path: Path, moto_s3: MotoS3, terraform_image: str, pipe_image: Callable[[str], str],
        pipe_host: PipeHost) -> Iterator[Bed]:
    image = pipe_image("tf-apply")  # after terraform_image: COPY --from needs the seeded tag
    build = tmp_path / "build"
    shutil.copytree(REPO_ROOT / "tests" / "fixtures" / "tf-apply" / "basic", build / "infra")
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


def test_apply_after_merge_matches_then_another_merge_changes_the_plan(bed: Bed) -> None:
    c1, c2 = sha(), sha()
    bed.plan_in_pr(1, sha(), VARS_COUNT="2", VARS_1="size=5")  # an older push of PR 1
    bed.plan_in_pr(1, c1, VARS_COUNT="2", VARS_1="size=2")     # its last push: what was reviewed
    bed.plan_in_pr(2, c2, VARS_COUNT="2", VARS_1="name=other")

    # PR 2 merged first: its apply finds it, plans again, the plan is the reviewed one
    m2 = bed.merge(2, [c2])
    applied = bed.run(m2, "main", MODE="apply", REQUIRE_REVIEWED_PLAN="true",
                      VARS_COUNT="2", VARS_1="name=other")
    assert applied.code == 0, applied.output
    assert f"matches the plan reviewed in pull request #2 (commit {c2[:12]}" in applied.output
    assert f"Applied the plan reviewed in pull request #2 (commit {c2[:12]}): 2 to create" \
        in applied.last_line(), applied.output
    handed = read_handoff(bed.build, "tf-apply")
    assert (handed["applied"], handed["reviewed_pr"], handed["create"]) == (True, 2, 2)
    assert "refused" not in handed
    etag = bed.state_etag()
    assert etag is not None
    assert any(f"/commit/{m2}/pullrequests" in path for path in bed.api.state.commit_links.requests)

    # PR 1 merged after: the infrastructure changed since its plan was reviewed
    m1 = bed.merge(1, [c1])
    refused = bed.run(m1, "main", MODE="apply", VARS_COUNT="3", VARS_1="name=other",
                      VARS_2="size=2")
    line = one_failure_line(refused, "plan-changed", "pull request #1", c1[:12])
    assert line.split("✖", 1)[1].strip().startswith("plan-changed:"), line
    assert "plan-changed: terraform_data.app: reviewed create, now update" in refused.output \
        or "plan-changed: terraform_data.app" in refused.output, refused.output
    assert bed.state_etag() == etag  # state untouched
    handed = read_handoff(bed.build, "tf-apply")
    assert (handed["applied"], handed["refused"], handed["reviewed_pr"]) == (False, "plan-changed", 1)
    (comment,) = [c for c in bed.api.state.comments.on("acme", "web", 1)
                  if REFUSED in c["content"]["raw"].splitlines()]
    assert "plan-changed" in comment["content"]["raw"] and m1[:12] in comment["content"]["raw"]

    # a re-run of PR 2's apply after it succeeded: a no-op that says so
    again = bed.run(m2, "main", MODE="apply", VARS_COUNT="2", VARS_1="name=other")
    assert again.code == 0, again.output
    assert "was already applied" in again.last_line() and "nothing to do" in again.last_line()
    assert bed.state_etag() == etag
    assert read_handoff(bed.build, "tf-apply")["applied"] is False
    bed.no_leaks()


def test_no_reviewed_plan_and_every_api_failure_is_one_line(bed: Bed) -> None:
    open_pull_request(bed.api.state.pullrequests, "acme/web", 9)  # the repository has pull requests
    lone = sha()
    required = bed.run(lone, "main", MODE="apply", REQUIRE_REVIEWED_PLAN="true")
    one_failure_line(required, "REQUIRE_REVIEWED_PLAN", "no reviewed plan", lone[:12],
                     "not the merge of a pull request into main")
    assert bed.state_etag() is None
    assert read_handoff(bed.build, "tf-apply")["refused"] == "no-reviewed-plan"

    wrong = canary("bbwrong-")
    one_failure_line(bed.run(lone, "main", MODE="apply", BITBUCKET_ACCESS_TOKEN=wrong),
                     "BITBUCKET_ACCESS_TOKEN", "(401)")
    reader = canary("bbnoscope-")
    bed.api.state.tokens.add(reader)
    bed.api.state.commit_links.no_read.add(reader)
    one_failure_line(bed.run(lone, "main", MODE="apply", BITBUCKET_ACCESS_TOKEN=reader),
                     "BITBUCKET_ACCESS_TOKEN", "(403)", "scope")
    bed.api.state.commit_links.indexed = False
    one_failure_line(bed.run(lone, "main", MODE="apply"), "BITBUCKET_ACCESS_TOKEN", "(404)",
                     "Go to pull request", "PLAN_ID")
    bed.api.state.commit_links.indexed = True

    # rate limited once (Retry-After honoured by the retry), then answered
    bed.api.state.commit_links.requests.clear()
    bed.api.state.commit_links.faults.append((429, {"Retry-After": "1"}))
    limited = bed.run(lone, "main", MODE="apply", REQUIRE_REVIEWED_PLAN="true")
    one_failure_line(limited, "REQUIRE_REVIEWED_PLAN", "not the merge of a pull request")
    assert len(bed.api.state.commit_links.requests) == 2
    # rate limited throughout: one line, nothing applied
    bed.api.state.commit_links.faults += [(429, {"Retry-After": "1"})] * 6
    one_failure_line(bed.run(lone, "main", MODE="apply"), "could not look up", "429",
                     "run the step again")
    bed.api.state.commit_links.faults.clear()
    assert bed.state_etag() is None

    # REQUIRE_REVIEWED_PLAN false (the default): applied as today, and said so
    plain = bed.run(lone, "main", MODE="apply", BITBUCKET_ACCESS_TOKEN="<unset>")
    assert plain.code == 0, plain.output
    assert "No reviewed plan (BITBUCKET_ACCESS_TOKEN is not set" in plain.output
    assert "REQUIRE_REVIEWED_PLAN is false" in plain.output
    assert read_handoff(bed.build, "tf-apply")["applied"] is True
    bed.no_leaks(wrong, reader)
