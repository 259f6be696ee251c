"""A loopback front that gives a registry the OCI 1.1 referrers API it lacks.

Distribution 2.8 (Debian's ``docker-registry``) answers ``GET /v2/<name>/referrers/<digest>`` with
404; registries of OCI distribution 1.1 index every manifest pushed with a ``subject`` and list
them there.  This front forwards every request to the real registry unchanged (the ``Host``
header kept, so upload locations lead back to the front) and does what such a registry does:
each manifest put through it that names a ``subject`` is remembered, and the referrers of a
digest are answered as an OCI image index of their descriptors (with ``artifactType``), and the
``OCI-Subject`` header on the put.  So cosign's ``--registry-referrers-mode=oci-1-1`` writes
through it as to a registry of its own kind.
"""
from __future__ import annotations

import json
import re
from typing import Any

import requests

from .httpserve import LoopbackHTTPServer, LoopbackService, QuietHandler
from .oci import digest_of

_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding"}
_REFERRERS = re.compile(r"^/v2/(?P<repo>.+)/referrers/(?P<digest>sha256:[0-9a-f]{64})$")
_MANIFEST = re.compile(r"^/v2/(?P<repo>.+)/manifests/[^/]+$")
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


class _Handler(QuietHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def _forward(self) -> None:
        front = self.server.front
        front.requests.append((self.command, self.path))
        path = self.path.split("?", 1)[0]
        referrers = _REFERRERS.match(path)
        if self.command == "GET" and referrers is not None:
            self._referrers(referrers["repo"], referrers["digest"])
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
        upstream = requests.request(self.command, f"http://{front.upstream}{self.path}",
                                    headers=headers, data=body, allow_redirects=False, timeout=60)
        manifest = _MANIFEST.match(path)
        extra: dict[str, str] = {}
        if self.command == "PUT" and manifest is not None and upstream.status_code == 201 and body:
            subject = front.remember(manifest["repo"], body, self.headers.get("Content-Type", ""))
            if subject:
                extra["OCI-Subject"] = subject
        self.send_response(upstream.status_code)
        for key, value in upstream.headers.items():
            if key.lower() not in _HOP:
                self.send_header(key, value)
        for key, value in extra.items():
            self.send_header(key, value)
        content = upstream.content
        length_out = upstream.headers.get("Content-Length", "0") if self.command == "HEAD" \
            else str(len(content))
        self.send_header("Content-Length", length_out)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(content)

    def _referrers(self, repo: str, digest: str) -> None:
        """The referrers index, to a client the registry lets in (its credentials checked by the
        registry itself: a base request forwarded); otherwise the registry's challenge."""
        headers = {k: v for k, v in self.headers.items() if k.lower() == "authorization"}
        probe = requests.get(f"http://{self.server.front.upstream}/v2/", headers=headers, timeout=30)
        if probe.status_code != 200:
            self.send_json(probe.status_code, {"errors": [{"code": "UNAUTHORIZED"}]},
                           {"WWW-Authenticate": probe.headers.get("WWW-Authenticate", "")})
            return
        self.send_json(200, {"schemaVersion": 2, "mediaType": OCI_INDEX,
                             "manifests": self.server.front.index.get((repo, digest), [])})

    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _forward


class _Server(LoopbackHTTPServer):
    front: ReferrersFront


class ReferrersFront(LoopbackService[_Server]):
    """``with ReferrersFront(registry.host) as front:`` the registry with referrers on ``front.host``."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.requests: list[tuple[str, str]] = []
        self.index: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.host = ""

    def remember(self, repo: str, body: bytes, media_type: str) -> str | None:
        """Index a manifest put into ``repo`` under its subject; the subject's digest, or None."""
        try:
            doc = json.loads(body)
        except ValueError:
            return None
        subject = doc.get("subject") if isinstance(doc, dict) else None
        if not isinstance(subject, dict) or not isinstance(subject.get("digest"), str):
            return None
        descriptor: dict[str, Any] = {
            "mediaType": doc.get("mediaType") or media_type.split(";")[0],
            "digest": digest_of(body), "size": len(body)}
        artifact = doc.get("artifactType") or (doc.get("config") or {}).get("mediaType")
        if artifact:
            descriptor["artifactType"] = artifact
        if doc.get("annotations"):
            descriptor["annotations"] = doc["annotations"]
        listed = self.index.setdefault((repo, subject["digest"]), [])
        if descriptor not in listed:
            listed.append(descriptor)
        return str(subject["digest"])

    def _new_server(self) -> _Server:
        server = _Server(_Handler)
        server.front = self
        self.host = f"127.0.0.1:{server.port}"
        return server
