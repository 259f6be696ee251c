"""Each pipe's public interface agrees with itself: pipe.yml's variables, the README's Variables
table and YAML Definition are generated from the declarations in schema.py (and current); each doc
states the declared default; the version in pipe.yml, README and CHANGELOG agree."""
from __future__ import annotations

import importlib
import json
import re

import pytest
import yaml
from testbed import pipedocs
from testbed.pipes import PACKAGES, REPO_ROOT

PIPES = sorted(PACKAGES)


def readme(pipe: str) -> str:
    return (REPO_ROOT / "pipes" / pipe / "README.md").read_text()


@pytest.mark.parametrize("pipe", PIPES)
def test_the_generated_docs_are_current(pipe: str) -> None:
    """pipe.yml's variables, the README's Variables table and YAML Definition are what
    ``./dev docs`` makes of the declarations in schema.py."""
    for path, text in pipedocs.generated(pipe).items():
        assert path.read_text() == text, f"{path.relative_to(REPO_ROOT)} is stale: run ./dev docs"


def test_the_root_table_of_pipes_is_current() -> None:
    """The root README lists every pipe of pyproject.toml, each with its pipe.yml description."""
    for path, text in pipedocs.generated_root().items():
        assert path.read_text() == text, f"{path.relative_to(REPO_ROOT)}'s table of pipes is stale: run ./dev docs"
    assert all(f"[`{pipe}`](pipes/{pipe}/README.md)" in pipedocs.root_table() for pipe in PIPES)


@pytest.mark.parametrize("pipe", PIPES)
def test_every_variable_is_documented(pipe: str) -> None:
    """A variable with no doc of its own shares the row of the one declared before it: the first
    variable, and every required one, has its own row."""
    declared = list(pipedocs.declarations(pipe))
    assert declared[0].doc
    assert all(v.doc for v in declared if v.required)
    assert all(v.hint or not v.required for v in declared), "a required variable needs a hint"


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


def doc_defaults(pipe: str) -> dict[str, str]:
    """``NAME -> default`` for each Variables row (a declaration's doc) saying ``Default: `value```."""
    found: dict[str, str] = {}
    for members, doc in pipedocs._rows(pipedocs.declarations(pipe)):
        said = doc.split("Default: ", 1)[1] if "Default: `" in doc else ""
        values = re.findall(r"`([^`]*)`", said)
        names = [v.name for v in members]
        if values:  # "A, B | ... Default: `a` and `b`": one value each, in order
            found.update(zip(names, values if len(names) > 1 else values[:1], strict=False))
    return found


@pytest.mark.parametrize("pipe", PIPES)
def test_the_doc_says_the_declared_default(pipe: str) -> None:
    """A doc's ``Default: `value``` is the declared default (the one the door applies)."""
    code = {v.name: pipedocs.shown_default(v.default) for v in pipedocs.declarations(pipe) if v.default is not None}
    documented = doc_defaults(pipe)
    wrong = {n: (documented[n], v) for n, v in code.items() if n in documented and documented[n] != v}
    assert not wrong, f"doc default vs declared default (doc, declared): {wrong}"
