"""flux-bump run as a user runs it on real-world shapes of GitOps repositories (the fixtures in
tests/fixtures/gitops/realworld): what is refused, what is said, what is pushed."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from testbed import dotenv
from testbed.pipes import REPO_ROOT, run_local

from .conftest import GitopsRepo, fail_lines

REALWORLD = REPO_ROOT / "tests" / "fixtures" / "gitops" / "realworld"
PODINFO = "ghcr.io/stefanprodan/podinfo"


def tree(case: str, sub: str = "repo") -> dict[str, bytes]:
    root = REALWORLD / case / sub
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def refused(run_output: str, code: int) -> str:
    assert code == 1, run_output
    assert "Traceback" not in run_output
    lines = fail_lines(run_output)
    assert len(lines) == 1, run_output
    return lines[0]


def test_two_policies_on_one_image_refused_with_the_policies_files_and_choice(
        make_repo: Callable[..., GitopsRepo], flux_env: Callable[..., dict[str, str]],
        build_dir: Path) -> None:
    repo = make_repo(tree("two-policies"))
    head = repo.head()
    run = run_local("flux-bump", flux_env(repo.http_url, IMAGE=PODINFO, TAG="6.5.1"), build_dir)
    line = refused(run.output, run.code)
    for text in ("flux-system:podinfo-staging (clusters/staging/apps/podinfo.yaml)",
                 "flux-system:podinfo-production (clusters/production/apps/podinfo.yaml)",
                 "set POLICY", "PATHS"):
        assert text in line, line
    assert repo.head() == head


def test_two_policies_with_paths_bumps_staging_only(
        make_repo: Callable[..., GitopsRepo], flux_env: Callable[..., dict[str, str]],
        build_dir: Path) -> None:
    repo = make_repo(tree("two-policies"))
    run = run_local("flux-bump", flux_env(repo.http_url, IMAGE=PODINFO, TAG="6.5.1",
                                          PATHS_COUNT="1", PATHS_0="clusters/staging/**"), build_dir)
    assert run.code == 0, run.output
    want = tree("two-policies") | tree("two-policies", "expected-staging")
    for path, content in want.items():
        assert repo.show(path) == content, path


def test_a_downgrade_is_refused_then_pushed_with_allow_downgrade(
        make_repo: Callable[..., GitopsRepo], flux_env: Callable[..., dict[str, str]],
        build_dir: Path) -> None:
    repo = make_repo(tree("podinfo"))
    head = repo.head()
    run = run_local("flux-bump", flux_env(repo.http_url, IMAGE="redis", TAG="7.0.15"), build_dir)
    line = refused(run.output, run.code)
    assert "TAG 7.0.15 is lower than every version" in line and "ALLOW_DOWNGRADE" in line
    assert repo.head() == head
    run = run_local("flux-bump", flux_env(repo.http_url, IMAGE="redis", TAG="7.0.15",
                                          ALLOW_DOWNGRADE="true"), build_dir)
    assert run.code == 0, run.output
    assert b"image: docker.io/redis:7.0.15\n" in repo.show("deploy/bases/cache/deployment.yaml")


def test_a_tag_style_change_is_warned(make_repo: Callable[..., GitopsRepo],
                                      flux_env: Callable[..., dict[str, str]], build_dir: Path) -> None:
    repo = make_repo(tree("podinfo"))
    run = run_local("flux-bump", flux_env(repo.http_url, IMAGE="redis", TAG="v7.4.1"), build_dir)
    assert run.code == 0, run.output
    assert "WARNING: TAG v7.4.1 changes the tag style of redis: 7.2.4 (semver) at " in run.output


def test_no_reference_points_at_what_the_user_meant(
        make_repo: Callable[..., GitopsRepo], flux_env: Callable[..., dict[str, str]],
        build_dir: Path) -> None:
    repo = make_repo(tree("podinfo"))
    run = run_local("flux-bump", flux_env(repo.http_url, IMAGE="ghcr.io/acme/redis", TAG="7.4.1"),
                    build_dir)
    line = refused(run.output, run.code)
    assert "No reference to ghcr.io/acme/redis" in line
    assert "deploy/bases/cache/deployment.yaml:18 (spec.template.spec.containers.image: " \
           "docker.io/redis)" in line
    assert "Did you mean `IMAGE: redis` (charts/podinfo/values.yaml:13)?" in line


def test_podinfo_bump_log_says_each_change_once_as_the_outputs_do(
        make_repo: Callable[..., GitopsRepo], flux_env: Callable[..., dict[str, str]],
        build_dir: Path) -> None:
    repo = make_repo(tree("podinfo"))
    run = run_local("flux-bump", flux_env(repo.http_url, IMAGE="redis", TAG="7.4.1"), build_dir)
    assert run.code == 0, run.output
    for path, content in (tree("podinfo") | tree("podinfo", "expected")).items():
        assert repo.show(path) == content, path
    change = "deploy/bases/cache/deployment.yaml:18 image: docker.io/redis:7.2.4 -> docker.io/redis:7.4.1"
    assert change in run.output
    assert "marker marker" not in run.output and "image image:" not in run.output
    sourced = dotenv.source(build_dir / ".do-pipes/flux-bump.env")
    assert change in sourced["FLUX_BUMP_CHANGES"]
    assert "not valid YAML" not in run.output
    summary = [line for line in run.output.splitlines() if "templated file" in line]
    assert len(summary) == 1 and "Skipped 2 templated file(s)" in summary[0], run.output
