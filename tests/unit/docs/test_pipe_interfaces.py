"""Each pipe's public interface agrees with itself: the schema in code, pipe.yml, the README's
Variables table and YAML definition, the version in pipe.yml, README and CHANGELOG."""
from __future__ import annotations

import importlib
import json
import re

import pytest
import yaml
from testbed.pipes import PACKAGES, REPO_ROOT

PIPES = sorted(PACKAGES)


def schema_names(pipe: str) -> set[str]:
    module = importlib.import_module(f"{PACKAGES[pipe]}.schema")
    return set(module.SCHEMA)


def readme(pipe: str) -> str:
    return (REPO_ROOT / "pipes" / pipe / "README.md").read_text()


def table_names(text: str) -> set[str]:
    section = text.split("## Variables", 1)[1].split("\n## ", 1)[0]
    names: set[str] = set()
    for row in re.findall(r"^\|\s*([^|]+?)\s*\|", section, re.M):
        for name in re.findall(r"`?\b([A-Z][A-Z0-9_]+)\b`?", row.replace("(*)", "")):
            names.add(name)
    return names - {"VARIABLE", "USAGE"}


@pytest.mark.parametrize("pipe", PIPES)
def test_schema_pipe_yml_and_readme_agree(pipe: str) -> None:
    code = schema_names(pipe)
    meta = yaml.safe_load((REPO_ROOT / "pipes" / pipe / "pipe.yml").read_text())
    declared = {v["name"] for v in meta["variables"]}
    assert declared == code, f"pipe.yml vs schema: {sorted(declared ^ code)}"
    documented = table_names(readme(pipe))
    assert code <= documented, f"missing from the README Variables table: {sorted(code - documented)}"


@pytest.mark.parametrize("pipe", PIPES)
def test_required_marks_agree(pipe: str) -> None:
    module = importlib.import_module(f"{PACKAGES[pipe]}.schema")
    required = {n for n, spec in module.SCHEMA.items() if spec.get("required")}
    meta = yaml.safe_load((REPO_ROOT / "pipes" / pipe / "pipe.yml").read_text())
    assert {v["name"] for v in meta["variables"] if v.get("required")} == required
    marked = set(re.findall(r"^\|\s*`?([A-Z][A-Z0-9_]+)`?\s*\(\*\)", readme(pipe), re.M))
    assert required <= marked, f"not marked (*) in the README: {sorted(required - marked)}"


@pytest.mark.parametrize("pipe", PIPES)
def test_versions_agree(pipe: str) -> None:
    folder = REPO_ROOT / "pipes" / pipe
    releases = sorted((folder / ".semversioner").glob("*.json"))
    assert releases, "no released changeset"
    version = max((json.loads(p.read_text())["version"] for p in releases),
                  key=lambda v: tuple(int(x) for x in v.split(".")))
    meta = yaml.safe_load((folder / "pipe.yml").read_text())
    assert meta["image"].endswith(f"/{pipe}:{version}")
    assert f"/{pipe}:{version}" in readme(pipe).split("## YAML Definition", 1)[1].split("\n## ", 1)[0]
    assert f"## {version}" in (folder / "CHANGELOG.md").read_text()
    package = importlib.import_module(PACKAGES[pipe])
    assert package.__version__ == version  # a package without __version__ fails too


@pytest.mark.parametrize("pipe", PIPES)
def test_readme_has_the_atlassian_sections(pipe: str) -> None:
    text = readme(pipe)
    for heading in ("## YAML Definition", "## Variables", "## Details", "## Prerequisites", "## Examples"):
        assert heading in text, heading


def _shown(value: object) -> str:
    """A default as pipe.yml and the README spell it (YAML booleans in lowercase)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def readme_defaults(text: str) -> dict[str, str]:
    """``NAME -> default`` for each Variables row saying ``Default: `value```."""
    section = text.split("## Variables", 1)[1].split("\n## ", 1)[0]
    found: dict[str, str] = {}
    for cell, usage in re.findall(r"^\|([^|]*)\|(.*)\|\s*$", section, re.M):
        names = re.findall(r"\b([A-Z][A-Z0-9_]+)\b", cell.replace("(*)", ""))
        said = usage.split("Default: ", 1)[1] if "Default: `" in usage else ""
        values = re.findall(r"`([^`]*)`", said)
        if names and values:  # "A, B | ... Default: `a` and `b`": one value each, in order
            found.update(zip(names, values if len(names) > 1 else values[:1], strict=False))
    return found


@pytest.mark.parametrize("pipe", PIPES)
def test_defaults_agree(pipe: str) -> None:
    """Every default lives in the schema; pipe.yml states each of them, and the README's
    ``Default: `value``` says the same."""
    module = importlib.import_module(f"{PACKAGES[pipe]}.schema")
    code = {n: _shown(spec["default"]) for n, spec in module.SCHEMA.items() if "default" in spec}
    meta = yaml.safe_load((REPO_ROOT / "pipes" / pipe / "pipe.yml").read_text())
    declared = {v["name"]: _shown(v["default"]) for v in meta["variables"] if "default" in v}
    assert declared == code, f"pipe.yml vs schema defaults: {sorted(set(declared.items()) ^ set(code.items()))}"
    documented = readme_defaults(readme(pipe))
    wrong = {n: (documented[n], v) for n, v in code.items() if n in documented and documented[n] != v}
    assert not wrong, f"README default vs schema (README, schema): {wrong}"
