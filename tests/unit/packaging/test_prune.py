"""What the image recipe removes of botocore (shared/image/prune.py), on a copy of the real
botocore data: the kept services still make working clients, the others are gone."""
from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import botocore
import botocore.loaders
import botocore.session
import pytest
from botocore.exceptions import UnknownServiceError
from testbed.pipes import PIPES, REPO_ROOT

PRUNE = REPO_ROOT / "shared" / "image" / "prune.py"
DATA = Path(botocore.__file__).parent / "data"


def _prune_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("prune", PRUNE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def pruned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtualenv-shaped folder holding a copy of botocore's data, pruned as tf-apply's image is."""
    venv = tmp_path_factory.mktemp("venv")
    data = venv / "lib" / "python3.99" / "site-packages" / "botocore" / "data"
    shutil.copytree(DATA, data)
    done = subprocess.run([sys.executable, str(PRUNE), str(REPO_ROOT / "pipes" / "tf-apply"),
                           str(venv)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "botocore: kept s3; removed" in done.stdout
    return data


def session_on(data: Path) -> botocore.session.Session:
    session = botocore.session.Session()
    session.register_component("data_loader", botocore.loaders.Loader(
        extra_search_paths=[str(data)], include_default_search_paths=False))
    return session


def test_only_the_declared_services_stay(pruned: Path) -> None:
    assert sorted(p.name for p in pruned.iterdir() if p.is_dir()) == ["s3"]
    table = json.loads((pruned / "endpoints.json").read_text())
    assert {name for partition in table["partitions"] for name in partition["services"]} == {"s3"}
    assert (pruned / "endpoints.json").stat().st_size < (DATA / "endpoints.json").stat().st_size / 10
    original = json.loads((DATA / "endpoints.json").read_text())
    for kept, whole in zip(table["partitions"], original["partitions"], strict=True):
        assert kept["services"]["s3"] == whole["services"]["s3"]  # what stays is unchanged
        assert {k: v for k, v in kept.items() if k != "services"} == \
            {k: v for k, v in whole.items() if k != "services"}


@pytest.mark.parametrize("endpoint", [None, "https://nyc3.digitaloceanspaces.com"])
def test_the_s3_client_resolves_and_signs_as_before(pruned: Path, endpoint: str | None) -> None:
    """The same request (URL and signed headers) from a client on the pruned data as from one on
    the whole data."""
    def prepared(session: botocore.session.Session) -> tuple[str, list[str]]:
        client = session.create_client("s3", region_name="us-east-1", endpoint_url=endpoint,
                                       aws_access_key_id="AKIAEXAMPLE", aws_secret_access_key="x")
        seen: list[tuple[str, list[str]]] = []

        def stop(request, **_):  # type: ignore[no-untyped-def]
            seen.append((request.url, sorted(request.headers)))
            raise RuntimeError("stop")

        client.meta.events.register("before-send.s3.PutObject", stop)
        with pytest.raises(RuntimeError):
            client.put_object(Bucket="states", Key="a/terraform.tfstate", Body=b"x",
                              IfNoneMatch="*")
        return seen[0]

    assert prepared(session_on(pruned)) == prepared(botocore.session.Session())


def test_other_services_are_gone(pruned: Path) -> None:
    with pytest.raises(UnknownServiceError):
        session_on(pruned).create_client("ec2", region_name="us-east-1")


def test_a_misspelt_service_stops_the_build(tmp_path: Path) -> None:
    data = tmp_path / "botocore" / "data"
    (data / "s3").mkdir(parents=True)
    with pytest.raises(SystemExit, match="botocore has no service s4"):
        _prune_module().prune_botocore(data, {"s4"})
    assert (data / "s3").is_dir()


@pytest.mark.parametrize("pipe", PIPES)
def test_only_pipes_that_use_botocore_declare_services(pipe: str) -> None:
    folder = REPO_ROOT / "pipes" / pipe
    declared = _prune_module().botocore_services(folder)
    uses = any(line.startswith("botocore==")
               for line in (folder / "requirements.txt").read_text().splitlines())
    assert (declared is not None) == uses
