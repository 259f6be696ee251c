"""Flux setter markers, with the grammar of Flux's image-automation-controller (kyaml setters).

A scalar is marked when its line comment (or else its head comment, see
:func:`yamldoc.head_comment`), with every leading ``#`` removed, is a JSON object whose
values are all strings and whose ``$imagepolicy`` value is not empty; anything else is an ordinary
comment.  The value names the setter: ``<namespace>:<policy>`` (the full image), or with the suffix
``:tag``, ``:name`` or ``:digest`` only that part of it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

KEY = "$imagepolicy"
PARTS = ("tag", "name", "digest")


@dataclass(frozen=True)
class Marker:
    policy: str  # "<namespace>:<policy>"
    part: str | None  # None (full image), "tag", "name" or "digest"
    setter: str  # the raw setter name as written

    def __str__(self) -> str:
        return self.setter


def setter_name(comment: str) -> str | None:
    """The setter named by a line comment (with its ``#``), or None when it is not a marker."""
    text = comment.lstrip("#")
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        return None
    name = data.get(KEY, "")
    return name or None


def parse(comment: str) -> Marker | None:
    """The marker of a line comment, or None (not a marker, or a setter we cannot serve)."""
    name = setter_name(comment)
    if name is None:
        return None
    parts = name.split(":")
    if len(parts) == 2 and all(parts):
        return Marker(name, None, name)
    if len(parts) == 3 and all(parts[:2]) and parts[2] in PARTS:
        return Marker(f"{parts[0]}:{parts[1]}", parts[2], name)
    return None
