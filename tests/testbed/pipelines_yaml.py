"""Running the pipelines of a ``bitbucket-pipelines.yml`` on the test bed, step by step, as Bitbucket does.

What is played, after Atlassian's documentation of the configuration (steps, ``script``, ``pipe:``
with ``variables:``, ``artifacts:``, ``deployment:``) and the runner's behaviour:

- a pipeline's steps run in order; a step whose command fails stops the step and the pipeline;
- a step with ``trigger: manual`` is where Bitbucket pauses the pipeline until a person presses *Run*
  (``trigger: automatic``, the default, does not wait); here the step runs as if that person had
  pressed it at once, and :attr:`StepRun.manual` records that it waited for one;
- every step starts from a fresh clone of the repository at the pipeline's commit;
- the files a step's ``artifacts:`` globs match are kept when the step ends, and put back at the same
  paths in the clone of every later step of the same pipeline run;
- the step's environment holds the repository variables (the env file: ``NAME=value`` lines) and the
  ``BITBUCKET_*`` variables of the build (commit, branch or tag, pull request, deployment);
- a script line ``source <file>`` sets the variables that file sets (read by bash itself), and fails
  the step when the file is not there (as the shell does); any other command is refused here (the
  example pipeline has none), so nothing is silently skipped;
- a ``pipe:`` runs through :func:`testbed.pipes.pipe_command`, the faithful runner, with its
  ``variables:``: ``$NAME`` and ``${NAME}`` replaced by the step's variables (unset: empty, as in a
  shell), a list given as ``NAME_COUNT`` and ``NAME_0``, ``NAME_1``, ... (as Bitbucket passes a list).

What the test bed changes, and only that: the pipe image (the one built from this tree instead of the
released one) and :attr:`Pipeline.extra`, the variables that say where the test bed's services are
(registry, APIs, git server), given per pipe on top of the file's.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .dotenv import source
from .pipes import PipeHost, PipeRun, bitbucket_env, pipe_command, pipe_reference, run_pipe

_VARIABLE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")


def read_env_file(path: Path) -> dict[str, str]:
    """``NAME=value`` lines (``#`` comments and blank lines skipped), as ``docker run --env-file``."""
    found: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            found[name.strip()] = value
    return found


def guide_variables(guide: Path) -> set[str]:
    """The repository variables a guide's section "1. The variables to create" lists (its first table)."""
    section = guide.read_text(encoding="utf-8").split("## 1. The variables to create", 1)[1]
    section = section.split("\n### ", 1)[0]
    return {name for row in re.findall(r"^\|\s*(`[^|]+)\|", section, re.M)
            for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row)}


def substitute(value: str, scope: Mapping[str, str]) -> str:
    """``$NAME`` and ``${NAME}`` replaced by their values in ``scope``; an unset one is empty."""
    return _VARIABLE.sub(lambda m: scope.get(m[1] or m[2], ""), value)


def pipe_variables(variables: Mapping[str, Any], scope: Mapping[str, str]) -> dict[str, str]:
    """A ``pipe:``'s ``variables:`` as the pipe receives them: strings, lists as ``NAME_COUNT``/``NAME_<i>``."""
    out: dict[str, str] = {}
    for name, value in variables.items():
        if isinstance(value, list):
            out[f"{name}_COUNT"] = str(len(value))
            for index, item in enumerate(value):
                out[f"{name}_{index}"] = substitute(str(item), scope)
        elif isinstance(value, str):
            out[name] = substitute(value, scope)
        else:
            raise ValueError(f"variable {name} is {value!r}: Bitbucket wants a string or a list")
    return out


def step_variables(config: Mapping[str, Any]) -> set[str]:
    """Every ``$NAME`` the configuration's pipes and script lines name."""
    return {m[1] or m[2] for m in _VARIABLE.finditer(yaml.safe_dump(config))}


def artifact_files(build: Path, patterns: list[str]) -> list[Path]:
    """The files under ``build`` that the ``artifacts:`` globs match (``dir/**``: every file below)."""
    found: set[Path] = set()
    for pattern in patterns:
        for path in build.glob(pattern):
            if path.is_file():
                found.add(path)
            elif path.is_dir():
                found.update(p for p in path.rglob("*") if p.is_file())
    return sorted(found)


@dataclass
class StepRun:
    """One step of a pipeline run: its name, build directory, environment and pipe runs."""
    name: str
    build: Path
    env: dict[str, str]
    pipes: list[tuple[str, PipeRun]] = field(default_factory=list)  # (pipe name, run)
    restored: list[str] = field(default_factory=list)  # artifact paths put into the clone
    failed: str = ""  # a script line other than a pipe that failed (the step stops there)
    manual: bool = False  # ``trigger: manual``: on Bitbucket the step waited for a person to run it

    @property
    def ok(self) -> bool:
        return not self.failed and all(run.code == 0 for _, run in self.pipes)

    def run_of(self, pipe: str) -> PipeRun:
        found = [run for name, run in self.pipes if name == pipe]
        assert found, f"step {self.name!r} ran no {pipe} pipe: {[name for name, _ in self.pipes]}"
        return found[-1]

    def output(self) -> str:
        return "\n".join([run.output for _, run in self.pipes] + [self.failed])


@dataclass
class Pipeline:
    """Runs the pipelines of ``config`` (a parsed bitbucket-pipelines.yml) for the repository ``origin``.

    ``images``: pipe name -> the local image to run instead of the released one; ``repository``
    variables: the env file's values; ``extra``: pipe name -> variables the test bed adds (where its
    services are); ``on_step``: called after each step (a test's hook)."""

    config: Mapping[str, Any]
    origin: Path
    work: Path
    host: PipeHost
    images: Mapping[str, str]
    repository: Mapping[str, str]
    extra: Mapping[str, Mapping[str, str | list[str]]] = field(default_factory=dict)
    repo: str = "acme/web"
    on_step: Callable[[StepRun], None] | None = None
    _builds: int = 0

    def items(self, kind: str, key: str | None = None) -> list[dict[str, Any]]:
        """The steps of ``pipelines.<kind>[.<key>]`` (``default``; ``branches``/``tags``/``pull-requests``)."""
        node = self.config["pipelines"][kind]
        items = node if key is None else node[key]
        steps = []
        for item in items:
            assert set(item) == {"step"}, f"only plain steps are played here, not {sorted(item)}"
            steps.append(item["step"])
        return steps

    def run(self, kind: str, key: str | None = None, *, commit: str, branch: str | None = None,
            tag: str | None = None, pr_id: str | None = None,
            destination: str | None = None) -> list[StepRun]:
        """Run one pipeline; stops after the first failing step, as Bitbucket does."""
        self._builds += 1
        number = str(41 + self._builds)
        artifacts = self.work / f"build-{number}-artifacts"
        done: list[StepRun] = []
        for index, step in enumerate(self.items(kind, key)):
            build = self.work / f"build-{number}-step-{index}" / "build"
            build.parent.mkdir(parents=True)
            subprocess.run(["git", "clone", "-q", str(self.origin), str(build)], check=True)
            subprocess.run(["git", "-c", "advice.detachedHead=false", "checkout", "-q", commit],
                           cwd=build, check=True)
            restored = []
            if artifacts.is_dir():
                for path in artifact_files(artifacts, ["**/*"]):
                    rel = path.relative_to(artifacts)
                    (build / rel).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(path, build / rel)
                    restored.append(str(rel))
            env = bitbucket_env(build, commit=commit, branch=branch, tag=tag, repo=self.repo,
                                build_number=number)
            if pr_id is not None:
                env["BITBUCKET_PR_ID"] = pr_id
                env["BITBUCKET_PR_DESTINATION_BRANCH"] = destination or "main"
            if step.get("deployment"):
                env["BITBUCKET_DEPLOYMENT_ENVIRONMENT"] = str(step["deployment"])
            trigger = step.get("trigger", "automatic")
            if trigger not in ("automatic", "manual"):
                raise ValueError(f"step {step.get('name')!r}: trigger {trigger!r}: Bitbucket knows "
                                 "automatic and manual")
            ran = StepRun(str(step.get("name", f"step {index}")), build, env, restored=sorted(restored),
                          manual=trigger == "manual")
            self._script(step, ran)
            for path in artifact_files(build, list(step.get("artifacts") or [])):
                rel = path.relative_to(build)
                (artifacts / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, artifacts / rel)
            done.append(ran)
            if self.on_step is not None:
                self.on_step(ran)
            if not ran.ok:
                break
        return done

    def _script(self, step: Mapping[str, Any], ran: StepRun) -> None:
        scope = {**self.repository, **ran.env}
        for line in step["script"]:
            if isinstance(line, dict) and "pipe" in line:
                ran.pipes.append(self._pipe(line, scope, ran))
                if ran.pipes[-1][1].code != 0:
                    return
            elif isinstance(line, str) and re.fullmatch(r"source \S+", line.strip()):
                path = ran.build / line.split()[1]
                if not path.is_file():  # bash: "No such file or directory", the step fails
                    ran.failed = f"{line}: no such file in the step's clone"
                    return
                scope.update(source(path))
            else:
                raise AssertionError(f"script line {line!r}: only pipes and `source <file>` are played")

    def _pipe(self, line: Mapping[str, Any], scope: Mapping[str, str],
              ran: StepRun) -> tuple[str, PipeRun]:
        _, owner_pipe = pipe_reference(str(line["pipe"]))
        name = owner_pipe.split("/")[-1]
        variables = pipe_variables(line.get("variables") or {}, scope)
        extra = self.extra.get(name, {})
        for key in extra:  # a variable the test bed gives again replaces the file's (a list whole)
            for old in [k for k in variables if re.fullmatch(rf"{key}(_COUNT|_\d+)?", k)]:
                del variables[old]
        variables.update(pipe_variables(extra, {}))
        command = pipe_command(f"docker://{self.images[name]}", ran.build, ran.env, self.host,
                               variables=variables)
        return name, run_pipe(command, timeout=600)
