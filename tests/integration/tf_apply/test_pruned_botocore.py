"""The Spaces client on botocore's data as tf-apply's image holds it (only S3's GetObject,
PutObject and DeleteObject): every call the pipe makes, against moto's S3 server."""
from __future__ import annotations

from pathlib import Path

import pytest
from pipes_common.errors import PipeError
from testbed.botocore_data import pruned_copy, session_on
from testbed.s3 import HeaderStrippingProxy, MotoS3
from tf_apply import probe
from tf_apply.s3 import PreconditionFailed, Spaces

from .conftest import spaces_settings as settings


@pytest.fixture(scope="module")
def pruned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return pruned_copy(tmp_path_factory.mktemp("venv"))[0]


def test_the_pipe_s_calls_work_on_the_image_s_botocore(moto_s3: MotoS3, pruned: Path,
                                                       tmp_path: Path) -> None:
    bucket = moto_s3.create_bucket("pruned-calls")
    spaces = Spaces(settings(moto_s3.url, bucket, tmp_path), session=session_on(pruned))
    assert spaces.get("plans/none.json") is None
    etag = spaces.put("plans/p.json", b'{"a": 1}', if_none_match=True, content_type="application/json")
    with pytest.raises(PreconditionFailed):
        spaces.put("plans/p.json", b"other", if_none_match=True)
    got = spaces.get("plans/p.json")
    assert got is not None and got.body == b'{"a": 1}' and got.etag == etag
    spaces.put("plans/p.json", b"overwritten")
    spaces.delete("plans/p.json")
    spaces.delete("plans/p.json")  # a second delete of a gone object is not an error
    assert moto_s3.keys(bucket) == []


def test_the_probe_answers_on_the_image_s_botocore(moto_s3: MotoS3, pruned: Path,
                                                   tmp_path: Path) -> None:
    bucket = moto_s3.create_bucket("pruned-probe")
    near = Spaces(settings(moto_s3.url, bucket, tmp_path), session=session_on(pruned))
    assert probe.conditional_writes_work(near, "web/terraform.tfstate")
    with HeaderStrippingProxy(moto_s3.url) as proxy:
        far = Spaces(settings(proxy.url, bucket, tmp_path), session=session_on(pruned))
        assert not probe.conditional_writes_work(far, "web/terraform.tfstate")
    assert moto_s3.keys(bucket) == []


def test_a_missing_space_is_named_on_the_image_s_botocore(moto_s3: MotoS3, pruned: Path,
                                                          tmp_path: Path) -> None:
    spaces = Spaces(settings(moto_s3.url, "no-such-space", tmp_path), session=session_on(pruned))
    with pytest.raises(PipeError, match="SPACES_BUCKET: the Space 'no-such-space' does not exist"):
        spaces.put("a", b"b")
