"""Who may apply a saved plan, through the pipe image as Bitbucket runs it: a pull request's
pipeline planning under main's PLAN_ID (its own commit and branch, without PLAN_SIGNING_KEY)
does not get its configuration applied by main's deploy step; main's own signed plan is."""
from __future__ import annotations

from testbed.fixtures import canary

from .tf_apply_bed import Bed, bed, one_failure_line, sha

__all__ = ["bed"]  # the fixture

EVIL = 'resource "terraform_data" "evil" {\n  input = "from a pull request"\n}\n'


def test_pr_plan_under_mains_plan_id_is_refused_at_apply(bed: Bed) -> None:
    main, pr_commit, key = sha(), sha(), canary("plan-signing-key-")
    signed = bed.run(main, "main", MODE="plan", PLAN_ID=main, PLAN_SIGNING_KEY=key, COMMENT="false")
    assert signed.code == 0 and "signed with PLAN_SIGNING_KEY" in signed.output, signed.output

    evil = bed.build / "infra" / "evil.tf"
    evil.write_text(EVIL)
    attack = bed.run(pr_commit, "feature-7", 7, MODE="plan", PLAN_ID=main, COMMENT="false")
    evil.unlink()
    assert attack.code == 0 and "generation 2" in attack.output, attack.output

    # main's deploy step with the key: the record is not signed
    one_failure_line(bed.run(main, "main", MODE="apply", PLAN_ID=main, PLAN_SIGNING_KEY=key),
                     "PLAN_SIGNING_KEY", "is not signed", pr_commit[:12], "feature-7")
    # and without the key: made by another commit, branch and pull request
    one_failure_line(bed.run(main, "main", MODE="apply", PLAN_ID=main),
                     "PLAN_ID", f"made by commit {pr_commit[:12]} on branch feature-7",
                     "pull request #7", "Nothing was applied")
    assert bed.state_etag() is None

    again = bed.run(main, "main", MODE="plan", PLAN_ID=main, PLAN_SIGNING_KEY=key, COMMENT="false")
    assert again.code == 0, again.output
    applied = bed.run(main, "main", MODE="apply", PLAN_ID=main, PLAN_SIGNING_KEY=key)
    assert applied.code == 0 and f"Applied saved plan {main}" in applied.last_line(), applied.output
    assert bed.state_etag() is not None
    bed.no_leaks(key)
