"""Fixtures of the e2e tests."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from testbed.pipes import REPO_ROOT


@pytest.fixture()
def build_dir(tmp_path: Path) -> Path:
    """A Bitbucket build directory holding the sample app, a git checkout (build-push's tests)."""
    build = tmp_path / "agent" / "build"
    shutil.copytree(REPO_ROOT / "tests" / "fixtures" / "sample-app", build)
    subprocess.run(["git", "init", "-q", str(build)], check=True)
    return build
