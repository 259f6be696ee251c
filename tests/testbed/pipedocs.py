"""The parts of each pipe's docs generated from its variable declarations (``schema.py``,
:class:`pipes_common.variables.Var`): the ``variables`` of ``pipe.yml``, and the README's Variables
table and YAML Definition block; and the root README's table of pipes, from each ``pipe.yml``.
``./dev docs`` writes them (``python -m testbed.pipedocs``);
``tests/unit/docs/test_generated_docs.py`` fails when one is stale."""
from __future__ import annotations

import importlib
import json
import re
import sys
from pathlib import Path

import yaml
from pipes_common.variables import Var, Variables

from .pipes import PACKAGES, REPO_ROOT

_EXAMPLES = {"string": "'<string>'", "boolean": "'<boolean>'", "integer": "'<integer>'", "list": "['<string>']"}
_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_./:@-]*")


def declarations(pipe: str) -> Variables:
    variables: Variables = importlib.import_module(f"{PACKAGES[pipe]}.schema").VARIABLES
    return variables


def shown_default(value: object) -> str:
    """A default as the docs spell it (YAML booleans in lowercase)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def _yaml_text(text: str) -> str:
    """``text`` as a YAML scalar that reads back as that text."""
    if _PLAIN.fullmatch(text) and yaml.safe_load(text) == text:
        return text
    return json.dumps(text)


def pipe_yml_variables(variables: Variables) -> str:
    """The ``variables:`` section of pipe.yml (its last section)."""
    lines = ["variables:"]
    for var in variables:
        lines.append(f"  - name: {var.name}")
        if var.required:
            lines.append("    required: true")
        if var.secret:
            lines.append("    secret: true")
        if var.type == "list":
            lines.append("    type: list")
        if var.default is not None:
            lines.append(f"    default: {_yaml_text(shown_default(var.default))}")
    return "\n".join(lines) + "\n"


def _rows(variables: Variables) -> list[tuple[list[Var], str]]:
    """The README rows: a variable with an empty doc shares the row of the one declared before."""
    rows: list[tuple[list[Var], str]] = []
    for var in variables:
        if var.doc or not rows:
            rows.append(([var], var.doc))
        else:
            rows[-1][0].append(var)
    return rows


def readme_table(variables: Variables) -> str:
    lines = ["| Variable | Usage |", "| --- | --- |"]
    for members, doc in _rows(variables):
        cell = ", ".join(v.name + (" (*)" if v.required else "") for v in members)
        lines.append(f"| {cell} | {doc} |")
    return "\n".join(lines) + "\n"


def yaml_definition(variables: Variables) -> str:
    """The lines under ``variables:`` of the README's YAML Definition: the required variables
    first, then every other one commented out, with what it defaults to."""
    required, optional = [], []
    for var in variables:
        example = var.example or (f"${var.name}" if var.secret else _EXAMPLES[var.type])
        if var.required:
            required.append(f"    {var.name}: {example}")
            continue
        note = var.note or "Optional" + (f", default '{shown_default(var.default)}'"
                                         if var.default is not None else "")
        optional.append((f"    # {var.name}: {example}", note))
    width = max((len(line) for line, _ in optional), default=0) + 3
    return "\n".join([*required, *(f"{line.ljust(width)}# {note}" for line, note in optional)]) + "\n"


def _replace(text: str, start: str, end: str, new: str, where: str) -> str:
    """``text`` with what lies between the marker ``start`` (kept) and the next ``end`` (kept)
    replaced by ``new``."""
    head, found, rest = text.partition(start)
    if not found:
        raise ValueError(f"{where}: {start!r} not found")
    _, found, tail = rest.partition(end)
    if not found:
        raise ValueError(f"{where}: {end!r} not found after {start!r}")
    return head + start + new + end + tail


def generated(pipe: str) -> dict[Path, str]:
    """pipe.yml and README.md of ``pipe`` as ``./dev docs`` writes them."""
    folder = REPO_ROOT / "pipes" / pipe
    variables = declarations(pipe)
    meta = (folder / "pipe.yml").read_text()
    head, found, _ = meta.partition("\nvariables:\n")
    if not found:
        raise ValueError(f"{pipe}/pipe.yml: no variables section")
    readme = (folder / "README.md").read_text()
    definition, rest = readme.split("## YAML Definition", 1)[1].split("\n## ", 1)[0], readme
    new_definition = _replace(definition, "  variables:\n", "```", yaml_definition(variables), f"{pipe} README")
    rest = readme.replace(definition, new_definition, 1)
    head_readme, variables_part = rest.split("\n## Variables\n", 1)
    section, after = variables_part.split("\n## ", 1) if "\n## " in variables_part else (variables_part, "")
    table = re.search(r"^\| Variable \| Usage \|\n(?:^\|.*\|\n)+", section, re.M)
    if table is None:
        raise ValueError(f"{pipe} README: no Variables table")
    section = section[:table.start()] + readme_table(variables) + section[table.end():]
    readme = head_readme + "\n## Variables\n" + section + ("\n## " + after if after else "")
    return {folder / "pipe.yml": head + "\n" + pipe_yml_variables(variables), folder / "README.md": readme}


def root_table() -> str:
    """The root README's table of pipes: one row per pipe of pyproject.toml's list, in its order,
    saying what the pipe's ``pipe.yml`` ``description`` says."""
    lines = ["| Pipe | What it does |", "| --- | --- |"]
    for pipe in PACKAGES:
        meta = yaml.safe_load((REPO_ROOT / "pipes" / pipe / "pipe.yml").read_text())
        lines.append(f"| [`{pipe}`](pipes/{pipe}/README.md) | {meta['description'].strip()} |")
    return "\n".join(lines) + "\n"


def generated_root() -> dict[Path, str]:
    """The root README as ``./dev docs`` writes it (its table of pipes)."""
    path = REPO_ROOT / "README.md"
    text = path.read_text()
    table = re.search(r"^\| Pipe \| What it does \|\n(?:^\|.*\|\n)+", text, re.M)
    if table is None:
        raise ValueError("README.md: no table of pipes (| Pipe | What it does |)")
    return {path: text[:table.start()] + root_table() + text[table.end():]}


def main() -> int:
    for path, text in generated_root().items():
        if path.read_text() != text:
            path.write_text(text)
            print(f"wrote {path.relative_to(REPO_ROOT)}")
    for pipe in sorted(PACKAGES):
        if not hasattr(importlib.import_module(f"{PACKAGES[pipe]}.schema"), "VARIABLES"):
            continue  # not converted yet
        for path, text in generated(pipe).items():
            if path.read_text() != text:
                path.write_text(text)
                print(f"wrote {path.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
