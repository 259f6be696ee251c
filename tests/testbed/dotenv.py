"""The dotenv file a pipe leaves in the build directory, read the way its README says to use it
(``source .do-pipes/<pipe>.env`` in a later script line), and the names the README documents."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

from .pipes import REPO_ROOT

_SOURCE = 'set -a; . "$1"; env -0'


def _env_of(path: str) -> dict[str, str]:
    out = subprocess.run(["env", "-i", "bash", "-c", _SOURCE, "bash", path], check=True,
                         capture_output=True).stdout.decode()
    return dict(item.split("=", 1) for item in out.split("\0") if "=" in item)


def source(path: Path) -> dict[str, str]:
    """The variables ``source <path>`` sets in bash (and only those)."""
    baseline = _env_of("/dev/null")
    return {k: v for k, v in _env_of(str(path)).items() if k not in baseline}


def documented(pipe: str) -> set[str]:
    """The dotenv variable names ``pipes/<pipe>/README.md`` mentions (``BUILD_PUSH_DIGEST``...);
    a family such as ``TF_APPLY_OUT_<NAME>`` is left out (its prefix ends in ``_``)."""
    prefix = pipe.upper().replace("-", "_") + "_"
    text = (REPO_ROOT / "pipes" / pipe / "README.md").read_text(encoding="utf-8")
    names = set(re.findall(rf"\b{prefix}[A-Z0-9_]*", text))
    return {n for n in names if not n.endswith("_")}
