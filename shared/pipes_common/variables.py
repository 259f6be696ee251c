"""Pipe variables: one declaration per variable (:class:`Var`), and the door checks derived from
the declarations of a pipe (:class:`Variables`), with one-line errors that name the fix.

A :class:`Var` says everything about a variable in one place: its type, default, whether it is
required or secret, its rule (bound and grammar, :mod:`validate`), the choices or range of its
value, when it may be set at all (``only_if``: "X only with Y"), the hint that says how to fix a
bad value and the one-line doc of the README.  The pipe's ``pipe.yml`` variables, the README's
Variables table and YAML Definition are generated from the same declarations (``./dev docs``).

Parsing follows bitbucket-pipes-toolkit: a ``string`` variable is taken as it is, any other type is
YAML-parsed (so declare tags and versions as strings: "1.10" would become 1.1), and a ``list`` is
the ``NAME_COUNT``/``NAME_0``… form Bitbucket passes (the toolkit's ``ArrayVariable``).  For
``docker run`` by hand a list may also be given as ``NAME`` holding a YAML flow list or one item
per line.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import secrets, validate
from .errors import PipeError


def yaml_scalar(raw: str) -> Any:
    """A variable's value as YAML reads it (``yes`` is True, ``1.10`` is 1.1), or the text itself
    when it is not valid YAML."""
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw


def array_items(name: str, env: Mapping[str, str]) -> list[str | None]:
    """``NAME_0`` … ``NAME_{COUNT-1}`` (None where one is unset), exactly as the toolkit's
    ``ArrayVariable`` reads them (a test holds the two equal; the pipes do not ship the toolkit)."""
    count = validate.whole_number(env.get(f"{name}_COUNT", "0"))
    if count is None:
        raise PipeError(f"{name}_COUNT must be a whole number, the count of {name}_0, {name}_1, …")
    return [env.get(f"{name}_{i}") for i in range(count)]


def _list_value(name: str, env: Mapping[str, str]) -> list[str] | None:
    if f"{name}_COUNT" in env:
        count = env[f"{name}_COUNT"].strip()
        items = array_items(name, env)
        missing = [f"{name}_{i}" for i, item in enumerate(items) if item is None]
        if missing:
            raise PipeError(f"{name}_COUNT is {count} but {', '.join(missing)} is not set: "
                            f"pass every item or fix {name}_COUNT")
        return [str(i) for i in items]
    raw = env.get(name)
    if raw is None or not raw.strip():
        return None
    text = raw.strip()
    if text.startswith("["):
        try:
            parsed = yaml.safe_load(text)
        except yaml.YAMLError:
            raise PipeError(f"{name} is not a valid YAML list: write it as [a, b] "
                            "or one item per line") from None
        if isinstance(parsed, list):
            return ["" if v is None else str(v) for v in parsed]
    return [line.strip() for line in text.splitlines() if line.strip()]


TYPES = ("string", "boolean", "integer", "list")
_TYPE_WORDS = {"boolean": "true or false", "integer": "a whole number", "string": "a text value",
               "list": "a list"}


@dataclass(frozen=True)
class Var:
    """One pipe variable, declared once: everything the door checks, ``Settings`` reads and the
    docs say about it.

    ``rule``: bound and grammar of the value (each item of a list), :mod:`validate`'s rules;
    None is free text of at most 256 characters (4096 for a secret).  ``choices``: the values
    allowed (never for a secret: the message lists them).  ``minimum``/``maximum``: of an integer.
    ``only_if``: a condition over the checked values and the end of the message when the variable
    is set without it ("X is only used with ...").  ``checks``: other cross-checks that belong to
    this variable (what it needs or excludes), each returning the whole message or None.
    ``doc``: the README's Variables row ('' shares the row of the variable declared before);
    ``example`` and ``note``: its line of the README's YAML Definition."""

    name: str
    doc: str
    type: str = "string"
    default: Any = None
    required: bool = False
    secret: bool = False
    rule: validate.Rule | None = None
    hint: str = ""
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    only_if: tuple[Callable[[Mapping[str, Any]], bool], str] | None = None
    checks: tuple[validate.Check, ...] = ()
    example: str = ""
    note: str = ""

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise ValueError(f"{self.name}: type {self.type!r} is not one of {TYPES}")

    @property
    def bound(self) -> validate.Rule:
        """The rule the value is checked with (free text within the default bound when none)."""
        if self.rule is not None:
            return self.rule
        return validate.Text(max_len=validate.MAX_SECRET if self.secret else validate.MAX_TEXT)

    @property
    def masked(self) -> bool:
        """Never shown in a message: a secret, or a value that may hold one."""
        return self.secret or not self.bound.echo


@dataclass(frozen=True)
class Variables:
    """A pipe's variables (in the order its docs show them) and the door checks made from them:
    :meth:`load` (as given, then types) and :meth:`check` (grammars, then relations)."""

    declared: tuple[Var, ...]
    checks: tuple[validate.Check, ...] = ()   # cross-checks of several variables, run last
    by_name: Mapping[str, Var] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {v.name: v for v in self.declared})
        if len(self.by_name) != len(self.declared):
            raise ValueError("a variable is declared twice")

    def __iter__(self) -> Iterator[Var]:
        return iter(self.declared)

    def __contains__(self, name: object) -> bool:
        return name in self.by_name

    def __getitem__(self, name: str) -> Var:
        return self.by_name[name]

    @property
    def defaults(self) -> dict[str, Any]:
        return {v.name: v.default for v in self.declared if v.default is not None}

    def load(self, env: Mapping[str, str] | None = None) -> dict[str, Any]:
        """Every variable from ``env`` (the process environment by default), checked as given
        and then by type, choices and range, with the defaults applied.  Secrets are registered
        for masking first of all, so that no message can show them."""
        source: Mapping[str, str] = os.environ if env is None else env
        for var in self.declared:
            value = source.get(var.name)
            if value and var.secret and validate.is_utf8(value):
                secrets.register(value)  # (a value that is not UTF-8 is refused, never shown)
        for var in self.declared:
            _check_raw(var, source)
        document = _parse(self.declared, source)
        messages = [m for name in sorted(document) if (m := _type_problem(self[name], document[name]))]
        messages += [f"{v.name} is required: {v.hint or 'set it in the pipe variables'}"
                     for v in sorted(self.declared, key=lambda v: v.name)
                     if v.required and v.name not in document]
        if messages:
            raise PipeError("; ".join(sorted(dict.fromkeys(messages))))
        return {v.name: document.get(v.name, v.default) for v in self.declared}

    def check(self, values: Mapping[str, Any], clone_dir: Path) -> None:
        """The checked ``values`` against each variable's rule, then the relations: what a
        variable needs or excludes, and the pipe's cross-checks."""
        ctx = validate.Context(clone_dir, values)
        for var in self.declared:
            _check_value(var, values.get(var.name), ctx)
        for var in self.declared:
            if var.only_if is not None:
                condition, why = var.only_if
                if validate.is_set(values, var.name) and not condition(values):
                    raise PipeError(f"{var.name} {why}")
            for check in var.checks:
                if message := check(values):
                    raise PipeError(message)
        for check in self.checks:
            if message := check(values):
                raise PipeError(message)


def _check_raw(var: Var, env: Mapping[str, str]) -> None:
    """Encoding, control characters, spaces and length of ``var`` as the step gave it (a list's
    ``NAME``, ``NAME_COUNT`` and ``NAME_<n>`` too)."""
    rule = var.bound
    for given, raw in validate.raw_values(var.name, var.type == "list", env):
        if given.endswith("_COUNT"):
            count = validate.whole_number(raw) if validate.is_utf8(raw) else None
            if count is not None and count > rule.max_items:
                raise PipeError(f"{given} is {count}: at most {rule.max_items} items")
            if count is None:
                raise PipeError(f"{given} must be a whole number, the count of {var.name}_0, "
                                f"{var.name}_1, …")
            continue
        if var.type == "list" and given == var.name:
            whole = validate.Text(max_len=rule.max_len * rule.max_items, multiline=True)
            problem = validate.raw_problem(raw, whole, var.masked)
        elif var.type != "string" and not raw.strip():
            continue
        else:
            problem = validate.raw_problem(raw, rule, var.masked)
        if problem:
            raise validate.fail(given, problem, raw, var.masked, var.hint)


def _parse(declared: Sequence[Var], env: Mapping[str, str]) -> dict[str, Any]:
    """The variables the step set, parsed by type (no check yet)."""
    document: dict[str, Any] = {}
    for var in declared:
        if var.type == "list":
            value = _list_value(var.name, env)
            if value is not None:
                document[var.name] = value
            continue
        if var.name not in env:
            continue
        raw = env[var.name]
        if not raw.strip():
            if var.required:
                document[var.name] = ""  # reported as empty, with the variable's name
            continue
        document[var.name] = raw if var.type == "string" else yaml_scalar(raw)
    return document


def _type_problem(var: Var, value: Any) -> str | None:
    """What is wrong with a parsed value's type, choice or range (the value is never shown)."""
    hint = f": {var.hint}" if var.hint else ""
    if var.required and value == "":
        return f"{var.name} is empty: {var.hint or 'give it a value or remove it'}"
    wanted = {"string": str, "boolean": bool, "integer": int, "list": list}[var.type]
    if not isinstance(value, wanted) or (var.type == "integer" and isinstance(value, bool)):
        return f"{var.name} must be {_TYPE_WORDS[var.type]}{hint}"
    if var.choices and value not in var.choices:
        return f"{var.name} must be one of: {', '.join(var.choices)}"
    if isinstance(value, int) and var.minimum is not None and value < var.minimum:
        return f"{var.name} is out of range (min {var.minimum}){hint}"
    if isinstance(value, int) and var.maximum is not None and value > var.maximum:
        return f"{var.name} is out of range (max {var.maximum}){hint}"
    return None


def _check_value(var: Var, value: Any, ctx: validate.Context) -> None:
    """``var``'s rule on its checked value (each item of a list, named by the list)."""
    if var.rule is None or value is None or value == "":
        return
    rule = var.rule
    if isinstance(value, list) and len(value) > rule.max_items:
        raise PipeError(f"{var.name} has {len(value)} items: at most {rule.max_items}")
    for item in value if isinstance(value, list) else [value]:
        text = str(item)
        if isinstance(value, list):
            problem = validate.raw_problem(text, rule, var.masked)
            if problem:
                raise validate.fail(var.name, problem, text, var.masked)
        problem = rule.problem(var.name, text, ctx)
        if problem:
            raise validate.fail(var.name, problem, text, var.masked, var.hint)
