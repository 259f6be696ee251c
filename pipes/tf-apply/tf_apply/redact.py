"""Sensitive values taken out of ``terraform show -json`` before it is stored.

Terraform's JSON plan holds sensitive values in clear text, with a parallel "sensitive" mask
(``before_sensitive``/``after_sensitive``/``sensitive_values``, ``sensitive`` on outputs and on
declared variables).  Every value the masks mark is replaced by ``REDACTED``.
"""
from __future__ import annotations

import json
from typing import Any

REDACTED = "(sensitive value)"


def _leaves(value: Any, found: set[str]) -> None:
    if isinstance(value, dict):
        for v in value.values():
            _leaves(v, found)
    elif isinstance(value, list):
        for v in value:
            _leaves(v, found)
    elif value is not None and not isinstance(value, bool):
        found.add(str(value))


def apply_mask(value: Any, mask: Any, found: set[str] | None = None) -> Any:
    """``value`` with every part that ``mask`` marks ``true`` replaced (and collected in ``found``)."""
    if mask is True:
        if value is None:
            return None
        if found is not None:
            _leaves(value, found)
        return REDACTED
    if isinstance(mask, dict) and isinstance(value, dict):
        return {k: apply_mask(v, mask.get(k), found) for k, v in value.items()}
    if isinstance(mask, list) and isinstance(value, list):
        return [apply_mask(v, mask[i] if i < len(mask) else None, found) for i, v in enumerate(value)]
    return value


def _module_values(module: dict[str, Any] | None, found: set[str]) -> None:
    if not module:
        return
    for res in module.get("resources") or []:
        res["values"] = apply_mask(res.get("values"), res.get("sensitive_values"), found)
    for child in module.get("child_modules") or []:
        _module_values(child, found)


def _values(doc: dict[str, Any] | None, found: set[str]) -> None:
    if not doc:
        return
    for out in (doc.get("outputs") or {}).values():
        if out.get("sensitive"):
            out["value"] = apply_mask(out.get("value"), True, found)
    _module_values(doc.get("root_module"), found)


def _sensitive_variables(config: dict[str, Any] | None) -> set[str]:
    module = (config or {}).get("root_module") or {}
    return {name for name, spec in (module.get("variables") or {}).items()
            if (spec or {}).get("sensitive")}


def plan_json(plan: dict[str, Any]) -> str:
    """A ``terraform show -json`` plan, redacted, as JSON text.

    Every value a mask marks is replaced; then any remaining copy of such a value elsewhere in
    the document (Terraform repeats values in several sections) is replaced in the text too.
    """
    return plan_json_and_values(plan)[0]


def redact_text(value: str, found: set[str]) -> str:
    """``value`` with every sensitive value in ``found`` (4 characters or more) replaced."""
    for secret in sorted(found, key=len, reverse=True):
        if len(secret) >= 4:
            value = value.replace(secret, REDACTED)
    return value


def plan_json_and_values(plan: dict[str, Any]) -> tuple[str, set[str]]:
    """:func:`plan_json`, and the sensitive values it took out (to redact other texts)."""
    found: set[str] = set()
    for name in _sensitive_variables(plan.get("configuration")):
        var = (plan.get("variables") or {}).get(name)
        if isinstance(var, dict):
            var["value"] = apply_mask(var.get("value"), True, found)
    for rc in (plan.get("resource_changes") or []) + (plan.get("resource_drift") or []):
        change = rc.get("change") or {}
        change["before"] = apply_mask(change.get("before"), change.get("before_sensitive"), found)
        change["after"] = apply_mask(change.get("after"), change.get("after_sensitive"), found)
    for change in (plan.get("output_changes") or {}).values():
        change["before"] = apply_mask(change.get("before"), bool(change.get("before_sensitive")), found)
        change["after"] = apply_mask(change.get("after"), bool(change.get("after_sensitive")), found)
    _values(plan.get("planned_values"), found)
    _values((plan.get("prior_state") or {}).get("values"), found)
    text = json.dumps(plan, indent=1, sort_keys=True)
    for value in sorted(found, key=len, reverse=True):
        if len(value) >= 4:
            text = text.replace(json.dumps(value)[1:-1], REDACTED)
    return text + "\n", found
