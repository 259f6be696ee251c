"""docs/getting-started.md and docs/examples/bitbucket-pipelines.yml agree with each other and with the
pipes: every variable the example needs is one the guide tells a team to create, set by Bitbucket, or read
from an artifact a step before it keeps; every bump names its environment; every step whose outputs a
later step reads keeps them as artifacts. (tests/e2e/test_example_pipeline.py runs the example.)"""
from __future__ import annotations

import os
import re
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
                   "`pullrequest:write`", "`write:repository:bitbucket`", "`read:repository:bitbucket`",
                   "`read:pullrequest:bitbucket`", "`DeleteObject`",
                   "*Spaces Object Storage* → *Access Keys*"):
        assert needed in text, needed
    assert "app password" in text and "stopped working" in text


def section(title: str) -> str:
    """The text of the guide's section whose heading contains ``title``."""
    (found,) = [part for part in GUIDE.read_text().split("\n## ")[1:] if title in part.splitlines()[0]]
    return found


def test_production_waits_for_a_person() -> None:
    """Without Bitbucket Premium's deployment permissions anyone who may push a v* tag would deploy
    production: the example's production step is manual, and only that one."""
    manual = [(name, step["name"]) for name, steps in pipelines().items() for step in steps
              if step.get("trigger") == "manual"]
    assert manual == [("tags/v*", "Deploy to production")]
    (production,) = [s for s in pipelines()["tags/v*"] if s.get("deployment") == "production"]
    assert production["trigger"] == "manual"
    environments = section("Deployment environments")
    assert "Premium" in environments and "`trigger: manual`" in environments
    assert "press *Run*" in section("Run it") or "presses *Run*" in section("Run it")


def test_the_guide_answers_a_first_days_questions() -> None:
    """What a new team would otherwise have to guess, each written where it is needed."""
    registry = section("The container registry")
    for fact in ("Starter", "500 MiB", "1 |", "garbage collection", "read-only", "delete-tag", "Schedules"):
        assert fact in registry, fact
    environments = section("Deployment environments")
    assert "**`infrastructure`**" in environments and "**Staging** group" in environments
    gitops = section("The GitOps repository")
    assert "DigitalOcean Kubernetes integration" in gitops and "registry-acme" in gitops
    commands = [line for block in re.findall(r"```bash\n(.*?)```", gitops, re.S)
                for line in block.splitlines() if line.startswith("flux bootstrap")]
    assert commands and all(line == "flux bootstrap git \\" for line in commands), commands
    assert "bitbucket-server` is for Bitbucket Server and Data Center" in gitops
    memory = section("Memory for the build")
    assert "1 GB" in memory and "size: 2x" in memory and "memory: 3072" in memory
    run = section("Run it")
    for fact in ("*Pull Request Commit Links*", "*Go to pull request*", "202", "squash", "direct push"):
        assert fact in run, fact
    assert "<https://bitbucket.org/" in section("When something fails")


def test_the_gitops_files_of_the_guide_fit_together() -> None:
    """The manifests the guide shows are valid YAML naming the one image; the overlays build on the
    base and each cluster's Flux Kustomization points at its overlay."""
    text = section("The GitOps repository")
    # a paragraph starting with the file's name, then its block
    files = {name: body for name, _, body in re.findall(
        r"^`([\w./-]+\.yaml)`((?:(?!\n\n).)*)\n\n```yaml\n(.*?)```", text, re.S | re.M)}
    assert {"apps/web/deployment.yaml", "apps/web/kustomization.yaml", "clusters/staging/web.yaml",
            "clusters/staging/web/kustomization.yaml",
            "clusters/production/web/kustomization.yaml"} <= set(files), sorted(files)
    docs = {name: yaml.safe_load(body) for name, body in files.items()}
    image = "registry.digitalocean.com/acme/web"
    containers = docs["apps/web/deployment.yaml"]["spec"]["template"]["spec"]["containers"]
    assert containers[0]["image"] == image
    for env in ("staging", "production"):
        overlay = docs[f"clusters/{env}/web/kustomization.yaml"]
        assert overlay["resources"] == ["../../../apps/web"] and overlay["images"][0]["name"] == image
    assert docs["clusters/staging/web.yaml"]["spec"]["path"] == "./clusters/staging/web"


def test_every_pipeline_is_there() -> None:
    assert set(pipelines()) == {"default", "pull-requests/**", "branches/main", "tags/v*", "custom/registry-retention"}


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


def test_a_manual_step_runs_as_if_someone_pressed_run(tmp_path: Path) -> None:
    """On Bitbucket a ``trigger: manual`` step waits for a person; the player runs it at once and
    records that it waited. An unknown trigger is refused, not guessed."""
    origin = tmp_path / "origin"
    origin.mkdir()
    (origin / "vars.env").write_text("A=1\n")
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "x"]):
        subprocess.run(["git", *args], cwd=origin, check=True, env={**os.environ, **GIT_ENV})
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=origin, check=True, capture_output=True,
                            text=True).stdout.strip()
    steps = {"pipelines": {"default": [
        {"step": {"name": "build", "script": ["source vars.env"]}},
        {"step": {"name": "deploy", "trigger": "manual", "script": ["source vars.env"]}}]}}
    host = PipeHost("127.0.0.2", "unix:///nowhere", tmp_path, tmp_path / "docker")
    build, deploy = Pipeline(steps, origin, tmp_path / "agent", host, {}, {}).run("default", commit=commit)
    assert build.ok and deploy.ok and not build.manual and deploy.manual
    steps["pipelines"]["default"][1]["step"]["trigger"] = "sometimes"
    with pytest.raises(ValueError, match="automatic and manual"):
        Pipeline(steps, origin, tmp_path / "agent2", host, {}, {}).run("default", commit=commit)
