"""The S3 API of Spaces, for what Terraform does not do itself: the probe and the saved plans.

Three object calls (GET, PUT - optionally conditional -, DELETE) through botocore's S3 client (the
AWS SDK's core; boto3's resource layer and s3transfer are not needed for three calls): its
SigV4 signing, path-style or virtual-host addressing against the configured endpoint, retries of
transient failures (standard mode), and a Content-MD5 on every PUT so that the store refuses a body
damaged on the way.  Checksums stay "when required", as for Terraform (:mod:`backend`): the newer
default ones are what S3-compatible stores reject.

Keys are sent as given, percent-encoded and never normalised (``a/../b`` is that key, not ``b``).
"""
from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any

import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, HTTPClientError
from pipes_common import secrets
from pipes_common.errors import PipeError

from .settings import Settings

SIGNING_REGION = "us-east-1"  # Spaces ignores it; SigV4 needs one (the same as Terraform's)
MAX_ATTEMPTS = 4  # the first try and three retries of a transient failure (5xx, 429, reset)
CONNECT_TIMEOUT = 10.0  # seconds; the endpoint was reached once before (pipes_common.reach)
READ_TIMEOUT = 60.0  # seconds of silence in one answer
REFUSED = frozenset({"PreconditionFailed", "ConditionalRequestConflict"})


@dataclass(frozen=True)
class S3Object:
    key: str
    body: bytes
    etag: str


class PreconditionFailed(Exception):
    """A conditional write found the object already there (HTTP 412 or 409)."""


def _status(err: ClientError) -> int:
    return int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)


def _code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code") or "")


def _retried(err: ClientError) -> bool:
    return bool(err.response.get("ResponseMetadata", {}).get("RetryAttempts"))


def _config(timeout: float = READ_TIMEOUT) -> Config:
    return Config(
        signature_version="s3v4",
        retries={"mode": "standard", "max_attempts": MAX_ATTEMPTS},
        connect_timeout=min(timeout, CONNECT_TIMEOUT), read_timeout=timeout,
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )


class Spaces:
    def __init__(self, s: Settings, timeout: float = READ_TIMEOUT,
                 session: botocore.session.Session | None = None) -> None:
        secrets.register(s.access_key)
        secrets.register(s.secret_key)
        self.bucket = s.bucket
        self.endpoint = s.endpoint
        config = _config(timeout).merge(
            Config(s3={"addressing_style": "path" if s.path_style else "virtual"}))
        try:  # a session of its own: a shared default one is not safe between threads
            self._client: Any = (session or botocore.session.Session()).create_client(
                "s3", endpoint_url=s.endpoint, region_name=SIGNING_REGION,
                aws_access_key_id=s.access_key, aws_secret_access_key=s.secret_key,
                config=config)
        except BotoCoreError as err:  # e.g. an AWS_PROFILE in the environment naming no profile
            raise _client_error(err, f"setting up the S3 client for {s.endpoint}") from None

    def _call(self, operation: str, key: str, **params: Any) -> dict[str, Any]:
        try:
            result: dict[str, Any] = getattr(self._client, operation)(
                Bucket=self.bucket, Key=key, **params)
            return result
        except (ConnectionError, HTTPClientError) as err:
            raise PipeError(f"Spaces at {self.endpoint} is unreachable while {_VERBS[operation]} "
                            f"{key} ({type(err).__name__}): check SPACES_REGION/SPACES_ENDPOINT "
                            "and the network") from None
        except BotoCoreError as err:  # an error of the client itself: its configuration, its checks
            raise _client_error(err, f"{_VERBS[operation]} {key}") from None

    def _fail(self, err: ClientError, what: str) -> PipeError:
        code, status = _code(err), _status(err)
        if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch") or status == 401:
            return PipeError(f"Spaces rejected the keys while {what} ({code or status}): check "
                             "SPACES_ACCESS_KEY_ID and SPACES_SECRET_ACCESS_KEY")
        if code == "NoSuchBucket":
            return PipeError(f"SPACES_BUCKET: the Space '{self.bucket}' does not exist at "
                             f"{self.endpoint}: create it or fix SPACES_BUCKET/SPACES_REGION")
        if code == "AccessDenied" or status == 403:
            return PipeError(f"Spaces denied access while {what} ({code or status}): give the key "
                             f"SPACES_ACCESS_KEY_ID read, write and delete access to the Space '{self.bucket}'")
        return PipeError(f"Spaces answered {status} {code} while {what}")

    def get(self, key: str) -> S3Object | None:
        try:
            resp = self._call("get_object", key)
            body: bytes = resp["Body"].read()
        except ClientError as err:
            if _status(err) == 404 and _code(err) in ("NoSuchKey", "404", ""):
                return None
            raise self._fail(err, f"reading {key}") from None
        except (ConnectionError, HTTPClientError) as err:  # the body broke off
            raise PipeError(f"Spaces at {self.endpoint} is unreachable while reading {key} "
                            f"({type(err).__name__}): check SPACES_REGION/SPACES_ENDPOINT and "
                            "the network") from None
        return S3Object(key, body, str(resp.get("ETag", "")))

    def get_json(self, key: str) -> dict[str, Any] | None:
        """The JSON object stored at ``key``; None when there is none or it is not a JSON
        object."""
        obj = self.get(key)
        if obj is None:
            return None
        try:
            doc = json.loads(obj.body)
        except ValueError:
            return None
        return doc if isinstance(doc, dict) else None

    def put(self, key: str, body: bytes, *, if_none_match: bool = False,
            content_type: str = "application/octet-stream") -> str:
        """Write ``key``; with ``if_none_match`` only when it does not exist yet (else raises
        :class:`PreconditionFailed`).  Returns the ETag.

        A conditional write that was retried (its first answer was lost or a 5xx) and is then
        refused may have been refused because of its own first attempt: the object is read back,
        and only an object with exactly ``body`` counts as ours.  Callers make bodies unique
        where it matters (the claim carries a random token, the probe's two writes differ)."""
        params: dict[str, Any] = {
            "Body": body, "ContentType": content_type,
            "ContentMD5": base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode("ascii"),
        }
        if if_none_match:
            params["IfNoneMatch"] = "*"
        try:
            resp = self._call("put_object", key, **params)
        except ClientError as err:
            if if_none_match and (_status(err) in (409, 412) or _code(err) in REFUSED):
                if _retried(err):
                    mine = self.get(key)
                    if mine is not None and mine.body == body:
                        return mine.etag
                raise PreconditionFailed(key) from None
            raise self._fail(err, f"writing {key}") from None
        return str(resp.get("ETag", ""))

    def delete(self, key: str) -> None:
        try:
            self._call("delete_object", key)
        except ClientError as err:
            if _status(err) != 404 or _code(err) == "NoSuchBucket":
                raise self._fail(err, f"deleting {key}") from None


_VERBS = {"get_object": "GET", "put_object": "PUT", "delete_object": "DELETE"}


def _client_error(err: BotoCoreError, what: str) -> PipeError:
    """An error of botocore itself (its configuration, not an answer of Spaces) as one line."""
    return PipeError(f"The S3 client failed while {what} ({type(err).__name__}): check "
                     "SPACES_ENDPOINT, and that no AWS_* variable given to the pipe (AWS_PROFILE, "
                     "AWS_CONFIG_FILE...) changes how it connects")
