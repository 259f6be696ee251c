"""tf-apply integration fixtures: a build directory with a Terraform configuration, a fresh
bucket in moto's S3 server per test, canary secrets and the pipe's variables."""
from __future__ import annotations

import io
import json
import secrets as pysecrets
import shutil
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from testbed.fixtures import canary
from testbed.leaks import assert_absent
from testbed.pipes import REPO_ROOT, InProcessRun, PipeRun, bitbucket_env, run_in_process, run_local
from testbed.reports_stub import BitbucketReportsStub
from testbed.s3 import MotoS3
from tf_apply.settings import Settings

from ..handoff import outputs_of

CONFIGS = REPO_ROOT / "tests" / "fixtures" / "tf-apply"
WORKING_DIR = "infra"


@pytest.fixture(autouse=True)
def _terraform(terraform_cli: str) -> str:
    """Every test here runs the real terraform (skipped, with the reason, where it is missing)."""
    return terraform_cli


@dataclass(frozen=True)
class Canaries:
    access_key: str
    secret_key: str
    do_token: str
    db_password: str  # a sensitive Terraform variable/output

    def all(self) -> list[str]:
        return [self.access_key, self.secret_key, self.do_token, self.db_password]


@pytest.fixture()
def canaries() -> Canaries:
    return Canaries(canary("DO00CANARY"), canary("spaces-secret-"), canary("dop_v1_"),
                    canary("dbpw-"))


@dataclass
class Stack:
    """One repository checkout using one state bucket."""
    build: Path
    bucket: str
    s3: MotoS3
    canaries: Canaries
    endpoint: str
    runs: list[PipeRun]
    commit: str = ""  # the checkout's commit: every step of the stack runs on it (unless given)

    def env(self, **variables: str) -> dict[str, str]:
        env = bitbucket_env(self.build, commit=self.commit or pysecrets.token_hex(20),
                            branch="main", pipe="tf-apply")
        env.update({
            "SPACES_ACCESS_KEY_ID": self.canaries.access_key,
            "SPACES_SECRET_ACCESS_KEY": self.canaries.secret_key,
            "SPACES_BUCKET": self.bucket,
            "SPACES_ENDPOINT": self.endpoint,
            "DIGITALOCEAN_ACCESS_TOKEN": self.canaries.do_token,
            "WORKING_DIR": WORKING_DIR,
            "VARS": f"db_password={self.canaries.db_password}",
            "CODE_INSIGHTS": "false",
        })
        env.update(variables)
        return {k: v for k, v in env.items() if v != "<unset>"}

    def run(self, **variables: str) -> PipeRun:
        result = run_local("tf-apply", self.env(**variables), self.build)
        self.runs.append(result)
        return result

    def run_in_process(self, **variables: str) -> InProcessRun:
        """:meth:`run`, in this process: the HTTP client's waits recorded, never slept."""
        result = run_in_process("tf-apply", self.env(**variables), self.build)
        self.runs.append(result)
        return result

    def objects(self) -> dict[str, bytes]:
        return self.s3.objects(self.bucket)

    def state(self, key: str = "web/infra/terraform.tfstate") -> dict[str, Any] | None:
        body = self.objects().get(key)
        return None if body is None else dict(json.loads(body))

    def state_etag(self, key: str = "web/infra/terraform.tfstate") -> str | None:
        try:
            return str(self.s3.client.head_object(Bucket=self.bucket, Key=key)["ETag"])
        except ClientError as err:  # only "no such object" means no state: anything else fails the test
            if err.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
                return None
            raise

    def outputs_file(self) -> dict[str, Any]:
        return dict(json.loads((self.build / ".do-pipes" / "tf-apply-outputs.json").read_text()))

    def shared(self) -> dict[str, Any]:
        return outputs_of(self.build, "tf-apply")

    def assert_no_leaks(self, state_keys: tuple[str, ...] = ()) -> None:
        """No canary in any output, in the build dir (.terraform/ included), or in any object in
        Spaces except the state (which holds the sensitive value by design) and the plan binary
        (Terraform's plan file format holds variable values, as the state does)."""
        text = "\n".join(r.output for r in self.runs)
        for secret in self.canaries.all():
            assert_absent(secret, text=text, paths=[self.build])
        for key, body in self.objects().items():
            keep_sensitive = key.endswith(".tfstate") or key.endswith("/plan.tfplan") \
                or key in state_keys
            texts = [body.decode("latin-1")]
            if key.endswith(".tfplan"):  # a zip: look inside every member, not at deflated bytes
                with zipfile.ZipFile(io.BytesIO(body)) as archive:
                    texts += [archive.read(name).decode("latin-1") for name in archive.namelist()]
            for secret in self.canaries.all():
                if keep_sensitive and secret == self.canaries.db_password:
                    continue
                for text in texts:
                    assert_absent(secret, text=text)


@pytest.fixture()
def make_stack(tmp_path: Path, moto_s3: MotoS3, canaries: Canaries) -> Callable[..., Stack]:
    def make(config: str = "basic", endpoint: str | None = None) -> Stack:
        build = tmp_path / f"build-{pysecrets.token_hex(3)}"
        shutil.copytree(CONFIGS / config, build / WORKING_DIR)
        bucket = moto_s3.create_bucket(f"tfstate-{pysecrets.token_hex(6)}")
        return Stack(build, bucket, moto_s3, canaries, endpoint or moto_s3.url, [],
                     pysecrets.token_hex(20))

    return make


@pytest.fixture()
def stack(make_stack: Callable[..., Stack]) -> Stack:
    return make_stack()


@pytest.fixture()
def reports_stub() -> Iterator[BitbucketReportsStub]:
    with BitbucketReportsStub() as stub:
        yield stub


def assert_failed_cleanly(run: PipeRun, *needles: str) -> None:
    """Exit 1, exactly one ✖ line (the last one) holding every needle, and no traceback."""
    assert run.code == 1, run.output
    fails = [line for line in run.output.splitlines() if "✖" in line]
    assert len(fails) == 1, run.output
    assert fails[0] == run.last_line(), run.output
    assert "Traceback" not in run.output, run.output
    for needle in needles:
        assert needle in fails[0], run.output


def spaces_settings(endpoint: str, bucket: str, folder: Path, *, path_style: bool = True,
                    access_key: str = "testbed-key", secret_key: str = "testbed-secret") -> Settings:
    """The settings of a MODE apply run on ``bucket`` at ``endpoint``, for the pipe's own S3 calls."""
    return Settings(
        access_key=access_key, secret_key=secret_key, bucket=bucket, region="nyc3",
        endpoint=endpoint, path_style=path_style, state_key="web/terraform.tfstate",
        clone_dir=folder, working_dir=folder, working_dir_rel=".", mode="apply", plan_id=None,
        workspace="default", var_files=[], tf_vars={}, targets=[], locking="auto",
        lock_timeout="300s", do_token=None, extra_args=[], code_insights=False,
        api_proxy="http://127.0.0.2:29418",
        debug=False, comment=True, refresh_only=False, fail_on_drift=True,
        bb_api_url="https://api.bitbucket.org", require_reviewed=False)
