"""Byte-exact YAML edits located by the parser's node positions.

PyYAML's composer gives every node its start and end position in the text.  An edit replaces the
characters of one scalar's value (keeping its quoting style, anchor and tag, and everything around
it) or inserts one ``key: value`` line into a mapping.  After editing, the text is parsed again and
every scalar of every document is compared with the expectation: exactly the intended values
changed, nothing else.
"""
from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

STR_TAG = "tag:yaml.org,2002:str"
_PROPS = re.compile(r"(?:[&!][^\s]*\s+)*")
_COMMENT = re.compile(r"[ \t]+(#[^\r\n]*)")


class EditError(Exception):
    """An edit that cannot be made exactly (the file is then left alone)."""


# Aliases share nodes, so a few hundred bytes of anchors and aliases (an "alias bomb") compose
# quickly into a graph that expands into millions of nodes; the comparison after an edit
# (:func:`_flatten`) walks it expanded.  A text whose aliases add more than this many nodes to
# the ones written out is refused: real manifests use a handful of aliases, if any.
MAX_ALIAS_EXPANSION = 100_000


class AliasBomb(yaml.YAMLError):
    """A text whose aliases expand beyond :data:`MAX_ALIAS_EXPANSION` nodes."""

    def __str__(self) -> str:
        return (f"its aliases expand to more than {MAX_ALIAS_EXPANSION} nodes beyond those "
                "written (a YAML alias bomb?)")


# The composers nest a call per level of nesting (libyaml's overflows the C stack at some ten
# thousand levels: a crash, not an error); flow brackets nest cheaply, so they are counted first.
MAX_DEPTH = 500


class TooDeep(yaml.YAMLError):
    """A text nested deeper than :data:`MAX_DEPTH` levels."""

    def __str__(self) -> str:
        return f"it is nested more than {MAX_DEPTH} levels deep"


_OPEN = (yaml.FlowSequenceStartToken, yaml.FlowMappingStartToken)
_CLOSE = (yaml.FlowSequenceEndToken, yaml.FlowMappingEndToken)


def check_depth(text: str, loader: Any) -> None:
    """Raise :class:`TooDeep` when the flow collections of ``text`` nest deeper than
    :data:`MAX_DEPTH` (block nesting that deep needs megabytes of indentation)."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return
    depth = 0
    for token in yaml.scan(text, Loader=loader):
        if isinstance(token, _OPEN):
            depth += 1
            if depth > MAX_DEPTH:
                raise TooDeep()
        elif isinstance(token, _CLOSE):
            depth -= 1


def _children(node: Node) -> list[Node]:
    if isinstance(node, MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, SequenceNode):
        return list(node.value)
    return []


def check_aliases(docs: list[Node]) -> None:
    """Raise :class:`AliasBomb` when ``docs`` expanded (every alias followed, as
    :func:`_flatten` walks them) have more than :data:`MAX_ALIAS_EXPANSION` nodes beyond the
    distinct ones.  Linear in the distinct nodes (each node's expanded size computed once)."""
    size: dict[int, int] = {}
    limit = MAX_ALIAS_EXPANSION
    for doc in docs:
        stack: list[tuple[Node, bool]] = [(doc, False)]
        while stack:
            node, done = stack.pop()
            key = id(node)
            if done:
                size[key] = 1 + sum(size.get(id(c), 1) for c in _children(node))
                if size[key] > limit + len(size):
                    raise AliasBomb()
                continue
            if key in size:
                continue
            size[key] = 1  # in progress: a cycle counts once
            stack.append((node, True))
            stack.extend((c, False) for c in _children(node) if id(c) not in size)
    total = sum(size[id(doc)] for doc in docs)
    if total - len(size) > limit:
        raise AliasBomb()


# libyaml's composer (when PyYAML has it) is several times faster and gives the same character
# positions, except after a byte-order mark (it does not count it): such a text, rare, takes the
# Python one.  The result is checked after every edit all the same (see :func:`apply`).
_FAST = getattr(yaml, "CSafeLoader", None)


def compose(text: str) -> list[Node]:
    """Every document of ``text`` as a node tree with positions (raises ``yaml.YAMLError``)."""
    loader = _FAST if _FAST is not None and "\ufeff" not in text else yaml.SafeLoader
    check_depth(text, loader)  # raises TooDeep, a yaml.YAMLError
    docs = [doc for doc in yaml.compose_all(text, Loader=loader) if doc is not None]
    check_aliases(docs)  # raises AliasBomb, a yaml.YAMLError
    return docs


def value_span(text: str, node: ScalarNode) -> tuple[int, int]:
    """The characters of the scalar itself, without its anchor and tag."""
    start, end = node.start_mark.index, node.end_mark.index
    props = _PROPS.match(text, start, end)
    if props is not None:
        start = props.end()
    return start, end


def line_comment(text: str, node: ScalarNode) -> str | None:
    """The comment on the same line right after the scalar (with its ``#``), or None."""
    if node.style in ("|", ">"):
        return None
    match = _COMMENT.match(text, node.end_mark.index)
    if match is None:
        return None
    return match.group(1)


def head_comment(text: str, node: ScalarNode) -> str | None:
    """The head comment of a scalar that starts its own line (a block sequence item ``- value``,
    or a mapping value on the line after its key), as go-yaml v3 gives it to kyaml: the comment
    lines right above that line, up to a blank or other line.  Only a single line is returned
    (with its ``#``): kyaml reads the lines joined, and more than one is never a marker.  None
    when there is no such comment, or the scalar does not start its line."""
    if node.style in ("|", ">"):
        return None
    start = node.start_mark.index
    line_start = text.rfind("\n", 0, start) + 1
    lead = text[line_start:start]
    if lead.strip(" \t-") or lead.count("-") > 1:
        return None
    above: list[str] = []
    end = line_start - 1  # the newline ending the line above
    while end > 0:
        begin = text.rfind("\n", 0, end) + 1
        line = text[begin:end].rstrip("\r").strip(" \t")
        if not line.startswith("#"):
            break
        above.append(line)
        end = begin - 1
    return above[0] if len(above) == 1 else None


def mapping_get(node: Node, key: str) -> Node | None:
    if not isinstance(node, MappingNode):
        return None
    for k, v in node.value:
        if isinstance(k, ScalarNode) and k.value == key:
            found: Node = v
            return found
    return None


def scalar_str(node: Node | None) -> str | None:
    """The value of a string scalar, else None."""
    if isinstance(node, ScalarNode) and node.tag == STR_TAG:
        return str(node.value)
    return None


def walk(node: Node) -> Iterator[tuple[Node, bool]]:
    """Every node below ``node`` once (an anchored node is not visited again through its aliases),
    with whether it sits inside a flow collection."""
    seen: set[int] = set()

    def visit(n: Node, flow: bool) -> Iterator[tuple[Node, bool]]:
        if id(n) in seen:
            return
        seen.add(id(n))
        yield n, flow
        if isinstance(n, MappingNode):
            inner = flow or bool(n.flow_style)
            for _, v in n.value:
                yield from visit(v, inner)
        elif isinstance(n, SequenceNode):
            inner = flow or bool(n.flow_style)
            for item in n.value:
                yield from visit(item, inner)

    yield from visit(node, False)


def _plain_ok(value: str, flow: bool) -> bool:
    if not value or value != value.strip() or "\n" in value or " #" in value or ": " in value:
        return False
    if flow and any(c in value for c in ",[]{}"):
        return False
    if value[0] in "-?:,[]{}#&*!|>'\"%@`":
        return False
    try:
        loaded = yaml.safe_load(f"k: {value}\n")
    except yaml.YAMLError:
        return False
    return isinstance(loaded, dict) and loaded.get("k") == value and isinstance(loaded["k"], str)


def render_scalar(text: str, node: ScalarNode, new: str, flow: bool) -> tuple[int, int, str]:
    """``(start, end, replacement)`` that makes ``node`` hold ``new`` in its own style."""
    start, end = value_span(text, node)
    style = node.style
    if style in ("|", ">"):
        old = str(node.value).rstrip("\n")
        body_start = text.find("\n", start, end)
        if "\n" in old or body_start < 0 or text.count(old, body_start, end) != 1 or not new:
            raise EditError("a multi-line block scalar cannot be edited exactly")
        at = text.index(old, body_start, end)
        return at, at + len(old), new
    if style == "'":
        return start, end, "'" + new.replace("'", "''") + "'"
    if style == '"':
        return start, end, json.dumps(new, ensure_ascii=False)
    if _plain_ok(new, flow):
        return start, end, new
    return start, end, json.dumps(new, ensure_ascii=False)


def render_new(value: str, flow: bool) -> str:
    return value if _plain_ok(value, flow) else json.dumps(value, ensure_ascii=False)


@dataclass
class Replace:
    node: ScalarNode
    new: str
    flow: bool = False


@dataclass
class Insert:
    mapping: MappingNode
    key: str
    value: str


@dataclass
class Plan:
    replaces: list[Replace] = field(default_factory=list)
    inserts: list[Insert] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.replaces or self.inserts)


def _newline(text: str, index: int) -> str:
    nl = text.find("\n", index)
    if nl > 0 and text[nl - 1] == "\r":
        return "\r\n"
    if nl < 0 and "\r\n" in text:
        return "\r\n"
    return "\n"


def _insertion(text: str, ins: Insert) -> tuple[int, int, str]:
    """Where and what to insert for a new ``key: value`` at the end of a mapping."""
    m = ins.mapping
    if not m.value:
        raise EditError("cannot add a key to an empty mapping")
    last_value = m.value[-1][1]
    if m.flow_style:
        at = last_value.end_mark.index
        return at, at, f", {ins.key}: {render_new(ins.value, True)}"
    indent = m.value[0][0].start_mark.column
    line = f"{' ' * indent}{ins.key}: {render_new(ins.value, False)}"
    # the last thing written in the mapping: descend into block collections
    leaf: Node = last_value
    while isinstance(leaf, (MappingNode, SequenceNode)) and not leaf.flow_style and leaf.value:
        leaf = leaf.value[-1][1] if isinstance(leaf, MappingNode) else leaf.value[-1]
    if isinstance(leaf, ScalarNode) and leaf.style in ("|", ">") and leaf.end_mark.column == 0:
        at = leaf.end_mark.index  # a block scalar ends at the start of the next line
    else:
        eol = text.find("\n", leaf.end_mark.index)
        if eol < 0:  # the last line has no line break: add one first
            return len(text), len(text), _newline(text, 0) + line
        at = eol + 1
    return at, at, line + _newline(text, max(at - 1, 0))


def _flatten(docs: list[Node], plan: Plan | None) -> list[tuple[object, ...]]:
    """Every scalar as ``(doc, path, tag, value)``; with ``plan``, as the plan expects them after."""
    new_values = {id(r.node): r.new for r in plan.replaces} if plan else {}
    inserts: dict[int, list[Insert]] = {}
    for ins in plan.inserts if plan else []:
        inserts.setdefault(id(ins.mapping), []).append(ins)
    out: list[tuple[object, ...]] = []

    def visit(doc: int, n: Node, p: tuple[object, ...], stack: frozenset[int]) -> None:
        if id(n) in stack:
            out.append((doc, p, "cycle", ""))
            return
        stack = stack | {id(n)}
        if isinstance(n, ScalarNode):
            if id(n) in new_values:
                out.append((doc, p, STR_TAG, new_values[id(n)]))
            else:
                out.append((doc, p, n.tag, n.value))
        elif isinstance(n, MappingNode):
            for k, v in n.value:
                key = (k.tag, k.value) if isinstance(k, ScalarNode) else ("complex", "?")
                out.append((doc, p, "key", key))
                visit(doc, v, (*p, key), stack)
            for ins in inserts.get(id(n), []):
                key = (STR_TAG, ins.key)
                out.append((doc, p, "key", key))
                out.append((doc, (*p, key), STR_TAG, ins.value))
        elif isinstance(n, SequenceNode):
            for i, item in enumerate(n.value):
                visit(doc, item, (*p, i), stack)

    for i, d in enumerate(docs):
        visit(i, d, (), frozenset())
    return out


def apply(text: str, docs: list[Node], plan: Plan) -> str:
    """The text with ``plan`` applied, verified by parsing it again (raises :class:`EditError`)."""
    edits: list[tuple[int, int, str]] = []
    seen: set[int] = set()
    for rep in plan.replaces:
        if id(rep.node) in seen:
            continue
        seen.add(id(rep.node))
        edits.append(render_scalar(text, rep.node, rep.new, rep.flow))
    for ins in plan.inserts:
        edits.append(_insertion(text, ins))
    edits.sort(key=lambda e: (e[0], e[1]))
    for (_, e1, _), (s2, _, _) in itertools.pairwise(edits):
        if s2 < e1:
            raise EditError("two edits overlap")
    result = text
    for start, end, new in reversed(edits):
        result = result[:start] + new + result[end:]
    try:
        after = compose(result)
    except yaml.YAMLError as err:
        raise EditError(f"the edited file does not parse ({err.__class__.__name__})") from None
    if _flatten(after, None) != _flatten(docs, plan):
        raise EditError("parsing the edited file did not give exactly the intended change")
    return result
