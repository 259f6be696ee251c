"""CHART_APP_VERSION (issue 14 §4): the Chart.yaml beside a bumped values file gets the tag as
``appVersion`` when asked, byte-exact (the chart ``helm create`` generates); never otherwise."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from testbed.pipes import run_local

from .conftest import GitopsRepo

CHART = ("apiVersion: v2\nname: frontend\ndescription: A Helm chart for Kubernetes\ntype: application\n"
         "# This is the chart version.\nversion: 0.1.0\n"
         "# This is the version number of the application being deployed.\n"
         'appVersion: "1.16.0"\n')
VALUES = "image:\n  repository: ghcr.io/acme/web\n  pullPolicy: IfNotPresent\n  tag: \"1.16.0\"\n"
FILES = {"charts/frontend/Chart.yaml": CHART, "charts/frontend/values.yaml": VALUES,
         "charts/db/Chart.yaml": CHART.replace("name: frontend", "name: db"),
         "charts/db/values.yaml": "image:\n  repository: ghcr.io/acme/db\n  tag: 9\n"}


def test_app_version_follows_the_tag_when_asked(make_repo: Callable[..., GitopsRepo],
                                                flux_env: Callable[..., dict[str, str]],
                                                build_dir: Path) -> None:
    repo = make_repo(FILES)
    run = run_local("flux-bump", flux_env(repo.http_url, TAG="1.17.0", CHART_APP_VERSION="true"),
                    build_dir)
    assert run.code == 0, run.output
    assert repo.show("charts/frontend/values.yaml") == VALUES.replace("1.16.0", "1.17.0").encode()
    assert repo.show("charts/frontend/Chart.yaml") == CHART.replace('"1.16.0"', '"1.17.0"').encode()
    assert repo.show("charts/db/Chart.yaml") == FILES["charts/db/Chart.yaml"].encode()
    # the chart does not name the image: it is checked out for its appVersion alone
    assert "charts/frontend/Chart.yaml:8 appVersion: 1.16.0 -> 1.17.0" in "\n".join(
        repo.log("-1", "--format=%B"))


def test_app_version_is_left_alone_by_default(make_repo: Callable[..., GitopsRepo],
                                              flux_env: Callable[..., dict[str, str]],
                                              build_dir: Path) -> None:
    repo = make_repo(FILES)
    run = run_local("flux-bump", flux_env(repo.http_url, TAG="1.17.0"), build_dir)
    assert run.code == 0, run.output
    assert repo.show("charts/frontend/Chart.yaml") == CHART.encode()
    assert repo.show("charts/frontend/values.yaml") == VALUES.replace("1.16.0", "1.17.0").encode()
