"""many: the one comment of many roots (largest plan texts cut first, under Bitbucket's limit),
which roots a change runs, and lines of parallel roots never mixed."""
from __future__ import annotations

import io
import threading
from pathlib import Path

from tf_apply import affected, prcomment, roots
from tf_apply.many import RootLines
from tf_apply.summary import Summary


def section(root: str, lines: int) -> prcomment.Section:
    where = prcomment.Where(working_dir=root, workspace="default", commit="c" * 40,
                            build_url=None, plan_id="p", plan_location=f"s3://b/{root}/plan.json",
                            report_id=None)
    text = "\n".join(f"  # {root} line {n} " + "x" * 60 for n in range(lines))
    return prcomment.Section(where, Summary([(f"terraform_data.{root}", "create")]), [], text)


def test_the_largest_sections_are_cut_first_and_the_comment_fits() -> None:
    sections = [section("big", 2000), section("mid", 300), section("small", 10)]
    text = prcomment.many_body(sections, [("other", "skipped")], {}, "default", "c" * 40, None)
    assert len(text) <= prcomment.MAX_CHARS
    big = text.split("#### `big`", 1)[1].split("#### `", 1)[0]
    small = text.split("#### `small`", 1)[1]
    assert "The plan text was cut here" in big and "s3://b/big/plan.json" in big
    assert "line 9 " in small and "cut here" not in small
    assert text.splitlines()[-1] == prcomment.many_marker("default")
    assert "**Not planned** (nothing they use changed): `other`" in text


def test_caps_keep_small_texts_whole() -> None:
    assert prcomment._caps([10, 50, 1000], 200) == [10, 50, 140]
    assert prcomment._caps([10, 20], 100) == [10, 20]


def test_decisions_name_why() -> None:
    root = roots.Root("infra/network", ("modules/net",), True)
    assert affected.decide(root, {"modules/net/main.tf"}, [], "in pull request #7").why == \
        "runs: its module modules/net changed (modules/net/main.tf) in pull request #7"
    assert not affected.decide(root, {"README.md"}, [], "since x").runs
    assert affected.decide(root, "git is not installed", [], "since x").runs
    assert affected.decide(roots.Root("r", (), False), set(), [], "since x").runs
    assert affected.decide(root, {"envs/prod.tfvars"}, ["envs/prod.tfvars"], "x").runs


def test_changed_files_says_why_the_clone_cannot_tell(tmp_path: Path) -> None:
    why = affected.changed_files(tmp_path, "0" * 40, "HEAD")
    assert isinstance(why, str) and "no git repository" in why


def test_lines_of_parallel_roots_are_whole_and_prefixed() -> None:
    out = io.StringIO()
    lines = RootLines(out)

    def root(name: str) -> None:
        lines.prefix(f"[{name}] ")
        for n in range(200):
            lines.write(f"{name} part one, ")
            lines.write(f"part two {n}\n")
        lines.write("last words")
        lines.flush()

    threads = [threading.Thread(target=root, args=(f"r{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    written = out.getvalue().splitlines()
    assert len(written) == 4 * 201
    for line in written:
        name = line[1:3]
        assert line.startswith(f"[{name}] ") and line.count("[") == 1, line
        assert line.endswith("last words") or line.startswith(f"[{name}] {name} part one, part two")



def test_the_table_has_a_row_per_root_with_its_drift() -> None:
    drifted = prcomment.Section(section("net", 1).where, Summary([("a.b", "update"), ("a.c", "replace")]),
                                [], "plan", drift=2)
    text = prcomment.many_body([drifted], [], {"api": "boom"}, "default", None, None)
    assert "| `net` | 0 | 1 | 1 | 0 | 2 |" in text
    assert "| `api` | failed | | | | |" in text and "**Failed:** `api`: boom" in text
