"""The one image-reference grammar: ``[domain/]path[:tag][@digest]``, parsed, checked and written.

After the OCI distribution spec and Docker's reference grammar: a path is ``/``-separated
components of lowercase letters and digits joined by ``.``, ``_``, ``__`` or runs of ``-``; a
name may start with a registry domain (``host[:port]/``); a tag is ``[A-Za-z0-9_][A-Za-z0-9_.-]``
up to 128 characters; a digest is ``algorithm:hex`` of a registered algorithm (``sha256`` with
64, ``sha512`` with 128 lowercase hex digits).  Every check matches the whole value (a trailing
newline is not part of any of them).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
PATH = rf"{COMPONENT}(?:/{COMPONENT})*"
DOMAIN = (r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)"
          r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?")
NAME = rf"(?:{DOMAIN}/)?{PATH}"
TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
DIGEST = r"(?:sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})"
MAX_NAME = 255  # characters of a whole name, domain included (Docker's limit)


_NAME = re.compile(NAME)
_TAG = re.compile(TAG)
_DIGEST = re.compile(DIGEST)


def is_name(value: str) -> bool:
    """A repository name, with or without a registry domain (``registry.example.com/acme/web``)."""
    return len(value) <= MAX_NAME and _NAME.fullmatch(value) is not None


def is_tag(value: str) -> bool:
    return _TAG.fullmatch(value) is not None


def tag_safe(name: str) -> str:
    """A branch or git tag name made into a valid Docker tag (``feature/x`` -> ``feature-x``):
    build-push tags by it, docr-retention reads branch tag families by it."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).lstrip(".-")
    return safe[:128].rstrip(".-") or "unnamed"


def is_digest(value: str) -> bool:
    return _DIGEST.fullmatch(value) is not None


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
    if not _NAME.fullmatch(name):
        return None
    if tag is not None and not is_tag(tag):
        return None
    if digest and not is_digest(digest):
        return None
    return ImageRef(name, tag, digest or None)


def split_domain(name: str) -> tuple[str, str] | None:
    """``(domain, path)`` of a name whose first component is a registry domain (it holds a ``.`` or
    a ``:``, or is ``localhost``, as Docker tells a domain from a path); None when it has none."""
    first, _, rest = name.partition("/")
    if not rest or not ("." in first or ":" in first or first == "localhost"):
        return None
    return first, rest


def short_name(image: str) -> str:
    """The last path component of an image name (what every spelling of it contains)."""
    return image.rsplit("/", 1)[-1]


DOCKER_HUB = "docker.io"
# the names Docker reads as Docker Hub: its own, and the legacy index and registry hosts
HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})


def canonical(name: str) -> str:
    """The one spelling of an image name, as Docker normalises it: a name without a registry
    domain is on Docker Hub (``docker.io``), the legacy Hub hosts are ``docker.io``, and a Hub
    name of one component is an official image under ``library/``.  So ``redis``,
    ``docker.io/redis``, ``docker.io/library/redis`` and ``index.docker.io/library/redis`` are
    all ``docker.io/library/redis``."""
    found = split_domain(name)
    domain, path = found if found is not None else (DOCKER_HUB, name)
    if domain.lower() in HUB_ALIASES:
        domain = DOCKER_HUB
        if "/" not in path:
            path = f"library/{path}"
    return f"{domain}/{path}"


def same_image(a: str, b: str) -> bool:
    """Whether two image names are spellings of one image (see :func:`canonical`)."""
    return a == b or canonical(a) == canonical(b)
