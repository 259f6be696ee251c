"""tf-apply exactly as Bitbucket runs it (testbed.pipes.pipe_command), on its defaults: state in
moto's S3 on loopback, the Code Insights report through the Pipelines proxy the pipe finds on its
host (host.docker.internal:29418) with no address given."""
from __future__ import annotations

import secrets as pysecrets
import shutil
from collections.abc import Callable
from pathlib import Path

import docker
from testbed.fixtures import canary
from testbed.leaks import assert_absent
from testbed.pipes import REPO_ROOT, PipeHost, PipeRun, bitbucket_env, pipe_command, read_handoff, run_pipe
from testbed.reports_stub import BitbucketReportsStub
from testbed.s3 import MotoS3

KEY = "web/infra/terraform.tfstate"


def test_plan_on_pr_then_apply_on_main(tmp_path: Path, moto_s3: MotoS3, terraform_image: str,
                                       pipe_image: Callable[[str], str], pipe_host: PipeHost,
                                       reports_proxy: BitbucketReportsStub,
                                       docker_client: docker.DockerClient) -> None:
    image = pipe_image("tf-apply")  # after terraform_image: COPY --from needs the seeded tag
    build = tmp_path / "build"
    shutil.copytree(REPO_ROOT / "tests" / "fixtures" / "tf-apply" / "basic", build / "infra")
    bucket = moto_s3.create_bucket(f"e2e-{pysecrets.token_hex(6)}")
    keys = (canary("DO00E2E"), canary("e2e-secret-"), canary("dop_v1_e2e"), canary("e2e-pw-"))
    commit = pysecrets.token_hex(20)
    runs: list[PipeRun] = []

    def run(**variables: str) -> PipeRun:
        step = bitbucket_env(build, commit=commit, branch="main")
        given = {"SPACES_ACCESS_KEY_ID": keys[0], "SPACES_SECRET_ACCESS_KEY": keys[1],
                 "SPACES_BUCKET": bucket, "SPACES_ENDPOINT": moto_s3.url,
                 "DIGITALOCEAN_ACCESS_TOKEN": keys[2], "WORKING_DIR": "infra",
                 "VARS_COUNT": "2", "VARS_0": "name=e2e", "VARS_1": f"db_password={keys[3]}"}
        given.update(variables)
        result = run_pipe(pipe_command(f"docker://{image}", build, step, pipe_host, variables=given),
                          timeout=300)
        runs.append(result)
        return result

    plan = run(MODE="plan")  # the pull-request step: plan id = the commit
    assert plan.code == 0, plan.output
    assert f"Plan saved as PLAN_ID {commit}: 2 to create" in plan.output
    # Code Insights on by default: the report reached the proxy on the pipe's host, no address given
    assert "Code Insights report" in plan.output and "not sent" not in plan.output, plan.output
    (where, report), = reports_proxy.state.reports.items()
    assert where[:3] == ("acme", "web", commit)
    assert report["report_type"] == "TEST" and report["result"] == "PASSED"
    assert {"title": "To create", "type": "NUMBER", "value": 2} in report["data"]
    applied = run(MODE="apply", PLAN_ID=commit)  # the main-branch step
    assert applied.code == 0, applied.output
    assert f"Applied saved plan {commit}" in applied.last_line()
    outs = read_handoff(build, "tf-apply", "tf-apply-outputs.json")
    assert outs == {"outputs": {"app": "e2e-1", "settings": {"name": "e2e", "size": 1,
                                                            "workspace": "default"}},
                    "sensitive_outputs": ["db_password"]}
    twice = run(MODE="apply", PLAN_ID=commit)
    assert twice.code == 0 and "already applied" in twice.last_line(), twice.output  # a no-op
    assert "Traceback" not in twice.output

    bad = run(MODE="apply", LOCK_TIMEOUT="whenever")
    assert bad.code == 1 and bad.last_line().count("✖") == 1 and "LOCK_TIMEOUT" in bad.last_line()

    text = "\n".join(r.output for r in runs)
    for secret in keys:
        assert_absent(secret, text=text, paths=[build])
    for key, body in moto_s3.objects(bucket).items():
        for secret in keys[:3]:
            assert_absent(secret, text=body.decode("latin-1"))
        if not (key.endswith(".tfstate") or key.endswith("plan.tfplan")):
            assert_absent(keys[3], text=body.decode("latin-1"))
    # nothing secret in the image, and Terraform is the pinned one
    config = docker_client.images.get(image).attrs["Config"]
    assert config["Labels"]["io.do-pipes.terraform-version"] == terraform_image.split(":")[1]
    assert config["Entrypoint"] == ["/opt/pipe/bin/python", "-m", "tf_apply"]


def test_plan_comment_on_the_pull_request(tmp_path: Path, moto_s3: MotoS3, terraform_image: str,
                                          pipe_image: Callable[[str], str], pipe_host: PipeHost) -> None:
    """A pull-request pipeline (BITBUCKET_PR_ID set): the plan becomes one comment per working
    directory, updated (not duplicated) by the next push's plan."""
    from testbed.bitbucket_comments import open_pull_request
    from testbed.bitbucket_stub import BitbucketState, BitbucketStub

    image = pipe_image("tf-apply")
    build = tmp_path / "build"
    for folder in ("infra", "infra2"):
        shutil.copytree(REPO_ROOT / "tests" / "fixtures" / "tf-apply" / "basic", build / folder)
    bucket = moto_s3.create_bucket(f"e2e-{pysecrets.token_hex(6)}")
    token, password = canary("bbtoken-e2e-"), canary("e2e-pw-")
    runs: list[PipeRun] = []
    with BitbucketStub(BitbucketState(tokens={token})) as api:
        open_pull_request(api.state.pullrequests, "acme/web", 3)

        def plan(folder: str, size: str) -> PipeRun:
            step = bitbucket_env(build, commit=pysecrets.token_hex(20), branch="feature")
            step["BITBUCKET_PR_ID"] = "3"
            given = {"SPACES_ACCESS_KEY_ID": canary("DO00E2E"), "SPACES_SECRET_ACCESS_KEY": canary("s-"),
                     "SPACES_BUCKET": bucket, "SPACES_ENDPOINT": moto_s3.url, "MODE": "plan",
                     "WORKING_DIR": folder, "STATE_KEY": f"web/{folder}/terraform.tfstate",
                     "CODE_INSIGHTS": "false", "BITBUCKET_ACCESS_TOKEN": token,
                     "BITBUCKET_API_URL": api.url, "VARS_COUNT": "2", "VARS_0": f"size={size}",
                     "VARS_1": f"db_password={password}"}
            result = run_pipe(pipe_command(f"docker://{image}", build, step, pipe_host,
                                           variables=given), timeout=300)
            runs.append(result)
            assert result.code == 0, result.output
            return result

        assert "plan comment 1 created" in plan("infra", "1").output
        assert "plan comment 2 created" in plan("infra2", "1").output
        assert "plan comment 1 updated" in plan("infra", "2").output
        comments = api.state.comments.on("acme", "web", 3)
    assert [c["content"]["raw"].splitlines()[-1] for c in comments] == [
        "[//]: # (tf-apply plan infra default)", "[//]: # (tf-apply plan infra2 default)"]
    assert "2 to create" in comments[0]["content"]["raw"]
    text = "\n".join(r.output for r in runs) + "".join(c["content"]["raw"] for c in comments)
    for secret in (token, password):
        assert_absent(secret, text=text)


def test_validate_drift_and_version_checks(tmp_path: Path, moto_s3: MotoS3, terraform_image: str,
                                           pipe_image: Callable[[str], str], pipe_host: PipeHost,
                                           reports_proxy: BitbucketReportsStub) -> None:
    """validate with fmt annotations, drift not found then found, a required_version mismatch:
    each one line, through the pipe image as Bitbucket runs it."""
    image = pipe_image("tf-apply")
    build = tmp_path / "build"
    fixtures = REPO_ROOT / "tests" / "fixtures" / "tf-apply"
    shutil.copytree(fixtures / "basic", build / "infra")
    shutil.copytree(fixtures / "old-version", build / "old")
    bucket = moto_s3.create_bucket(f"e2e-{pysecrets.token_hex(6)}")
    keys = (canary("DO00E2E"), canary("e2e-secret-"))
    runs: list[PipeRun] = []

    def run(**variables: str) -> PipeRun:
        step = bitbucket_env(build, commit=pysecrets.token_hex(20), branch="main")
        given = {"SPACES_ACCESS_KEY_ID": keys[0], "SPACES_SECRET_ACCESS_KEY": keys[1],
                 "SPACES_BUCKET": bucket, "SPACES_ENDPOINT": moto_s3.url, "WORKING_DIR": "infra"}
        given.update(variables)
        result = run_pipe(pipe_command(f"docker://{image}", build, step, pipe_host, variables=given),
                          timeout=300)
        runs.append(result)
        return result

    (build / "infra" / "extra.tf").write_text('resource "terraform_data" "extra" {\n  input="x"\n}\n')
    checked = run(MODE="validate")
    assert checked.code == 1 and "✖" in checked.last_line(), checked.output
    assert "1 unformatted files" in checked.last_line() and "infra/extra.tf:2" in checked.last_line()
    (where, report), = reports_proxy.state.reports.items()
    assert where[3] == "tf-apply-infra-default-validate" and report["result"] == "FAILED"
    (note,) = reports_proxy.state.annotations[where]
    assert (note["path"], note["line"]) == ("infra/extra.tf", 2)
    (build / "infra" / "extra.tf").unlink()

    assert run(MODE="apply", CODE_INSIGHTS="false").code == 0
    calm = run(MODE="drift", CODE_INSIGHTS="false")
    assert calm.code == 0 and "No drift in infra (default)" in calm.last_line(), calm.output
    drifted = run(MODE="drift", CODE_INSIGHTS="false", VARS_COUNT="1", VARS_0="size=4")
    assert drifted.code == 1 and drifted.last_line().count("✖") == 1, drifted.output
    assert "Drift in infra (default)" in drifted.last_line() and "2 to update" in drifted.last_line()
    assert read_handoff(build, "tf-apply")["has_changes"] is True

    old = run(MODE="plan", WORKING_DIR="old", STATE_KEY="web/old/terraform.tfstate",
              PLAN_ID="old-1", CODE_INSIGHTS="false")
    assert old.code == 1 and old.last_line().count("✖") == 1, old.output
    assert "~> 1.5.0" in old.last_line() and "Terraform 1.11.4" in old.last_line()
    assert "Traceback" not in "\n".join(r.output for r in runs)
    for secret in keys:
        assert_absent(secret, text="\n".join(r.output for r in runs), paths=[build])
