"""The pull request comment's Markdown: what a reviewer needs first, and always small enough."""
from __future__ import annotations

from tf_apply import prcomment
from tf_apply.summary import Summary

WHERE = prcomment.Where(working_dir="infra/prod", workspace="staging", commit="a" * 40,
                        build_url="https://bitbucket.org/acme/web/pipelines/results/42",
                        plan_id="p1", plan_location="s3://states/web.plans/staging/p1/plan.json",
                        report_id="tf-apply-infra-prod-staging")


def _summary() -> Summary:
    return Summary([("aws_a.one", "create"), ("aws_b.two", "replace"), ("aws_c.three", "delete")])


def test_replacements_first_then_resources_outputs_and_marker_last() -> None:
    text = prcomment.body(_summary(), [("url", "update")], "  # plan text", WHERE)
    lines = text.splitlines()
    assert lines[-1] == "[//]: # (tf-apply plan infra%2Fprod staging)"
    replace_at = next(i for i, line in enumerate(lines) if "to replace (destroyed" in line)
    table_at = lines.index("| Action | Resource |")
    assert replace_at < table_at
    assert lines[table_at + 2] == "| `-/+` replace | `aws_b.two` |"
    assert "`url` (update)" in text
    assert "s3://states/web.plans/staging/p1/plan.json" in text


def test_long_plan_cut_to_the_limit_with_a_pointer() -> None:
    plan = "\n".join(f"  + resource line {n}" for n in range(20_000))
    text = prcomment.body(_summary(), [], plan, WHERE)
    assert len(text) <= prcomment.MAX_CHARS
    assert "The plan text was cut here" in text and "tf-apply-infra-prod-staging" in text
    assert text.splitlines()[-1].startswith("[//]: # (tf-apply plan")
    short = prcomment.body(_summary(), [], "  + one", WHERE)
    assert "cut here" not in short


def test_backticks_in_the_plan_cannot_close_the_code_block() -> None:
    text = prcomment.body(_summary(), [], 'x = "```"\n', WHERE)
    assert "````text" in text and text.count("````") == 2


def test_marker_per_working_dir_and_workspace() -> None:
    marks = {prcomment.marker(d, w) for d in ("a", "b") for w in ("default", "prod")}
    assert len(marks) == 4
    assert prcomment.has_marker("hello\n" + prcomment.marker("a", "prod"), prcomment.marker("a", "prod"))
    assert not prcomment.has_marker(prcomment.marker("a", "prod"), prcomment.marker("a", "default"))
