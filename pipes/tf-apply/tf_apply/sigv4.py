"""AWS Signature Version 4 for S3 requests (what Spaces and every S3-compatible store accept).

Small on purpose: the pipe makes a handful of object requests, and an SDK costs ~30 MB in the
image and a quarter of a second at every start.  The unit tests check the signatures against the
AWS SDK's own signer.
"""
from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import quote

ALGORITHM = "AWS4-HMAC-SHA256"


def uri_encode_path(path: str) -> str:
    """S3's canonical path: every byte but unreserved characters and '/' percent-encoded once."""
    return quote(path, safe="/-_.~")


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def signing_key(secret_key: str, date: str, region: str, service: str = "s3") -> bytes:
    key = _hmac(("AWS4" + secret_key).encode("utf-8"), date)
    key = _hmac(key, region)
    key = _hmac(key, service)
    return _hmac(key, "aws4_request")


def sign(method: str, host: str, path: str, query: Mapping[str, str], headers: Mapping[str, str],
         body: bytes, access_key: str, secret_key: str, region: str = "us-east-1",
         now: datetime | None = None) -> dict[str, str]:
    """The headers to send: ``headers`` plus ``host``, ``x-amz-date``, ``x-amz-content-sha256``
    and ``Authorization``.  ``path`` is the already encoded request path."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    date = stamp[:8]
    payload_hash = hashlib.sha256(body).hexdigest()
    out = {k: v for k, v in headers.items()}
    out["x-amz-date"] = stamp
    out["x-amz-content-sha256"] = payload_hash
    canonical_headers = {"host": host.strip()}
    for name, value in out.items():
        canonical_headers[name.lower()] = " ".join(str(value).split())
    signed = ";".join(sorted(canonical_headers))
    canonical_query = "&".join(
        f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(query.items()))
    canonical = "\n".join([
        method.upper(), path, canonical_query,
        "".join(f"{k}:{canonical_headers[k]}\n" for k in sorted(canonical_headers)),
        signed, payload_hash])
    scope = f"{date}/{region}/s3/aws4_request"
    to_sign = "\n".join([ALGORITHM, stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    signature = hmac.new(signing_key(secret_key, date, region), to_sign.encode(),
                         hashlib.sha256).hexdigest()
    out["Authorization"] = (f"{ALGORITHM} Credential={access_key}/{scope}, "
                            f"SignedHeaders={signed}, Signature={signature}")
    return out
