"""botocore's data as a pipe image holds it (shared/image/prune.py), for tests that check the
image's S3 client without building the image."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import botocore
import botocore.loaders
import botocore.session

from .pipes import REPO_ROOT

PRUNE = REPO_ROOT / "shared" / "image" / "prune.py"
DATA = Path(botocore.__file__).parent / "data"


def pruned_copy(venv: Path, pipe: str = "tf-apply") -> tuple[Path, str]:
    """A virtualenv-shaped folder under ``venv`` holding a copy of botocore's data, pruned for
    ``pipe`` as its image is; returns the data folder and what prune.py printed."""
    data = venv / "lib" / "python3.99" / "site-packages" / "botocore" / "data"
    shutil.copytree(DATA, data)
    done = subprocess.run([sys.executable, str(PRUNE), str(REPO_ROOT / "pipes" / pipe), str(venv)],
                          capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"prune.py failed: {done.stdout}{done.stderr}")
    return data, done.stdout


def session_on(data: Path) -> botocore.session.Session:
    """A botocore session that reads its models from ``data`` only."""
    session = botocore.session.Session()
    session.register_component("data_loader", botocore.loaders.Loader(
        extra_search_paths=[str(data)], include_default_search_paths=False))
    return session
