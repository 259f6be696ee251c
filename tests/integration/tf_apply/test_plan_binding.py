"""Who may apply a saved plan: the commit, branch and pull request that made it (a pull-request
pipeline planning under main's PLAN_ID does not get its configuration applied by main), and with
PLAN_SIGNING_KEY only a record signed with it (a step that can write the Space but lacks the key
cannot forge one). Real terraform, moto's S3, the Bitbucket stub for the reviewed-plan flow."""
from __future__ import annotations

import hashlib
import json
import secrets as pysecrets
from collections.abc import Iterator

import pytest
from testbed.bitbucket_comments import open_pull_request
from testbed.bitbucket_commits import merged_pull_request
from testbed.bitbucket_stub import BitbucketState, BitbucketStub
from testbed.fixtures import canary
from testbed.leaks import assert_absent

from .conftest import Stack, assert_failed_cleanly

KEY = "web/infra/terraform.tfstate"
PLANS = f"{KEY}.plans/default"
EVIL = 'resource "terraform_data" "evil" {\n  input = "from a pull request"\n}\n'


def sha() -> str:
    return pysecrets.token_hex(20)


def _pr_plan(stack: Stack, plan_id: str, pr: int, commit: str, **more: str) -> None:
    """A pull request's pipeline with a configuration nobody reviewed for main, planning under
    ``plan_id``."""
    evil = stack.build / "infra" / "evil.tf"
    evil.write_text(EVIL)
    try:
        run = stack.run(MODE="plan", PLAN_ID=plan_id, BITBUCKET_COMMIT=commit,
                        BITBUCKET_BRANCH=f"feature-{pr}", BITBUCKET_PR_ID=str(pr), **more)
    finally:
        evil.unlink()
    assert run.code == 0, run.output


def _resources(stack: Stack) -> set[str]:
    state = stack.state(KEY) or {}
    return {r["name"] for r in state.get("resources", [])}


def test_pr_plan_under_mains_plan_id_is_refused_at_apply(stack: Stack) -> None:
    main = stack.commit
    assert stack.run(MODE="plan", PLAN_ID=main).code == 0  # main's plan step
    pr_commit = sha()
    _pr_plan(stack, main, 7, pr_commit, COMMENT="false")  # replaces it: the next generation

    refused = stack.run(MODE="apply", PLAN_ID=main)  # main's deploy step
    assert_failed_cleanly(refused, "PLAN_ID", f"made by commit {pr_commit[:12]}",
                          "on branch feature-7", "pull request #7", f"commit {main[:12]}",
                          "Nothing was applied")
    assert stack.state(KEY) is None
    assert f"{PLANS}/{main}/applied-2.json" not in stack.objects()

    # main plans again (its own plan, the next generation) and applies what it reviewed
    assert stack.run(MODE="plan", PLAN_ID=main).code == 0
    applied = stack.run(MODE="apply", PLAN_ID=main)
    assert applied.code == 0, applied.output
    assert _resources(stack) == {"app", "db"}
    stack.assert_no_leaks()


def test_forged_record_without_the_key_is_refused(stack: Stack) -> None:
    key = canary("plan-signing-key-")
    main = stack.commit
    planned = stack.run(MODE="plan", PLAN_SIGNING_KEY=key)
    assert planned.code == 0, planned.output
    assert "signed with PLAN_SIGNING_KEY" in planned.output
    record = json.loads(stack.objects()[f"{PLANS}/{main}/record.json"])
    assert len(record["signature"]) == 64 and record["branch"] == "main"

    # a step that can write the Space but does not hold the key, pretending to be main's
    # commit and branch: its record is unsigned
    evil = stack.build / "infra" / "evil.tf"
    evil.write_text(EVIL)
    forged = stack.run(MODE="plan", PLAN_ID=main)
    evil.unlink()
    assert forged.code == 0, forged.output
    evil_plan = stack.objects()[f"{PLANS}/{main}/plan.tfplan"]
    refused = stack.run(MODE="apply", PLAN_ID=main, PLAN_SIGNING_KEY=key)
    assert_failed_cleanly(refused, "PLAN_SIGNING_KEY", "is not signed", f"commit {main[:12]}")
    assert stack.state(KEY) is None

    # the genuine plan again, then its record edited to name the other plan file (signature kept)
    assert stack.run(MODE="plan", PLAN_SIGNING_KEY=key).code == 0
    signed = json.loads(stack.objects()[f"{PLANS}/{main}/record.json"])
    signed["sha256"] = hashlib.sha256(evil_plan).hexdigest()
    stack.s3.client.put_object(Bucket=stack.bucket, Key=f"{PLANS}/{main}/plan.tfplan", Body=evil_plan)
    stack.s3.client.put_object(Bucket=stack.bucket, Key=f"{PLANS}/{main}/record.json",
                               Body=json.dumps(signed).encode())
    refused = stack.run(MODE="apply", PLAN_ID=main, PLAN_SIGNING_KEY=key)
    assert_failed_cleanly(refused, "PLAN_SIGNING_KEY", "does not verify")
    assert stack.state(KEY) is None

    # the genuine flow: planned and applied with the key
    assert stack.run(MODE="plan", PLAN_SIGNING_KEY=key).code == 0
    applied = stack.run(MODE="apply", PLAN_ID=main, PLAN_SIGNING_KEY=key)
    assert applied.code == 0, applied.output
    assert _resources(stack) == {"app", "db"}
    for run in stack.runs:
        assert_absent(key, text=run.output)
    assert_absent(key, paths=[stack.build])
    for body in stack.objects().values():
        assert_absent(key, text=body.decode("latin-1"))
    stack.assert_no_leaks()


@pytest.fixture()
def api() -> Iterator[tuple[BitbucketStub, str]]:
    token = canary("bbtoken-")
    with BitbucketStub(BitbucketState(tokens={token})) as stub:
        yield stub, token


def test_pr_plan_under_another_prs_plan_id_is_not_its_reviewed_plan(
        stack: Stack, api: tuple[BitbucketStub, str]) -> None:
    """Pull request 7's pipeline plans under the plan id of pull request 5's last push: after 5
    is merged, its reviewed plan is not found (the stored plan was made by 7), and
    REQUIRE_REVIEWED_PLAN refuses, naming who made it."""
    stub, token = api
    bb = {"BITBUCKET_ACCESS_TOKEN": token, "BITBUCKET_API_URL": stub.url, "COMMENT": "false"}
    c5, c7, m5 = sha(), sha(), sha()
    open_pull_request(stub.state.pullrequests, "acme/web", 5, source="feature-5")
    open_pull_request(stub.state.pullrequests, "acme/web", 7, source="feature-7")
    five = stack.run(MODE="plan", BITBUCKET_COMMIT=c5, BITBUCKET_BRANCH="feature-5",
                     BITBUCKET_PR_ID="5", **bb)
    assert five.code == 0, five.output
    _pr_plan(stack, c5, 7, c7, **bb)
    merged_pull_request(stub.state.pullrequests, stub.state.commit_links, "acme/web", 5, [c5], m5,
                        source="feature-5")
    refused = stack.run(MODE="apply", REQUIRE_REVIEWED_PLAN="true", BITBUCKET_COMMIT=m5, **bb)
    assert_failed_cleanly(refused, "REQUIRE_REVIEWED_PLAN", "pull request #7",
                          f"commit {c7[:12]}")
    assert stack.state(KEY) is None
    stack.assert_no_leaks()
