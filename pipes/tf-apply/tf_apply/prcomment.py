"""The plan as one pull request comment (Markdown), found again by a hidden marker.

Bitbucket escapes HTML in comments (an HTML comment would show as text), so the marker is a
Markdown link reference definition, ``[//]: # (tf-apply ...)``, which CommonMark renders as
nothing.  One marker per working directory and workspace: several configurations in one
repository each keep their own comment.  The comment stays under :data:`MAX_CHARS`; the plan text
is cut to fit, with a pointer to the full plan.  Nothing here imports requests.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from .summary import SYMBOLS, Summary, action_of

MAX_CHARS = 32_000  # Bitbucket Cloud accepts 32768 characters of content.raw; keep a margin
ROWS = 50  # resources listed; the rest counted


@dataclass(frozen=True)
class Where:
    working_dir: str
    workspace: str
    commit: str | None
    build_url: str | None
    plan_id: str | None
    plan_location: str | None  # s3://bucket/key of the stored redacted JSON plan
    report_id: str | None  # the Code Insights report on the commit (None when off)


def marker(working_dir: str, workspace: str) -> str:
    return f"[//]: # (tf-apply plan {quote(working_dir, safe='')} {quote(workspace, safe='')})"


def has_marker(raw: str, mark: str) -> bool:
    return mark in raw.splitlines()


def output_changes(plan: dict[str, Any]) -> list[tuple[str, str]]:
    """(name, action) of each output the plan changes; values are never shown."""
    found = []
    for name, change in sorted((plan.get("output_changes") or {}).items()):
        action = action_of((change or {}).get("actions") or [])
        if action:
            found.append((name, action))
    return found


def _fence(text: str) -> str:
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def _rows(sm: Summary) -> list[str]:
    order = {a: i for i, a in enumerate(("replace", "delete", "update", "create"))}
    rows = sorted(sm.changes, key=lambda c: order.get(c[1], 9))
    lines = ["| Action | Resource |", "|---|---|"]
    lines += [f"| `{SYMBOLS[a]}` {a} | `{addr}` |" for addr, a in rows[:ROWS]]
    if len(rows) > ROWS:
        lines.append(f"| | … and {len(rows) - ROWS} more (see the full plan) |")
    return lines


def _pointer(w: Where) -> str:
    parts = []
    if w.report_id and w.commit:
        parts.append(f"the Code Insights report `{w.report_id}` on commit `{w.commit[:12]}`")
    if w.plan_location:
        parts.append(f"the stored plan `{w.plan_location}`")
    if w.build_url:
        parts.append(f"[the pipeline log]({w.build_url})")
    return "Full plan: " + (", ".join(parts) if parts else "the pipeline log") + "."


def _truncate(lines: Iterable[str], budget: int) -> tuple[str, int]:
    """The first lines that fit in ``budget`` characters, and how many lines were left out."""
    kept: list[str] = []
    used = 0
    all_lines = list(lines)
    for line in all_lines:
        if used + len(line) + 1 > budget:
            break
        kept.append(line)
        used += len(line) + 1
    return "\n".join(kept), len(all_lines) - len(kept)


def body(sm: Summary, outputs: list[tuple[str, str]], plan_text: str, w: Where,
         limit: int = MAX_CHARS) -> str:
    """The comment's Markdown: headline, replacements first, resources, outputs, plan text."""
    head = [f"### Terraform plan: `{w.working_dir}` (workspace `{w.workspace}`)", "",
            f"**Plan:** {sm.headline()}" + ("" if sm.has_changes else " (no changes)")]
    replaced = [addr for addr, a in sm.changes if a == "replace"]
    if replaced:
        head += ["", f"**⚠ {len(replaced)} to replace (destroyed, then created again):** "
                 + ", ".join(f"`{a}`" for a in replaced[:ROWS])
                 + (f" and {len(replaced) - ROWS} more" if len(replaced) > ROWS else "")]
    if sm.has_changes:
        head += ["", *_rows(sm)]
    if outputs:
        head += ["", "**Outputs that change:** " + ", ".join(
            f"`{name}` ({action})" for name, action in outputs)]
    made = "Planned" + (f" at commit `{w.commit[:12]}`" if w.commit else "") + (
        f" as plan id `{w.plan_id}`" if w.plan_id else "") + ". " + _pointer(w)
    tail = ["", made, "", marker(w.working_dir, w.workspace)]
    fixed = "\n".join(head + tail)
    fence = _fence(plan_text)
    lines = plan_text.rstrip("\n").splitlines()
    note = f"*The plan text was cut here: {len(lines)} more lines. {_pointer(w)}*"
    # the fixed parts, the fences with their line breaks, the note (its count at its widest)
    budget = limit - len(fixed) - 2 * len(fence) - len("text") - len(note) - 8
    text, cut = _truncate(lines, max(budget, 0))
    block = ["", f"{fence}text", text, fence]
    if cut:
        block.append(f"*The plan text was cut here: {cut} more lines. {_pointer(w)}*")
    return "\n".join(head + block + tail)


def refused_marker(working_dir: str, workspace: str) -> str:
    return (f"[//]: # (tf-apply refused {quote(working_dir, safe='')} "
            f"{quote(workspace, safe='')})")


def refused_body(differences: list[str], w: Where, merge_commit: str, reviewed_commit: str,
                 limit: int = MAX_CHARS) -> str:
    """The comment saying the apply after the merge was refused: the plan changed since review."""
    head = [f"### Terraform apply refused: `{w.working_dir}` (workspace `{w.workspace}`)", "",
            f"**plan-changed:** the plan at merge commit `{merge_commit[:12]}` differs from the "
            f"plan reviewed here (commit `{reviewed_commit[:12]}`). Nothing was applied; the "
            "state was not touched.", "",
            "Plan again in a new pull request (the infrastructure changed since this one was "
            "reviewed) and merge it to apply the changes as they are now.", ""]
    tail = ["", _pointer(w), "", refused_marker(w.working_dir, w.workspace)]
    budget = limit - len("\n".join(head + tail)) - 100
    items = ["- `" + line.replace("`", "'") + "`" for line in differences]
    shown, cut = _truncate(items, max(budget, 0))
    body = [shown] + ([f"- … and {cut} more (see the pipeline log)"] if cut else [])
    return "\n".join(head + body + tail)


# -- many roots (WORKING_DIRS): one comment for all of them ------------------------------------


@dataclass(frozen=True)
class Section:
    """One root's plan in the comment of many roots."""
    where: Where
    sm: Summary
    outputs: list[tuple[str, str]]
    plan_text: str
    drift: int = 0  # resources changed outside Terraform, found by the plan's refresh


def many_marker(workspace: str) -> str:
    return f"[//]: # (tf-apply plan roots {quote(workspace, safe='')})"


def _table(sections: list[Section], failed: dict[str, str]) -> list[str]:
    lines = ["| Root | Add | Change | Replace | Destroy | Drift |", "|---|---:|---:|---:|---:|---:|"]
    for sec in sections:
        c = sec.sm.counts
        lines.append(f"| `{sec.where.working_dir}` | {c['create']} | {c['update']} | "
                     f"{c['replace']} | {c['delete']} | {sec.drift} |")
    lines += [f"| `{root}` | failed | | | | |" for root in failed]
    return lines


def _section_head(sec: Section) -> list[str]:
    w = sec.where
    head = ["---", "", f"#### `{w.working_dir}`: {sec.sm.headline()}"
            + ("" if sec.sm.has_changes else " (no changes)")]
    replaced = [addr for addr, a in sec.sm.changes if a == "replace"]
    if replaced:
        head += ["", f"**⚠ {len(replaced)} to replace:** "
                 + ", ".join(f"`{a}`" for a in replaced[:ROWS])
                 + (f" and {len(replaced) - ROWS} more" if len(replaced) > ROWS else "")]
    if sec.outputs:
        head += ["", "**Outputs that change:** " + ", ".join(
            f"`{name}` ({action})" for name, action in sec.outputs)]
    return head


def _caps(sizes: list[int], budget: int) -> list[int]:
    """The size each text keeps so that they fit ``budget`` together, the largest cut first:
    one cap for all, as high as fits (a text under it is kept whole)."""
    if sum(sizes) <= budget:
        return list(sizes)
    low, high = 0, max(sizes)
    while low < high:
        mid = (low + high + 1) // 2
        if sum(min(s, mid) for s in sizes) <= budget:
            low = mid
        else:
            high = mid - 1
    return [min(s, low) for s in sizes]


def many_body(sections: list[Section], skipped: list[tuple[str, str]], failed: dict[str, str],
              workspace: str, commit: str | None, build_url: str | None,
              limit: int = MAX_CHARS) -> str:
    """The one comment of a step that planned many roots: a table of every root planned, then a
    section per root with its plan text; over ``limit``, the largest plan texts are cut first
    (each cut one says so and points to its full plan)."""
    planned = len(sections) + len(failed)
    head = [f"### Terraform plan: {planned} of {planned + len(skipped)} roots "
            f"(workspace `{workspace}`)", ""]
    if planned:
        head += _table(sections, failed)
    else:
        head += ["**No root changed: nothing was planned.**"]
    if skipped:
        head += ["", "**Not planned** (nothing they use changed): "
                 + ", ".join(f"`{root}`" for root, _ in skipped)]
    if failed:
        head += ["", "**Failed:** " + "; ".join(f"`{root}`: {why}" for root, why in failed.items())]
    made = "Planned" + (f" at commit `{commit[:12]}`" if commit else "") + "." + (
        f" [The pipeline log]({build_url})." if build_url else "")
    tail = ["", "---", "", made, "", many_marker(workspace)]
    heads = ["\n".join(_section_head(sec)) for sec in sections]
    fences = [_fence(sec.plan_text) for sec in sections]
    notes = [f"*The plan text was cut here. {_pointer(sec.where)}*" for sec in sections]
    pointers = [_pointer(sec.where) for sec in sections]
    # fixed: everything but the plan texts (the cut note counted for every section)
    fixed = len("\n".join(head + tail)) + sum(
        len(h) + 2 * len(f) + len(n) + len(p) + 24 for h, f, n, p in zip(heads, fences, notes, pointers, strict=True))
    texts = [sec.plan_text.rstrip("\n") for sec in sections]
    caps = _caps([len(t) for t in texts], max(limit - fixed, 0))
    parts = list(head)
    for head_text, text, cap, fence, note, pointer in zip(heads, texts, caps, fences, notes,
                                                          pointers, strict=True):
        parts += ["", head_text]
        kept, cut = _truncate(text.splitlines(), cap) if cap < len(text) else (text, 0)
        if kept:
            parts += ["", f"{fence}text", kept, fence]
        parts += ["", note if cut or (text and not kept) else pointer]
    return "\n".join(parts + tail)
