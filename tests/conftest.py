"""Markers by folder (unit, integration, e2e), the shared test bed fixtures, and the count of the
tests a machine without Terraform skipped (a failure with ``CI=true``: CI must run them all)."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest
from _pytest.terminal import TerminalReporter
from testbed.terraform_image import MISSING as TERRAFORM_MISSING
from xdist.scheduler.loadscope import LoadScopeScheduling

pytest_plugins = ["testbed.fixtures"]

_HERE = Path(__file__).parent


# The tests that use the Docker engine (its fixture, directly or through another one) run in one
# pytest-xdist worker (./dev test: -n 2 --dist loadgroup): one engine, its data-root and its build
# cache for the whole run, instead of one per worker with every pipe image built twice.  (xdist's own
# loadgroup reads xdist_group marks into the test ids, which pytest 9 no longer lets it rename: the
# workers list the engine tests in a file instead, and the scheduler below makes them one unit.)
ENGINE_GROUP = "docker-engine"
ENGINE_TESTS = "DO_PIPES_ENGINE_TESTS"  # the file the workers list them in (set by the controller)


def pytest_configure(config: pytest.Config) -> None:
    controller = not hasattr(config, "workerinput")
    if controller and config.getoption("dist", default="no") == "loadgroup" and ENGINE_TESTS not in os.environ:
        handle, path = tempfile.mkstemp(prefix="do-pipes-engine-tests-", suffix=".json")
        os.close(handle)
        os.environ[ENGINE_TESTS] = path  # the workers, started after this, inherit it
        config.add_cleanup(lambda: Path(path).unlink(missing_ok=True))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        try:
            kind = Path(item.path).relative_to(_HERE).parts[0]
        except ValueError:
            continue
        if kind in ("unit", "integration", "e2e"):
            item.add_marker(getattr(pytest.mark, kind))
    listing = os.environ.get(ENGINE_TESTS)
    if listing and hasattr(config, "workerinput"):  # every worker collects the same tests
        engine = [item.nodeid for item in items if "docker_engine" in getattr(item, "fixturenames", ())]
        partial = f"{listing}.{os.getpid()}"
        Path(partial).write_text(json.dumps(engine))
        os.replace(partial, listing)


class EngineGroupScheduling(LoadScopeScheduling):  # type: ignore[misc]
    """xdist's load scheduling with the engine tests as one unit (in collection order) and every
    other test a unit of its own."""

    def __init__(self, config: pytest.Config, log: object = None) -> None:
        super().__init__(config, log)
        self._engine: set[str] | None = None

    def _split_scope(self, nodeid: str) -> str:
        if self._engine is None:  # the workers have collected by now
            self._engine = set(json.loads(Path(os.environ[ENGINE_TESTS]).read_text() or "[]"))
        return ENGINE_GROUP if nodeid in self._engine else nodeid


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> EngineGroupScheduling | None:
    return EngineGroupScheduling(config, log) if config.getoption("dist") == "loadgroup" else None


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
