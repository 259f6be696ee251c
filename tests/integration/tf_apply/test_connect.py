"""The Spaces client and the locking probe as a run makes them (``locking.connect``, in the pipe's
process) against real loopback servers: moto's S3, a proxy stripping If-None-Match, a scripted
server for what moto cannot play."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from pipes_common.errors import PipeError
from testbed.flaky_http import FlakyServer, Reply
from testbed.net import free_port
from testbed.s3 import HeaderStrippingProxy, MotoS3
from tf_apply import locking

from .conftest import spaces_settings as settings


def test_a_store_honouring_conditional_writes_says_yes_and_keeps_nothing(
        moto_s3: MotoS3, tmp_path: Path) -> None:
    bucket = moto_s3.create_bucket("probe-yes")
    assert locking.connect(settings(moto_s3.url, bucket, tmp_path)).conditional is True
    assert moto_s3.keys(bucket) == []  # the probe object is deleted before the answer


def test_a_store_ignoring_conditional_writes_says_no_and_keeps_nothing(
        moto_s3: MotoS3, tmp_path: Path) -> None:
    bucket = moto_s3.create_bucket("probe-no")
    with HeaderStrippingProxy(moto_s3.url) as proxy:
        assert locking.connect(settings(proxy.url, bucket, tmp_path)).conditional is False
    assert moto_s3.keys(bucket) == []


def test_a_run_that_does_not_probe_sends_nothing(tmp_path: Path) -> None:
    """LOCKING lockfile with MODE plan: the client for the plan store, no probe request."""
    with FlakyServer() as server:
        s = dataclasses.replace(settings(server.url, "states", tmp_path), mode="plan",
                                plan_id="p1", locking="lockfile")
        connected = locking.connect(s)
        assert connected.conditional is False and connected.spaces.bucket == "states"
        assert server.hits == []


def test_an_unreachable_store_is_one_error_naming_the_fix(tmp_path: Path) -> None:
    with pytest.raises(PipeError, match=r"unreachable.*SPACES_REGION/SPACES_ENDPOINT"):
        locking.connect(settings(f"http://127.0.0.1:{free_port()}", "states", tmp_path))


def test_refused_keys_are_the_store_s_answer_and_no_secret_comes_back(tmp_path: Path) -> None:
    refused = Reply(403, body=b"<?xml version='1.0'?><Error><Code>SignatureDoesNotMatch</Code>"
                              b"<Message>x</Message></Error>")
    secret = "probe-canary-secret-0d1e2f"
    with FlakyServer() as server:
        server.script(refused)
        with pytest.raises(PipeError, match="rejected the keys") as err:
            locking.connect(settings(server.url, "states", tmp_path, secret_key=secret))
    assert secret not in err.value.message
    assert [hit.method for hit in server.hits] == ["PUT"]  # no DELETE for an object never made


def test_a_failed_delete_is_a_warning_in_the_pipe_s_log(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """The answer stands when the probe object cannot be deleted: a warning, not a failure."""
    refused = Reply(412, body=b"<?xml version='1.0'?><Error><Code>PreconditionFailed</Code>"
                              b"<Message>x</Message></Error>")
    denied = Reply(403, body=b"<?xml version='1.0'?><Error><Code>AccessDenied</Code>"
                             b"<Message>x</Message></Error>")
    with FlakyServer() as server:
        server.script(Reply(200, {"ETag": '"e"'}, b""), refused, denied)
        assert locking.connect(settings(server.url, "states", tmp_path)).conditional is True
        assert [hit.method for hit in server.hits] == ["PUT", "PUT", "DELETE"]
    out = capsys.readouterr().out
    assert "Could not delete the probe object web/terraform.tfstate.lockprobe-" in out
    assert "denied access" in out
