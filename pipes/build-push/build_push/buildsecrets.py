"""``SECRETS`` (``id=VARIABLE`` entries) read into build secrets, every value masked."""
from __future__ import annotations

import re
from collections.abc import Mapping

from pipes_common import secrets, validate
from pipes_common.errors import PipeError

ENTRY_RE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)=([A-Za-z_][A-Za-z0-9_]*)$")


def parse(entries: list[str] | None, env: Mapping[str, str]) -> dict[str, str]:
    """``{id: value}`` of each ``id=VARIABLE`` entry, the value taken from the variable ``VARIABLE``."""
    found: dict[str, str] = {}
    for number, raw in enumerate(entries or [], start=1):
        match = ENTRY_RE.match(raw.strip())
        if not match:  # not echoed: a malformed entry may be the secret value itself
            raise PipeError(f"SECRETS: entry {number} is not id=VARIABLE: write each entry as "
                            "the secret's id, '=', and the name of the variable holding its value "
                            "(e.g. npmrc=NPM_TOKEN), never the value itself")
        secret_id, variable = match.groups()
        if secret_id in found:
            raise PipeError(f"SECRETS: the id '{secret_id}' is given twice: give each secret "
                            "its own id")
        value = env.get(variable)
        if value is None or value == "":
            raise PipeError(f"SECRETS: {secret_id}={variable} names the variable {variable}, "
                            f"which is not set or empty in the pipe: pass it in the pipe's "
                            f"variables ({variable}: ${variable}) as a secured variable")
        if not validate.is_utf8(value):  # never shown: it is a secret
            raise PipeError(f"{variable} (named by SECRETS: {secret_id}={variable}) is not valid "
                            "UTF-8 text: save the secured variable again as UTF-8")
        secrets.register(value)
        found[secret_id] = value
    return found
