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
