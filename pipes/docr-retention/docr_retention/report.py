"""The plan as the user reads it: per repository, what is kept and why, what is deleted and why,
and the bytes freed."""
from __future__ import annotations

from pipes_common import imageref

from .policy import Plan


def size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def shown(text: str) -> str:
    """A name from the API as printable text (a tag or repository the API should never send is escaped)."""
    if imageref.is_tag(text) or imageref.is_name(text):
        return text
    return text.encode("unicode_escape").decode("ascii")[:140]


def lines(plan: Plan) -> list[str]:
    out = [f"{shown(plan.repository)}: {len(plan.decisions)} tags, {len(plan.kept)} kept, "
           f"{len(plan.deleted)} deleted, {size(plan.freed)} freed"]
    width = max((len(shown(d.tag.name)) for d in plan.decisions), default=0)
    for d in plan.decisions:
        out.append(f"  {'keep  ' if d.keep else 'delete'} {shown(d.tag.name).ljust(width)}  {d.why}")
    return out


def total(plans: list[Plan]) -> str:
    deleted = sum(len(p.deleted) for p in plans)
    kept = sum(len(p.kept) for p in plans)
    return (f"{len(plans)} repositories: {kept} tags kept, {deleted} deleted, "
            f"{size(sum(p.freed for p in plans))} freed")
