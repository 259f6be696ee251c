"""WORKING_DIRS: a monorepo of four roots and two shared local modules (modules/net calls
modules/tags), run by one step of the pipe with real Terraform, moto's S3 and the Bitbucket stub:
which roots run and why, parallel roots with one failing, state keys, the one pull request
comment, apply after the merge root by root."""
from __future__ import annotations

import secrets as pysecrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from testbed.bitbucket_comments import open_pull_request
from testbed.bitbucket_commits import merged_pull_request
from testbed.bitbucket_stub import BitbucketState, BitbucketStub
from testbed.fixtures import canary
from testbed.pipes import PipeRun
from testbed.reports_stub import BitbucketReportsStub
from testbed.s3 import MotoS3

from .conftest import CONFIGS, Canaries, Stack, assert_failed_cleanly

ROOTS = ("apps/api/infra", "apps/web/infra", "infra/cluster", "infra/network")
GLOBS = "[infra/*, apps/*/infra, modules/**]"
PR = 7


def key(root: str) -> str:
    return f"web/{root}/terraform.tfstate"


def git(build: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "PATH": "/usr/bin:/bin", "HOME": str(build)}
    return subprocess.run(["git", "-C", str(build), *args], check=True, capture_output=True,
                          text=True, env=env).stdout.strip()


def commit_all(build: Path, message: str) -> str:
    git(build, "add", "-A")
    git(build, "commit", "-qm", message)
    return git(build, "rev-parse", "HEAD")


@pytest.fixture()
def mono(tmp_path: Path, moto_s3: MotoS3, canaries: Canaries) -> Stack:
    """The monorepo as a git clone with one commit on main."""
    build = tmp_path / f"build-{pysecrets.token_hex(3)}"
    shutil.copytree(CONFIGS / "monorepo", build)
    (build / ".gitignore").write_text(".do-pipes/\n.terraform/\n.terraform.d/\n.terraform.lock.hcl\n"
                                      "FAIL\n")
    git(build, "init", "-q", "-b", "main")
    base = commit_all(build, "monorepo")
    bucket = moto_s3.create_bucket(f"tfstate-{pysecrets.token_hex(6)}")
    return Stack(build, bucket, moto_s3, canaries, moto_s3.url, [], base)


def many(stack: Stack, **variables: str) -> PipeRun:
    return stack.run(WORKING_DIR="<unset>", WORKING_DIRS=GLOBS, VAR_FILES="[env.tfvars]",
                     **variables)


def pr_change(stack: Stack, path: str, text: str) -> tuple[str, str]:
    """A pull request branch with one commit changing ``path``: (destination, head)."""
    base = git(stack.build, "rev-parse", "HEAD")
    git(stack.build, "checkout", "-q", "-b", "feature")
    target = stack.build / path
    target.write_text(target.read_text() + text)
    head = commit_all(stack.build, f"change {path}")
    stack.commit = head
    return base, head


def pr_plan(stack: Stack, base: str, **more: str) -> PipeRun:
    return many(stack, MODE="plan", BITBUCKET_PR_ID=str(PR), BITBUCKET_BRANCH="feature",
                BITBUCKET_PR_DESTINATION_COMMIT=base, BITBUCKET_PR_DESTINATION_BRANCH="main",
                **more)


def planned(stack: Stack) -> set[str]:
    """The roots with a saved plan of the stack's commit."""
    objects = stack.objects()
    return {r for r in ROOTS
            if f"{key(r)}.plans/default/{stack.commit}/record.json" in objects}


def test_a_change_to_one_module_plans_exactly_the_roots_using_it(mono: Stack) -> None:
    base, _ = pr_change(mono, "modules/net/main.tf", "\n# a change\n")
    run = pr_plan(mono, base, COMMENT="false")
    assert run.code == 0, run.output
    assert planned(mono) == {"infra/cluster", "infra/network"}
    assert "root infra/network runs: its module modules/net changed (modules/net/main.tf)" \
        in run.output
    assert "root apps/web/infra skipped: nothing it uses changed" in run.output
    assert "root apps/api/infra skipped" in run.output
    # lines of the roots are prefixed with their root, whole
    assert any(line.startswith("[infra/cluster] ") for line in run.output.splitlines())
    assert mono.shared()["skipped_roots"] == ["apps/api/infra", "apps/web/infra"]
    mono.assert_no_leaks()


def test_a_change_to_a_module_used_through_another_follows_it(mono: Stack) -> None:
    base, _ = pr_change(mono, "modules/tags/main.tf", "\n# a change\n")
    run = pr_plan(mono, base, COMMENT="false")
    assert run.code == 0, run.output
    assert planned(mono) == {"apps/web/infra", "infra/cluster", "infra/network"}


def test_a_change_to_a_roots_var_file_plans_that_root(mono: Stack) -> None:
    base, _ = pr_change(mono, "apps/api/infra/env.tfvars", "# bigger soon\n")
    run = pr_plan(mono, base, COMMENT="false")
    assert run.code == 0, run.output
    assert planned(mono) == {"apps/api/infra"}


def test_a_shallow_clone_without_the_destination_plans_every_root_and_says_why(mono: Stack) -> None:
    """Bitbucket clones 50 commits deep: a pull request whose destination commit is older is not
    in the clone, and what changed cannot be told, so no root is skipped on a guess."""
    base, _ = pr_change(mono, "modules/net/main.tf", "\n# a change\n")
    clone = mono.build.with_name(mono.build.name + "-shallow")
    subprocess.run(["git", "clone", "-q", "--depth", "1", "--branch", "feature",
                    f"file://{mono.build}", str(clone)], check=True, capture_output=True)
    assert (clone / ".git" / "shallow").is_file()
    mono.build = clone
    run = pr_plan(mono, base, COMMENT="false")
    assert run.code == 0, run.output
    assert planned(mono) == set(ROOTS)
    assert (f"root infra/network runs: cannot tell what changed ({base} is not a commit, branch "
            "or tag of the clone)") in run.output
    assert "skipped" not in run.output


@pytest.fixture()
def api() -> Iterator[tuple[BitbucketStub, str]]:
    token = canary("bbtoken-")
    with BitbucketStub(BitbucketState(tokens={token})) as stub:
        open_pull_request(stub.state.pullrequests, "acme/web", PR)
        yield stub, token


def bb(api: tuple[BitbucketStub, str]) -> dict[str, str]:
    stub, token = api
    return {"BITBUCKET_ACCESS_TOKEN": token, "BITBUCKET_API_URL": stub.url}


def ours(api: tuple[BitbucketStub, str]) -> list[str]:
    raws = [c["content"]["raw"] for c in api[0].state.comments.on("acme", "web", PR)]
    return [r for r in raws if "[//]: # (tf-apply plan roots default)" in r.splitlines()]


def test_a_pull_request_touching_no_terraform_plans_nothing_and_says_so(
        mono: Stack, api: tuple[BitbucketStub, str]) -> None:
    base, _ = pr_change(mono, "README.md", "More words.\n")
    run = pr_plan(mono, base, **bb(api))
    assert run.code == 0, run.output
    assert planned(mono) == set()
    assert "No root changed: nothing to plan (4 roots skipped)" in run.last_line()
    comments = ours(api)
    assert len(comments) == 1 and "No root changed: nothing was planned" in comments[0]
    assert not any(name.endswith(".tfstate") for name in mono.objects())


def test_the_comment_of_a_four_root_plan(mono: Stack, api: tuple[BitbucketStub, str]) -> None:
    base, _ = pr_change(mono, "README.md", "More words.\n")
    run = pr_plan(mono, base, CHANGED_ONLY="true", **bb(api))
    assert run.code == 0
    run = pr_plan(mono, base, CHANGED_ONLY="false", **bb(api))
    assert run.code == 0, run.output
    assert planned(mono) == set(ROOTS)
    comments = ours(api)
    assert len(comments) == 1, comments  # the nothing-planned comment was updated, not added
    text = comments[0]
    assert "### Terraform plan: 4 of 4 roots (workspace `default`)" in text
    assert "| Root | Add | Change | Replace | Destroy | Drift |" in text
    assert "| `infra/network` | 3 | 0 | 0 | 0 | 0 |" in text
    assert "| `apps/api/infra` | 1 | 0 | 0 | 0 | 0 |" in text
    for root in ROOTS:
        assert f"#### `{root}`: " in text
        assert f"s3://{mono.bucket}/{key(root)}.plans/default/{mono.commit}/plan.json" in text
    assert text.count("Terraform will perform the following actions") == 4
    assert "cut here" not in text
    mono.assert_no_leaks()


def test_the_comment_of_a_plan_too_large_for_one_comment(
        mono: Stack, api: tuple[BitbucketStub, str]) -> None:
    base, _ = pr_change(mono, "README.md", "More words.\n")
    run = pr_plan(mono, base, CHANGED_ONLY="false", VARS="items=400", **bb(api))
    assert run.code == 0, run.output
    text = ours(api)[0]
    assert len(text) <= 32_000
    web = text.split("#### `apps/web/infra`", 1)[1].split("#### `", 1)[0]
    assert "The plan text was cut here" in web  # the largest section was cut ...
    assert "| `apps/web/infra` | 402 | 0 | 0 | 0 | 0 |" in text
    for root in ("apps/api/infra", "infra/cluster", "infra/network"):  # ... the others kept whole
        section = text.split(f"#### `{root}`", 1)[1].split("#### `", 1)[0]
        assert "cut here" not in section and "Plan: " in section, section


def test_one_root_failing_while_three_apply(mono: Stack) -> None:
    (mono.build / "apps/api/infra/FAIL").write_text("")
    run = many(mono, MODE="apply", PARALLELISM="4")
    assert_failed_cleanly(run, "1 of 4 roots failed: apps/api/infra")
    for root in ("apps/web/infra", "infra/cluster", "infra/network"):
        state = mono.state(key(root))
        assert state is not None and state["resources"], root
    assert "root infra/network: ok" in run.output
    handed = mono.shared()
    assert handed["roots"] == list(ROOTS)
    per_root = handed["root_values"]
    assert per_root["apps/api/infra"]["status"] == "failed"
    assert per_root["infra/network"]["status"] == "ok"
    assert per_root["infra/network"]["out_name"] == "network-1"
    env = (mono.build / ".do-pipes" / "tf-apply.env").read_text()
    assert "TF_APPLY_ROOTS='apps/api/infra apps/web/infra infra/cluster infra/network'" in env
    assert "TF_APPLY_INFRA_NETWORK_OUT_NAME=network-1" in env
    mono.assert_no_leaks()


def test_fail_fast_stops_the_roots_not_started(mono: Stack) -> None:
    (mono.build / "apps/api/infra/FAIL").write_text("")
    run = many(mono, MODE="apply", PARALLELISM="1", FAIL_FAST="true")
    assert_failed_cleanly(run, "apps/api/infra", "3 not started (FAIL_FAST)")
    assert all(mono.state(key(r)) is None for r in ROOTS if r != "apps/api/infra")


def test_two_roots_with_one_state_key_are_refused_before_anything_runs(mono: Stack) -> None:
    run = many(mono, MODE="apply", STATE_KEY_TEMPLATE="web/terraform.tfstate")
    assert_failed_cleanly(run, "STATE_KEY_TEMPLATE", "apps/api/infra", "apps/web/infra",
                          "web/terraform.tfstate")
    assert mono.objects() == {}
    assert not list(mono.build.rglob(".terraform*"))


def test_changed_only_on_main_runs_the_roots_changed_since_their_last_apply(mono: Stack) -> None:
    first = many(mono, MODE="apply")
    assert first.code == 0, first.output
    git(mono.build, "checkout", "-q", "-b", "next")
    target = mono.build / "modules/tags/main.tf"
    target.write_text(target.read_text() + "\n# changed\n")
    mono.commit = commit_all(mono.build, "change tags")
    again = many(mono, MODE="apply", CHANGED_ONLY="true")
    assert again.code == 0, again.output
    assert "root apps/api/infra skipped: nothing it uses changed since its last apply" in again.output
    assert "root infra/network runs: its module modules/tags changed" in again.output
    assert mono.shared()["roots"] == ["apps/web/infra", "infra/cluster", "infra/network"]


def test_apply_after_merge_with_one_roots_plan_missing(
        mono: Stack, api: tuple[BitbucketStub, str]) -> None:
    """Each root applies the plan reviewed for it; the root whose reviewed plan is missing is
    refused by name, and the others still apply."""
    stub, _ = api
    base, head = pr_change(mono, "README.md", "More words.\n")
    run = pr_plan(mono, base, CHANGED_ONLY="false", COMMENT="false", **bb(api))
    assert run.code == 0, run.output
    gone = f"{key('infra/cluster')}.plans/default/reviews/pr-{PR}.json"
    mono.s3.client.delete_object(Bucket=mono.bucket, Key=gone)
    merge = pysecrets.token_hex(20)
    merged_pull_request(stub.state.pullrequests, stub.state.commit_links, "acme/web", PR, [head],
                        merge)
    applied = many(mono, MODE="apply", REQUIRE_REVIEWED_PLAN="true", BITBUCKET_COMMIT=merge,
                   COMMENT="false", **bb(api))
    assert_failed_cleanly(applied, "1 of 4 roots failed: infra/cluster", "REQUIRE_REVIEWED_PLAN")
    assert "[infra/network] " in applied.output
    assert applied.output.count(f"Applied the plan reviewed in pull request #{PR}") == 3
    assert mono.state(key("infra/cluster")) is None
    for root in ("apps/api/infra", "apps/web/infra", "infra/network"):
        assert mono.state(key(root)) is not None
    mono.assert_no_leaks()


def test_a_code_insights_report_per_root_links_its_full_plan(
        mono: Stack, reports_stub: BitbucketReportsStub) -> None:
    run = many(mono, MODE="plan", CODE_INSIGHTS="true", BITBUCKET_API_PROXY=reports_stub.proxy_url)
    assert run.code == 0, run.output
    reports = {where[3]: report for where, report in reports_stub.state.reports.items()}
    assert set(reports) == {"tf-apply-apps-api-infra-default", "tf-apply-apps-web-infra-default",
                            "tf-apply-infra-cluster-default", "tf-apply-infra-network-default"}
    data = {d["title"]: d["value"] for d in reports["tf-apply-infra-network-default"]["data"]}
    assert data["Stored plan"] == (f"s3://{mono.bucket}/{key('infra/network')}.plans/default/"
                                   f"{mono.commit}/plan.json")
    assert f"{key('infra/network')}.plans/default/{mono.commit}/plan.json" in mono.objects()


def test_drift_over_many_roots_is_one_report_one_line_per_drifted_root(
        mono: Stack, reports_stub: BitbucketReportsStub) -> None:
    assert many(mono, MODE="apply").code == 0
    (mono.build / "apps/web/infra/env.tfvars").write_text("size = 2\n")
    (mono.build / "infra/cluster/env.tfvars").write_text("size = 3\n")
    run = many(mono, MODE="drift", CODE_INSIGHTS="true",
               BITBUCKET_API_PROXY=reports_stub.proxy_url)
    assert_failed_cleanly(run, "Drift in 2 of 4 roots: apps/web/infra, infra/cluster",
                          "FAIL_ON_DRIFT")
    lines = [line for line in run.output.splitlines() if "drift: " in line and "WARNING" in line]
    assert len(lines) == 2 and "apps/web/infra: 0 to create, 1 to update" in lines[0], lines
    (where, report), = reports_stub.state.reports.items()
    assert where[3] == "tf-apply-roots-default-drift"
    assert report["result"] == "FAILED"
    assert report["details"].startswith("Drift in 2 of 4 roots: apps/web/infra: ")


def test_apply_after_merge_skips_the_roots_the_pull_request_did_not_change(
        mono: Stack, api: tuple[BitbucketStub, str]) -> None:
    """The pull request's pipeline planned only the roots it changed (CHANGED_ONLY); after the
    merge those apply their reviewed plans, and the others are skipped as reviewed with nothing to
    plan, not refused."""
    stub, _ = api
    base, head = pr_change(mono, "modules/net/main.tf", "\n# a change\n")
    run = pr_plan(mono, base, COMMENT="false", **bb(api))
    assert run.code == 0, run.output
    merge = pysecrets.token_hex(20)
    merged_pull_request(stub.state.pullrequests, stub.state.commit_links, "acme/web", PR, [head],
                        merge)
    applied = many(mono, MODE="apply", REQUIRE_REVIEWED_PLAN="true", BITBUCKET_COMMIT=merge,
                   **bb(api))
    assert applied.code == 0, applied.output
    assert (f"root apps/web/infra skipped: pull request #{PR} changed nothing it uses (its last "
            f"push, commit {head[:12]}, planned nothing for it)") in applied.output
    assert applied.output.count(f"Applied the plan reviewed in pull request #{PR}") == 2
    assert {r for r in ROOTS if mono.state(key(r)) is not None} == {"infra/cluster", "infra/network"}
    assert "2 roots: apply done, 2 skipped" in applied.last_line()
