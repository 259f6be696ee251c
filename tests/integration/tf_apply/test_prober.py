"""The locking probe's own process (``tf_apply.prober``) against real loopback servers: moto's S3,
a proxy stripping If-None-Match, a scripted server for what moto cannot play."""
from __future__ import annotations

import time
from pathlib import Path

import pytest
from pipes_common.errors import PipeError
from testbed.flaky_http import FlakyServer, Reply
from testbed.net import free_port
from testbed.s3 import HeaderStrippingProxy, MotoS3
from tf_apply.prober import Prober

from .conftest import spaces_settings as settings


def test_a_store_honouring_conditional_writes_says_yes_and_keeps_nothing(
        moto_s3: MotoS3, tmp_path: Path) -> None:
    bucket = moto_s3.create_bucket("prober-yes")
    with Prober.spawn() as prober:
        prober.ask(settings(moto_s3.url, bucket, tmp_path))
        assert prober.answer() is True
    assert moto_s3.keys(bucket) == []  # the probe object is deleted before the process ends


def test_a_store_ignoring_conditional_writes_says_no_and_keeps_nothing(
        moto_s3: MotoS3, tmp_path: Path) -> None:
    bucket = moto_s3.create_bucket("prober-no")
    with HeaderStrippingProxy(moto_s3.url) as proxy, Prober.spawn() as prober:
        prober.ask(settings(proxy.url, bucket, tmp_path))
        assert prober.answer() is False
    assert moto_s3.keys(bucket) == []


def test_a_prober_never_asked_sends_nothing_and_is_reaped(tmp_path: Path) -> None:
    with FlakyServer() as server:
        prober = Prober.spawn()
        started = time.monotonic()
        prober.close()
        assert prober.exit_code is not None
        assert time.monotonic() - started < 5  # stopped, not waited for
        assert server.hits == []


def test_an_unreachable_store_is_one_error_naming_the_fix(tmp_path: Path) -> None:
    with Prober.spawn() as prober:
        prober.ask(settings(f"http://127.0.0.1:{free_port()}", "states", tmp_path))
        with pytest.raises(PipeError, match=r"unreachable.*SPACES_REGION/SPACES_ENDPOINT"):
            prober.answer()


def test_refused_keys_are_the_store_s_answer_and_no_secret_comes_back(tmp_path: Path) -> None:
    refused = Reply(403, body=b"<?xml version='1.0'?><Error><Code>SignatureDoesNotMatch</Code>"
                              b"<Message>x</Message></Error>")
    secret = "prober-canary-secret-0d1e2f"
    with FlakyServer() as server, Prober.spawn() as prober:
        server.script(refused)
        prober.ask(settings(server.url, "states", tmp_path, secret_key=secret))
        with pytest.raises(PipeError, match="rejected the keys") as err:
            prober.answer()
    assert secret not in err.value.message
    assert [hit.method for hit in server.hits] == ["PUT"]  # no DELETE for an object never made


def test_a_failed_delete_is_a_warning_in_the_pipe_s_log(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """The answer does not wait for the probe object's delete; its failure comes back as a log
    record, logged by the pipe when it closes the process."""
    refused = Reply(412, body=b"<?xml version='1.0'?><Error><Code>PreconditionFailed</Code>"
                              b"<Message>x</Message></Error>")
    denied = Reply(403, body=b"<?xml version='1.0'?><Error><Code>AccessDenied</Code>"
                             b"<Message>x</Message></Error>")
    with FlakyServer() as server:
        server.script(Reply(200, {"ETag": '"e"'}, b""), refused, denied)
        with Prober.spawn() as prober:
            prober.ask(settings(server.url, "states", tmp_path))
            assert prober.answer() is True
        assert [hit.method for hit in server.hits] == ["PUT", "PUT", "DELETE"]
    out = capsys.readouterr().out
    assert "Could not delete the probe object web/terraform.tfstate.lockprobe-" in out
    assert "denied access" in out
