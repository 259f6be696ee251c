"""The S3 API of Spaces, for what Terraform does not do itself: the probe and the saved plans."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from pipes_common.errors import PipeError

from .settings import Settings


@dataclass(frozen=True)
class S3Object:
    key: str
    body: bytes
    etag: str


class PreconditionFailed(Exception):
    """A conditional write found the object already there (HTTP 412 or 409)."""


class Spaces:
    def __init__(self, s: Settings) -> None:
        self.bucket = s.bucket
        self.endpoint = s.endpoint
        session = botocore.session.get_session()
        session.set_config_variable("credentials_file", "/dev/null")
        session.set_config_variable("config_file", "/dev/null")
        self._client: Any = session.create_client(
            "s3", region_name="us-east-1", endpoint_url=s.endpoint,
            aws_access_key_id=s.access_key, aws_secret_access_key=s.secret_key,
            config=Config(
                s3={"addressing_style": "path" if s.path_style else "virtual"},
                signature_version="s3v4",
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
                retries={"max_attempts": 5, "mode": "standard"},
                connect_timeout=10, read_timeout=60))

    def _fail(self, err: Exception, what: str) -> PipeError:
        if isinstance(err, ClientError):
            code = str(err.response.get("Error", {}).get("Code", ""))
            status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch") or status == 401:
                return PipeError(f"Spaces rejected the keys while {what} ({code}): check "
                                 "SPACES_ACCESS_KEY_ID and SPACES_SECRET_ACCESS_KEY")
            if code == "NoSuchBucket":
                return PipeError(f"SPACES_BUCKET: the Space '{self.bucket}' does not exist at "
                                 f"{self.endpoint}: create it or fix SPACES_BUCKET/SPACES_REGION")
            if code == "AccessDenied" or status == 403:
                return PipeError(f"Spaces denied access while {what} (403): give the key "
                                 f"read/write access to the Space '{self.bucket}'")
            return PipeError(f"Spaces answered {status} {code} while {what}")
        return PipeError(f"Spaces at {self.endpoint} is unreachable while {what} "
                         f"({type(err).__name__}): check SPACES_REGION/SPACES_ENDPOINT")

    def get(self, key: str) -> S3Object | None:
        try:
            resp = self._client.get_object(Bucket=self.bucket, Key=key)
            body: bytes = resp["Body"].read()
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise self._fail(err, f"reading {key}") from None
        except BotoCoreError as err:
            raise self._fail(err, f"reading {key}") from None
        return S3Object(key, body, str(resp.get("ETag", "")))

    def put(self, key: str, body: bytes, *, if_none_match: bool = False,
            content_type: str = "application/octet-stream") -> str:
        """Write ``key``; with ``if_none_match`` only when it does not exist yet (else raises
        :class:`PreconditionFailed`).  Returns the ETag."""
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": key, "Body": body,
                                  "ContentType": content_type}
        if if_none_match:
            kwargs["IfNoneMatch"] = "*"
        try:
            resp = self._client.put_object(**kwargs)
        except ClientError as err:
            status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            code = err.response.get("Error", {}).get("Code")
            if if_none_match and (status in (409, 412) or code in ("PreconditionFailed",
                                                                   "ConditionalRequestConflict")):
                raise PreconditionFailed(key) from None
            raise self._fail(err, f"writing {key}") from None
        except BotoCoreError as err:
            raise self._fail(err, f"writing {key}") from None
        return str(resp.get("ETag", ""))

    def delete(self, key: str) -> None:
        try:
            self._client.delete_object(Bucket=self.bucket, Key=key)
        except (ClientError, BotoCoreError) as err:
            raise self._fail(err, f"deleting {key}") from None
