"""MODE validate: terraform validate -json and fmt -check, findings with file and line as Code
Insights annotations, one ✖ line when anything fails."""
from __future__ import annotations

from testbed.reports_stub import BitbucketReportsStub

from .conftest import Stack, assert_failed_cleanly

UNFORMATTED = 'resource "terraform_data" "extra" {\n  input="x"\n}\n'
INVALID = 'output "broken" {\n  value = var.nope\n}\n'


def test_valid_and_formatted(stack: Stack, reports_stub: BitbucketReportsStub) -> None:
    run = stack.run(MODE="validate", CODE_INSIGHTS="true", BITBUCKET_API_PROXY=reports_stub.proxy_url)
    assert run.code == 0, run.output
    assert "is valid and formatted" in run.last_line()
    (key, report), = reports_stub.state.reports.items()
    assert key[3] == "tf-apply-infra-default-validate" and report["result"] == "PASSED"
    assert reports_stub.state.annotations == {}
    assert stack.objects() == {}


def test_unformatted_file_is_annotated(stack: Stack, reports_stub: BitbucketReportsStub) -> None:
    (stack.build / "infra" / "extra.tf").write_text(UNFORMATTED)
    run = stack.run(MODE="validate", CODE_INSIGHTS="true", BITBUCKET_API_PROXY=reports_stub.proxy_url)
    assert_failed_cleanly(run, "0 validation errors, 1 unformatted files", "infra/extra.tf:2")
    (key, report), = reports_stub.state.reports.items()
    assert report["result"] == "FAILED"
    (note,) = reports_stub.state.annotations[key]
    assert (note["path"], note["line"], note["annotation_type"]) == ("infra/extra.tf", 2, "CODE_SMELL")
    assert (stack.build / "infra" / "extra.tf").read_text() == UNFORMATTED  # never rewritten


def test_validation_error_is_annotated(stack: Stack, reports_stub: BitbucketReportsStub) -> None:
    (stack.build / "infra" / "broken.tf").write_text(INVALID)
    run = stack.run(MODE="validate", CODE_INSIGHTS="true", BITBUCKET_API_PROXY=reports_stub.proxy_url)
    assert_failed_cleanly(run, "1 validation errors, 0 unformatted files",
                          "infra/broken.tf:2: Reference to undeclared input variable")
    (key, _), = reports_stub.state.reports.items()
    (note,) = reports_stub.state.annotations[key]
    assert (note["path"], note["line"], note["severity"]) == ("infra/broken.tf", 2, "HIGH")
    assert "nope" in note["details"]
