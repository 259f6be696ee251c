"""An S3 API on loopback for the Terraform tests: moto's server (state, lock files, saved plans).

moto (>= 5.0.x) honours ``If-None-Match: *`` on PutObject with a 412, which is what Terraform's
``use_lockfile`` and the pipe's locking probe rely on; :func:`conditional_writes_honoured` checks
it at start so a moto that ignores it fails loudly instead of making the lock tests meaningless.

``HeaderStrippingProxy`` stands in for a store that ignores conditional writes: a loopback
reverse proxy that drops ``If-None-Match`` (and ``If-Match``) before forwarding to the real server.
With ``strip=()`` it forwards everything and only records the requests (which carried the header).
"""
from __future__ import annotations

import http.client
import shutil
import sys
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from .httpserve import LoopbackHTTPServer, LoopbackService, QuietHandler
from .net import free_port, wait_port
from .procs import Background

ACCESS_KEY = "testbed-unused"  # moto does not check keys; tests pass canaries through the pipe


def client(endpoint: str, access_key: str = ACCESS_KEY, secret_key: str = ACCESS_KEY) -> Any:
    return boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        config=Config(s3={"addressing_style": "path"}, request_checksum_calculation="when_required",
                      response_checksum_validation="when_required"))


def conditional_writes_honoured(s3: Any, bucket: str) -> bool:
    key = "testbed/conditional-write-check"
    s3.put_object(Bucket=bucket, Key=key, Body=b"1", IfNoneMatch="*")
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=b"2", IfNoneMatch="*")
        return False
    except ClientError as err:
        return bool(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 412)
    finally:
        s3.delete_object(Bucket=bucket, Key=key)


class MotoS3:
    """``with MotoS3() as s3:`` runs ``moto_server`` on a free loopback port; ``s3.url``."""

    def __init__(self, workdir: Path | None = None) -> None:
        self._workdir = workdir
        self.port = 0
        self.url = ""
        self.root: Path | None = None
        self._proc: Background | None = None

    def __enter__(self) -> MotoS3:
        self.root = Path(tempfile.mkdtemp(prefix="dopipes-moto-", dir=self._workdir))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        exe = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or "moto_server"
        self._proc = Background([exe, "-H", "127.0.0.1", "-p", str(self.port)],
                                log=self.root / "moto.log")
        self._proc.__enter__()
        try:
            wait_port(self.port, timeout=60)
        except TimeoutError:
            tail = self._proc.log_tail()
            self.__exit__(None, None, None)
            raise RuntimeError(f"moto_server did not start:\n{tail}") from None
        self.client = client(self.url)
        self.client.create_bucket(Bucket="testbed-check")
        if not conditional_writes_honoured(self.client, "testbed-check"):
            self.__exit__(None, None, None)
            raise RuntimeError("this moto ignores If-None-Match on PutObject: the locking tests "
                               "need moto >= 5.0 (see requirements-dev.txt)")
        return self

    def create_bucket(self, name: str) -> str:
        self.client.create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str) -> list[str]:
        found: list[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            found += [item["Key"] for item in page.get("Contents") or []]
        return found

    def objects(self, bucket: str) -> dict[str, bytes]:
        """Every object of ``bucket``: key -> body (an object deleted meanwhile is left out)."""
        found: dict[str, bytes] = {}
        for key in self.keys(bucket):
            try:
                found[key] = self.client.get_object(Bucket=bucket, Key=key)["Body"].read()
            except ClientError as err:
                if err.response.get("Error", {}).get("Code") != "NoSuchKey":
                    raise
        return found

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._proc is not None:
            self._proc.stop()
            self._proc = None
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None


_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer",
        "upgrade"}


class _ProxyHandler(QuietHandler):
    server: _ProxyServer
    protocol_version = "HTTP/1.1"

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in _HOP and k.lower() not in self.server.strip}
        target = urlsplit(self.server.upstream)
        conn = http.client.HTTPConnection(target.hostname or "127.0.0.1", target.port, timeout=60)
        try:
            conn.request(self.command, self.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        finally:
            conn.close()
        self.server.seen.append((self.command, self.path))
        if self.headers.get("If-None-Match"):
            self.server.conditional.append((self.command, self.path))
        self.send_response(resp.status, resp.reason)
        for key, value in resp.getheaders():
            if key.lower() not in _HOP and key.lower() != "content-length":
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward


class _ProxyServer(LoopbackHTTPServer):
    upstream: str
    strip: frozenset[str]
    seen: list[tuple[str, str]]
    conditional: list[tuple[str, str]]  # the requests that came with If-None-Match


class HeaderStrippingProxy(LoopbackService[_ProxyServer]):
    """``with HeaderStrippingProxy(upstream) as p:`` forwards ``p.url`` to ``upstream`` minus the
    conditional-write headers, like an S3-compatible store that ignores them."""

    def __init__(self, upstream: str, strip: tuple[str, ...] = ("if-none-match", "if-match")) -> None:
        self.upstream = upstream
        self.strip = frozenset(h.lower() for h in strip)
        self.url = ""

    @property
    def seen(self) -> list[tuple[str, str]]:
        assert self._server is not None
        return self._server.seen

    @property
    def conditional(self) -> list[tuple[str, str]]:
        """``(method, path)`` of the requests that came with ``If-None-Match``."""
        assert self._server is not None
        return self._server.conditional

    def _new_server(self) -> _ProxyServer:
        server = _ProxyServer(_ProxyHandler)
        server.upstream = self.upstream
        server.strip = self.strip
        server.seen = []
        server.conditional = []
        self.url = server.url
        return server
