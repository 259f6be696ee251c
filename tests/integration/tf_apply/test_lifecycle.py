"""init/plan/apply/output/destroy against moto's S3 with real Terraform (pipe run as a process)."""
from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

from testbed.bitbucket_comments import open_pull_request
from testbed.bitbucket_stub import BitbucketState, BitbucketStub
from testbed.fixtures import canary
from testbed.reports_stub import BitbucketReportsStub
from tf_apply import backend
from tf_apply.schema import VARIABLES

from .conftest import CONFIGS, Stack, assert_failed_cleanly

KEY = "web/infra/terraform.tfstate"


def test_apply_output_plan_destroy(stack: Stack) -> None:
    applied = stack.run(MODE="apply")
    assert applied.code == 0, applied.output
    assert "Locking probe passed" in applied.output
    assert "+ create terraform_data.app" in applied.output
    assert "✔ Applied: 2 to create" in applied.output
    state = stack.state(KEY)
    assert state is not None and state["serial"] >= 1
    assert {r["type"] for r in state["resources"]} == {"terraform_data"}
    # no probe object and no lock file left behind
    assert not [k for k in stack.objects() if "lockprobe" in k or k.endswith(".tflock")]
    # non-sensitive outputs in the outputs file, shared storage and dotenv; sensitive by name only
    outs = stack.outputs_file()
    assert outs["outputs"] == {"app": "web-1", "settings": {"name": "web", "size": 1,
                                                            "workspace": "default"}}
    assert outs["sensitive_outputs"] == ["db_password"]
    shared = stack.shared()
    assert shared["outputs"] == outs["outputs"] and shared["counts"]["create"] == 2
    assert shared["sensitive_outputs"] == ["db_password"] and shared["has_changes"] is True
    dotenv = (stack.build / ".do-pipes" / "tf-apply.env").read_text()
    assert "TF_APPLY_OUT_APP=web-1" in dotenv
    assert "TF_APPLY_SENSITIVE_OUTPUTS=db_password" in dotenv
    assert "output db_password is sensitive" in applied.output
    # the plugin cache lives in the build dir (for a Bitbucket cache)
    assert (stack.build / ".terraform.d" / "plugin-cache").is_dir()

    output = stack.run(MODE="output")
    assert output.code == 0, output.output
    assert "✔ 2 outputs read (1 sensitive, not shown)" in output.output

    again = stack.run(MODE="plan", PLAN_ID="noop")
    assert again.code == 0, again.output
    assert "(no changes)" in again.last_line()
    assert stack.shared()["has_changes"] is False

    destroyed = stack.run(MODE="destroy")
    assert destroyed.code == 0, destroyed.output
    assert "- delete terraform_data.app" in destroyed.output
    state = stack.state(KEY)
    assert state is not None and state["resources"] == []
    stack.assert_no_leaks()


def test_var_files_and_vars(stack: Stack) -> None:
    # VARS are TF_VAR_ variables: a var file given on the command line wins (Terraform's order)
    run = stack.run(VAR_FILES="env/prod.tfvars",
                    VARS=f"size=5\nname=ignored\ndb_password={stack.canaries.db_password}")
    assert run.code == 0, run.output
    assert stack.outputs_file()["outputs"]["settings"] == {"name": "prod-web", "size": 3,
                                                           "workspace": "default"}
    only_vars = stack.run(VARS=f"size=5\ndb_password={stack.canaries.db_password}")
    assert only_vars.code == 0, only_vars.output
    assert stack.outputs_file()["outputs"]["settings"]["size"] == 5
    stack.assert_no_leaks()


def test_targets_and_extra_args(stack: Stack) -> None:
    run = stack.run(TARGETS="terraform_data.app", EXTRA_ARGS="-parallelism=2")
    assert run.code == 0, run.output
    state = stack.state(KEY)
    assert state is not None
    assert [r["name"] for r in state["resources"]] == ["app"]
    assert "Resource targeting is in effect" in run.output  # Terraform's own warning, shown


def test_workspaces(stack: Stack) -> None:
    staging = stack.run(WORKSPACE="staging", VARS_COUNT="2", VARS_0="name=stg",
                        VARS_1=f"db_password={stack.canaries.db_password}")
    assert staging.code == 0, staging.output
    assert stack.state(f"env:/staging/{KEY}") is not None
    assert stack.state(KEY) is None  # the default workspace is untouched
    assert stack.outputs_file()["outputs"]["settings"]["workspace"] == "staging"
    default = stack.run()
    assert default.code == 0, default.output
    assert stack.outputs_file()["outputs"]["settings"] == {"name": "web", "size": 1,
                                                           "workspace": "default"}
    missing = stack.run(MODE="output", WORKSPACE="nope")
    assert_failed_cleanly(missing, "WORKSPACE", "nope")
    stack.assert_no_leaks()


def test_validate(stack: Stack) -> None:
    run = stack.run(MODE="validate")
    assert run.code == 0, run.output
    assert "is valid" in run.last_line()
    assert stack.objects() == {}  # validate never touches Spaces


def test_required_version_refused(make_stack: Callable[..., Stack]) -> None:
    stack = make_stack("old-version")
    run = stack.run(MODE="plan", PLAN_ID="v")
    assert_failed_cleanly(run, "required_version", "~> 1.5.0", "Terraform 1.11.4",
                          "no tf-apply release bundles a matching Terraform")
    assert not [k for k in stack.objects() if k.endswith(".tfstate")]


def test_code_insights_report(stack: Stack, reports_stub: BitbucketReportsStub) -> None:
    env = {"CODE_INSIGHTS": "true", "BITBUCKET_API_PROXY": reports_stub.proxy_url}
    run = stack.run(MODE="plan", PLAN_ID="ci-1", **env)
    assert run.code == 0, run.output
    assert "Code Insights report tf-apply-infra-default sent" in run.output
    (key, report), = reports_stub.state.reports.items()
    assert key[:2] == ("acme", "web") and key[3] == "tf-apply-infra-default"
    assert report["report_type"] == "TEST" and report["result"] == "PASSED"
    data = {d["title"]: d["value"] for d in report["data"]}
    assert data["To create"] == 2 and data["To delete"] == 0 and data["Plan id"] == "ci-1"
    assert "2 to create" in report["details"]
    for secret in stack.canaries.all():
        assert secret not in json.dumps(report)

    # outside Bitbucket Pipelines (no build number): skipped cleanly, nothing sent
    reports_stub.state.requests.clear()
    outside = stack.run(MODE="plan", PLAN_ID="ci-2", BITBUCKET_BUILD_NUMBER="<unset>", **env)
    assert outside.code == 0, outside.output
    assert "Code Insights report skipped: not running in Bitbucket Pipelines" in outside.output
    assert reports_stub.state.requests == []

    # an unreachable API proxy is a warning, not a failure
    down = stack.run(MODE="plan", PLAN_ID="ci-3", CODE_INSIGHTS="true",
                     BITBUCKET_API_PROXY="http://127.0.0.1:9")
    assert down.code == 0, down.output
    assert "Code Insights report not sent" in down.output
    assert down.output.count("✖") == 0


def test_remote_state_of_another_configuration(stack: Stack) -> None:
    """A second configuration reads the first one's outputs with terraform_remote_state."""
    assert stack.run(VARS=f"name=base\ndb_password={stack.canaries.db_password}").code == 0
    shutil.copytree(CONFIGS / "consumer", stack.build / "consumer")
    run = stack.run(WORKING_DIR="consumer",
                    VARS=f"state_bucket={stack.bucket}\nstate_endpoint={stack.endpoint}")
    assert run.code == 0, run.output
    assert stack.outputs_file()["outputs"] == {"base_app": "base-1"}
    assert stack.state("web/consumer/terraform.tfstate") is not None
    stack.assert_no_leaks()


def test_terraform_runs_in_automation_mode(make_stack: Callable[..., Stack]) -> None:
    """TF_IN_AUTOMATION, TF_INPUT=0 and CHECKPOINT_DISABLE are in Terraform's own environment
    (a local-exec provisioner inherits it and writes them down)."""
    stack = make_stack("env-probe")
    seen = stack.build / "terraform-env.txt"
    run = stack.run(VARS=f"out={seen}")
    assert run.code == 0, run.output
    assert seen.read_text().splitlines() == ["TF_IN_AUTOMATION=1", "TF_INPUT=0", "CHECKPOINT_DISABLE=1"]


# what Terraform gets from the pipe besides the allow-list, and what the shell of local-exec adds
OWN = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REQUEST_CHECKSUM_CALCULATION",
       "AWS_RESPONSE_CHECKSUM_VALIDATION", "TF_IN_AUTOMATION", "TF_INPUT", "CHECKPOINT_DISABLE",
       "TF_PLUGIN_CACHE_DIR", "DIGITALOCEAN_TOKEN", "TF_WORKSPACE", "TF_VAR_out", "OUT"}
SHELL = {"PWD", "SHLVL", "_", "OLDPWD",
         "AWS_EC2_METADATA_DISABLED"}  # (set by Terraform's S3 backend: skip_metadata_api_check)


def test_data_external_reads_no_pipe_secret_or_variable(make_stack: Callable[..., Stack],
                                                       tmp_path: Path) -> None:
    """A pull request's configuration runs a program with Terraform's environment (data
    "external", local-exec): it sees no BITBUCKET_ACCESS_TOKEN, no PLAN_SIGNING_KEY, no pipe
    variable and no BITBUCKET_* of the step, only the allow-list and what the pipe gives
    Terraform on purpose."""
    stack = make_stack("env-dump")
    token, key = canary("bbtoken-"), canary("plan-signing-key-")
    seen = tmp_path / "terraform-env"
    with BitbucketStub(BitbucketState(tokens={token})) as api:
        open_pull_request(api.state.pullrequests, "acme/web", 9)  # the repository is known
        run = stack.run(VARS=f"out={seen}", BITBUCKET_ACCESS_TOKEN=token,
                        BITBUCKET_API_URL=api.url, PLAN_SIGNING_KEY=key, COMMENT="false",
                        EXTRA_ARGS_COUNT="1", EXTRA_ARGS_0="-parallelism=2",
                        TF_LOG="off", TF_DATA_DIR=str(tmp_path / "elsewhere"))
    assert run.code == 0, run.output
    env = dict(entry.split("=", 1) for entry in seen.read_text().split("\0") if entry)
    assert env["TF_LOG"] == "off" and env["DIGITALOCEAN_TOKEN"] == stack.canaries.do_token
    unexpected = {name for name in env if not backend.passed(name)} - OWN - SHELL
    assert unexpected == set(), unexpected
    names = {v.name for v in VARIABLES}
    assert not set(env) & names, set(env) & names
    assert not [name for name in env if name.startswith("BITBUCKET_")]
    for secret in (token, key):
        assert secret not in seen.read_text()
