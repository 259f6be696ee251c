"""shared/README.md lists every module of pipes_common, and only those."""
from __future__ import annotations

import re

from testbed.pipes import REPO_ROOT


def test_every_module_is_listed() -> None:
    text = (REPO_ROOT / "shared" / "README.md").read_text()
    listed = set(re.findall(r"^\| `([a-z_]+)` \|", text, re.M))
    modules = {p.stem for p in (REPO_ROOT / "shared" / "pipes_common").glob("*.py")} - {"__init__"}
    assert listed == modules, f"README vs modules: {sorted(listed ^ modules)}"


def test_each_pipe_readme_states_its_retry_budgets() -> None:
    from pipes_common import bbapi, docr, registry
    from tf_apply import insights

    def states(pipe: str, seconds: float) -> bool:
        text = (REPO_ROOT / "pipes" / pipe / "README.md").read_text()
        return f"{seconds:g} s" in text

    assert states("build-push", docr.RETRY_BUDGET) and states("build-push", registry.RETRY_BUDGET)
    assert states("flux-bump", bbapi.RETRY_BUDGET) and states("tf-apply", bbapi.RETRY_BUDGET)
    assert states("tf-apply", insights.RETRY_BUDGET)
