"""The sanity guard: a bump Flux's ImagePolicy could not make.  A new semantic version lower
than every reference it changes is refused (unless ALLOW_DOWNGRADE); a change of tag style
(``6.14.1`` -> ``v6.14.2``, a version -> a commit tag) is said."""
from __future__ import annotations

import re
from collections.abc import Sequence

from pipes_common import imageref
from pipes_common.errors import PipeError

from .engine import Multi
from .references import Found, Target

SEMVER = re.compile(r"^(?P<v>v?)(?P<major>0|[1-9][0-9]*)\.(?P<minor>0|[1-9][0-9]*)\."
                    r"(?P<patch>0|[1-9][0-9]*)(?:-(?P<pre>[0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$")


def version_key(tag: str) -> tuple[tuple[int, int, int], tuple[tuple[int, int | str], ...]] | None:
    """A sort key of a semantic version tag (an optional ``v``), with semver's precedence: a
    pre-release sorts before its release; None when ``tag`` is not a semantic version."""
    match = SEMVER.match(tag)
    if match is None:
        return None
    core = (int(match["major"]), int(match["minor"]), int(match["patch"]))
    pre = match["pre"]
    if pre is None:
        return core, ((2, 0),)  # a release: above every pre-release of its version
    ids = tuple((0, int(p)) if p.isdigit() else (1, p) for p in pre.split("."))
    return core, ids


def style(tag: str) -> str:
    """The style of a tag: 'v-semver', 'semver' or 'other'."""
    match = SEMVER.match(tag)
    if match is None:
        return "other"
    return "v-semver" if match["v"] else "semver"


def old_tag(found: Found, target: Target) -> str | None:
    """The tag a changed reference held, when the change wrote the target's tag there."""
    if found.old is None or found.kind == "chart":
        return None
    if found.new == target.tag:
        return found.old
    new, old = imageref.parse(found.new.rpartition("=")[2]), imageref.parse(found.old.rpartition("=")[2])
    if new is not None and new.tag == target.tag and old is not None:
        return old.tag
    return None


def check(result: Multi, allow_downgrade: bool) -> list[str]:
    """Refuse a downgrade (unless allowed); the warnings for a change of tag style."""
    warnings: list[str] = []
    for target, res in result.per_target:
        olds = [(path, f, tag) for path, f in res.found if f.changed
                and (tag := old_tag(f, target)) is not None]
        warnings += _style_changes(target, olds)
        new = version_key(target.tag)
        keys = [(path, f, tag, version_key(tag)) for path, f, tag in olds]
        versions = [(path, f, tag, key) for path, f, tag, key in keys if key is not None]
        if new is None or not versions or allow_downgrade:
            continue
        if all(new < key for _, _, _, key in versions):
            path, f, tag, _ = max(versions, key=lambda v: v[3])
            raise PipeError(f"TAG {target.tag} is lower than every version it would replace for "
                            f"{target.image} ({tag} at {path}:{f.line}): a downgrade, which "
                            "Flux's image policies never make. Set the newer TAG, or set "
                            "ALLOW_DOWNGRADE: 'true' to roll back on purpose; nothing was changed")
    return warnings


def _style_changes(target: Target, olds: Sequence[tuple[str, Found, str]]) -> list[str]:
    """One warning for the references whose tag is of another style than TAG's."""
    new = style(target.tag)
    other = [(path, f, tag) for path, f, tag in olds if style(tag) != new]
    if not other:
        return []
    path, f, tag = other[0]
    more = f" and {len(other) - 1} more" if len(other) > 1 else ""
    return [f"TAG {target.tag} changes the tag style of {target.image}: {tag} ({style(tag)}) at "
            f"{path}:{f.line}{more} becomes {new}: check that TAG is spelled as the image's other "
            "tags in the registry"]
