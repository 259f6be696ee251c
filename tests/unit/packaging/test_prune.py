"""What the image recipe removes of botocore (shared/image/prune.py), on a copy of the real
botocore data: the kept services still make working clients, the others are gone."""
from __future__ import annotations

import importlib.util
import json
import re
import shutil
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import botocore.session
import pytest
from botocore import xform_name
from botocore.exceptions import UnknownServiceError
from testbed.botocore_data import DATA, PRUNE, pruned_copy, session_on
from testbed.pipes import PIPES, REPO_ROOT
from tf_apply import s3

DECLARED = tomllib.loads((REPO_ROOT / "pipes" / "tf-apply" / "pyproject.toml").read_text())[
    "tool"]["do-pipes"]["image"]["botocore"]


def _prune_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("prune", PRUNE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def pruned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of botocore's data, pruned as tf-apply's image is."""
    data, printed = pruned_copy(tmp_path_factory.mktemp("venv"))
    assert "botocore: kept s3 DeleteObject, GetObject, PutObject; removed" in printed
    return data


def test_only_the_declared_services_and_operations_stay(pruned: Path) -> None:
    assert sorted(p.name for p in pruned.iterdir() if p.is_dir()) == ["s3"]
    table = json.loads((pruned / "endpoints.json").read_text())
    assert {name for partition in table["partitions"] for name in partition["services"]} == {"s3"}
    assert (pruned / "endpoints.json").stat().st_size < (DATA / "endpoints.json").stat().st_size / 10
    original = json.loads((DATA / "endpoints.json").read_text())
    for kept, whole in zip(table["partitions"], original["partitions"], strict=True):
        assert kept["services"]["s3"] == whole["services"]["s3"]  # what stays is unchanged
        assert {k: v for k, v in kept.items() if k != "services"} == \
            {k: v for k, v in whole.items() if k != "services"}
    model = session_on(pruned).get_service_model("s3")
    assert sorted(model.operation_names) == sorted(DECLARED["s3"])
    left = sorted(p.name for p in (pruned / "s3").rglob("*") if p.is_file())
    assert left == ["endpoint-rule-set-1.json.gz", "service-2.json.gz", "service-2.sdk-extras.json"]


def prepared(session: botocore.session.Session, endpoint: str | None, operation: str,
             params: dict[str, Any]) -> tuple[str, str, list[str], bytes]:
    """The request a client would send (method, URL, header names, body), stopped before it
    leaves."""
    client = session.create_client("s3", region_name="us-east-1", endpoint_url=endpoint,
                                   aws_access_key_id="AKIAEXAMPLE", aws_secret_access_key="x")
    seen: list[tuple[str, str, list[str], bytes]] = []

    def stop(request: Any, **_: Any) -> None:
        body = request.body if isinstance(request.body, bytes) else b""
        seen.append((request.method, request.url, sorted(request.headers), body))
        raise RuntimeError("stop")

    client.meta.events.register("before-send.s3", stop)
    with pytest.raises(RuntimeError):
        getattr(client, xform_name(operation))(**params)
    return seen[0]


CALLS: dict[str, dict[str, Any]] = {
    "PutObject": {"Bucket": "states", "Key": "a/terraform.tfstate", "Body": b"x", "IfNoneMatch": "*",
                  "ContentType": "text/plain", "ContentMD5": "nZhBaYdWr/jqhhzkOZh+YQ=="},
    "GetObject": {"Bucket": "states", "Key": "a/../b c/plan.json"},
    "DeleteObject": {"Bucket": "states", "Key": "a/terraform.tfstate.lockprobe-00"},
}


@pytest.mark.parametrize("endpoint", [None, "https://nyc3.digitaloceanspaces.com"])
@pytest.mark.parametrize("operation", sorted(CALLS))
def test_each_kept_call_is_sent_as_before(pruned: Path, endpoint: str | None, operation: str) -> None:
    """The same request (method, URL, signed header names, body) from a client on the pruned
    data as from one on the whole data."""
    params = CALLS[operation]
    assert prepared(session_on(pruned), endpoint, operation, params) == \
        prepared(botocore.session.Session(), endpoint, operation, params)


def test_other_services_and_operations_are_gone(pruned: Path) -> None:
    with pytest.raises(UnknownServiceError):
        session_on(pruned).create_client("ec2", region_name="us-east-1")
    client = session_on(pruned).create_client("s3", region_name="us-east-1")
    assert not hasattr(client, "list_objects_v2") and hasattr(client, "put_object")


def test_the_image_keeps_every_s3_call_the_pipe_makes() -> None:
    """Every operation tf_apply/s3.py calls is declared (a call left out would fail only in the
    image: the development environment's botocore has them all)."""
    source = (REPO_ROOT / "pipes" / "tf-apply" / "tf_apply" / "s3.py").read_text()
    called = set(re.findall(r'_call\("([a-z_]+)"', source))
    assert called and called == set(s3._VERBS)
    assert {xform_name(op) for op in DECLARED["s3"]} == called


def test_a_misspelt_service_or_operation_stops_the_build(tmp_path: Path) -> None:
    data = tmp_path / "botocore" / "data"
    shutil.copytree(DATA / "s3", data / "s3")
    with pytest.raises(SystemExit, match="there is no service s4"):
        _prune_module().prune_botocore(data, {"s4": {"GetObject"}})
    with pytest.raises(SystemExit, match="S3 has no operation PutObjects"):
        _prune_module().prune_botocore(data, {"s3": {"PutObjects"}})


@pytest.mark.parametrize("pipe", PIPES)
def test_only_pipes_that_use_botocore_declare_operations(pipe: str) -> None:
    folder = REPO_ROOT / "pipes" / pipe
    declared = _prune_module().botocore_operations(folder)
    uses = any(line.startswith("botocore==")
               for line in (folder / "requirements.txt").read_text().splitlines())
    assert (declared is not None) == uses
