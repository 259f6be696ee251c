"""What tf-apply needs to know of a Terraform file before Terraform runs: whether it has a
``terraform`` block and which backend that block names, and the ``source`` of each ``module``
block (to follow local modules).  Not a parser of HCL: a scanner of its tokens (comments,
strings with their ``${ }`` templates, heredocs, braces and newlines) that reads every byte once,
so a hostile file costs time proportional to its size, bounded by :data:`MAX_BYTES`.

A file the scanner cannot follow to its end (an unterminated string, comment or heredoc) is
reported as not ``complete``: the caller then assumes the worst (the root runs), never that
nothing is there.  ``*.tf.json`` files are read as JSON.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

MAX_BYTES = 2_000_000  # of one .tf file: a configuration file, not a data file


@dataclass
class Scan:
    terraform: bool = False           # a top-level ``terraform`` block
    backend: str | None = None        # the label of its ``backend`` block
    sources: list[str] = field(default_factory=list)  # literal ``source`` of each module block
    complete: bool = True             # the whole file was followed


@dataclass(frozen=True)
class _Tok:
    kind: str  # "id", "str" (a literal string), "tpl" (a string with ${ }), "nl", "{", "}", "="
    text: str = ""


def _skip_template(text: str, i: int, n: int) -> int:
    """From just after ``${`` or ``%{``: the index after its closing brace (strings and braces
    inside it nested), or -1."""
    depth = 1
    while i < n:
        c = text[i]
        if c == '"':
            i = _skip_string(text, i + 1, n)
            if i < 0:
                return -1
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return -1


def _skip_string(text: str, i: int, n: int) -> int:
    """From just after an opening quote: the index after the closing one, or -1."""
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == '"':
            return i + 1
        if c == "\n":
            return -1
        if c in "$%" and text.startswith("{", i + 1):
            i = _skip_template(text, i + 2, n)
            if i < 0:
                return -1
            continue
        i += 1
    return -1


def _tokens(text: str) -> tuple[list[_Tok], bool]:
    out: list[_Tok] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\n":
            out.append(_Tok("nl"))
            i += 1
        elif c in " \t\r":
            i += 1
        elif c == "#" or text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                return out, False
            out.extend(_Tok("nl") for _ in range(text.count("\n", i, end)))
            i = end + 2
        elif c == '"':
            end = _skip_string(text, i + 1, n)
            if end < 0:
                return out, False
            raw = text[i + 1:end - 1]
            templated = "${" in raw or "%{" in raw or "\\" in raw
            out.append(_Tok("tpl" if templated else "str", raw))
            i = end
        elif text.startswith("<<", i) and (text[i + 2:i + 3].isalpha() or text[i + 2:i + 3] == "-"):
            line_end = text.find("\n", i)
            if line_end < 0:
                return out, False
            marker = text[i + 2:line_end].lstrip("-").strip()
            j = line_end + 1
            while True:
                nxt = text.find("\n", j)
                line = text[j:] if nxt < 0 else text[j:nxt]
                if line.strip() == marker:
                    i = n if nxt < 0 else nxt
                    break
                if nxt < 0:
                    return out, False
                j = nxt + 1
            out.append(_Tok("tpl"))
        elif c.isalpha() or c == "_":
            j = i + 1
            while j < n and (text[j].isalnum() or text[j] in "_-"):
                j += 1
            out.append(_Tok("id", text[i:j]))
            i = j
        elif c in "{}=":
            out.append(_Tok(c))
            i += 1
        else:
            out.append(_Tok("other", c))
            i += 1
    return out, True


def scan_hcl(text: str) -> Scan:
    toks, complete = _tokens(text)
    result = Scan(complete=complete)
    stack: list[tuple[str, tuple[str, ...]]] = []  # ("block", type) or ("expr", ()) per open brace
    line: list[_Tok] = []
    for tok in toks:
        if tok.kind == "nl":
            line = []
            continue
        if tok.kind == "{":
            header = line and line[0].kind == "id" and all(t.kind in ("id", "str") for t in line[1:])
            if header:
                kind, labels = line[0].text, tuple(t.text for t in line[1:])
                if not stack and kind == "terraform":
                    result.terraform = True
                if len(stack) == 1 and stack[0] == ("terraform", ()) and kind == "backend":
                    result.backend = labels[0] if labels else ""
                stack.append((kind, labels if kind == "module" else ()))
            else:
                stack.append(("expr", ()))
            line = []
            continue
        if tok.kind == "}":
            if stack:
                stack.pop()
            line = []
            continue
        line.append(tok)
        if len(line) == 3:
            _source(line, stack, result)
    if stack:
        result.complete = False
    return result


def _source(line: list[_Tok], stack: list[tuple[str, tuple[str, ...]]], result: Scan) -> None:
    """``source = "<literal>"`` directly in a top-level module block."""
    if (len(stack) == 1 and stack[0][0] == "module" and len(line) == 3 and line[0] == _Tok("id", "source")
            and line[1].kind == "=" and line[2].kind in ("str", "tpl")):
        if line[2].kind == "str":
            result.sources.append(line[2].text)
        elif line[2].text.startswith(("./", "../")):
            result.complete = False  # a local source built from expressions: cannot follow it


def scan_json(text: str) -> Scan:
    try:
        doc = json.loads(text)
    except ValueError:
        return Scan(complete=False)
    result = Scan()
    if not isinstance(doc, dict):
        return result
    tf = doc.get("terraform")
    for block in tf if isinstance(tf, list) else [tf] if tf is not None else []:
        result.terraform = True
        backend = block.get("backend") if isinstance(block, dict) else None
        if isinstance(backend, dict) and backend:
            result.backend = str(next(iter(backend)))
        elif isinstance(backend, list) and backend and isinstance(backend[0], dict) and backend[0]:
            result.backend = str(next(iter(backend[0])))
    modules = doc.get("module")
    for group in modules if isinstance(modules, list) else [modules] if modules else []:
        if not isinstance(group, dict):
            continue
        for body in group.values():
            for item in body if isinstance(body, list) else [body]:
                if isinstance(item, dict) and isinstance(item.get("source"), str):
                    result.sources.append(item["source"])
    return result


def scan_file(name: str, data: bytes) -> Scan:
    """A ``.tf`` or ``.tf.json`` file's content (larger than :data:`MAX_BYTES`, or not UTF-8:
    not ``complete``)."""
    if len(data) > MAX_BYTES:
        return Scan(complete=False)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return Scan(complete=False)
    return scan_json(text) if name.endswith(".tf.json") else scan_hcl(text)
