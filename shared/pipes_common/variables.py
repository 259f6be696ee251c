"""Pipe variables: the toolkit's Cerberus schema and parsing, with one-line errors that name the fix.

Parsing follows bitbucket-pipes-toolkit: a ``string`` variable is taken as it is, any other type is
YAML-parsed (so declare tags and versions as strings: "1.10" would become 1.1), and a ``list`` is
the ``NAME_COUNT``/``NAME_0``… form Bitbucket passes (the toolkit's ``ArrayVariable``).  For
``docker run`` by hand a list may also be given as ``NAME`` holding a YAML flow list or one item
per line.

Schema entries may carry ``meta``: ``hint`` (how to fix a bad value), ``secret`` (registered for
masking; never give a secret an ``allowed`` rule, its error would echo the value).
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import yaml
from cerberus import Validator

from . import secrets, validate
from .errors import PipeError

if TYPE_CHECKING:
    from cerberus.errors import ValidationError

Schema = dict[str, dict[str, Any]]

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


def _scalar_value(spec: Mapping[str, Any], raw: str) -> Any:
    if spec.get("type", "string") == "string":
        return raw
    return yaml_scalar(raw)


def parse(schema: Schema, env: Mapping[str, str]) -> dict[str, Any]:
    """Turn the environment into the document Cerberus validates (no validation yet)."""
    document: dict[str, Any] = {}
    for name, spec in schema.items():
        if spec.get("type") == "list":
            value = _list_value(name, env)
            if value is not None:
                document[name] = value
            continue
        if name not in env:
            continue
        raw = env[name]
        if not raw.strip():
            if spec.get("required"):
                document[name] = ""  # reported as empty, with the variable's name
            continue
        document[name] = _scalar_value(spec, raw)
    return document


_TYPE_WORDS = {
    "boolean": "true or false",
    "integer": "a whole number",
    "string": "a text value",
    "list": "a list",
    "dict": "a mapping",
}


def _message(err: ValidationError, schema: Schema) -> str:
    name = str(err.document_path[0]) if err.document_path else str(err.field)
    spec = schema.get(name, {})
    hint = (spec.get("meta") or {}).get("hint")
    rule = err.rule
    if rule == "required":
        return f"{name} is required: {hint or 'set it in the pipe variables'}"
    if rule == "empty":
        return f"{name} is empty: {hint or 'give it a value or remove it'}"
    if rule == "type":
        return f"{name} must be {_TYPE_WORDS.get(str(err.constraint), err.constraint)}" + (
            f": {hint}" if hint else "")
    if rule == "allowed":
        return f"{name} must be one of: {', '.join(map(str, spec.get('allowed', [])))}"
    if rule in ("min", "max", "minlength", "maxlength"):
        return f"{name} is out of range ({rule} {err.constraint})" + (f": {hint}" if hint else "")
    return f"{name} is not valid: {hint or rule}"


def load(schema: Schema, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Validate the pipe variables against ``schema`` and return them with defaults applied.

    Every bad variable is named in one ``PipeError`` message with its fix; values are never echoed.
    Variables marked ``meta: {secret: true}`` are registered for masking first of all.
    """
    source: Mapping[str, str] = os.environ if env is None else env
    for name, spec in schema.items():
        if (spec.get("meta") or {}).get("secret") and source.get(name):
            secrets.register(source[name])
    cerberus_schema = {
        name: {k: v for k, v in spec.items()} for name, spec in schema.items()
    }
    validator = Validator(cerberus_schema, purge_unknown=True)
    document = parse(schema, source)
    if not validator.validate(document):
        seen: set[str] = set()
        messages = []
        for err in sorted(validator._errors, key=lambda e: str(e.document_path)):
            for leaf in (err.child_errors or [err]) if err.is_group_error else [err]:
                text = _message(leaf, schema)
                if text not in seen:
                    seen.add(text)
                    messages.append(text)
        raise PipeError("; ".join(messages))
    validated: dict[str, Any] = dict(validator.document or {})  # normalized by validate()
    for name, spec in schema.items():
        validated.setdefault(name, spec.get("default"))
    return validated
