"""Product code (the shared library and every pipe's package) imports at the top of its modules:
no import inside a function or a class (a ``TYPE_CHECKING`` block aside), and the modules of a
package import one way (no cycle, which an import inside a function would otherwise hide)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest
from testbed.pipes import PACKAGES, PIPES, REPO_ROOT

PRODUCT = {"pipes_common": REPO_ROOT / "shared" / "pipes_common",
           **{PACKAGES[pipe]: REPO_ROOT / "pipes" / pipe / PACKAGES[pipe] for pipe in PIPES}}


def _type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def inner_imports(source: str) -> list[str]:
    """``line: import`` for every import below a function or class of a module's ``source``."""
    found: list[str] = []

    def walk(node: ast.AST, inside: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if _type_checking(child):
                continue
            if inside and isinstance(child, ast.Import | ast.ImportFrom):
                found.append(f"{child.lineno}: {ast.unparse(child)}")
            walk(child, inside or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef))

    walk(ast.parse(source), False)
    return found


def own_imports(package: str, path: Path) -> set[str]:
    """The modules of ``package`` that module ``path`` imports when it is loaded."""
    names: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                names.add(node.module.split(".")[0])
            else:
                names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(f"{package}."):
            names.add((node.module or "").split(".")[1])
    return names


def cycles(graph: dict[str, set[str]]) -> list[str]:
    """Every import cycle of ``graph`` (module -> the modules it imports), as ``a -> b -> a``."""
    found: list[str] = []
    done: set[str] = set()

    def visit(module: str, trail: list[str]) -> None:
        if module in trail:
            found.append(" -> ".join([*trail[trail.index(module):], module]))
            return
        if module in done:
            return
        for imported in sorted(graph.get(module, set())):
            visit(imported, [*trail, module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])
    return found


@pytest.mark.parametrize("package", sorted(PRODUCT))
def test_imports_sit_at_the_top_of_modules(package: str) -> None:
    found = [f"{path.relative_to(REPO_ROOT)}:{line}" for path in sorted(PRODUCT[package].glob("*.py"))
             for line in inner_imports(path.read_text(encoding="utf-8"))]
    assert found == []


@pytest.mark.parametrize("package", sorted(PRODUCT))
def test_the_modules_of_a_package_import_one_way(package: str) -> None:
    folder = PRODUCT[package]
    modules = {path.stem for path in folder.glob("*.py")}
    assert cycles({path.stem: (own_imports(package, path) & modules) - {path.stem}
                   for path in folder.glob("*.py") if path.stem != "__init__"}) == []


def test_an_import_in_a_function_and_a_cycle_are_found() -> None:
    source = ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import json\n"
              "def f():\n    import copy\n    return copy\n")
    assert inner_imports(source) == ["5: import copy"]
    assert cycles({"ports": {"engine"}, "engine": {"ports", "request"}, "request": set()}) == [
        "engine -> ports -> engine"]
