"""MODE drift: plan -detailed-exitcode; drift found or not, FAIL_ON_DRIFT, REFRESH_ONLY, outputs."""
from __future__ import annotations

from testbed.reports_stub import BitbucketReportsStub

from .conftest import Stack, assert_failed_cleanly

KEY = "web/infra/terraform.tfstate"


def test_no_drift(stack: Stack) -> None:
    assert stack.run(MODE="apply").code == 0
    etag = stack.state_etag(KEY)
    run = stack.run(MODE="drift")
    assert run.code == 0, run.output
    assert "No drift in infra (default)" in run.last_line()
    shared = stack.shared()
    assert shared["mode"] == "drift" and shared["has_changes"] is False
    assert stack.state_etag(KEY) == etag  # a drift check writes nothing
    stack.assert_no_leaks()


def test_drift_found_fails_by_default(stack: Stack) -> None:
    assert stack.run(MODE="apply").code == 0
    etag = stack.state_etag(KEY)
    run = stack.run(MODE="drift", VARS="size=5")
    assert_failed_cleanly(run, "Drift in infra (default)", "0 to create, 2 to update, 0 to replace",
                          "FAIL_ON_DRIFT")
    assert stack.shared()["has_changes"] is True
    assert stack.state_etag(KEY) == etag
    stack.assert_no_leaks()


def test_drift_reported_without_failing(stack: Stack) -> None:
    assert stack.run(MODE="apply").code == 0
    run = stack.run(MODE="drift", VARS="size=5", FAIL_ON_DRIFT="false")
    assert run.code == 0, run.output
    assert [line for line in run.output.splitlines() if "Drift in infra" in line]
    shared = stack.shared()
    assert shared["has_changes"] is True and shared["counts"]["update"] == 2, shared


def test_refresh_only_ignores_configuration_changes(stack: Stack) -> None:
    """Changed variables are not drift for -refresh-only: only changes made outside Terraform
    count (built-in resources here have nothing outside to change)."""
    assert stack.run(MODE="apply").code == 0
    run = stack.run(MODE="drift", VARS="size=5", REFRESH_ONLY="true")
    assert run.code == 0, run.output
    assert "No drift" in run.last_line()


def test_refresh_only_needs_drift_mode(stack: Stack) -> None:
    run = stack.run(MODE="apply", REFRESH_ONLY="true")
    assert_failed_cleanly(run, "REFRESH_ONLY", "MODE drift")


def test_drift_report(stack: Stack, reports_stub: BitbucketReportsStub) -> None:
    assert stack.run(MODE="apply").code == 0
    run = stack.run(MODE="drift", VARS="size=5", FAIL_ON_DRIFT="false", CODE_INSIGHTS="true",
                    BITBUCKET_API_PROXY=reports_stub.proxy_url)
    assert run.code == 0, run.output
    (where, report), = reports_stub.state.reports.items()
    assert where[3] == "tf-apply-infra-default-drift"
    assert report["result"] == "FAILED" and report["details"].startswith("Drift")
