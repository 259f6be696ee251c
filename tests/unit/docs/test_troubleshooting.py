"""The Troubleshooting table quotes the pipe's real messages: every literal piece of a quoted
message (between placeholders such as ``<url>``, ``N`` or ``…``) is in the pipe's code, where a
variable name may also be an f-string field that fills it in (``{self.auth.variable}``)."""
from __future__ import annotations

import re

import pytest
from testbed.pipes import PACKAGES, REPO_ROOT

PIPES = ["flux-bump", "tf-apply"]  # the pipes whose table is checked against their code
PLACEHOLDER = re.compile(r"<[^>]+>|…|\bN\b|\((?:401|403)\)")
VARIABLE = re.compile(r"\b[A-Z][A-Z0-9_]{2,}\b")


def _pattern(piece: str) -> re.Pattern[str]:
    """``piece`` as a regex in which each variable name may also be an f-string field."""
    out, last = "", 0
    for match in VARIABLE.finditer(piece):
        out += re.escape(piece[last:match.start()]) + rf"(?:{match.group()}|\{{[^{{}}]+\}})"
        last = match.end()
    return re.compile(out + re.escape(piece[last:]))


def _code(pipe: str) -> str:
    """The pipe's and the shared library's Python, adjacent string literals joined."""
    files = [*(REPO_ROOT / "pipes" / pipe / PACKAGES[pipe]).glob("*.py"),
             *(REPO_ROOT / "shared" / "pipes_common").glob("*.py")]
    text = "\n".join(p.read_text(encoding="utf-8") for p in sorted(files))
    return re.sub(r"[\"']\s*\n\s*[rf]*[\"']", "", text)


def _quoted(pipe: str) -> list[str]:
    text = (REPO_ROOT / "pipes" / pipe / "README.md").read_text(encoding="utf-8")
    section = text.split("## Troubleshooting", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return [quote for row in rows for quote in re.findall(r"`([^`]+)`", row.split(" | ")[0])]


@pytest.mark.parametrize("pipe", PIPES)
def test_the_quoted_messages_are_the_pipes_own(pipe: str) -> None:
    code = _code(pipe)
    quoted = _quoted(pipe)
    assert len(quoted) >= 20
    missing = [(message, piece) for message in quoted for piece in PLACEHOLDER.split(message)
               if piece.strip(" .:;,") and not _pattern(piece.strip(" :;,")).search(code)]
    assert missing == []
