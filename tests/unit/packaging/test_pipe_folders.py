"""A pipe is its folder and one line: every listed pipe's folder holds the same parts, installs as a
package whose runtime pins are its requirements.txt, and builds with the one image recipe."""
from __future__ import annotations

import importlib.metadata
import importlib.util
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
from docker.utils.build import exclude_paths
from testbed.pipes import PACKAGES, PIPES, REPO_ROOT

PIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*==[0-9][A-Za-z0-9.+!-]*")
# the pinned dependencies in a layer before the source (a change of the code rebuilds only the
# layers from COPY . on), then the pipe and the shared library
BUILD_STAGE = ("FROM ${BASE_IMAGE} AS build",
               "COPY shared/image/install-pipe.sh pipes/{pipe}/requirements.txt /src/deps/",
               'RUN ["sh", "/src/deps/install-pipe.sh", "--deps", "/src/deps/requirements.txt", "/opt/pipe"]',
               "COPY . /src",
               'RUN ["sh", "/src/shared/image/install-pipe.sh", "/src/pipes/{pipe}", "/opt/pipe"]')


def pyproject(pipe: str) -> dict[str, Any]:
    return tomllib.loads((REPO_ROOT / "pipes" / pipe / "pyproject.toml").read_text())


def pins(pipe: str) -> list[str]:
    lines = (REPO_ROOT / "pipes" / pipe / "requirements.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def instructions(pipe: str) -> list[str]:
    """The Dockerfile's instructions, continuation lines joined, comments left out."""
    text = re.sub(r"\\\n\s*", "", (REPO_ROOT / "pipes" / pipe / "Dockerfile").read_text())
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def test_the_list_of_pipes_is_the_pipes_folder() -> None:
    folders = sorted(p.name for p in (REPO_ROOT / "pipes").iterdir() if p.is_dir())
    assert sorted(PIPES) == folders, "list each folder of pipes/ in pyproject.toml [tool.do-pipes] pipes"
    assert {pipe: pipe.replace("-", "_") for pipe in PIPES} == PACKAGES


@pytest.mark.parametrize("pipe", PIPES)
def test_a_pipe_folder_holds_its_parts(pipe: str) -> None:
    folder = REPO_ROOT / "pipes" / pipe
    parts = ["Dockerfile", "pipe.yml", "README.md", "CHANGELOG.md", ".semversioner", "pyproject.toml",
             "requirements.txt", f"{PACKAGES[pipe]}/__init__.py", f"{PACKAGES[pipe]}/__main__.py"]
    assert [part for part in parts if not (folder / part).exists()] == []


@pytest.mark.parametrize("pipe", PIPES)
def test_the_pipe_is_a_package_whose_dependencies_are_its_pins(pipe: str) -> None:
    config = pyproject(pipe)
    assert config["project"]["name"] == pipe
    assert config["tool"]["setuptools"]["packages"] == [PACKAGES[pipe]]
    # one version only, semversioner's (pipe.yml): the package states none of its own
    assert "version" not in config["project"]
    assert "dependencies" not in config["project"]
    assert {"version", "dependencies"} <= set(config["project"]["dynamic"])
    assert config["tool"]["setuptools"]["dynamic"]["dependencies"] == {"file": ["requirements.txt"]}


@pytest.mark.parametrize("pipe", PIPES)
def test_runtime_dependencies_are_exact_pins(pipe: str) -> None:
    assert pins(pipe), f"pipes/{pipe}/requirements.txt pins nothing"
    assert [line for line in pins(pipe) if not PIN.fullmatch(line)] == []


def test_the_pipes_pin_the_same_versions() -> None:
    """The development environment installs every pipe: a package pinned twice must agree."""
    seen: dict[str, tuple[str, str]] = {}
    clashes = []
    for pipe in PIPES:
        for line in pins(pipe):
            name, version = line.split("==")
            key = name.lower().replace("_", "-")
            if key in seen and seen[key][0] != version:
                clashes.append(f"{name}: {version} in {pipe}, {seen[key][0]} in {seen[key][1]}")
            seen.setdefault(key, (version, pipe))
    assert clashes == []


@pytest.mark.parametrize("pipe", PIPES)
def test_the_development_environment_runs_the_installed_pipe(pipe: str) -> None:
    """./dev installs the pipe (editable) with the pins of its requirements.txt."""
    assert importlib.metadata.requires(pipe) == pins(pipe)
    spec = importlib.util.find_spec(PACKAGES[pipe])
    assert spec is not None and spec.origin is not None
    assert Path(spec.origin).parent == REPO_ROOT / "pipes" / pipe / PACKAGES[pipe]


@pytest.mark.parametrize("pipe", PIPES)
def test_the_dockerfile_builds_with_the_shared_recipe(pipe: str) -> None:
    lines = instructions(pipe)
    assert "ARG BASE_IMAGE=python:3.12-slim" in lines
    # the shared recipe's lines in this order; a pipe's own tools (build-push: the docker CLI of its
    # base's release) may come between, before the source is copied, so a code change keeps them cached
    wanted = [line.replace("{pipe}", pipe) for line in BUILD_STAGE]
    assert all(lines.count(line) == 1 for line in wanted), wanted
    where = [lines.index(line) for line in wanted]
    assert where == sorted(where) and where[-2:] == [where[-2], where[-2] + 1], lines
    stage_end = next((i for i, line in enumerate(lines) if i > where[0] and line.startswith("FROM ")), len(lines))
    assert where[-1] == max(i for i in range(where[0], stage_end) if lines[i].startswith("RUN")), \
        "installing the pipe is the build stage's last step: nothing after the source is copied"
    assert "COPY --from=build /opt/pipe /opt/pipe" in lines
    assert f"COPY pipes/{pipe}/pipe.yml /pipe.yml" in lines
    assert lines[-1] == f'ENTRYPOINT ["/opt/pipe/bin/python", "-m", "{PACKAGES[pipe]}"]'
    assert not [line for line in lines if "pip install" in line], "install through shared/image/install-pipe.sh"


def test_the_build_context_holds_what_the_images_install_and_nothing_else() -> None:
    patterns = [line.strip() for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    # the files the Docker SDK sends (the test bed's builds; the docker CLI reads the file alike)
    context = {path for path in exclude_paths(str(REPO_ROOT), patterns) if (REPO_ROOT / path).is_file()}
    for pipe in PIPES:
        for part in ("Dockerfile", "pipe.yml", "pyproject.toml", "requirements.txt",
                     f"{PACKAGES[pipe]}/__main__.py"):
            assert f"pipes/{pipe}/{part}" in context
    assert {"shared/pyproject.toml", "shared/pipes_common/__init__.py",
            "shared/image/install-pipe.sh"} <= context
    unwanted = [path for path in context
                if not path.startswith(("shared/", "pipes/", ".dockerignore")) or path.endswith((".md", ".pyc"))
                or re.search(r"(^|/)(\.[^/]+|build|[^/]+\.egg-info|__pycache__)/", path)]
    assert unwanted == []


def test_nothing_edits_the_import_path() -> None:
    """Imports work through installation (./dev installs shared, every pipe and the test bed)."""
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True,
                             check=True).stdout.decode().split("\0")
    words = re.compile("PYTHON" "PATH|sys" r"\.path")  # in parts, so that this file is not found
    found = [name for name in tracked if name and not name.endswith(".md")
             and (REPO_ROOT / name).is_file() and words.search((REPO_ROOT / name).read_text(errors="replace"))]
    assert found == []
