"""The Code Insights report through the one Bitbucket client, against a scripted proxy: the
Pipelines API proxy gets the API's absolute URL and no credentials; a refusal is a warning."""
from __future__ import annotations

import json

import pytest
from pipes_common.bitbucket import StepContext
from testbed.flaky_http import FlakyServer, Reply
from tf_apply import insights, summary

COMMIT = "0123456789abcdef0123456789abcdef01234567"
ENV = {"CI": "true", "BITBUCKET_BUILD_NUMBER": "7", "BITBUCKET_COMMIT": COMMIT,
       "BITBUCKET_REPO_SLUG": "web", "BITBUCKET_WORKSPACE": "acme", "BITBUCKET_CLONE_DIR": "/tmp"}
REPORT = f"http://api.bitbucket.org/2.0/repositories/acme/web/commit/{COMMIT}/reports/tf-apply-x"


def body() -> dict[str, object]:
    return insights.report_body(summary.Summary([("a.x", "create")]), mode="validate",
                                workspace="default", working_dir="infra", plan_id=None, link=None)


def test_the_report_goes_through_the_proxy_without_credentials(capsys: pytest.CaptureFixture[str]) -> None:
    notes = [{"external_id": f"n{i}", "summary": "s"} for i in range(150)]
    with FlakyServer() as proxy:
        proxy.script(Reply(200, body=b"{}"), Reply(200, body=b"[]"), Reply(200, body=b"[]"))
        assert insights.send(StepContext.from_env(ENV), proxy.url, body(), "tf-apply-x",
                             annotations=notes)
    put, *posts = proxy.hits
    assert (put.method, put.path) == ("PUT", REPORT)
    assert json.loads(put.body)["external_id"] == "tf-apply-x"
    assert [(p.method, p.path, len(json.loads(p.body))) for p in posts] == [
        ("POST", f"{REPORT}/annotations", 100), ("POST", f"{REPORT}/annotations", 50)]
    assert not [h for h in proxy.hits if any(k.lower() == "authorization" for k in h.headers)]
    assert "Code Insights report tf-apply-x sent with 150 annotations" in capsys.readouterr().out


def test_a_refused_report_is_a_warning_not_a_failure(capsys: pytest.CaptureFixture[str]) -> None:
    with FlakyServer() as proxy:
        proxy.script(Reply(400, body=b'{"type": "error", "error": {"message": "title: required"}}'))
        assert not insights.send(StepContext.from_env(ENV), proxy.url, body(), "tf-apply-x",
                                 annotations=[{"external_id": "n", "summary": "s"}])
        assert [h.method for h in proxy.hits] == ["PUT"]  # no annotations for a report not made
    out = capsys.readouterr().out
    assert "Code Insights report not sent (HTTP 400); the plan itself is fine." in out
    assert "✖" not in out
