"""Apply exactly what was reviewed, through the pipe image as Bitbucket runs it: the plan of a
pull request's last commit stored with its id, the apply after the merge finding that pull request
through the Bitbucket API (the stub's commit -> pull requests links), planning again and applying
only when the plan is the reviewed one."""
from __future__ import annotations

from testbed.bitbucket_comments import open_pull_request
from testbed.fixtures import canary
from testbed.pipes import read_handoff

from .tf_apply_bed import Bed, bed, one_failure_line, sha

__all__ = ["bed"]  # the fixture

REFUSED = "[//]: # (tf-apply refused infra default)"


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
    assert "plan-changed: terraform_data.app: reviewed create, now update" in refused.output, refused.output
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
                     "not the merge of a pull request into main", "direct push",
                     "Pull Request Commit Links app", "'Go to pull request' once")
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
                     "Pull Request Commit Links app", "Go to pull request", "PLAN_ID")
    bed.api.state.commit_links.indexed = True

    # rate limited once (no Retry-After: the first retry goes at once), then answered; the waits
    # of Retry-After and a lookup rate-limited throughout are tested with the pipe in-process,
    # where the waits are recorded instead of slept (integration/tf_apply/test_reviewed_rate_limit.py)
    bed.api.state.commit_links.requests.clear()
    bed.api.state.commit_links.faults.append((429, {}))
    limited = bed.run(lone, "main", MODE="apply", REQUIRE_REVIEWED_PLAN="true")
    one_failure_line(limited, "REQUIRE_REVIEWED_PLAN", "not the merge of a pull request")
    assert len(bed.api.state.commit_links.requests) == 2
    assert bed.state_etag() is None

    # REQUIRE_REVIEWED_PLAN false (the default): applied as today, and said so
    plain = bed.run(lone, "main", MODE="apply", BITBUCKET_ACCESS_TOKEN="<unset>")
    assert plain.code == 0, plain.output
    assert "No reviewed plan (BITBUCKET_ACCESS_TOKEN is not set" in plain.output
    assert "REQUIRE_REVIEWED_PLAN is false" in plain.output
    assert read_handoff(bed.build, "tf-apply")["applied"] is True
    bed.no_leaks(wrong, reader)
