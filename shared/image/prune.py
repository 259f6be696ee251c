"""Remove from a pipe's virtualenv what the pipe can never use; install-pipe.sh runs it.
    python prune.py <pipe folder> <virtualenv>

botocore ships the models of some 400 AWS services (about 26 MB) and one endpoints table for all
of them (1.3 MB of JSON that every client parses when it is made).  A pipe that uses botocore
names the services it calls in its pyproject.toml::

    [tool.do-pipes.image]
    botocore-services = ["s3"]

and only their models and endpoint entries stay: a smaller image, and an S3 client made in about
half the time.  A pipe that names none is left as pip installed it.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import tomllib
from pathlib import Path


def botocore_services(pipe: Path) -> set[str] | None:
    """The services ``pipe`` declares, or None when it declares none."""
    config = tomllib.loads((pipe / "pyproject.toml").read_text(encoding="utf-8"))
    services = config.get("tool", {}).get("do-pipes", {}).get("image", {}).get("botocore-services")
    if services is None:
        return None
    if not isinstance(services, list) or not all(isinstance(s, str) and s for s in services):
        raise SystemExit(f"{pipe}/pyproject.toml: botocore-services must be a list of service names")
    return set(services)


def prune_botocore(data: Path, keep: set[str]) -> list[str]:
    """Keep only the ``keep`` services in botocore's data folder ``data``; returns what went."""
    known = {entry.name for entry in data.iterdir() if entry.is_dir()}
    unknown = keep - known
    if unknown:
        raise SystemExit(f"botocore-services: botocore has no service {', '.join(sorted(unknown))}")
    removed = sorted(known - keep)
    for name in removed:
        shutil.rmtree(data / name)
    endpoints = data / "endpoints.json"
    table = json.loads(endpoints.read_text(encoding="utf-8"))
    for partition in table["partitions"]:
        partition["services"] = {name: entry for name, entry in partition["services"].items()
                                 if name in keep}
    partial = endpoints.with_name(endpoints.name + ".partial")
    partial.write_text(json.dumps(table, separators=(",", ":")), encoding="utf-8")
    os.replace(partial, endpoints)
    return removed


def main(pipe: Path, venv: Path) -> None:
    keep = botocore_services(pipe)
    if keep is None:
        return
    found = sorted(venv.glob("lib/python3*/site-packages/botocore/data"))
    if len(found) != 1:
        raise SystemExit(f"botocore-services: botocore is not installed in {venv} "
                         "(it must be one of the pipe's requirements)")
    removed = prune_botocore(found[0], keep)
    print(f"botocore: kept {', '.join(sorted(keep))}; removed {len(removed)} other services")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: python prune.py <pipe folder> <virtualenv>")
    main(Path(sys.argv[1]), Path(sys.argv[2]))
