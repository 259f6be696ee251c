"""What the user may have meant when no reference to an image was found: the lines that mention
its name in any spelling or chart layout, and the nearest miss ("did you mean ...?")."""
from __future__ import annotations

import difflib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml
from pipes_common import imageref
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .references import Target
from .yamldoc import compose, mapping_get, scalar_str

NAME_KEYS = ("image", "repository", "newName", "name")  # where a bare name (no tag) is an image
TAG_WORDS = ("tag", "version")
MAX_SHOWN = 8


@dataclass(frozen=True)
class Mention:
    path: str
    line: int  # 1-based
    key: str  # the dotted key path of the value
    name: str  # the image name it spells (registry/repository joined)
    same: bool  # the image itself, in another spelling or an unrecognised layout

    def where(self) -> str:
        return f"{self.path}:{self.line}"


Entry = tuple[tuple[str, ...], MappingNode, str, ScalarNode]


def _entries(node: Node, path: tuple[str, ...] = ()) -> Iterator[Entry]:
    """Every (key path, mapping, key, scalar value) below ``node``, sequences passed through."""
    if isinstance(node, MappingNode):
        for key, value in node.value:
            name = str(key.value) if isinstance(key, ScalarNode) else "?"
            if isinstance(value, ScalarNode):
                yield (*path, name), node, name, value
            else:
                yield from _entries(value, (*path, name))
    elif isinstance(node, SequenceNode):
        for item in node.value:
            yield from _entries(item, path)


def _spelled(mapping: MappingNode, key: str, value: str) -> str | None:
    """The image name a value spells where it stands, or None when it is no image."""
    ref = imageref.parse(value.rpartition("=")[2])
    if ref is None:
        return None
    if key == "repository":
        registry = scalar_str(mapping_get(mapping, "registry"))
        return f"{registry}/{ref.name}" if registry and imageref.is_name(f"{registry}/{ref.name}") \
            else ref.name
    if ref.tag or ref.digest:
        return ref.name
    if key == "name":  # a container's name is no image: a kustomize images entry's is
        return ref.name if any(mapping_get(mapping, k) is not None for k in ("newTag", "newName",
                                                                                "digest")) else None
    return ref.name if key in NAME_KEYS or "image" in key.lower() or "repo" in key.lower() else None


def mentions(root: Path, files: Sequence[str], target: Target) -> list[Mention]:
    """The values in ``files`` naming an image whose last name component is the target's."""
    short = imageref.short_name(target.image)
    found: list[Mention] = []
    for rel in files:
        full = root / rel
        try:
            text = full.read_text(encoding="utf-8")
            docs = compose(text)
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue  # already reported as skipped
        for doc in docs:
            for path, mapping, key, node in _entries(doc):
                value = scalar_str(node)
                if not value or short not in value:
                    continue
                name = _spelled(mapping, key, value)
                if name is None or imageref.short_name(name) != short:
                    continue
                found.append(Mention(rel, node.start_mark.line + 1, ".".join(path), name,
                                     target.names(name)))
    return found


def _tag_key(path: str, root: Path, rel: str) -> str | None:
    """A sibling of ``path`` that looks like its tag (for a HELM_KEYS example)."""
    parent, _, _ = path.rpartition(".")
    try:
        docs = compose((root / rel).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        docs = []
    for doc in docs:
        for keys, _, key, _ in _entries(doc):
            if ".".join(keys[:-1]) == parent and any(w in key.lower() for w in TAG_WORDS):
                return ".".join(keys)
    return None


def explain(root: Path, files: Sequence[str], target: Target) -> str:
    """The sentences for the "No reference" message: mentions, and the nearest miss."""
    found = mentions(root, files, target)
    short = imageref.short_name(target.image)
    if not found:
        return f"no searched file mentions an image named {short} in any spelling or layout"
    shown = ", ".join(f"{m.where()} ({m.key}: {m.name})" for m in found[:MAX_SHOWN])
    more = f" and {len(found) - MAX_SHOWN} more" if len(found) > MAX_SHOWN else ""
    text = f"these mention {short}: {shown}{more}"
    same = [m for m in found if m.same]
    if same:  # the image itself, in a layout that is not recognised
        m = same[0]
        tag = _tag_key(m.key, root, m.path)
        if tag is None:
            return (f"{text}. {m.key} at {m.where()} names {m.name} without a tag, which is left "
                    "alone: write it as name:tag")
        return (f"{text}. These look like split chart values ({m.key} at {m.where()}): set "
                f"HELM_KEYS to their key paths, e.g. HELM_KEYS: ['{m.key}', '{tag}']")
    wanted = imageref.canonical(target.image)
    best = max(found, key=lambda m: difflib.SequenceMatcher(
        None, wanted, imageref.canonical(m.name)).ratio())
    return f"{text}. Did you mean `IMAGE: {best.name}` ({best.where()})?"
