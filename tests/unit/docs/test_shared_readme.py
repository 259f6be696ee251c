"""shared/README.md lists every module of pipes_common, and only those."""
from __future__ import annotations

import re

from testbed.pipes import REPO_ROOT


def test_every_module_is_listed() -> None:
    text = (REPO_ROOT / "shared" / "README.md").read_text()
    listed = set(re.findall(r"^\| `([a-z_]+)` \|", text, re.M))
    modules = {p.stem for p in (REPO_ROOT / "shared" / "pipes_common").glob("*.py")} - {"__init__"}
    assert listed == modules, f"README vs modules: {sorted(listed ^ modules)}"
