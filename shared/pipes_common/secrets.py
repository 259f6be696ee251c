"""Registry of secret values and the masking of every form they can take in output.

A secret is masked in its raw form, URL-encoded (``quote`` and ``quote_plus``), base64 (standard and
URL-safe, at each of the three alignments it can have inside a longer base64 string, as in a Basic
``Authorization`` header of ``user:secret``) and JSON-escaped.  Percent-encoding is masked with
upper- and lowercase hex digits (``%2F`` and ``%2f``), JSON with and without a backslash before
``/`` and with non-ASCII escaped or not.
"""
from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

MASK = "********"
_MIN_LEN = 4  # shorter values would mask ordinary words
_PERCENT = re.compile(r"%[0-9A-F]{2}")

_lock = threading.Lock()
_forms: set[str] = set()
_values: set[str] = set()
_ordered: tuple[str, ...] = ()  # _forms, longest first (a form inside a longer one goes second)


def _b64_forms(raw: bytes) -> set[str]:
    """Base64 substrings that appear whenever ``raw`` is encoded inside a longer byte string."""
    forms: set[str] = set()
    for offset in range(3):
        padded = b"\0" * offset + raw
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            enc = encode(padded).decode("ascii").rstrip("=")
            # keep the characters whose six bits all come from ``raw``
            start = -(-4 * offset // 3)
            end = 4 * len(padded) // 3
            if end - start >= _MIN_LEN:
                forms.add(enc[start:end])
    return forms


def forms_of(value: str) -> set[str]:
    """Every textual form of ``value`` that is masked."""
    # (bytes that were not UTF-8 reach Python as surrogates: encoded back as they came)
    enc = {"encoding": "utf-8", "errors": "surrogateescape"}
    encoded = {quote(value, safe="", **enc), quote_plus(value, safe="", **enc), quote(value, **enc)}
    # percent-encoding's hex digits may be written in lowercase (%2f, as Go and JavaScript do)
    encoded |= {_PERCENT.sub(lambda m: m.group(0).lower(), form) for form in encoded}
    forms = {value, *encoded}
    for ascii_only in (True, False):  # JSON, with non-ASCII as \uXXXX or as it is
        text = json.dumps(value, ensure_ascii=ascii_only)[1:-1]
        forms |= {text, text.replace("/", "\\/")}  # '/' may be escaped as '\/' (PHP, Java)
    forms |= _b64_forms(value.encode("utf-8", "surrogateescape"))
    return {f for f in forms if len(f) >= _MIN_LEN}


def register(value: str | None) -> None:
    """Register a secret value: it is masked from here on in every output of the process."""
    global _ordered
    if not value or len(value) < _MIN_LEN:
        return
    with _lock:
        if value in _values:
            return
        _values.add(value)
        _forms.update(forms_of(value))
        # a multi-line secret (an SSH key) is also masked line by line
        for line in value.splitlines():
            line = line.strip()
            if len(line) >= 8 and line != value:
                _values.add(line)
                _forms.update(forms_of(line))
        _ordered = tuple(sorted(_forms, key=len, reverse=True))


def register_assigned(items: Iterable[str] | None, public: Iterable[str | None] = ()) -> None:
    """Register what may hold a secret in ``name=value`` items (build arguments, Terraform
    variables, options such as ``-var=name=value``): each item whole, each part after an ``=``,
    and the value itself when it may be a secret (:func:`_may_be_secret`: not a number or a
    boolean, and at least 8 characters).  An item whose value is in ``public`` (the step's own
    commit, branch or tag, shown in every log and never secret) is left out."""
    shown = {p for p in public if p}
    for item in items or []:
        parts = [item]
        rest = item
        while "=" in rest:
            rest = rest.split("=", 1)[1]
            parts.append(rest)
        if parts[-1] in shown:
            continue
        for part in parts[:-1]:
            register(part)
        if _may_be_secret(parts[-1]):
            register(parts[-1])


# a value given as name=value that is a number, a boolean or shorter than this is taken for
# configuration (replicas=3, region=nyc3, debug=true): masking it would hide every "3", "nyc3" or
# "true" in the log; the whole "name=value" is still masked
_ASSIGNED_MIN_LEN = 8
_PLAIN = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?|true|false|yes|no|on|off|null", re.IGNORECASE)


def _may_be_secret(value: str) -> bool:
    return len(value) >= _ASSIGNED_MIN_LEN and not _PLAIN.fullmatch(value)


def clear() -> None:
    """Forget every secret (tests only)."""
    global _ordered
    with _lock:
        _forms.clear()
        _values.clear()
        _ordered = ()


def mask(text: str) -> str:
    """Return ``text`` with every registered secret form replaced by ``********``."""
    forms = _ordered  # replaced whole on register, so this read needs no lock
    if not forms or not text:
        return text
    for form in forms:
        if form in text:
            text = text.replace(form, MASK)
    return text
