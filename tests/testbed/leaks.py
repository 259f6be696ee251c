"""Finding a secret in text, files and images in any of the forms it leaks in.

Independent of the pipes' own masker on purpose: raw, URL-encoded (hex digits in either case),
JSON-escaped with '\\/', and inside any base64 run
(every alignment, standard and URL-safe alphabets), as in a Basic auth header or a Docker config.
"""
from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import quote, quote_plus

_B64_RUN = re.compile(rb"[A-Za-z0-9+/_-]{12,}={0,2}")


def _decodes_to(run: bytes, secret: bytes) -> bool:
    run = run.rstrip(b"=")
    for alphabet in (None, b"-_"):
        for start in range(4):
            chunk = run[start:]
            chunk = chunk[: len(chunk) - len(chunk) % 4] if len(chunk) % 4 == 1 else chunk
            padded = chunk + b"=" * (-len(chunk) % 4)
            try:
                decoded = base64.b64decode(padded, altchars=alphabet, validate=False)
            except (binascii.Error, ValueError):
                continue
            if secret in decoded:
                return True
    return False


def _lower_hex(encoded: str) -> str:
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), encoded)


def found_in(data: bytes | str, secret: str) -> str | None:
    """The form in which ``secret`` appears in ``data``, or None."""
    raw = data.encode("utf-8", "replace") if isinstance(data, str) else data
    plain = secret.encode()
    url = quote(secret, safe="")
    for form, needle in (("raw", plain), ("url-encoded", url.encode()),
                         ("url-encoded-lowercase", _lower_hex(url).encode()),
                         ("form-encoded", quote_plus(secret).encode()),
                         ("json-escaped", json.dumps(secret)[1:-1].replace("/", "\\/").encode())):
        if needle in raw:
            return form
    for match in _B64_RUN.finditer(raw):
        if _decodes_to(match.group(0), plain):
            return "base64"
    return None


def scan_files(paths: Iterable[Path], secret: str) -> list[str]:
    """``path: form`` for every file below ``paths`` that holds the secret."""
    hits = []
    for root in paths:
        files = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
        for path in files:
            try:
                form = found_in(path.read_bytes(), secret)
            except OSError:
                continue
            if form:
                hits.append(f"{path}: {form}")
    return hits


def assert_absent(secret: str, *, text: str = "", paths: Iterable[Path] = ()) -> None:
    form = found_in(text, secret) if text else None
    assert form is None, f"secret leaked into the output ({form})"
    hits = scan_files(paths, secret)
    assert not hits, f"secret leaked into files: {hits}"
