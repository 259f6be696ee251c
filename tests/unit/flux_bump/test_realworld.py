"""Real-world shapes of GitOps repositories (made here, after podinfo's deploy/ tree, fluxcd's
kustomize-helm example, Bitnami charts and a staging/production pair): whole trees compared byte
for byte with the expected tree after the bump."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from flux_bump import engine, guard, hints
from flux_bump.guard import style, version_key
from flux_bump.references import Found, Target
from pipes_common.errors import PipeError

REALWORLD = Path(__file__).resolve().parents[2] / "fixtures" / "gitops" / "realworld"


def all_files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def bump(case: str, tmp_path: Path, target: Target, paths: list[str] | None = None,
         ) -> tuple[Path, engine.Multi]:
    repo = tmp_path / case
    shutil.copytree(REALWORLD / case / "repo", repo)
    result = engine.scan_all(repo, [target], paths)
    engine.write(repo, result)
    return repo, result


def assert_expected(case: str, repo: Path, expected_dir: str = "expected") -> None:
    before = all_files(REALWORLD / case / "repo")
    expected = all_files(REALWORLD / case / expected_dir)
    after = all_files(repo)
    assert set(after) == set(before), "no file may appear or disappear"
    for rel, content in after.items():
        assert content == expected.get(rel, before[rel]), f"{case}: {rel} differs from the expected bytes"


@pytest.mark.parametrize("spelling", ["redis", "docker.io/redis", "docker.io/library/redis",
                                      "index.docker.io/library/redis"])
def test_every_spelling_of_a_docker_hub_image_bumps_every_spelling_kept(
        tmp_path: Path, spelling: str) -> None:
    repo, result = bump("podinfo", tmp_path, Target(spelling, "7.4.1"))
    assert_expected("podinfo", repo)
    assert not result.missing
    again = engine.scan_all(repo, [Target(spelling, "7.4.1")])
    assert again.found and not again.changes


def test_a_hub_namespace_image_matches_with_and_without_docker_io(tmp_path: Path) -> None:
    (tmp_path / "app.yaml").write_text("spec:\n  image: alkrauss48/app:1.0.0\n"
                                       "  sidecar:\n    image: docker.io/alkrauss48/app:1.0.0\n"
                                       "  other:\n    image: ghcr.io/alkrauss48/app:1.0.0\n")
    result = engine.scan_all(tmp_path, [Target("docker.io/alkrauss48/app", "1.1.0")])
    engine.write(tmp_path, result)
    assert (tmp_path / "app.yaml").read_text() == (
        "spec:\n  image: alkrauss48/app:1.1.0\n"
        "  sidecar:\n    image: docker.io/alkrauss48/app:1.1.0\n"
        "  other:\n    image: ghcr.io/alkrauss48/app:1.0.0\n")


PODINFO = "ghcr.io/stefanprodan/podinfo"


def test_two_policies_on_one_image_without_policy_or_paths_is_refused(tmp_path: Path) -> None:
    repo = tmp_path / "two"
    shutil.copytree(REALWORLD / "two-policies" / "repo", repo)
    result = engine.scan_all(repo, [Target(PODINFO, "6.5.1")])
    why = engine.several_policies(result)
    assert why is not None
    assert "flux-system:podinfo-production (clusters/production/apps/podinfo.yaml)" in why
    assert "flux-system:podinfo-staging (clusters/staging/apps/podinfo.yaml)" in why
    assert "set POLICY" in why and "PATHS" in why and "nothing was changed" in why
    # PATHS that still hold both are no choice either
    assert "holds them all" in (engine.several_policies(
        engine.scan_all(repo, [Target(PODINFO, "6.5.1")], ["clusters/**"]), ["clusters/**"]) or "")


@pytest.mark.parametrize("narrowed", ["policy", "paths"])
def test_two_policies_narrowed_by_policy_or_paths_bump_only_that_one(
        tmp_path: Path, narrowed: str) -> None:
    if narrowed == "policy":
        target, paths = Target(PODINFO, "6.5.1", policies=("flux-system:podinfo-staging",)), None
    else:
        target, paths = Target(PODINFO, "6.5.1"), ["clusters/staging/**"]
    repo, result = bump("two-policies", tmp_path, target, paths)
    assert engine.several_policies(result, paths) is None
    assert_expected("two-policies", repo, "expected-staging")


def test_semver_precedence_of_the_guard() -> None:
    order = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta.2", "1.0.0-beta.11",
             "1.0.0-rc.1", "1.0.0", "v1.0.1", "6.9.9", "6.14.1"]
    keys = [version_key(t) for t in order]
    assert all(k is not None for k in keys)
    assert keys == sorted(keys)  # type: ignore[type-var]
    assert version_key("sha-1234567") is None and version_key("latest") is None
    assert (style("6.14.1"), style("v6.14.2"), style("sha-1")) == ("semver", "v-semver", "other")


def test_a_downgrade_is_refused_unless_allowed(tmp_path: Path) -> None:
    repo = tmp_path / "podinfo"
    shutil.copytree(REALWORLD / "podinfo" / "repo", repo)
    result = engine.scan_all(repo, [Target("redis", "7.0.15")])
    with pytest.raises(PipeError) as err:
        guard.check(result, allow_downgrade=False)
    assert "TAG 7.0.15 is lower than every version it would replace" in str(err.value)
    assert "ALLOW_DOWNGRADE: 'true'" in str(err.value) and "(7.2.4 at " in str(err.value)
    assert guard.check(result, allow_downgrade=True) == []


def test_a_bump_above_one_reference_is_no_downgrade(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("a:\n  image: redis:7.0.0\nb:\n  image: redis:7.4.0\n")
    assert guard.check(engine.scan_all(tmp_path, [Target("redis", "7.2.0")]), False) == []


def test_a_change_of_tag_style_is_warned_not_refused(tmp_path: Path) -> None:
    repo = tmp_path / "podinfo"
    shutil.copytree(REALWORLD / "podinfo" / "repo", repo)
    warnings = guard.check(engine.scan_all(repo, [Target("redis", "v7.4.1")]), False)
    assert warnings == [
        "TAG v7.4.1 changes the tag style of redis: 7.2.4 (semver) at charts/podinfo/values.yaml:14 "
        "and 4 more becomes v-semver: check that TAG is spelled as the image's other tags in the "
        "registry"]


def test_a_helmrelease_with_redis_repository_and_tag_is_found_without_helm_keys(
        tmp_path: Path) -> None:
    """fluxcd/flux2-kustomize-helm-example's only image: ``redis.repository`` + ``redis.tag``."""
    repo, result = bump("kustomize-helm", tmp_path, Target("public.ecr.aws/docker/library/redis",
                                                           "7.0.15"))
    assert_expected("kustomize-helm", repo)
    assert [(p, f.kind, f.field) for p, f in result.found] == [
        ("apps/base/podinfo/release.yaml", "helmrelease", "tag")]


@pytest.mark.parametrize(("spelling", "pin", "expected"), [
    ("bitnami/redis", False, "expected"),
    ("docker.io/bitnami/redis", False, "expected"),
    ("bitnami/redis", True, "expected-pinned"),  # Bitnami's digest: "" filled only when pinning
])
def test_bitnami_registry_repository_tag_digest(tmp_path: Path, spelling: str, pin: bool,
                                                expected: str) -> None:
    digest = "sha256:" + "cd" * 32
    repo, result = bump("bitnami", tmp_path, Target(spelling, "7.2.5-debian-12-r0", digest, pin))
    assert_expected("bitnami", repo, expected)
    assert not result.warnings  # an empty digest is no pinned digest


def test_a_bitnami_exporter_block_is_the_x_repository_x_tag_layout(tmp_path: Path) -> None:
    repo, _ = bump("bitnami", tmp_path, Target("docker.io/bitnami/redis-exporter", "1.62.0"))
    text = (repo / "charts/redis/values.yaml").read_text()
    assert "    repository: bitnami/redis-exporter\n    tag: 1.62.0\n" in text
    assert "tag: 7.2.4-debian-12-r9" in text and "tag: 7.2.4-debian-12-r7" in text


def test_no_reference_lists_the_mentions_and_the_nearest_miss(tmp_path: Path) -> None:
    repo = REALWORLD / "podinfo" / "repo"
    target = Target("ghcr.io/acme/redis", "7.4.1")
    result = engine.scan_all(repo, [target])
    assert result.missing == [target]
    text = hints.explain(repo, result.parsed, target)
    assert text.startswith("these mention redis: charts/podinfo/values.yaml:13 (redis.repository: "
                           "redis), charts/podinfo/values.yaml:19 (backup.image: "
                           "docker.io/library/redis), deploy/bases/backend/deployment.yaml:15 "
                           "(spec.template.spec.containers.image: index.docker.io/library/redis)")
    assert "deploy/bases/cache/deployment.yaml:18 (spec.template.spec.containers.image: " \
           "docker.io/redis)" in text
    assert "deploy/overlays/dev/kustomization.yaml:7 (images.name: docker.io/library/redis)" in text
    assert text.endswith("Did you mean `IMAGE: redis` (charts/podinfo/values.yaml:13)?")
    assert "name: redis" not in text  # a container's name is no image


def test_no_reference_with_split_chart_values_suggests_helm_keys(tmp_path: Path) -> None:
    (tmp_path / "values.yaml").write_text("cache:\n  imageName: docker.io/redis\n"
                                          "  imageVersion: 7.2.4\n")
    target = Target("redis", "7.4.1")
    result = engine.scan_all(tmp_path, [target])
    assert result.missing == [target]
    assert hints.explain(tmp_path, result.parsed, target) == (
        "these mention redis: values.yaml:2 (cache.imageName: docker.io/redis). These look like "
        "split chart values (cache.imageName at values.yaml:2): set HELM_KEYS to their key paths, "
        "e.g. HELM_KEYS: ['cache.imageName', 'cache.imageVersion']")


def test_no_reference_and_no_mention(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("image: ghcr.io/acme/web:1.0.0\n")
    assert hints.explain(tmp_path, ["a.yaml"], Target("redis", "1")) == (
        "no searched file mentions an image named redis in any spelling or layout")


def test_helm_templates_are_skipped_quietly_not_as_invalid_yaml(tmp_path: Path) -> None:
    _, result = bump("podinfo", tmp_path, Target("redis", "7.4.1"))
    assert result.templated == ["charts/podinfo/templates/redis/deployment.yaml",
                                "charts/podinfo/templates/redis/service.yaml"]
    assert result.skipped == []


def test_a_broken_file_without_template_braces_is_still_a_warning(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("a: [1, 2\nimage: redis:1.0.0\n")
    result = engine.scan_all(tmp_path, [Target("redis", "1.1.0")])
    assert result.templated == [] and result.skipped[0].startswith("bad.yaml: not valid YAML")


def test_one_wording_for_a_change() -> None:
    assert Found("marker", 3, "marker flux-system:web", "a:1", "a:2").describe("x.yaml") == \
        "x.yaml:3 marker flux-system:web: a:1 -> a:2"
    assert Found("image", 4, "image", "redis:1", "redis:1").describe("x.yaml") == \
        "x.yaml:4 image: redis:1 (unchanged)"
    assert Found("kustomize", 5, "digest (added)", None, "sha256:x").describe("k.yaml") == \
        "k.yaml:5 digest (added): (none) -> sha256:x"
