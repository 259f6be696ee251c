"""The terraform CLI, run through the one subprocess wrapper, with its machine-readable output.

``plan``/``apply`` run with ``-json``: each UI event is logged as its readable ``@message`` and
kept for the summary; error diagnostics become one clear :class:`PipeError` (a held lock names
its holder and the ``terraform force-unlock`` command).
"""
from __future__ import annotations

import json
import re
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipes_common import proc
from pipes_common.errors import PipeError
from pipes_common.log import get_logger

from . import __version__, tfversions

# per-resource chatter shown only with DEBUG: the summary table lists every planned change, and
# apply_complete/apply_errored/apply_progress lines still show what happens as it happens
QUIET_EVENTS = frozenset({"planned_change", "refresh_start", "refresh_complete", "apply_start",
                          "resource_drift"})
LOCK_FIELDS = ("ID", "Path", "Operation", "Who", "Version", "Created", "Info")


@dataclass(frozen=True)
class LockInfo:
    id: str
    path: str = ""
    operation: str = ""
    who: str = ""
    version: str = ""
    created: str = ""


def parse_lock_info(text: str) -> LockInfo | None:
    """The ``Lock Info:`` block of Terraform's "Error acquiring the state lock", or None."""
    if "Lock Info:" not in text:
        return None
    block = text.split("Lock Info:", 1)[1]
    values: dict[str, str] = {}
    for name in LOCK_FIELDS:
        match = re.search(rf"^\s*{name}:[ \t]*(.*)$", block, re.MULTILINE)
        if match:
            values[name] = match.group(1).strip()
    if not values.get("ID"):
        return None
    return LockInfo(values["ID"], values.get("Path", ""), values.get("Operation", ""),
                    values.get("Who", ""), values.get("Version", ""), values.get("Created", ""))


def lock_error(info: LockInfo, timeout: str, working_dir: str) -> PipeError:
    where = "" if working_dir == "." else f"-chdir={working_dir} "
    return PipeError(
        f"The state is locked by another run and the lock was not released within "
        f"LOCK_TIMEOUT ({timeout}): lock {info.id} held by {info.who or 'unknown'} "
        f"({info.operation or 'unknown operation'}, Terraform {info.version or '?'}, since "
        f"{info.created or '?'}) on {info.path}. The state was not touched. Wait for that run to "
        f"finish, or - only if it is dead - release the lock with: terraform {where}force-unlock "
        f"-force {info.id} (after terraform init with the same backend settings)")


def version_error(text: str, bundled: str) -> PipeError | None:
    """Terraform's "Unsupported Terraform Core version" made into one clear message: the
    constraint, the bundled Terraform and the tf-apply release whose Terraform matches."""
    if "Unsupported Terraform Core version" not in text:
        return None
    constraint = re.search(r'required_version\s*=\s*"([^"]+)"', text)
    location = re.search(r"on (\S+) line (\d+)", text)
    release = tfversions.release_for(constraint.group(1)) if constraint else None
    if release is not None:
        fix = (f"use tf-apply {release[0]} (it bundles Terraform {release[1]}), or widen "
               "required_version")
    else:
        fix = ("no tf-apply release bundles a matching Terraform: widen required_version"
               if constraint else "use a tf-apply release that bundles a matching Terraform, "
               "or widen required_version")
    return PipeError(
        f"The configuration's required_version"
        f"{' (' + constraint.group(1) + ')' if constraint else ''} rules out Terraform "
        f"{bundled}, bundled in tf-apply {__version__}"
        f"{' (' + location.group(1) + ' line ' + location.group(2) + ')' if location else ''}: "
        f"{fix}")


@dataclass
class JsonRun:
    code: int
    events: list[dict[str, Any]] = field(default_factory=list)

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("type") == kind]

    def errors(self) -> list[dict[str, Any]]:
        return [e.get("diagnostic") or {} for e in self.of_type("diagnostic")
                if (e.get("diagnostic") or {}).get("severity") == "error"]


class Terraform:
    def __init__(self, cwd: Path, env: dict[str, str], working_dir_rel: str = ".",
                 lock_timeout: str = "300s", binary: str = "terraform",
                 init_lock: AbstractContextManager[Any] | None = None) -> None:
        self.cwd = cwd
        # many roots share the plugin cache, which Terraform does not make safe for two inits
        # writing it at once: their inits take turns (plan and apply do not write it)
        self.init_lock = init_lock if init_lock is not None else nullcontext()
        self.env = env
        self.binary = binary
        self.working_dir_rel = working_dir_rel
        self.lock_timeout = lock_timeout
        self._version: str | None = None

    def _run(self, args: Sequence[str], **kwargs: Any) -> proc.Result:
        return proc.run([self.binary, *args], cwd=self.cwd, env=self.env, **kwargs)

    def version(self) -> str:
        if self._version is None:
            out = self._run(["version", "-json"], error="terraform version failed").stdout
            self._version = str(json.loads(out).get("terraform_version", "unknown"))
        return self._version

    def init(self, backend_file: Path | None) -> None:
        """``terraform init``; with ``backend_file`` None the backend is not configured."""
        args = ["init", "-input=false", "-no-color", "-reconfigure"]
        args += [f"-backend-config={backend_file}"] if backend_file else ["-backend=false"]
        with self.init_lock:
            result = self._run(args, check=False, on_line=lambda line: get_logger().debug("%s", line))
        if result.returncode != 0:
            text = result.stderr + "\n" + result.stdout
            if "S3 bucket" in text and "does not exist" in text:
                raise PipeError("SPACES_BUCKET: the Space named in SPACES_BUCKET does not exist at "
                                "the endpoint: create it, or fix SPACES_BUCKET/SPACES_REGION")
            raise (version_error(text, self.version())
                   or PipeError("terraform init failed: " + _diagnostic_text(text)))

    def workspace(self, name: str, create: bool) -> None:
        """Select (or create) the workspace, then pin it with TF_WORKSPACE for every later command
        (a reused .terraform/ may remember another one)."""
        self.env.pop("TF_WORKSPACE", None)
        if name == "default":
            self.env["TF_WORKSPACE"] = name
            return
        args = ["workspace", "select", "-no-color"] + (["-or-create=true"] if create else []) + [name]
        result = self._run(args, check=False)
        if result.returncode != 0:
            detail = _diagnostic_text(result.stderr + "\n" + result.stdout)
            if not create and "doesn't exist" in detail:
                raise PipeError(f"WORKSPACE: the workspace '{name}' does not exist in this state "
                                "yet: run MODE apply or plan first, or fix WORKSPACE")
            raise PipeError(f"Selecting the workspace '{name}' failed: {detail}")
        self.env["TF_WORKSPACE"] = name
        get_logger().info("Workspace: %s", name)

    def run_json(self, args: Sequence[str], ok_codes: Sequence[int] = (0,)) -> JsonRun:
        """Run a ``-json`` command, log its events readably, raise on failure."""
        run = JsonRun(0)
        log = get_logger()

        def on_line(line: str) -> None:
            try:
                event = json.loads(line)
            except ValueError:
                if line.strip():
                    log.info("%s", line)
                return
            if not isinstance(event, dict):
                return
            run.events.append(event)
            _log_event(event)

        result = self._run([args[0], "-json", *args[1:]], check=False, on_line=on_line)
        run.code = result.returncode
        if run.code not in ok_codes:
            raise self._failure(run, result.stderr, args[0])
        return run

    def _failure(self, run: JsonRun, stderr: str, command: str) -> PipeError:
        errors = run.errors()
        for diag in errors:
            info = parse_lock_info(str(diag.get("detail", "")))
            if info is not None:
                return lock_error(info, self.lock_timeout, self.working_dir_rel)
        text = "\n".join(f"{d.get('summary', '')}: {d.get('detail', '')}" for d in errors)
        version = version_error(text + stderr, self.version())
        if version is not None:
            return version
        if errors:
            first = errors[0]
            where = first.get("range") or {}
            loc = f" ({where.get('filename')} line {where.get('start', {}).get('line')})" if where else ""
            return PipeError(f"terraform {command} failed: {first.get('summary', '')}"
                             f"{loc}: {_one_line(str(first.get('detail', '')))}")
        return PipeError(f"terraform {command} failed with exit code {run.code}: {_diagnostic_text(stderr)}")

    def output_json(self) -> dict[str, Any]:
        out = self._run(["output", "-json", "-no-color"], error="terraform output failed").stdout
        data = json.loads(out or "{}")
        return data if isinstance(data, dict) else {}

    def show_json(self, plan_file: Path) -> dict[str, Any]:
        out = self._run(["show", "-json", "-no-color", str(plan_file)],
                        error="terraform show of the saved plan failed").stdout
        data: dict[str, Any] = json.loads(out)
        return data

    def validate_json(self) -> list[dict[str, Any]]:
        """The diagnostics of ``terraform validate -json`` (one JSON document, any exit code)."""
        result = self._run(["validate", "-json", "-no-color"], check=False)
        try:
            doc = json.loads(result.stdout)
        except ValueError:
            raise PipeError("terraform validate failed: "
                            + _diagnostic_text(result.stderr + "\n" + result.stdout)) from None
        return [d for d in doc.get("diagnostics") or [] if isinstance(d, dict)]

    def fmt_check(self) -> list[tuple[str, int]]:
        """``terraform fmt -check -recursive -diff``: (file, first changed line) of each file
        that is not formatted."""
        result = self._run(["fmt", "-check", "-recursive", "-diff", "-no-color"], check=False)
        if result.returncode not in (0, 3):
            raise PipeError("terraform fmt failed: " + _diagnostic_text(result.stderr + "\n"
                                                                       + result.stdout))
        found: list[tuple[str, int]] = []
        current: str | None = None
        at = 0  # the old file's line the diff is at, within the first hunk of ``current``
        for line in result.stdout.splitlines():
            if line.startswith("--- old/"):
                current, at = line[len("--- old/"):].strip(), 0
            elif current and line.startswith("@@"):
                hunk = re.match(r"@@ -(\d+)", line)
                at = int(hunk.group(1)) if hunk else 1
            elif current and at and line.startswith(("-", "+")) and not line.startswith("+++"):
                found.append((current, max(1, at)))  # the first changed line
                current = None
            elif current and at and line.startswith(" "):
                at += 1
        return found

    def show_text(self, plan_file: Path) -> str:
        """The saved plan as Terraform prints it (sensitive attributes already hidden)."""
        return self._run(["show", "-no-color", str(plan_file)],
                         error="terraform show of the saved plan failed").stdout


def _one_line(text: str, limit: int = 600) -> str:
    flat = " ".join(part.strip() for part in text.splitlines() if part.strip())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _diagnostic_text(text: str) -> str:
    """The ``Error:`` part of Terraform's human output, on one line."""
    cleaned = re.sub(r"[╷╵│]", "", text)
    index = cleaned.find("Error:")
    return _one_line(cleaned[index:] if index >= 0 else cleaned)


def _log_event(event: dict[str, Any]) -> None:
    log = get_logger()
    kind = event.get("type")
    message = str(event.get("@message", ""))
    if kind == "version":
        log.info("%s", message)
    elif kind in QUIET_EVENTS:
        log.debug("%s", message)
    elif kind == "diagnostic":
        diag = event.get("diagnostic") or {}
        level = log.error if diag.get("severity") == "error" else log.warning
        level("%s", message)
        detail = str(diag.get("detail", "")).strip()
        if detail and diag.get("severity") != "error":
            log.warning("  %s", _one_line(detail))
    elif kind == "outputs":
        return  # values are handled (and sensitive ones hidden) by the outputs module
    elif message:
        log.info("%s", message)
