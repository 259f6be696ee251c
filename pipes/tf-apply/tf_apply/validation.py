"""``MODE: validate`` findings: diagnostics of ``terraform validate -json`` and files that
``terraform fmt -check`` would change, as log lines and Code Insights annotations."""
from __future__ import annotations

import posixpath
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Finding:
    path: str | None  # relative to the repository root
    line: int | None
    kind: str  # "error", "warning" or "format"
    summary: str
    detail: str = ""

    def where(self) -> str:
        if not self.path:
            return "(configuration)"
        return f"{self.path}:{self.line}" if self.line else self.path

    def text(self) -> str:
        return f"{self.where()}: {self.kind}: {self.summary}" + (
            f" - {self.detail}" if self.detail else "")


def _in_repo(working_dir: str, name: str) -> str:
    return posixpath.normpath(posixpath.join(working_dir, name)) if working_dir != "." else name


def from_diagnostics(diagnostics: Iterable[dict[str, Any]], working_dir: str) -> list[Finding]:
    found = []
    for diag in diagnostics:
        rng = diag.get("range") or {}
        name = rng.get("filename")
        line = (rng.get("start") or {}).get("line")
        found.append(Finding(
            path=_in_repo(working_dir, str(name)) if name else None,
            line=int(line) if isinstance(line, int) and line > 0 else None,
            kind="warning" if diag.get("severity") == "warning" else "error",
            summary=" ".join(str(diag.get("summary") or "").split()),
            detail=" ".join(str(diag.get("detail") or "").split())))
    return found


def from_fmt(files: Iterable[tuple[str, int]], working_dir: str) -> list[Finding]:
    return [Finding(_in_repo(working_dir, name), line, "format",
                    "not formatted as terraform fmt writes it",
                    "run terraform fmt -recursive and commit the result")
            for name, line in files]


def annotation_bodies(findings: Iterable[Finding]) -> list[dict[str, Any]]:
    """Code Insights annotations (bulk body), one per finding."""
    out = []
    for n, f in enumerate(findings, 1):
        item: dict[str, Any] = {
            "external_id": f"tf-apply-{n}", "summary": f.summary[:450],
            "annotation_type": "CODE_SMELL" if f.kind == "format" else "BUG",
            "severity": {"error": "HIGH", "warning": "MEDIUM"}.get(f.kind, "LOW"),
            "result": "FAILED" if f.kind != "warning" else "PASSED"}
        if f.detail:
            item["details"] = f.detail[:2000]
        if f.path:
            item["path"] = f.path
            if f.line:
                item["line"] = f.line
        out.append(item)
    return out
