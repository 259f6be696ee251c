"""docs/getting-started.md and docs/examples/bitbucket-pipelines.yml agree with each other and with the
pipes: every variable the example needs is one the guide tells a team to create, set by Bitbucket, or read
from an artifact a step before it keeps; every bump names its environment; every step whose outputs a
later step reads keeps them as artifacts. (tests/e2e/test_example_pipeline.py runs the example.)"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from testbed.dotenv import documented
from testbed.git_http import GIT_ENV
from testbed.pipelines_yaml import Pipeline, artifact_files, guide_variables, pipe_variables, step_variables, substitute
from testbed.pipes import REPO_ROOT, PipeHost

EXAMPLE = REPO_ROOT / "docs" / "examples" / "bitbucket-pipelines.yml"
GUIDE = REPO_ROOT / "docs" / "getting-started.md"


def config() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    return loaded


def pipelines() -> dict[str, list[dict[str, Any]]]:
    """Every pipeline of the example: its name -> its steps."""
    found: dict[str, list[dict[str, Any]]] = {}
    for kind, node in config()["pipelines"].items():
        groups = {kind: node} if isinstance(node, list) else {f"{kind}/{k}": v for k, v in node.items()}
        for name, items in groups.items():
            found[name] = [item["step"] for item in items]
    return found


def pipes_of(step: dict[str, Any]) -> list[dict[str, Any]]:
    return [line for line in step["script"] if isinstance(line, dict) and "pipe" in line]


def test_the_example_needs_only_what_the_guide_lists() -> None:
    used = step_variables(config())
    from_artifacts = documented("tf-apply") | documented("build-push") | documented("flux-bump")
    needed = {name for name in used if not name.startswith("BITBUCKET_") and name not in from_artifacts}
    assert needed == guide_variables(GUIDE), (
        f"used by the example, not in the guide: {sorted(needed - guide_variables(GUIDE))}; "
        f"in the guide, unused: {sorted(guide_variables(GUIDE) - needed)}")


def test_the_guide_names_the_scopes_and_permissions() -> None:
    text = GUIDE.read_text()
    for needed in ("`registry:read`", "`registry:update`", "Read/Write/Delete", "`repository:write`",
                   "`pullrequest:write`", "`write:repository:bitbucket`", "`DeleteObject`"):
        assert needed in text, needed
    assert "app password" in text and "stopped working" in text


def test_every_pipeline_is_there() -> None:
    assert set(pipelines()) == {"default", "pull-requests/**", "branches/main", "tags/v*"}


@pytest.mark.parametrize("name", sorted(pipelines()))
def test_outputs_a_later_step_reads_are_kept_as_artifacts(name: str) -> None:
    steps = pipelines()[name]
    for index, step in enumerate(steps):
        later = steps[index + 1:]
        reads = [line for s in later for line in s["script"]
                 if isinstance(line, str) and line.startswith("source .do-pipes/")]
        bumps = [p for s in later for p in pipes_of(s) if "flux-bump" in p["pipe"]]
        if pipes_of(step) and (reads or bumps):
            assert ".do-pipes/**" in (step.get("artifacts") or []), (name, step["name"])


def test_every_bump_names_its_environment() -> None:
    bumps = [(name, step) for name, steps in pipelines().items() for step in steps
             if any("flux-bump" in p["pipe"] for p in pipes_of(step))]
    assert len(bumps) == 2
    for name, step in bumps:
        (pipe,) = pipes_of(step)
        assert {"PATHS", "POLICY"} & set(pipe["variables"]), (name, step["name"])
        assert step.get("deployment") in ("staging", "production"), (name, step["name"])
        assert pipe["variables"]["BITBUCKET_ACCESS_TOKEN"] == "$GITOPS_ACCESS_TOKEN"


def test_the_readme_links_the_guide_before_the_commands() -> None:
    text = (REPO_ROOT / "README.md").read_text()
    assert text.index("docs/getting-started.md") < text.index("## The two commands")
    assert text.index("## Why") < text.index("## The two commands")
    assert "examples/bitbucket-pipelines.yml" in GUIDE.read_text()


# -- the helpers the e2e test plays the example with ----------------------------------------------

def test_substitution_and_lists_as_bitbucket_passes_them() -> None:
    scope = {"A": "1", "TOKEN": "t"}
    assert substitute("x-$A-${A}-$MISSING-$TOKEN", scope) == "x-1-1--t"
    assert pipe_variables({"TOKEN": "$TOKEN", "PATHS": ["a/$A", "b"]}, scope) == {
        "TOKEN": "t", "PATHS_COUNT": "2", "PATHS_0": "a/1", "PATHS_1": "b"}
    with pytest.raises(ValueError, match="string or a list"):
        pipe_variables({"RETRIES": 5}, scope)


def test_artifact_globs(tmp_path: Path) -> None:
    for rel in (".do-pipes/a.env", ".do-pipes/sub/b.json", "other/c.txt", "top.txt"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(rel)
    found = [p.relative_to(tmp_path).as_posix() for p in artifact_files(tmp_path, [".do-pipes/**"])]
    assert found == [".do-pipes/a.env", ".do-pipes/sub/b.json"]
    assert [p.name for p in artifact_files(tmp_path, ["*.txt"])] == ["top.txt"]


def test_a_source_line_without_its_file_fails_the_step(tmp_path: Path) -> None:
    """As in the step's shell: ``source`` of a file an earlier step did not keep fails the step, and
    the pipe after it does not run (with an empty PLAN_ID it would be another command)."""
    origin = tmp_path / "origin"
    origin.mkdir()
    for args in (["init", "-q", "-b", "main"], ["commit", "-q", "--allow-empty", "-m", "x"]):
        subprocess.run(["git", *args], cwd=origin, check=True, env={**os.environ, **GIT_ENV})
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=origin, check=True, capture_output=True,
                            text=True).stdout.strip()
    steps = {"pipelines": {"default": [{"step": {"name": "apply", "script": [
        "source .do-pipes/tf-apply.env", {"pipe": "docker://dopipes/tf-apply:0.1.0"}]}}]}}
    host = PipeHost("127.0.0.2", "unix:///nowhere", tmp_path, tmp_path / "docker")
    (ran,) = Pipeline(steps, origin, tmp_path / "agent", host, {}, {}).run("default", commit=commit)
    assert not ran.ok and "no such file" in ran.failed and ran.pipes == []
