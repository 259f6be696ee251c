from __future__ import annotations

from pathlib import Path

import pytest
from pipes_common import secrets
from pipes_common.bitbucket import StepContext
from pipes_common.errors import PipeError
from tf_apply import backend, settings
from tf_apply.schema import VARIABLES


def ctx(tmp_path: Path, **env: str) -> StepContext:
    base = {"BITBUCKET_CLONE_DIR": str(tmp_path), "BITBUCKET_REPO_SLUG": "web",
            "BITBUCKET_COMMIT": "c0ffee" * 6 + "abcd"}
    base.update(env)
    return StepContext.from_env(base)


def make(tmp_path: Path, **variables: str) -> settings.Settings:
    env = {"SPACES_ACCESS_KEY_ID": "AKIAEXAMPLE1", "SPACES_SECRET_ACCESS_KEY": "s3cr3t-example",
           "SPACES_BUCKET": "state-bucket"}
    env.update(variables)
    values = VARIABLES.load(env)  # the door, as runner.start passes it
    VARIABLES.check(values, tmp_path)
    return settings.Settings.from_values(values, ctx(tmp_path))


@pytest.mark.parametrize(("raw", "want"), [("300s", "300s"), ("90", "90s"), ("5m", "5m"),
                                           ("1m30s", "1m30s"), ("1.5h", "1.5h")])
def test_lock_timeout(raw: str, want: str) -> None:
    assert settings.lock_timeout(raw) == want


@pytest.mark.parametrize("raw", ["soon", "5 m", "-1s", "10d", " "])
def test_bad_lock_timeout(tmp_path: Path, raw: str) -> None:
    with pytest.raises(PipeError, match="LOCK_TIMEOUT"):
        make(tmp_path, LOCK_TIMEOUT=raw)


def test_tf_vars(tmp_path: Path) -> None:
    assert settings.tf_vars(["a=1", "b_c=x=y", "empty="]) == {"a": "1", "b_c": "x=y", "empty": ""}
    for bad in ("noequals", "=value", "1abc=x", "a b=1"):
        with pytest.raises(PipeError, match="VARS: entry 0"):
            make(tmp_path, VARS_COUNT="1", VARS_0=bad)


def test_endpoint() -> None:
    assert settings.endpoint("fra1", None) == ("https://fra1.digitaloceanspaces.com", False)
    assert settings.endpoint("nyc3", "http://127.0.0.1:9000/") == ("http://127.0.0.1:9000", True)
    assert settings.endpoint("nyc3", "http://localhost:9000") == ("http://localhost:9000", True)
    assert settings.endpoint("nyc3", "https://s3.example.com") == ("https://s3.example.com", False)


def test_defaults_and_state_objects(tmp_path: Path) -> None:
    (tmp_path / "infra" / "prod").mkdir(parents=True)
    s = make(tmp_path, WORKING_DIR="infra/prod")
    assert s.mode == "apply" and s.locking == "auto" and s.lock_timeout == "300s"
    assert s.state_key == "web/infra/prod/terraform.tfstate"
    assert s.state_object == s.state_key and s.lock_object == s.state_key + ".tflock"
    assert make(tmp_path).state_key == "web/terraform.tfstate"
    staged = make(tmp_path, WORKSPACE="staging", STATE_KEY="x/y.tfstate")
    assert staged.state_object == "env:/staging/x/y.tfstate"
    assert staged.plans_prefix == "x/y.tfstate.plans/staging/"


def test_dotted_bucket_uses_path_style(tmp_path: Path) -> None:
    assert make(tmp_path).path_style is False
    assert make(tmp_path, SPACES_BUCKET="acme.state").path_style is True


def test_plan_id_defaults_to_commit(tmp_path: Path) -> None:
    assert make(tmp_path, MODE="plan").plan_id == "c0ffee" * 6 + "abcd"
    assert make(tmp_path, MODE="apply").plan_id is None


def test_no_slug_needs_state_key(tmp_path: Path) -> None:
    env = {"SPACES_ACCESS_KEY_ID": "AKIAEXAMPLE1", "SPACES_SECRET_ACCESS_KEY": "s3cr3t-example",
           "SPACES_BUCKET": "state-bucket"}
    with pytest.raises(PipeError, match="STATE_KEY"):
        settings.Settings.from_values(VARIABLES.load(env), StepContext.from_env({"BITBUCKET_CLONE_DIR": str(tmp_path)}))


def test_backend_config_holds_no_secret(tmp_path: Path) -> None:
    s = make(tmp_path, SPACES_ENDPOINT="http://127.0.0.1:9000", DIGITALOCEAN_ACCESS_TOKEN="dop_v1_tok")
    text = backend.backend_config(s)
    assert "AKIAEXAMPLE1" not in text and "s3cr3t-example" not in text and "dop_v1_tok" not in text
    for line in ('bucket = "state-bucket"', 'key = "web/terraform.tfstate"', 'region = "us-east-1"',
                 "skip_credentials_validation = true", "skip_requesting_account_id = true",
                 "skip_metadata_api_check = true", "skip_region_validation = true",
                 "skip_s3_checksum = true", "use_path_style = true", "use_lockfile = true",
                 'endpoints = { s3 = "http://127.0.0.1:9000" }'):
        assert line in text.splitlines()
    off = make(tmp_path, LOCKING="off")
    assert "use_lockfile" not in backend.backend_config(off)
    assert "use_path_style = false" in backend.backend_config(off)


def test_terraform_env(tmp_path: Path) -> None:
    s = make(tmp_path, DIGITALOCEAN_ACCESS_TOKEN="dop_v1_tok", VARS="region=fra1")
    env = backend.terraform_env(s, {"PATH": "/bin", "SPACES_SECRET_ACCESS_KEY": "s3cr3t-example",
                                    "AWS_PROFILE": "other", "VARS_COUNT": "1", "VARS_0": "a=b",
                                    "TF_VAR_kept": "1", "DIGITALOCEAN_ACCESS_TOKEN": "dop_v1_tok"})
    assert env["AWS_ACCESS_KEY_ID"] == "AKIAEXAMPLE1"
    assert env["AWS_SECRET_ACCESS_KEY"] == "s3cr3t-example"
    assert env["AWS_REQUEST_CHECKSUM_CALCULATION"] == "when_required"
    assert env["AWS_RESPONSE_CHECKSUM_VALIDATION"] == "when_required"
    assert env["DIGITALOCEAN_TOKEN"] == "dop_v1_tok"
    assert env["TF_VAR_region"] == "fra1"
    assert env["TF_PLUGIN_CACHE_DIR"] == str(tmp_path / ".terraform.d" / "plugin-cache")
    for gone in ("SPACES_SECRET_ACCESS_KEY", "AWS_PROFILE", "VARS_COUNT", "VARS_0",
                 "DIGITALOCEAN_ACCESS_TOKEN", "TF_VAR_kept"):
        assert gone not in env


def test_terraform_env_is_an_allow_list_not_the_pipe_env_minus_some(tmp_path: Path) -> None:
    """A configuration's data "external" reads Terraform's environment: no pipe variable and no
    secret of the pipe is in it, only the allow-list and what the settings give Terraform."""
    s = make(tmp_path, BITBUCKET_ACCESS_TOKEN="bb-token-canary",
             PLAN_SIGNING_KEY="k" * 40)
    pipe_env = {"PATH": "/bin", "HOME": "/root", "HTTPS_PROXY": "http://proxy:3128",
                "TF_LOG": "WARN", "BITBUCKET_ACCESS_TOKEN": "bb-token-canary",
                "BITBUCKET_API_URL": "https://api.bitbucket.org", "PLAN_SIGNING_KEY": "k" * 40,
                "BITBUCKET_COMMIT": "abc", "COMMENT": "true", "REQUIRE_REVIEWED_PLAN": "true",
                "BITBUCKET_API_PROXY": "http://x:29418", "GITOPS_TOKEN": "other-secret",
                "TF_DATA_DIR": "/elsewhere", "TF_CLI_ARGS": "-lock=false",
                "TF_TOKEN_app_terraform_io": "registry-token"}
    env = backend.terraform_env(s, pipe_env)
    assert {"PATH", "HOME", "HTTPS_PROXY", "TF_LOG", "TF_TOKEN_app_terraform_io"} <= set(env)
    env.pop("TF_TOKEN_app_terraform_io")  # a private registry's credentials are Terraform's own
    own = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REQUEST_CHECKSUM_CALCULATION",
           "AWS_RESPONSE_CHECKSUM_VALIDATION", "TF_IN_AUTOMATION", "TF_INPUT",
           "CHECKPOINT_DISABLE", "TF_PLUGIN_CACHE_DIR"}
    assert {name for name in env if not backend.passed(name)} <= own
    assert "bb-token-canary" not in env.values() and "k" * 40 not in env.values()


@pytest.mark.parametrize("item", ["-lock=false", "--lock=false", "-var-file=/etc/x.tfvars",
                                  "-state=/tmp/s", "-backend-config=key=x", "-chdir=/",
                                  "-lock-timeout=0s", "-target=a.b", "-out=/tmp/p", "-destroy",
                                  "-LOCK=false", "-plugin-dir=/x", "-refresh-only"])
def test_extra_args_lock_false_or_var_file_abs_get_around_a_variable(tmp_path: Path,
                                                                     item: str) -> None:
    with pytest.raises(PipeError, match=r"^EXTRA_ARGS: item 1 .* use (nothing|[A-Z])"):
        make(tmp_path, EXTRA_ARGS_COUNT="2", EXTRA_ARGS_0="-parallelism=2", EXTRA_ARGS_1=item)


def test_extra_args_other_options_pass(tmp_path: Path) -> None:
    s = make(tmp_path, EXTRA_ARGS_COUNT="3", EXTRA_ARGS_0="-parallelism=2",
             EXTRA_ARGS_1="-replace=a.b", EXTRA_ARGS_2="-var=x=1")
    assert s.extra_args == ["-parallelism=2", "-replace=a.b", "-var=x=1"]


def test_plan_signing_key_too_short(tmp_path: Path) -> None:
    with pytest.raises(PipeError, match=r"PLAN_SIGNING_KEY: .* at least 32"):
        make(tmp_path, PLAN_SIGNING_KEY="short")
    assert make(tmp_path, PLAN_SIGNING_KEY="x" * 32).signing_key == "x" * 32


@pytest.mark.parametrize("link", [".terraform.d", ".terraform.d/plugin-cache", "infra/.terraform"])
def test_committed_plugin_cache_symlink_redirects_writes(tmp_path: Path, link: str) -> None:
    build = tmp_path / "build"
    (build / "infra").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (build / link).parent.mkdir(parents=True, exist_ok=True)
    (build / link).symlink_to(outside)
    s = settings.Settings.from_values(
        VARIABLES.load({"SPACES_ACCESS_KEY_ID": "AKIAEXAMPLE1", "SPACES_SECRET_ACCESS_KEY": "s3cr3t",
                      "SPACES_BUCKET": "state-bucket", "WORKING_DIR": "infra"}), ctx(build))
    with pytest.raises(PipeError, match="symbolic link"):
        backend.refuse_links(s)
    assert list(outside.iterdir()) == []


def test_code_insights_proxy_defaults_to_the_pipe_host(tmp_path: Path) -> None:
    """In a pipe, localhost is the pipe's own container: the Pipelines proxy is on the step's
    Docker host, as bitbucket-pipes-toolkit's CodeInsights has it for pipes."""
    assert make(tmp_path).api_proxy == "http://host.docker.internal:29418"
    assert make(tmp_path, BITBUCKET_API_PROXY="https://10.0.0.5:29418/").api_proxy == "https://10.0.0.5:29418"


def test_vars_and_extra_args_values_are_masked(tmp_path: Path) -> None:
    """VARS values were never registered for masking; EXTRA_ARGS may hold -var=name=value
    (issue 20).  The step's own commit stays shown."""
    commit = "c0ffee" * 6 + "abcd"
    try:
        make(tmp_path, VARS_COUNT="2", VARS_0="db_password=cnry0vars0value",
             VARS_1=f"image_tag={commit}", EXTRA_ARGS_COUNT="1",
             EXTRA_ARGS_0="-var=api_key=cnry0extra0value")
        text = secrets.mask(f"TF_VAR_db_password=cnry0vars0value -var=api_key=cnry0extra0value "
                            f"%22cnry0vars0value%22 {commit}")
    finally:
        secrets.clear()
    assert "cnry0" not in text and commit in text
