"""The release script's checks: a tag releases a pipe's latest version, or is refused with the fix."""
from __future__ import annotations

import re
from pathlib import Path

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


def test_bad_tag_is_one_cross_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert release.main(["not-a-tag"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("✖ 'not-a-tag' is not a release tag") and out.count("\n") == 1


def test_the_repository_pipeline_tests_then_releases_with_the_script() -> None:
    import yaml

    config = yaml.safe_load((REPO_ROOT / "bitbucket-pipelines.yml").read_text())
    steps = [entry["step"] for entry in config["pipelines"]["tags"]["*-v*"]]
    assert [s["name"] for s in steps] == ["Lint and test", "Release pipe images"]
    assert any(line.startswith("./dev test") for line in steps[0]["script"])
    assert 'python3 .ci/release.py "$BITBUCKET_TAG"' in steps[1]["script"]
    assert [e["step"]["name"] for e in config["pipelines"]["default"]] == ["Lint and test"]
    # every pipe's tag matches the tag pattern the release step runs on
    for pipe in (REPO_ROOT / "pipes").iterdir():
        if (pipe / "Dockerfile").is_file():
            assert release.parse_tag(f"{pipe.name}-v1.0.0") == (pipe.name, "1.0.0")
