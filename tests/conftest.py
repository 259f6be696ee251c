"""Markers by folder (unit, integration, e2e), the shared test bed fixtures, and the count of the
tests a machine without Terraform skipped (a failure with ``CI=true``: CI must run them all)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from _pytest.terminal import TerminalReporter
from testbed.terraform_image import MISSING as TERRAFORM_MISSING

pytest_plugins = ["testbed.fixtures"]

_HERE = Path(__file__).parent


# the tests that use the Docker engine (the fixture, directly or through another one) run in one
# pytest-xdist worker (./dev test: -n 2 --dist loadgroup): one engine, its data-root and its build
# cache for the whole run, instead of one per worker with every pipe image built twice
ENGINE_GROUP = "docker-engine"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "docker_engine" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group(ENGINE_GROUP))
        try:
            kind = Path(item.path).relative_to(_HERE).parts[0]
        except ValueError:
            continue
        if kind in ("unit", "integration", "e2e"):
            item.add_marker(getattr(pytest.mark, kind))


def _terraform_skips(reporter: TerminalReporter) -> int:
    count = 0
    for report in reporter.stats.get("skipped", []):
        longrepr = getattr(report, "longrepr", None)
        if isinstance(longrepr, tuple) and TERRAFORM_MISSING in str(longrepr[2]):
            count += 1
    return count


def pytest_terminal_summary(terminalreporter: TerminalReporter, exitstatus: int) -> None:
    skipped = _terraform_skips(terminalreporter)
    if not skipped:
        return
    ci = os.environ.get("CI") == "true"
    terminalreporter.section("TERRAFORM MISSING", sep="!", red=True, bold=True)
    terminalreporter.write_line(
        f"{skipped} tests were skipped because terraform is not on PATH (the version "
        "pipes/tf-apply/Dockerfile pins): tf-apply is untested by this run."
        + (" CI=true: the run fails." if ci else ""), red=True, bold=True)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if os.environ.get("CI") == "true" and reporter is not None and _terraform_skips(reporter):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
