#!/usr/bin/env python3
"""Release the pending changesets of the pipes as their next versions, and keep every copy of a pipe's
version equal to its one source, semversioner's ``.semversioner/<X.Y.Z>.json``.

    python3 .ci/version.py release      # every pipe with changesets in next-release/: release them
    python3 .ci/version.py sync         # only rewrite the copies from the released versions
    python3 .ci/version.py check        # exit 1 naming every copy that differs (what CI runs)

The copies: ``pipe.yml``'s ``image:`` tag, the package's ``__version__``, ``CHANGELOG.md`` (made by
``semversioner changelog``) and every ``pipe: docker://<namespace>/<pipe>:X.Y.Z`` and ``docker run``
image in the READMEs, docs/ and the example pipelines. ``release`` refuses to release a version that
already exists (semversioner does). Needs semversioner on PATH (./dev installs it in .venv).
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEMVER = re.compile(r"\d+\.\d+\.\d+")


def pipes() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return list(config["tool"]["do-pipes"]["pipes"])


def released(pipe: str) -> str:
    """The pipe's latest released version: the highest ``.semversioner/X.Y.Z.json``."""
    found = [tuple(map(int, p.stem.split("."))) for p in (ROOT / "pipes" / pipe / ".semversioner").glob("*.json")
             if SEMVER.fullmatch(p.stem)]
    if not found:
        raise SystemExit(f"{pipe}: no released version in pipes/{pipe}/.semversioner")
    return ".".join(map(str, max(found)))


def pending(pipe: str) -> bool:
    folder = ROOT / "pipes" / pipe / ".semversioner" / "next-release"
    return folder.is_dir() and any(folder.glob("*.json"))


def documents() -> list[Path]:
    """Where users copy a pipe reference from (the same list tests/unit/docs/test_image_references.py reads)."""
    return [ROOT / "README.md", *sorted(ROOT.glob("pipes/*/README.md")), *sorted(ROOT.glob("docs/**/*.md")),
            *sorted(ROOT.glob("docs/examples/*.yml")), *sorted(ROOT.glob("docs/examples/*.yaml"))]


def wanted() -> dict[Path, str]:
    """Every copy of every pipe's version: each file and its text as it must be."""
    out: dict[Path, str] = {}

    def text(path: Path) -> str:
        return out.get(path, path.read_text(encoding="utf-8"))

    for pipe in pipes():
        version = released(pipe)
        ref = re.compile(rf"(?<![\w.-])((?:docker://)?(?:[\w.-]+/)?{re.escape(pipe)}):\d+\.\d+\.\d+(?![\w.])")
        for path in [ROOT / "pipes" / pipe / "pipe.yml", *documents()]:
            out[path] = ref.sub(rf"\g<1>:{version}", text(path))
        init = ROOT / "pipes" / pipe / pipe.replace("-", "_") / "__init__.py"
        out[init] = re.sub(r'^__version__ = "[^"]*"$', f'__version__ = "{version}"', text(init),
                           flags=re.MULTILINE)
        path, log = changelog(pipe)
        out[path] = log
    return out


def changelog(pipe: str) -> tuple[Path, str]:
    text = subprocess.run(["semversioner", "--path", str(ROOT / "pipes" / pipe), "changelog"],
                          check=True, capture_output=True, text=True).stdout
    return ROOT / "pipes" / pipe / "CHANGELOG.md", text.rstrip("\n") + "\n"


def differences() -> list[str]:
    return [f"{path.relative_to(ROOT)} does not name the released versions ({versions()})"
            for path, text in wanted().items() if path.read_text(encoding="utf-8") != text]


def versions() -> str:
    return ", ".join(f"{pipe} {released(pipe)}" for pipe in pipes())


def sync() -> None:
    for path, text in wanted().items():
        if path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            print(f"{path.relative_to(ROOT)}: {versions()}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["release", "sync", "check"])
    args = parser.parse_args(argv)
    if args.command == "release":
        for pipe in pipes():
            if pending(pipe):
                subprocess.run(["semversioner", "--path", str(ROOT / "pipes" / pipe), "release"], check=True)
                print(f"{pipe}: released {released(pipe)}")
        sync()
    elif args.command == "sync":
        sync()
    else:
        wrong = differences()
        for line in wrong:
            print(line, file=sys.stderr)
        return 1 if wrong else 0
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
