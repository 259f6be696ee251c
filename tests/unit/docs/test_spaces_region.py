"""Every snippet a user copies that names a Space names its region too: tf-apply's ``SPACES_REGION``
defaults to ``nyc3``, so a snippet with ``SPACES_BUCKET`` and no region, copied by a team whose Space is
elsewhere (the guide's is in ``fra1``), fails with "the Space does not exist". A snippet is a ``yaml``
block of the READMEs and docs, or an example file; within it, every ``variables:`` mapping that names
``SPACES_BUCKET`` also names ``SPACES_REGION`` (or ``SPACES_ENDPOINT``, another store). The YAML
Definition templates (``SPACES_BUCKET: '<string>'``) name no Space."""
from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from testbed.pipes import REPO_ROOT


def documents() -> list[Path]:
    found = [REPO_ROOT / "README.md", *sorted(REPO_ROOT.glob("pipes/*/README.md")),
             *sorted(REPO_ROOT.glob("docs/**/*.md")), *sorted(REPO_ROOT.glob("docs/examples/*.yml"))]
    return [path for path in found if path.is_file()]


def snippets(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".yml":
        return [text]
    return re.findall(r"```yaml\n(.*?)```", text, re.S)


def mappings(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from mappings(value)
    elif isinstance(node, list):
        for item in node:
            yield from mappings(item)


def without_region(snippet: str) -> list[dict[str, Any]]:
    """The mappings of ``snippet`` that name a Space (not a ``<placeholder>``) but no region."""
    return [m for m in mappings(yaml.safe_load(snippet))
            if "SPACES_BUCKET" in m and not str(m["SPACES_BUCKET"]).startswith("<")
            and not {"SPACES_REGION", "SPACES_ENDPOINT"} & set(m)]


def naming_a_space(path: Path) -> list[str]:
    return [s for s in snippets(path)
            if any("SPACES_BUCKET" in m and not str(m["SPACES_BUCKET"]).startswith("<")
                   for m in mappings(yaml.safe_load(s)))]


@pytest.mark.parametrize("path", documents(), ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_every_snippet_naming_a_space_names_its_region(path: Path) -> None:
    missing = [m for snippet in snippets(path) for m in without_region(snippet)]
    assert not missing, [{k: v for k, v in m.items() if k.startswith("SPACES_")} for m in missing]


def test_the_check_sees_the_snippets_and_a_missing_region() -> None:
    counted = {path.relative_to(REPO_ROOT).as_posix(): len(naming_a_space(path)) for path in documents()}
    assert counted["pipes/tf-apply/README.md"] >= 8, counted
    assert counted["docs/getting-started.md"] >= 1 and counted["docs/examples/bitbucket-pipelines.yml"] == 1
    bad = "- pipe: docker://dopipes/tf-apply:9.9.9\n  variables:\n    SPACES_BUCKET: acme-terraform\n"
    assert len(without_region(bad)) == 1
    assert without_region(bad + "    SPACES_REGION: fra1\n") == []
    assert without_region("- pipe: x\n  variables:\n    SPACES_BUCKET: '<string>'\n") == []
