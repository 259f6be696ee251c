"""The YAML users copy is valid Bitbucket Pipelines configuration: the repository's own
bitbucket-pipelines.yml, every YAML block of every README (the root one, each pipe's, any under
docs/) and every example file (docs/examples/*.yml), checked against Bitbucket's published schema
as check-jsonschema vendors it (``vendor.bitbucket-pipelines``), in process with jsonschema.

What a block is, by the shape of each YAML document in it, and how it is checked:

- a mapping with ``pipelines`` (or only other top-level keys of a configuration such as
  ``definitions``, ``image``, ``options``): a whole bitbucket-pipelines.yml, validated as it is;
- a mapping with ``script`` (a step's body, as in ``script: [...]``): wrapped as the one step of a
  default pipeline, ``{pipelines: {default: [{step: <block>}]}}``;
- a list of ``step``/``parallel``/``stage`` items: wrapped as the default pipeline,
  ``{pipelines: {default: <block>}}``;
- any other list (script lines: commands and ``- pipe:`` entries, as a README's YAML Definition):
  wrapped as the script of one step, ``{pipelines: {default: [{step: {script: <block>}}]}}``;
- a mapping with ``apiVersion`` and ``kind``: a Kubernetes object (a Flux or kustomize manifest of a
  GitOps repository), not pipelines YAML: skipped, and listed as skipped;
- anything else fails: a new kind of block needs a rule here.

One rule is checked besides the schema, which does not say it: every step has a ``script`` (Atlassian's
step reference marks it required; the schema would take a step whose ``script`` is misspelt).

A YAML block is a fenced code block whose info string is ``yaml`` or ``yml``. An untagged fence that
looks like pipelines YAML fails, so that no block escapes the check by its fence.
"""
from __future__ import annotations

import importlib.resources
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from testbed.pipes import REPO_ROOT

CONFIG_KEYS = {"pipelines", "definitions", "image", "options", "clone", "labels", "export"}
STEP_ITEM_KEYS = {"step", "parallel", "stage"}
FENCE = re.compile(r"^(?P<indent> *)(?P<fence>```+|~~~+)(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=indent)(?P=fence)\s*$",
                   re.M | re.S)


@dataclass(frozen=True)
class Block:
    where: str  # path:line
    text: str


@cache
def validator() -> jsonschema.protocols.Validator:
    vendor = importlib.resources.files("check_jsonschema.builtin_schemas.vendor")
    schema = json.loads((vendor / "bitbucket-pipelines.json").read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def markdown_files() -> list[Path]:
    found = [REPO_ROOT / "README.md", *sorted(REPO_ROOT.glob("pipes/*/README.md")),
             *sorted(REPO_ROOT.glob("docs/**/*.md"))]
    return [path for path in found if path.is_file()]


def fences(path: Path) -> Iterator[tuple[str, int, str]]:
    """(info string, line of the first body line, body) of each fenced code block."""
    text = path.read_text()
    for match in FENCE.finditer(text):
        line = text.count("\n", 0, match.start("body")) + 1
        indent = len(match["indent"])
        body = "".join(row[indent:] if row[:indent].isspace() else row
                       for row in match["body"].splitlines(keepends=True))
        yield match["info"].strip().lower(), line, body


def blocks() -> list[Block]:
    found = [Block("bitbucket-pipelines.yml:1", (REPO_ROOT / "bitbucket-pipelines.yml").read_text())]
    for path in markdown_files():
        rel = path.relative_to(REPO_ROOT)
        for info, line, body in fences(path):
            if info.split(" ")[0] in ("yaml", "yml"):
                found.append(Block(f"{rel}:{line}", body))
    for path in sorted([*REPO_ROOT.glob("docs/examples/*.yml"), *REPO_ROOT.glob("docs/examples/*.yaml")]):
        found.append(Block(f"{path.relative_to(REPO_ROOT)}:1", path.read_text()))
    return found


def as_configuration(document: Any) -> tuple[str, dict[str, Any] | None]:
    """(kind, the whole configuration to validate, or None for a block that is skipped)."""
    if isinstance(document, dict) and {"apiVersion", "kind"} <= document.keys():
        return "Kubernetes object: skipped", None
    if isinstance(document, dict) and document and document.keys() <= CONFIG_KEYS:
        return "configuration", document
    if isinstance(document, dict) and "script" in document:
        return "step", {"pipelines": {"default": [{"step": document}]}}
    if isinstance(document, list) and document and all(
            isinstance(item, dict) and len(item) == 1 and item.keys() <= STEP_ITEM_KEYS for item in document):
        return "pipeline items", {"pipelines": {"default": document}}
    if isinstance(document, list) and document:
        return "script", {"pipelines": {"default": [{"step": {"script": document}}]}}
    raise AssertionError(f"not a kind of block this test knows: {str(document)[:200]!r}: add a rule")


def steps(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every ``step:`` mapping of a configuration, wherever it sits (pipelines, parallel, stages,
    definitions), with its path."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "step" and isinstance(value, dict):
                yield f"{path}/step", value
            yield from steps(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from steps(item, f"{path}/{index}")


def errors(configuration: dict[str, Any]) -> list[str]:
    # a oneOf (a script line is a command or a pipe...) fails as a whole: name its closest branch's error
    closest = [jsonschema.exceptions.best_match([error]) or error
               for error in validator().iter_errors(configuration)]
    found = [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message[:300]}"
             for e in sorted(closest, key=lambda e: [str(p) for p in e.absolute_path])]
    found += [f"{where.lstrip('/')}: a step needs a script" for where, step in steps(configuration)
              if "script" not in step and step.get("type") != "pipeline"]
    return found


def check(text: str) -> list[str]:
    """The kind of each YAML document of a block; raises with the schema errors."""
    kinds = []
    try:
        documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError as err:
        raise AssertionError(f"not YAML: {err}") from err
    for document in documents:
        if document is None:
            continue
        kind, configuration = as_configuration(document)
        kinds.append(kind)
        if configuration is not None:
            found = errors(configuration)
            assert not found, f"{kind} block is not valid pipelines YAML:\n" + "\n".join(found)
    assert kinds, "an empty YAML block"
    return kinds


ALL = blocks()


@pytest.mark.parametrize("block", ALL, ids=[b.where for b in ALL])
def test_yaml_block_is_valid_pipelines_configuration(block: Block) -> None:
    kinds = check(block.text)
    if all(kind.endswith("skipped") for kind in kinds):
        pytest.skip(f"{block.where}: {', '.join(kinds)} (a manifest, not pipelines YAML)")


def test_every_readme_has_blocks_and_every_kind_is_seen() -> None:
    for path in [REPO_ROOT / "README.md", *REPO_ROOT.glob("pipes/*/README.md")]:
        assert any(b.where.startswith(f"{path.relative_to(REPO_ROOT)}:") for b in ALL), path
    kinds = {as_configuration(document)[0] for block in ALL for document in yaml.safe_load_all(block.text)
             if document is not None}
    assert {"configuration", "script"} <= kinds, kinds


def test_no_untagged_fence_holds_pipelines_yaml() -> None:
    untagged = [f"{path.relative_to(REPO_ROOT)}:{line}" for path in markdown_files()
                for info, line, body in fences(path)
                if not info and re.search(r"^\s*(-\s+)?(pipe|pipelines|script|step):", body, re.M)]
    assert not untagged, f"tag these fences yaml so that the schema check sees them: {untagged}"


@pytest.mark.parametrize(("text", "complaint"), [
    # a README YAML Definition whose variables slipped out of the pipe entry
    ("- pipe: docker://dopipes/build-push:0.1.0\nvariables:\n  IMAGE: web\n", "not YAML"),
    # ... or indented as a list item of their own
    ("- pipe: docker://dopipes/build-push:0.1.0\n- variables:\n    IMAGE: web\n", "not valid"),
    # a variable that YAML reads as a number: Bitbucket wants strings
    ("- pipe: docker://dopipes/flux-bump:0.1.0\n  variables:\n    RETRIES: 5\n", "not valid"),
    # a step with the script misspelt (the schema allows any key: the script rule catches it)
    ("pipelines:\n  default:\n    - step:\n        scripts: [make]\n", "needs a script"),
    # services as a string
    ("script: [make]\nservices: docker\n", "not valid"),
    # a bare step with an unknown trigger
    ("script: [make]\ntrigger: sometimes\n", "not valid"),
    # a step list with a step that has no script
    ("- step:\n    name: nothing to run\n", "needs a script"),
    # an empty script
    ("pipelines:\n  branches:\n    main:\n      - step:\n          script: []\n", "not valid"),
    # runtime version as a number
    ("pipelines:\n  default:\n    - step:\n        runtime: {cloud: {version: 3}}\n        script: [make]\n",
     "not valid"),
    # a mapping that is none of the known kinds
    ("name: DigitalOcean build-push\nimage: dopipes/build-push:0.1.0\n", "not a kind of block"),
])
def test_a_broken_block_fails(text: str, complaint: str) -> None:
    with pytest.raises(AssertionError, match=complaint):
        check(text)


def test_a_kubernetes_manifest_is_skipped_by_its_rule() -> None:
    manifest = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nimages: []\n"
    assert check(manifest + "---\n- make\n") == ["Kubernetes object: skipped", "script"]
