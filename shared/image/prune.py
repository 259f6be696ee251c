"""Remove from a pipe's virtualenv what the pipe can never use; install-pipe.sh runs it.
    python prune.py <pipe folder> <virtualenv>

botocore ships the models of some 400 AWS services (about 26 MB) and one endpoints table for all
of them (1.3 MB of JSON that every client parses when it is made), and a client builds a method for
every operation of its service (111 for S3).  A pipe that uses botocore names the operations it
calls, by service, in its pyproject.toml::

    [tool.do-pipes.image.botocore]
    s3 = ["GetObject", "PutObject"]

and only those stay: the services' models keep those operations and the shapes they reach, the
endpoints table keeps those services, and the other services, paginators, waiters and examples
go.  A smaller image, and an S3 client made in a fraction of the time; an operation the pipe did
not name fails loudly (the client has no such method).  A pipe that names none is left as pip
installed it.
"""
from __future__ import annotations

import gzip
import json
import os
import shutil
import sys
import tomllib
from pathlib import Path
from typing import Any

MODEL = "service-2.json"
DROPPED = ("paginators-1", "waiters-2", "examples-1")  # docs and helpers over named operations


def botocore_operations(pipe: Path) -> dict[str, set[str]] | None:
    """The operations ``pipe`` declares by service, or None when it declares none."""
    config = tomllib.loads((pipe / "pyproject.toml").read_text(encoding="utf-8"))
    table = config.get("tool", {}).get("do-pipes", {}).get("image", {}).get("botocore")
    if table is None:
        return None
    if not isinstance(table, dict) or not table or not all(
            isinstance(ops, list) and ops and all(isinstance(op, str) and op for op in ops)
            for ops in table.values()):
        raise SystemExit(f"{pipe}/pyproject.toml: [tool.do-pipes.image.botocore] must map each "
                         "service to the list of its operations the pipe calls")
    return {service: set(ops) for service, ops in table.items()}


def _write(path: Path, data: bytes) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(data)
    os.replace(partial, path)


def _reachable(shapes: dict[str, Any], roots: list[str]) -> set[str]:
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        shape = shapes[name]
        todo += [member["shape"] for member in shape.get("members", {}).values()]
        todo += [shape[part]["shape"] for part in ("member", "key", "value") if part in shape]
    return seen


def trim_model(model: dict[str, Any], keep: set[str]) -> dict[str, Any]:
    """``model`` with only the operations ``keep`` and the shapes they reach."""
    unknown = keep - set(model["operations"])
    if unknown:
        raise SystemExit(f"botocore: {model['metadata']['serviceId']} has no operation "
                         f"{', '.join(sorted(unknown))}")
    operations = {name: op for name, op in model["operations"].items() if name in keep}
    roots = [op[part]["shape"] for op in operations.values() for part in ("input", "output")
             if part in op]
    roots += [error["shape"] for op in operations.values() for error in op.get("errors", [])]
    reached = _reachable(model["shapes"], roots)
    return {**model, "operations": operations,
            "shapes": {name: shape for name, shape in model["shapes"].items() if name in reached}}


def _trim_service(folder: Path, keep: set[str]) -> None:
    for version in (p for p in folder.iterdir() if p.is_dir()):
        for path in version.iterdir():
            if path.name.startswith(DROPPED):
                path.unlink()
        plain, packed = version / MODEL, version / (MODEL + ".gz")
        if packed.exists():
            model = json.loads(gzip.decompress(packed.read_bytes()))
            _write(packed, gzip.compress(json.dumps(trim_model(model, keep)).encode(), mtime=0))
        else:
            model = json.loads(plain.read_text(encoding="utf-8"))
            _write(plain, json.dumps(trim_model(model, keep)).encode())


def prune_botocore(data: Path, keep: dict[str, set[str]]) -> list[str]:
    """Keep only the ``keep`` services and operations in botocore's data folder ``data``;
    returns the services removed."""
    known = {entry.name for entry in data.iterdir() if entry.is_dir()}
    unknown = set(keep) - known
    if unknown:
        raise SystemExit(f"botocore: there is no service {', '.join(sorted(unknown))}")
    removed = sorted(known - set(keep))
    for name in removed:
        shutil.rmtree(data / name)
    for service, operations in keep.items():
        _trim_service(data / service, operations)
    endpoints = data / "endpoints.json"
    table = json.loads(endpoints.read_text(encoding="utf-8"))
    for partition in table["partitions"]:
        partition["services"] = {name: entry for name, entry in partition["services"].items()
                                 if name in keep}
    _write(endpoints, json.dumps(table, separators=(",", ":")).encode())
    return removed


def main(pipe: Path, venv: Path) -> None:
    keep = botocore_operations(pipe)
    if keep is None:
        return
    found = sorted(venv.glob("lib/python3*/site-packages/botocore/data"))
    if len(found) != 1:
        raise SystemExit(f"botocore: it is not installed in {venv} (it must be one of the pipe's "
                         "requirements)")
    removed = prune_botocore(found[0], keep)
    kept = "; ".join(f"{service} {', '.join(sorted(ops))}" for service, ops in sorted(keep.items()))
    print(f"botocore: kept {kept}; removed {len(removed)} other services")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: python prune.py <pipe folder> <virtualenv>")
    main(Path(sys.argv[1]), Path(sys.argv[2]))
