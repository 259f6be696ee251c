"""The changes of a plan in a form two plans can be compared by: per resource address, the
actions and every attribute that changes (path, before, after).

Unknown values ("known after apply") are one marker on both sides.  Sensitive values are never
kept or shown: each becomes a keyed digest (HMAC-SHA256 with a random key stored with the
reviewed plan), so that a sensitive value that changed between review and apply still differs,
and the document holds no value a reader could print.
"""
from __future__ import annotations

import copy
import hashlib
import hmac
import json
import secrets as pysecrets
from typing import Any

from . import redact

UNKNOWN = "(known after apply)"
ABSENT = "(absent)"
SENSITIVE = "(sensitive:"
VERSION = 1

Changes = dict[str, dict[str, Any]]  # address -> {"actions": [...], "attributes": {path: [b, a]}}


def new_key() -> str:
    return pysecrets.token_hex(32)


def _digest(key: str, value: Any) -> str:
    mac = hmac.new(bytes.fromhex(key), json.dumps(value, sort_keys=True).encode(), hashlib.sha256)
    return f"{SENSITIVE}{mac.hexdigest()[:32]})"


def _flatten(value: Any, sensitive: Any, unknown: Any, path: str, key: str,
             out: dict[str, str], secret: set[str]) -> None:
    if sensitive is True or (isinstance(value, (str, int, float)) and not isinstance(value, bool)
                             and len(str(value)) >= 4 and str(value) in secret):
        out[path] = _digest(key, value)
        return
    if unknown is True:
        out[path] = UNKNOWN
        return
    if isinstance(value, dict) or isinstance(unknown, dict):
        items = value if isinstance(value, dict) else {}
        names = set(items) | set(unknown if isinstance(unknown, dict) else {})
        if not names:
            out[path] = "{}"
        for name in sorted(names):
            _flatten(items.get(name), _at(sensitive, name), _at(unknown, name),
                     f"{path}.{name}" if path else name, key, out, secret)
        return
    if isinstance(value, list) or isinstance(unknown, list):
        items_l = value if isinstance(value, list) else []
        count = max(len(items_l), len(unknown) if isinstance(unknown, list) else 0)
        if not count:
            out[path] = "[]"
        for i in range(count):
            _flatten(items_l[i] if i < len(items_l) else None, _at(sensitive, i), _at(unknown, i),
                     f"{path}[{i}]", key, out, secret)
        return
    out[path] = json.dumps(value)


def _at(mask: Any, where: str | int) -> Any:
    if isinstance(mask, dict) and isinstance(where, str):
        return mask.get(where)
    if isinstance(mask, list) and isinstance(where, int) and where < len(mask):
        return mask[where]
    return None


def _after(after: dict[str, str], path: str) -> str:
    """The value after the change; inside a value that is unknown as a whole, unknown too."""
    if path in after:
        return after[path]
    for i, char in enumerate(path):
        if char in ".[" and after.get(path[:i]) == UNKNOWN:
            return UNKNOWN
    return ABSENT


def of_plan(plan: dict[str, Any], key: str) -> Changes:
    """The changes of ``terraform show -json <plan>`` (before it is redacted).

    A value Terraform marks sensitive anywhere in the plan is sensitive everywhere: a computed
    attribute can carry it unmarked (``terraform_data``'s ``output``)."""
    secret = redact.plan_json_and_values(copy.deepcopy(plan))[1]
    found: Changes = {}
    for rc in plan.get("resource_changes") or []:
        change = rc.get("change") or {}
        actions = [str(a) for a in change.get("actions") or []]
        if rc.get("mode") == "data" or actions in ([], ["no-op"], ["read"]):
            continue
        before: dict[str, str] = {}
        after: dict[str, str] = {}
        _flatten(change.get("before"), change.get("before_sensitive"), None, "", key, before,
                 secret)
        _flatten(change.get("after"), change.get("after_sensitive"), change.get("after_unknown"),
                 "", key, after, secret)
        attributes = {path: [before.get(path, ABSENT), _after(after, path)]
                      for path in sorted(set(before) | set(after))
                      if before.get(path, ABSENT) != _after(after, path)}
        found[str(rc.get("address", "?"))] = {"actions": actions, "attributes": attributes}
    return found


def document(changes: Changes, key: str) -> str:
    return json.dumps({"version": VERSION, "key": key, "resources": changes}, indent=1,
                      sort_keys=True) + "\n"


def _shown(value: str, limit: int = 60) -> str:
    if value.startswith(SENSITIVE):
        return "(sensitive value)"
    return value if len(value) <= limit else value[: limit - 3] + "..."


def _pair(pair: list[str] | None) -> str:
    return "no change" if pair is None else f"{_shown(pair[0])} -> {_shown(pair[1])}"


def differences(reviewed: Changes, current: Changes) -> list[str]:
    """One line per difference between the reviewed changes and the current ones (empty when
    they are equal); sensitive values are named, never shown."""
    lines: list[str] = []
    for address in sorted(set(reviewed) | set(current)):
        old, new = reviewed.get(address), current.get(address)
        if new is None:
            lines.append(f"{address}: reviewed {'/'.join(old['actions'])}, now no change"
                         if old else address)
            continue
        if old is None:
            lines.append(f"{address}: now {'/'.join(new['actions'])}, not in the reviewed plan")
            continue
        if old["actions"] != new["actions"]:
            lines.append(f"{address}: reviewed {'/'.join(old['actions'])}, now "
                         f"{'/'.join(new['actions'])}")
        a_old, a_new = old["attributes"], new["attributes"]
        for path in sorted(set(a_old) | set(a_new)):
            if a_old.get(path) != a_new.get(path):
                shown_old, shown_new = _pair(a_old.get(path)), _pair(a_new.get(path))
                note = " (a sensitive value differs)" if shown_old == shown_new else ""
                lines.append(f"{address}.{path}: reviewed {shown_old}, now {shown_new}{note}")
    return lines
