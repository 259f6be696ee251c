"""The release script's checks: a tag releases a pipe's latest version, or is refused with the fix."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from testbed.release import REPO_ROOT, copy_repo, load

release = load()


@pytest.mark.parametrize(("tag", "expected"), [
    ("build-push-v1.2.3", ("build-push", "1.2.3")),
    ("tf-apply-v0.1.0", ("tf-apply", "0.1.0")),
    ("tf-validate-v10.0.1", ("tf-validate", "10.0.1")),  # a pipe name holding "-v"
])
def test_tags(tag: str, expected: tuple[str, str]) -> None:
    assert release.parse_tag(tag) == expected


@pytest.mark.parametrize("tag", ["build-push-1.2.3", "build-push-v1.2", "build-push-v01.2.3",
                                 "v1.2.3", "build-push-v1.2.3-rc1", "Build-Push-v1.2.3", ""])
def test_bad_tags(tag: str) -> None:
    with pytest.raises(release.ReleaseError, match=re.escape("<pipe>-v<X.Y.Z>")):
        release.parse_tag(tag)


def test_floating_tags() -> None:
    assert release.references("reg.example/ns/", "flux-bump", "1.4.2") == [
        "reg.example/ns/flux-bump:1.4.2", "reg.example/ns/flux-bump:1.4", "reg.example/ns/flux-bump:1"]


def test_the_latest_released_version_passes(tmp_path: Path) -> None:
    root = copy_repo(tmp_path, "flux-bump", "1.4.2")
    (root / "pipes" / "flux-bump" / ".semversioner" / "1.3.9.json").write_text("{}")
    release.check(root, "flux-bump", "1.4.2")


def test_refusals_name_the_fix(tmp_path: Path) -> None:
    root = copy_repo(tmp_path, "flux-bump", "1.4.2")
    pipe = root / "pipes" / "flux-bump"
    with pytest.raises(release.ReleaseError, match=r"no pipe 'nope' .*flux-bump"):
        release.check(root, "nope", "1.0.0")
    with pytest.raises(release.ReleaseError, match="never released with semversioner"):
        release.check(root, "flux-bump", "1.5.0")
    (pipe / ".semversioner" / "1.10.0.json").write_text("{}")
    with pytest.raises(release.ReleaseError, match=r"not its latest version \(1\.10\.0\)"):
        release.check(root, "flux-bump", "1.4.2")
    (pipe / ".semversioner" / "1.10.0.json").unlink()
    (pipe / ".semversioner" / "next-release").mkdir()
    (pipe / ".semversioner" / "next-release" / "patch-1.json").write_text("{}")
    with pytest.raises(release.ReleaseError, match="1 unreleased change"):
        release.check(root, "flux-bump", "1.4.2")
    (pipe / ".semversioner" / "next-release" / "patch-1.json").unlink()
    (pipe / "CHANGELOG.md").write_text("# Changelog\n")
    with pytest.raises(release.ReleaseError, match=re.escape("no '## 1.4.2' section")):
        release.check(root, "flux-bump", "1.4.2")
    (pipe / "CHANGELOG.md").write_text("# Changelog\n\n## 1.4.2\n")
    (pipe / "pipe.yml").write_text((pipe / "pipe.yml").read_text().replace(":1.4.2", ":1.4.1"))
    with pytest.raises(release.ReleaseError, match=r"pipe\.yml names .*:1\.4\.1, not version 1\.4\.2"):
        release.check(root, "flux-bump", "1.4.2")


def test_pipe_yml_must_name_the_public_image(tmp_path: Path) -> None:
    root = copy_repo(tmp_path, "flux-bump", "1.4.2")
    pipe_yml = root / "pipes" / "flux-bump" / "pipe.yml"
    public = release.public_image(REPO_ROOT, "flux-bump")
    pipe_yml.write_text(pipe_yml.read_text().replace(
        f"image: {public}:", "image: registry.digitalocean.com/do-pipes/flux-bump:"))
    with pytest.raises(release.ReleaseError, match=re.escape(
            f"names registry.digitalocean.com/do-pipes/flux-bump:1.4.2, not {public}:1.4.2 where "
            "release.toml releases it")):
        release.check(root, "flux-bump", "1.4.2")


@pytest.mark.parametrize(("toml", "registry", "image"), [
    ('registry = "docker.io"\nnamespace = "acme42"\n', "docker.io/acme42", "acme42/tf-apply"),
    ('registry = "ghcr.io"\nnamespace = "acme"\n', "ghcr.io/acme", "ghcr.io/acme/tf-apply"),
])
def test_the_public_location_comes_from_release_toml(tmp_path: Path, toml: str, registry: str,
                                                      image: str) -> None:
    (tmp_path / "release.toml").write_text(toml)
    assert release.public_registry(tmp_path) == registry
    assert release.public_image(tmp_path, "tf-apply") == image


@pytest.mark.parametrize(("toml", "complaint"), [
    ('registry = "docker.io"\nnamespace = "do-pipes"\n', "'do-pipes' is not a Docker Hub namespace"),
    ('registry = "docker.io"\nnamespace = "dop"\n', "4-30 lowercase letters and digits"),
    ('registry = "docker.io"\n', "must set registry and namespace"),
    ("registry = docker.io\n", "must set registry and namespace"),
])
def test_a_bad_release_toml_is_refused(tmp_path: Path, toml: str, complaint: str) -> None:
    (tmp_path / "release.toml").write_text(toml)
    with pytest.raises(release.ReleaseError, match=re.escape(complaint)):
        release.public_registry(tmp_path)


@pytest.mark.parametrize(("override", "expected"), [
    (None, None), ("127.0.0.1:5000/do-pipes", "127.0.0.1:5000/do-pipes")])
def test_main_pushes_to_release_toml_unless_pointed_elsewhere(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], override: str | None,
        expected: str | None) -> None:
    seen: list[str] = []

    def fake_release(root: Path, tag: str, registry: str, *rest: object) -> dict[str, object]:
        seen.append(registry)
        return {"pipe": "build-push", "version": "1.0.0", "digest": "", "tags": []}

    if override:
        monkeypatch.setenv("RELEASE_REGISTRY", override)
    else:
        monkeypatch.delenv("RELEASE_REGISTRY", raising=False)
    monkeypatch.setattr(release, "release", fake_release)
    assert release.main(["build-push-v1.0.0"]) == 0
    assert seen == [expected or release.public_registry(REPO_ROOT)]
    assert seen[0] != "registry.digitalocean.com/do-pipes"
    assert capsys.readouterr().out.endswith("✔ Released build-push 1.0.0 (digest not reported)\n")


def test_bad_tag_is_one_cross_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert release.main(["not-a-tag"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("✖ 'not-a-tag' is not a release tag") and out.count("\n") == 1


TEST_STEPS = ["Lint", "Unit tests", "Integration tests", "End-to-end tests"]


def test_the_repository_pipeline_tests_then_releases_with_the_script() -> None:
    import yaml

    config = yaml.safe_load((REPO_ROOT / "bitbucket-pipelines.yml").read_text())
    tests, release_step = config["pipelines"]["tags"]["*-v*"]
    assert [e["step"]["name"] for e in tests["parallel"]] == TEST_STEPS
    assert release_step["step"]["name"] == "Release pipe images"
    assert 'python3 .ci/release.py "$BITBUCKET_TAG"' in release_step["step"]["script"]
    (default,) = config["pipelines"]["default"]
    assert [e["step"]["name"] for e in default["parallel"]] == TEST_STEPS
    # together the parallel steps run what ./dev test runs: lint and every folder of tests
    scripts = [" ".join(e["step"]["script"]) for e in default["parallel"]]
    assert "./dev lint" in scripts[0]
    for folder, script in zip(("tests/unit", "tests/integration", "tests/e2e"), scripts[1:], strict=True):
        assert f"./dev test --no-lint {folder}" in script
    assert {p.name for p in (REPO_ROOT / "tests").iterdir() if p.is_dir() and any(p.glob("**/test_*.py"))} \
        == {"unit", "integration", "e2e"}
    # the mutation check: a custom pipeline (the nightly schedule runs it on main)
    (mutation,) = config["pipelines"]["custom"]["mutation"]
    assert "./dev mutate" in mutation["step"]["script"]
    # every pipe's tag matches the tag pattern the release step runs on
    for pipe in (REPO_ROOT / "pipes").iterdir():
        if (pipe / "Dockerfile").is_file():
            assert release.parse_tag(f"{pipe.name}-v1.0.0") == (pipe.name, "1.0.0")


DOCKER_CLI_INSTALL = re.compile(r"apt-get install\b.*\bdocker(\.io|-ce|-ce-cli|-cli)\b"
                                r"|get\.docker\.com|download\.docker\.com")


def pipeline_steps() -> dict[str, tuple[dict[str, Any], str]]:
    """Each step of definitions.steps: its parsed form and its text (comments included)."""
    import yaml

    text = (REPO_ROOT / "bitbucket-pipelines.yml").read_text()
    config = yaml.safe_load(text)
    chunks = re.split(r"^    - step: &", text, flags=re.M)[1:]
    texts = {chunk.split("\n", 1)[0].strip(): chunk for chunk in chunks}
    return {name: (entry["step"], texts[name])
            for entry, name in zip(config["definitions"]["steps"], texts, strict=True)}


def docker_cli_rule(step: dict[str, Any], text: str) -> list[str]:
    """What is wrong with how a step gets its docker CLI. Runtime 2 (the default) mounts Bitbucket's
    CLI into a step with the Docker service: installing another shadows it. Runtime 3 mounts none:
    a step that runs docker brings its own and says why it needs runtime 3."""
    script = "\n".join(str(line) for line in step.get("script", []))
    v3 = str((step.get("runtime") or {}).get("cloud", {}).get("version")) == "3"
    installs = bool(DOCKER_CLI_INSTALL.search(script))
    uses = bool(re.search(r"(^|[\s|;&(])docker\s", script)) or "release.py" in script or "./dev test" in script
    problems = []
    if installs and not v3:
        problems.append("installs a docker CLI over the one Bitbucket mounts (runtime 2): use runtime 3")
    if v3 and uses and not installs:
        problems.append("runs docker on runtime 3, which mounts no docker CLI: install one")
    if v3 and not re.search(r"#.*runtime 3", text, re.I):
        problems.append("uses runtime 3 without a comment saying why")
    return problems


def test_no_step_installs_a_docker_cli_over_the_mounted_one() -> None:
    steps = pipeline_steps()
    assert set(steps) == {"lint", "unit", "integration", "e2e", "mutation", "release"}
    for name, (step, text) in steps.items():
        assert docker_cli_rule(step, text) == [], name


def test_the_docker_cli_rule_catches_each_mistake() -> None:
    install = "apt-get update -qq && apt-get install -y -qq python3 docker.io >/dev/null"
    v3 = {"runtime": {"cloud": {"version": "3"}}}
    assert docker_cli_rule({"script": [install, "docker build ."]}, "") == [
        "installs a docker CLI over the one Bitbucket mounts (runtime 2): use runtime 3"]
    assert docker_cli_rule({**v3, "script": ["docker build ."]}, "# runtime 3: buildx") == [
        "runs docker on runtime 3, which mounts no docker CLI: install one"]
    assert docker_cli_rule({**v3, "script": [install, "docker build ."]}, "") == [
        "uses runtime 3 without a comment saying why"]
    assert docker_cli_rule({"script": ["docker build ."]}, "") == []
