"""The repository's release script (``.ci/release.py``), loaded as a module, and a copy of the
repository to release from (so that a test can shape its changesets and its ``release.toml``)."""
from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path
from types import ModuleType

REPO_ROOT = Path(__file__).resolve().parents[2]


def load() -> ModuleType:
    if "release_script" in sys.modules:
        return sys.modules["release_script"]
    spec = importlib.util.spec_from_file_location("release_script", REPO_ROOT / ".ci" / "release.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["release_script"] = module
    spec.loader.exec_module(module)
    return module


def copy_repo(dest: Path, pipe: str, version: str) -> Path:
    """What a release needs (the Docker build context and the pipe's metadata), with ``pipe``
    released at ``version`` and nothing pending."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "next-release")
    shutil.copy2(REPO_ROOT / ".dockerignore", dest / ".dockerignore")
    shutil.copy2(REPO_ROOT / "release.toml", dest / "release.toml")
    shutil.copy2(REPO_ROOT / "pyproject.toml", dest / "pyproject.toml")
    shutil.copytree(REPO_ROOT / "shared", dest / "shared", ignore=ignore)
    target = dest / "pipes" / pipe
    shutil.copytree(REPO_ROOT / "pipes" / pipe, target, ignore=ignore)
    for old in (target / ".semversioner").glob("*.json"):
        old.unlink()
    (target / ".semversioner" / f"{version}.json").write_text(json.dumps(
        {"changes": [{"description": "test release", "type": "minor"}], "version": version}) + "\n")
    pipe_yml = target / "pipe.yml"
    image = load().public_image(REPO_ROOT, pipe)
    lines = [f"image: {image}:{version}" if line.startswith("image:")
             else line for line in pipe_yml.read_text().splitlines()]
    pipe_yml.write_text("\n".join(lines) + "\n")
    (target / "CHANGELOG.md").write_text(f"# Changelog\n\n## {version}\n\n- minor: test release\n")
    return dest
