"""The S3 API of Spaces, for what Terraform does not do itself: the probe and the saved plans.

Four object calls (GET, PUT - optionally conditional -, DELETE) on the retrying session of the
shared library, signed with SigV4.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from pipes_common import httpclient, secrets
from pipes_common.errors import PipeError

from . import sigv4
from .settings import Settings


@dataclass(frozen=True)
class S3Object:
    key: str
    body: bytes
    etag: str


class PreconditionFailed(Exception):
    """A conditional write found the object already there (HTTP 412 or 409)."""


def _error_code(body: bytes) -> str:
    match = re.search(rb"<Code>([^<]+)</Code>", body)
    return match.group(1).decode("utf-8", "replace") if match else ""


class Spaces:
    def __init__(self, s: Settings, timeout: float = 60.0) -> None:
        secrets.register(s.access_key)
        secrets.register(s.secret_key)
        self.bucket = s.bucket
        self.endpoint = s.endpoint
        self._access_key = s.access_key
        self._secret_key = s.secret_key
        url = urlsplit(s.endpoint)
        self._scheme = url.scheme
        if s.path_style:
            self._host, self._prefix = url.netloc, f"/{s.bucket}"
        else:
            self._host, self._prefix = f"{s.bucket}.{url.netloc}", ""
        self._session = httpclient.session(retries=4)
        self._timeout = timeout

    def _request(self, method: str, key: str, body: bytes = b"",
                 headers: dict[str, str] | None = None) -> requests.Response:
        path = sigv4.uri_encode_path(f"{self._prefix}/{key}")
        signed = sigv4.sign(method, self._host, path, {}, headers or {}, body,
                            self._access_key, self._secret_key)
        try:
            return self._session.request(method, f"{self._scheme}://{self._host}{path}",
                                         data=body or None, headers=signed, timeout=self._timeout,
                                         allow_redirects=False)
        except requests.RequestException as err:
            raise PipeError(f"Spaces at {self.endpoint} is unreachable while {method} {key} "
                            f"({type(err).__name__}): check SPACES_REGION/SPACES_ENDPOINT "
                            "and the network") from None

    def _fail(self, resp: requests.Response, what: str) -> PipeError:
        code = _error_code(resp.content)
        status = resp.status_code
        if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch") or status == 401:
            return PipeError(f"Spaces rejected the keys while {what} ({code or status}): check "
                             "SPACES_ACCESS_KEY_ID and SPACES_SECRET_ACCESS_KEY")
        if code == "NoSuchBucket":
            return PipeError(f"SPACES_BUCKET: the Space '{self.bucket}' does not exist at "
                             f"{self.endpoint}: create it or fix SPACES_BUCKET/SPACES_REGION")
        if code == "AccessDenied" or status == 403:
            return PipeError(f"Spaces denied access while {what} (403): give the key read/write "
                             f"access to the Space '{self.bucket}'")
        return PipeError(f"Spaces answered {status} {code} while {what}")

    def get(self, key: str) -> S3Object | None:
        resp = self._request("GET", key)
        if resp.status_code == 404 and _error_code(resp.content) in ("NoSuchKey", ""):
            return None
        if resp.status_code != 200:
            raise self._fail(resp, f"reading {key}")
        return S3Object(key, resp.content, resp.headers.get("ETag", ""))

    def put(self, key: str, body: bytes, *, if_none_match: bool = False,
            content_type: str = "application/octet-stream") -> str:
        """Write ``key``; with ``if_none_match`` only when it does not exist yet (else raises
        :class:`PreconditionFailed`).  Returns the ETag."""
        headers = {"content-type": content_type}
        if if_none_match:
            headers["if-none-match"] = "*"
        resp = self._request("PUT", key, body, headers)
        if if_none_match and (resp.status_code in (409, 412) or _error_code(resp.content) in
                              ("PreconditionFailed", "ConditionalRequestConflict")):
            raise PreconditionFailed(key)
        if resp.status_code != 200:
            raise self._fail(resp, f"writing {key}")
        return resp.headers.get("ETag", "")

    def delete(self, key: str) -> None:
        resp = self._request("DELETE", key)
        if resp.status_code not in (200, 204, 404):
            raise self._fail(resp, f"deleting {key}")
