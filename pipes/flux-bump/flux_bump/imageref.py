"""Image references: ``name[:tag][@digest]``, and the validation of IMAGE, TAG and DIGEST."""
from __future__ import annotations

import re
from dataclasses import dataclass

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?"
NAME_RE = re.compile(rf"^(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*$")
TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
DIGEST_RE = re.compile(r"^(?:sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$")
POLICY_RE = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?:[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


@dataclass(frozen=True)
class ImageRef:
    name: str
    tag: str | None
    digest: str | None

    def __str__(self) -> str:
        return self.name + (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")


def parse(value: str) -> ImageRef | None:
    """Split ``name[:tag][@digest]``; None when ``value`` is not an image reference."""
    if not value or any(c.isspace() for c in value):
        return None
    rest, _, digest = value.partition("@")
    name, tag = rest, None
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > slash:
        name, tag = rest[:colon], rest[colon + 1:]
    if not NAME_RE.match(name):
        return None
    if tag is not None and not TAG_RE.match(tag):
        return None
    if digest and not DIGEST_RE.match(digest):
        return None
    return ImageRef(name, tag, digest or None)


def short_name(image: str) -> str:
    """The last path component of an image name (what every spelling of it contains)."""
    return image.rsplit("/", 1)[-1]
