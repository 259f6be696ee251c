"""HELM_KEYS (issue 14 §4): the key paths of a Helm values layout other than image.repository /
image.tag, for bumps and promotions; bad paths are one line."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from testbed.pipes import run_local

from .conftest import GitopsRepo, fail_lines

WEB = "ghcr.io/acme/web"
D = "sha256:" + "7e" * 32
STAGING = f"web:\n  img:\n    name: {WEB}\n    version: 3.1.0\n    sha: {D}\n"
PROD = f"web:\n  img:\n    name: {WEB}\n    version: 3.0.0 # prod\n    sha: sha256:{'00' * 32}\n"
KEYS = {"HELM_KEYS_COUNT": "3", "HELM_KEYS_0": "web.img.name", "HELM_KEYS_1": "web.img.version",
        "HELM_KEYS_2": "web.img.sha"}


def test_promote_with_helm_keys(make_repo: Callable[..., GitopsRepo],
                                flux_env: Callable[..., dict[str, str]], build_dir: Path) -> None:
    repo = make_repo({"staging/values.yaml": STAGING, "prod/values.yaml": PROD})
    env = flux_env(repo.http_url, IMAGE=WEB, TAG="<unset>", MODE="promote", FROM_PATHS="[staging]",
                   PATHS="[prod]", **KEYS)
    run = run_local("flux-bump", env, build_dir)
    assert run.code == 0, run.output
    assert repo.show("prod/values.yaml") == (
        f"web:\n  img:\n    name: {WEB}\n    version: 3.1.0 # prod\n    sha: {D}\n").encode()


@pytest.mark.parametrize("keys", [
    {"HELM_KEYS_COUNT": "1", "HELM_KEYS_0": "image.repository"},
    {"HELM_KEYS_COUNT": "2", "HELM_KEYS_0": "image repository", "HELM_KEYS_1": "image.tag"},
    {"HELM_KEYS_COUNT": "2", "HELM_KEYS_0": "image.tag", "HELM_KEYS_1": "image.tag"},
    {"HELM_KEYS_COUNT": "4", **{f"HELM_KEYS_{i}": f"a.b{i}" for i in range(4)}},
])
def test_bad_helm_keys_is_one_line(make_repo: Callable[..., GitopsRepo],
                                   flux_env: Callable[..., dict[str, str]], build_dir: Path,
                                   keys: dict[str, str]) -> None:
    repo = make_repo({"prod/values.yaml": PROD})
    head = repo.head()
    run = run_local("flux-bump", flux_env(repo.http_url, IMAGE=WEB, **keys), build_dir)
    assert run.code == 1, run.output
    assert "Traceback" not in run.output
    assert fail_lines(run.output) == [run.last_line()], run.output
    assert "HELM_KEYS" in run.last_line()
    assert repo.head() == head
