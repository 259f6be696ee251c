"""The plan summary: create/update/delete/replace counts and a readable table."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

ACTIONS = ("create", "update", "replace", "delete")
SYMBOLS = {"create": "+", "update": "~", "replace": "-/+", "delete": "-"}


@dataclass
class Summary:
    changes: list[tuple[str, str]] = field(default_factory=list)  # (address, action)

    def count(self, action: str) -> int:
        return sum(1 for _, a in self.changes if a == action)

    @property
    def counts(self) -> dict[str, int]:
        return {action: self.count(action) for action in ACTIONS}

    @property
    def has_changes(self) -> bool:
        return bool(self.changes)

    def headline(self) -> str:
        c = self.counts
        return (f"{c['create']} to create, {c['update']} to update, {c['replace']} to replace, "
                f"{c['delete']} to delete")

    def table(self, limit: int = 100) -> list[str]:
        """Lines of a fixed-width table, one per changed resource (deletions first, at most
        ``limit`` rows), then the totals."""
        if not self.changes:
            return ["No changes: the infrastructure matches the configuration."]
        order = {a: i for i, a in enumerate(("delete", "replace", "update", "create"))}
        # deletions first; Terraform's own order within an action
        rows = sorted(self.changes, key=lambda c: order.get(c[1], 9))
        shown = rows[:limit]
        lines = [f"  {'ACTION':<8} RESOURCE"]
        lines += [f"  {SYMBOLS[action] + ' ' + action:<8} {addr}" for addr, action in shown]
        if len(rows) > limit:
            lines.append(f"  {'':<8} ... and {len(rows) - limit} more (DEBUG lists every change)")
        lines.append(f"  Plan: {self.headline()}")
        return lines


def action_of(actions: Iterable[str]) -> str | None:
    """The summary action for a resource change's ``actions`` list (None when nothing changes)."""
    acts = list(actions)
    if "create" in acts and "delete" in acts:
        return "replace"
    for action in ("create", "update", "delete"):
        if action in acts:
            return action
    return None


def from_plan_json(plan: dict[str, Any]) -> Summary:
    """From ``terraform show -json <plan>``: ``resource_changes[].change.actions``."""
    summary = Summary()
    for rc in plan.get("resource_changes") or []:
        if rc.get("mode") == "data":
            continue
        action = action_of((rc.get("change") or {}).get("actions") or [])
        if action:
            summary.changes.append((str(rc.get("address", "?")), action))
    return summary


def drift_from_events(events: Iterable[dict[str, Any]]) -> Summary:
    """What ``plan -json`` reports as changed: ``planned_change`` events, and ``resource_drift``
    events (changes made outside Terraform, all a ``-refresh-only`` plan reports) as updates,
    deletions or creations; one entry per address."""
    summary = Summary()
    seen: set[str] = set()
    for event in events:
        kind = event.get("type")
        if kind not in ("planned_change", "resource_drift"):
            continue
        change = event.get("change") or {}
        action = str(change.get("action", ""))
        if action == "noop" or action not in (*ACTIONS, "read"):
            continue
        action = "update" if action == "read" else action
        addr = str((change.get("resource") or {}).get("addr", "?"))
        if addr not in seen:
            seen.add(addr)
            summary.changes.append((addr, action))
    return summary


def from_events(events: Iterable[dict[str, Any]]) -> Summary:
    """From the ``planned_change`` events of ``terraform plan/apply -json``."""
    summary = Summary()
    for event in events:
        if event.get("type") != "planned_change":
            continue
        change = event.get("change") or {}
        action = str(change.get("action", ""))
        if action in ACTIONS:
            addr = str((change.get("resource") or {}).get("addr", "?"))
            summary.changes.append((addr, action))
    return summary
