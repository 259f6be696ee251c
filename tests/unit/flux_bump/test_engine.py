"""The YAML engine on the fixture corpus: whole files compared byte for byte."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from flux_bump import engine
from flux_bump.references import Target

CORPUS = Path(__file__).resolve().parents[2] / "fixtures" / "gitops"
IMAGE = "ghcr.io/acme/web"
DIGEST = "sha256:" + "ab" * 32
SCENARIOS = {
    "auto": Target(IMAGE, "2.0.0"),
    "pinned": Target(IMAGE, "2.0.0", DIGEST, pin=True),
    "policy": Target(IMAGE, "2.0.0", DIGEST, policies=("flux-system:web",)),
}


def all_files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    target = tmp_path / "repo"
    shutil.copytree(CORPUS / "repo", target)
    return target


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_corpus_byte_exact(repo: Path, scenario: str) -> None:
    before = all_files(repo)
    expected_dir = CORPUS / "expected" / scenario
    expected = all_files(expected_dir)
    result = engine.scan(repo, SCENARIOS[scenario])
    engine.write(repo, result)
    after = all_files(repo)
    assert sorted(c.path for c in result.changes) == sorted(expected)
    assert set(after) == set(before), "no file may appear or disappear"
    for rel, content in after.items():
        want = expected.get(rel, before[rel])
        assert content == want, f"{scenario}: {rel} differs from the expected bytes"
    # a second run finds every reference already at the new value
    again = engine.scan(repo, SCENARIOS[scenario])
    assert again.found and not again.changes


def test_unrelated_images_and_non_yaml_untouched(repo: Path) -> None:
    result = engine.scan(repo, SCENARIOS["auto"])
    engine.write(repo, result)
    text = (repo / "apps/web/deployment.yaml").read_text()
    for untouched in ("ghcr.io/acme/web-sidecar:1.0.0", "docker.io/acme/web:1.0.0",
                      "ghcr.io/acme/web2:1.0.0", '"--image=ghcr.io/acme/web:1.0.0"'):
        assert untouched in text
    assert "ghcr.io/acme/webhook:1.0.0" in (repo / "apps/other/deployment.yml").read_text()
    assert (repo / "docs/notes.md").read_bytes() == (CORPUS / "repo/docs/notes.md").read_bytes()
    cron = (repo / "apps/web/cronjob.yaml").read_text()
    assert "pod.yaml: |\n    image: ghcr.io/acme/web:1.0.0\n" in cron  # block scalar content


def test_crlf_kept(repo: Path) -> None:
    result = engine.scan(repo, SCENARIOS["pinned"])
    engine.write(repo, result)
    raw = (repo / "apps/web/kustomization.yaml").read_bytes()
    assert raw.count(b"\n") == raw.count(b"\r\n")
    assert b"    digest: " + DIGEST.encode() + b"\r\n" in raw


def test_unparseable_file_is_skipped_with_its_name(repo: Path) -> None:
    result = engine.scan(repo, SCENARIOS["auto"])
    assert any(s.startswith("apps/broken.yaml: not valid YAML at line 7") for s in result.skipped)
    assert "apps/broken.yaml" not in [c.path for c in result.changes]


def test_kinds_found(repo: Path) -> None:
    result = engine.scan(repo, SCENARIOS["auto"])
    kinds = {f.kind for _, f in result.found}
    assert kinds == {"marker", "kustomize", "helmrelease", "image"}
    assert result.policies == {"flux-system:web"}


def test_policy_mode_changes_markers_only(repo: Path) -> None:
    result = engine.scan(repo, SCENARIOS["policy"])
    assert {f.kind for _, f in result.found} == {"marker"}
    assert [c.path for c in result.changes] == ["apps/web/markers.yaml"]


def test_paths_limit_the_search(repo: Path) -> None:
    result = engine.scan(repo, SCENARIOS["auto"], paths=["clusters/**"])
    assert result.searched == ["clusters/prod/Kustomization"]
    assert [c.path for c in result.changes] == ["clusters/prod/Kustomization"]
    folder = engine.scan(repo, SCENARIOS["auto"], paths=["apps/other"])
    assert folder.searched == ["apps/other/deployment.yml"] and not folder.found


def test_no_reference(repo: Path) -> None:
    result = engine.scan(repo, Target("ghcr.io/acme/nothing", "1.0.0"))
    assert not result.found and not result.changes
    assert len(result.searched) == 10
