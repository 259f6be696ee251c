"""The one version source of each pipe (semversioner's released versions) and its copies: CHANGELOG.md,
pipe.yml, ``__version__`` and every pinned ``pipe:`` line of the docs (``.ci/version.py``)."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from testbed.pipes import PIPES, REPO_ROOT

SCRIPT = REPO_ROOT / ".ci" / "version.py"
ENV = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}


def run(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(root / ".ci" / "version.py"), *args], capture_output=True,
                          text=True, env=ENV, check=False)


def test_every_copy_names_the_released_version() -> None:
    result = run(REPO_ROOT, "check")
    assert result.returncode == 0, result.stderr + "\nrun: python3 .ci/version.py sync"


def test_the_changelog_head_is_the_released_version() -> None:
    for pipe in PIPES:
        head = re.search(r"^## (\S+)$", (REPO_ROOT / "pipes" / pipe / "CHANGELOG.md").read_text(), re.MULTILINE)
        pinned = re.search(rf"{pipe}:(\d+\.\d+\.\d+)", (REPO_ROOT / "pipes" / pipe / "pipe.yml").read_text())
        assert head and pinned and head.group(1) == pinned.group(1), pipe


def _copy(tmp: Path) -> Path:
    root = tmp / "repo"
    for rel in (".ci/version.py", "pyproject.toml", "README.md"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / rel, root / rel)
    shutil.copytree(REPO_ROOT / "docs", root / "docs")
    for pipe in PIPES:
        src, dst = REPO_ROOT / "pipes" / pipe, root / "pipes" / pipe
        shutil.copytree(src / ".semversioner", dst / ".semversioner")
        package = pipe.replace("-", "_")
        (dst / package).mkdir(parents=True)
        for rel in ("pipe.yml", "README.md", "CHANGELOG.md", f"{package}/__init__.py"):
            shutil.copy2(src / rel, dst / rel)
    return root


def test_release_moves_every_copy_to_the_new_version_once(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    semver = root / "pipes" / "flux-bump" / ".semversioner"
    shutil.rmtree(semver / "next-release", ignore_errors=True)
    (semver / "next-release").mkdir()
    (semver / "next-release" / "patch-20261207000000000000.json").write_text(
        json.dumps({"type": "patch", "description": "A fix."}))
    before = max((p.stem for p in semver.glob("*.json")), key=lambda v: tuple(map(int, v.split("."))))
    major, minor, patch = map(int, before.split("."))
    after = f"{major}.{minor}.{patch + 1}"

    released = run(root, "release")
    assert released.returncode == 0, released.stderr
    assert (semver / f"{after}.json").is_file()
    assert f'__version__ = "{after}"' in (root / "pipes/flux-bump/flux_bump/__init__.py").read_text()
    assert f"flux-bump:{after}" in (root / "pipes/flux-bump/pipe.yml").read_text()
    assert f"## {after}" in (root / "pipes/flux-bump/CHANGELOG.md").read_text()
    example = (root / "docs/examples/bitbucket-pipelines.yml").read_text()
    assert f"flux-bump:{after}" in example and f"flux-bump:{before}" not in example
    assert run(root, "check").returncode == 0

    versions = sorted(p.name for p in semver.glob("*.json"))
    again = run(root, "release")  # nothing pending: nothing released, nothing changed
    assert again.returncode == 0, again.stderr
    assert sorted(p.name for p in semver.glob("*.json")) == versions


def test_a_stale_copy_is_named(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    readme = root / "pipes" / "tf-apply" / "README.md"
    readme.write_text(re.sub(r"tf-apply:\d+\.\d+\.\d+", "tf-apply:9.9.9", readme.read_text(), count=1))
    result = run(root, "check")
    assert result.returncode == 1
    assert "pipes/tf-apply/README.md" in result.stderr

