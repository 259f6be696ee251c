"""The README's Troubleshooting table is built from the real ``✖`` messages: every message it
lists is one the code raises (its fixed parts, in order, in one string of the code), and every
message the pipe's own modules raise is in the table.  The shared modules whose messages reach
the pipe's ``✖`` line as they are (variables, SSH keys, the runner, the HTTP send path, the
file writes) count too."""
from __future__ import annotations

import ast
import re
from pathlib import Path

from build_push.schema import VARIABLES
from testbed.pipes import REPO_ROOT

PIPE = REPO_ROOT / "pipes" / "build-push"
SHARED = ("variables", "validate", "sshkey", "runner", "httpclient", "fsutil")
SOURCES = [*sorted((PIPE / "build_push").glob("*.py")),
           *(REPO_ROOT / "shared" / "pipes_common" / f"{m}.py" for m in SHARED)]
GAP = "\0"


def template(node: ast.expr) -> str | None:
    """A string of the code, its formatted parts replaced by GAP; None for anything else."""
    if isinstance(node, ast.JoinedStr):
        return "".join(str(v.value) if isinstance(v, ast.Constant) else GAP for v in node.values)
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def templates(path: Path) -> list[str]:
    found = [template(n) for n in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
             if isinstance(n, ast.expr)]
    return [t for t in found if t is not None]


def table() -> list[str]:
    text = (PIPE / "README.md").read_text(encoding="utf-8")
    section = text.split("## Troubleshooting", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return [m for row in rows for m in re.findall(r"`([^`]+)`", row.split(" | ")[0])]


def raised_by(message: str, strings: list[str]) -> bool:
    # (a part next to a gap may meet it at a space the code puts between them: f"{name} {what}")
    parts = [p.strip(" ") for p in message.split("…") if p.strip(" :")]
    pattern = ".*?".join(re.escape(p) for p in parts)
    return any(re.search(pattern, s, re.DOTALL) for s in strings)


def test_every_listed_message_is_raised_by_the_code() -> None:
    strings = [s for path in SOURCES for s in templates(path)]
    # a variable's only_if message, which the door raises as "<NAME> <why>"
    strings += [f"{v.name} {v.only_if[1]}" for v in VARIABLES.declared if v.only_if is not None]
    messages = table()
    assert len(messages) >= 30
    missing = [m for m in messages if not raised_by(m, strings)]
    assert missing == [], missing


def test_every_message_of_the_pipe_is_listed() -> None:
    """Each ``PipeError`` the pipe's modules raise with a message of their own is in the table,
    and each line of its ``registrylogin.Wording`` declarations (the messages of a registry's or
    the DigitalOcean API's failures)."""
    listed = table()
    unlisted = []
    for path in sorted((PIPE / "build_push").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            if isinstance(node.func, ast.Name) and node.func.id == "PipeError" and node.args:
                messages = [node.args[0]]
            elif isinstance(node.func, ast.Attribute) and node.func.attr == "Wording":
                messages = [k.value for k in node.keywords]
            else:
                continue
            for message in messages:
                text = template(message)
                if text is None:  # a message made elsewhere (str(err)): not the pipe's own
                    continue
                if not any(raised_by(m, [text]) for m in listed):
                    unlisted.append(f"{path.name}:{node.lineno} {text[:60]!r}")
    assert unlisted == [], unlisted

