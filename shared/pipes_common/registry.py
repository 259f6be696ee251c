"""A small OCI distribution (Docker Registry v2) client on requests.

It follows the ``WWW-Authenticate`` challenge (Basic, or Bearer with realm/service/scope), checks
manifests with HEAD, reads digests, and adds a tag to an existing manifest by GET + PUT of the
manifest, without moving any layer.  Transient failures are retried by the shared session; a 401
re-authenticates once.
"""
from __future__ import annotations

import hashlib
import ipaddress
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from . import httpclient
from .log import get_logger

MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
ACCEPT = ", ".join(MANIFEST_TYPES)
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
HOST_VARIABLE = "REGISTRY_HOST"
RETRY_BUDGET = 30.0  # seconds: the most one registry request waits for retries of 429/5xx answers


class RegistryError(httpclient.ApiError):
    """A registry failure; ``kind`` is ``unreachable``, ``auth``, ``denied`` or ``protocol``;
    ``write`` is true when the request refused was a write (a manifest PUT), not a read."""

    def __init__(self, message: str, kind: str, status: int | None = None, *,
                 write: bool = False) -> None:
        super().__init__(message, status)
        self.kind = kind
        self.write = write


@dataclass(frozen=True)
class Challenge:
    scheme: str
    params: dict[str, str]


_PARAM = re.compile(r'([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))')


def parse_challenge(header: str) -> Challenge | None:
    """Parse one ``WWW-Authenticate`` header value (the first challenge in it)."""
    header = header.strip()
    if not header:
        return None
    scheme, _, rest = header.partition(" ")
    params = {m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3) or "")
              for m in _PARAM.finditer(rest)}
    return Challenge(scheme.lower(), params)


@dataclass(frozen=True)
class ManifestRef:
    digest: str
    media_type: str
    size: int


_LINK = re.compile(r"\s*<([^>]*)>((?:\s*;\s*[^;,=\s]+(?:\s*=\s*(?:\"[^\"]*\"|[^;,\s]*))?)*)\s*(?:,|$)")
_LINK_PARAM = re.compile(r";\s*([^;,=\s]+)(?:\s*=\s*(?:\"([^\"]*)\"|([^;,\s]*)))?")


def next_link(header: str) -> str | None:
    """The target of the first link whose ``rel`` has ``next`` in a ``Link`` header (RFC 8288:
    ``<target>; rel="next", <other>; rel=prev``), as written; None when there is none.  A header
    that is not a list of links is None too (the list ends there)."""
    pos = 0
    while pos < len(header):
        match = _LINK.match(header, pos)
        if match is None or match.end() == pos:
            return None
        pos = match.end()
        for param in _LINK_PARAM.finditer(match.group(2)):
            if param.group(1).lower() != "rel":
                continue
            rels = (param.group(2) if param.group(2) is not None else param.group(3) or "")
            if "next" in rels.lower().split():
                return match.group(1)
            break  # only the first rel parameter counts (RFC 8288 3.3)
    return None


def digest_of(data: bytes) -> str:
    """The content digest of ``data`` as registries name blobs and manifests (``sha256:<hex>``)."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def shown(text: str, limit: int = 80) -> str:
    """``text`` from a server, for a message: printable, at most ``limit`` characters."""
    clean = "".join(c if c.isprintable() else "?" for c in text[:limit])
    return clean + ("…" if len(text) > limit else "")


def is_loopback(host: str) -> bool:
    """Whether ``host[:port]`` names this machine (such registries are spoken to over plain HTTP)."""
    if host.startswith("["):
        name = host[1:].split("]", 1)[0]
    elif host.count(":") == 1:
        name = host.split(":", 1)[0]
    else:
        name = host
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class RegistryClient:
    """Client of one registry host for one set of credentials."""

    def __init__(self, host: str, username: str | None = None, password: str | None = None, *,
                 session: requests.Session | None = None, timeout: float = 60.0,
                 variable: str = HOST_VARIABLE) -> None:
        scheme = "http" if is_loopback(host) else "https"
        self.host = host
        self.base = f"{scheme}://{host}"
        self._api = httpclient.Endpoint(self.base, service=f"the registry {host}",
                                        variable=variable, session=session, timeout=timeout,
                                        budget=RETRY_BUDGET)
        self._creds = (username, password) if username and password else None
        self._tokens: dict[str, str] = {}
        self._basic = False
        self.log = get_logger()

    # -- authentication -------------------------------------------------------------------
    def _headers(self, scope: str, extra: dict[str, str] | None) -> dict[str, str]:
        headers = dict(extra or {})
        token = self._tokens.get(scope)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def _authenticate(self, challenge: Challenge | None, scope: str) -> None:
        if challenge is None:
            raise RegistryError(f"Registry {self.host} asked for authentication without saying how "
                                "(no WWW-Authenticate header)", "protocol", 401)
        if challenge.scheme == "basic":
            if not self._creds:
                raise RegistryError(f"Registry {self.host} needs credentials and none were given",
                                    "auth", 401)
            self._basic = True
            return
        if challenge.scheme != "bearer" or "realm" not in challenge.params:
            raise RegistryError(f"Registry {self.host} uses an unsupported authentication scheme "
                                f"'{challenge.scheme}'", "protocol", 401)
        realm = challenge.params["realm"]
        realm_host = realm.split("://", 1)[-1].split("/", 1)[0]
        if self._creds and not realm.startswith("https://") and not is_loopback(realm_host):
            raise RegistryError(f"Registry {self.host} sends credentials to a token service over plain "
                                f"HTTP ({realm_host}); refusing to send them", "protocol", 401)
        params: dict[str, str] = {}
        if challenge.params.get("service"):
            params["service"] = challenge.params["service"]
        wanted = challenge.params.get("scope") or scope
        if wanted:
            params["scope"] = wanted
        try:
            resp = self._api.session.get(realm, params=params, auth=self._creds,
                                         timeout=self._api.timeout)
        except requests.RequestException as err:
            raise RegistryError(f"Token service {realm_host} of {self.host} is unreachable "
                                f"({httpclient.reason(err)})", "unreachable") from None
        if resp.status_code in (401, 403):
            raise RegistryError(f"Registry {self.host} rejected the credentials "
                                f"(token service answered {resp.status_code})", "auth",
                                resp.status_code)
        if not resp.ok:
            raise RegistryError(f"Token service of {self.host} answered {resp.status_code}",
                                "protocol", resp.status_code)
        body: dict[str, Any] = resp.json()
        token = body.get("token") or body.get("access_token")
        if not token:
            raise RegistryError(f"Token service of {self.host} returned no token", "protocol")
        self._tokens[scope] = str(token)

    def request(self, method: str, path: str, *, scope: str = "",
                headers: dict[str, str] | None = None, data: bytes | None = None,
                stream: bool = False) -> requests.Response:
        """Send a request to ``/v2/...``, authenticating on the first 401 and once more after it."""
        challenge: Challenge | None = None
        for attempt in range(2):
            auth = self._creds if self._basic else None
            try:
                resp = self._api.send(method, path, headers=self._headers(scope, headers),
                                      data=data, auth=auth, stream=stream, allow_redirects=True)
            except httpclient.Unreachable as err:
                raise RegistryError(err.message, "unreachable") from None
            if resp.status_code != 401:
                return resp
            challenge = parse_challenge(resp.headers.get("WWW-Authenticate", ""))
            if attempt == 1:
                break
            self._tokens.pop(scope, None)
            self._authenticate(challenge, scope)
        if challenge is not None and challenge.params.get("error") == "insufficient_scope":
            # a fresh token was issued but without the actions asked for: the account is known
            # and lacks the permission (token spec: 401 with error="insufficient_scope")
            # our own scope first: the registry's may list the actions in any order
            wanted = scope or challenge.params.get("scope")
            raise RegistryError(f"Registry {self.host} denied {wanted or 'the request'}: the "
                                "credentials are valid but lack the permission", "denied", 401,
                                write=method not in ("GET", "HEAD"))
        raise RegistryError(f"Registry {self.host} rejected the credentials (401)", "auth", 401)

    # -- API ----------------------------------------------------------------------------------
    @staticmethod
    def _scope(repo: str, push: bool = False) -> str:
        return f"repository:{repo}:{'pull,push' if push else 'pull'}"

    def _raise(self, resp: requests.Response, what: str, *, write: bool = False) -> None:
        if resp.status_code == 403:
            raise RegistryError(f"Registry {self.host} denied {what} (403): the credentials "
                                "lack the permission", "denied", 403, write=write)
        detail = ""
        try:
            errors = resp.json().get("errors") or []
            detail = "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors)
        except ValueError:
            pass
        kind = "denied" if "DENIED" in detail else "protocol"
        raise RegistryError(f"Registry {self.host} failed {what} ({resp.status_code})"
                            + (f": {detail}" if detail else ""), kind, resp.status_code,
                            write=write)

    def ping(self) -> None:
        """Check that the registry answers and the credentials are accepted."""
        resp = self.request("GET", "/v2/")
        if resp.status_code != 200:
            self._raise(resp, "the API version check")

    def head_manifest(self, repo: str, ref: str) -> ManifestRef | None:
        """The manifest's digest, type and size, or None when ``ref`` does not exist."""
        resp = self.request("HEAD", f"/v2/{repo}/manifests/{ref}", scope=self._scope(repo),
                            headers={"Accept": ACCEPT})
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            self._raise(resp, f"the check of {repo}:{ref}")
        digest = resp.headers.get("Docker-Content-Digest")
        if not digest:  # some registries omit it on HEAD; GET and hash
            _, _, digest = self.get_manifest(repo, ref)
        return ManifestRef(digest, resp.headers.get("Content-Type", ""),
                           int(resp.headers.get("Content-Length", "0") or 0))

    def get_manifest(self, repo: str, ref: str) -> tuple[bytes, str, str]:
        """``(body, media type, digest)`` of a manifest, exactly as stored."""
        resp = self.request("GET", f"/v2/{repo}/manifests/{ref}", scope=self._scope(repo),
                            headers={"Accept": ACCEPT})
        if resp.status_code != 200:
            self._raise(resp, f"reading the manifest {repo}:{ref}")
        body = resp.content
        digest = digest_of(body)
        return body, resp.headers.get("Content-Type", "").split(";")[0].strip(), digest

    def put_manifest(self, repo: str, ref: str, body: bytes, media_type: str) -> str:
        resp = self.request("PUT", f"/v2/{repo}/manifests/{ref}",
                            scope=self._scope(repo, push=True),
                            headers={"Content-Type": media_type}, data=body)
        if resp.status_code not in (200, 201, 202):
            self._raise(resp, f"writing the manifest {repo}:{ref}", write=True)
        return resp.headers.get("Docker-Content-Digest") or digest_of(body)

    def add_tag(self, repo: str, source_ref: str, tag: str) -> str:
        """Point ``tag`` at the manifest of ``source_ref`` (no layer traffic); return its digest."""
        body, media_type, _ = self.get_manifest(repo, source_ref)
        return self.put_manifest(repo, tag, body, media_type)

    def tags(self, repo: str) -> list[str] | None:
        """Every tag of ``repo`` (following pagination), or None when the repository is unknown."""
        found: list[str] = []
        path: str | None = f"/v2/{repo}/tags/list?n=1000"
        asked: set[str] = set()
        while path:
            if path in asked:  # a link back to a page already read: it would never end
                raise RegistryError(f"Registry {self.host} sent a next-page link of the tags of "
                                    f"{repo} back to a page already read ({shown(path)})",
                                    "protocol")
            asked.add(path)
            resp = self.request("GET", path, scope=self._scope(repo))
            if resp.status_code == 404:
                return None
            if resp.status_code != 200:
                self._raise(resp, f"listing the tags of {repo}")
            found.extend(resp.json().get("tags") or [])
            path = self._next_page(resp.url or urljoin(self.base, path),
                                   resp.headers.get("Link", ""), repo)
        return found

    def _next_page(self, current: str, header: str, repo: str) -> str | None:
        """The path and query of the ``rel="next"`` link of a tag list (RFC 8288: a reference
        resolved against the URL asked), or None.  A link to another scheme, host or port, or to
        another repository's tag list, is refused: the credentials go with it."""
        target = next_link(header)
        if target is None:
            return None
        url = urlsplit(urljoin(current, target))
        here = urlsplit(self.base)
        default = {"http": 80, "https": 443}
        try:
            same = (url.scheme == here.scheme and url.hostname == here.hostname
                    and (url.port or default.get(url.scheme)) == (here.port or default[here.scheme]))
        except ValueError:  # a port that is not a number
            same = False
        if not same or url.path != f"/v2/{repo}/tags/list" or url.username or url.password:
            raise RegistryError(f"Registry {self.host} sent a next-page link of the tags of {repo} "
                                f"that leads elsewhere ({shown(target)}): refusing to follow it "
                                "with the credentials", "protocol")
        return url.path + (f"?{url.query}" if url.query else "")

    def image_labels(self, repo: str, ref: str) -> dict[str, str]:
        """The labels in the image config of ``ref``; for an index, of its first image that is not
        an attestation (every platform of one build carries the same labels)."""
        body, _, _ = self.get_manifest(repo, ref)
        try:
            doc = json.loads(body)
            if isinstance(doc.get("manifests"), list):
                images = [m for m in doc["manifests"]
                          if (m.get("platform") or {}).get("os") != "unknown"]
                if not images:
                    return {}
                body, _, _ = self.get_manifest(repo, str(images[0]["digest"]))
                doc = json.loads(body)
            config_digest = (doc.get("config") or {}).get("digest")
            if not config_digest:
                return {}
            config = json.loads(self.get_blob(repo, str(config_digest)))
            labels = (config.get("config") or {}).get("Labels") or {}
        except (ValueError, AttributeError, KeyError, TypeError):
            raise RegistryError(f"Registry {self.host} returned an image manifest or config of "
                                f"{repo}:{ref} that is not valid JSON of the OCI format",
                                "protocol") from None
        return {str(k): str(v) for k, v in labels.items()}

    def get_blob(self, repo: str, digest: str) -> bytes:
        resp = self.request("GET", f"/v2/{repo}/blobs/{digest}", scope=self._scope(repo))
        if resp.status_code != 200:
            self._raise(resp, f"reading the blob {digest}")
        return resp.content

    def referrers(self, repo: str, digest: str) -> list[dict[str, Any]]:
        """The descriptors of the manifests that name ``digest`` as their subject (OCI 1.1
        referrers API, the first page); none when the registry does not implement the API
        (CNCF distribution 2.8 answers 404)."""
        resp = self.request("GET", f"/v2/{repo}/referrers/{digest}", scope=self._scope(repo),
                            headers={"Accept": "application/vnd.oci.image.index.v1+json"})
        if resp.status_code == 404:
            return []
        if resp.status_code != 200:
            self._raise(resp, f"listing the referrers of {repo}@{digest}")
        try:
            manifests = resp.json().get("manifests") or []
        except (ValueError, AttributeError):
            raise RegistryError(f"Registry {self.host} answered the referrers of {repo}@{digest} "
                                "with something that is not an OCI image index", "protocol") from None
        if not isinstance(manifests, list):
            raise RegistryError(f"Registry {self.host} answered the referrers of {repo}@{digest} "
                                "with something that is not an OCI image index", "protocol")
        return [m for m in manifests if isinstance(m, dict)]

    # -- writing artefacts (signatures, attestations) -------------------------------------------
    def upload_blob(self, repo: str, data: bytes) -> str:
        """Store ``data`` as a blob of ``repo``; return its digest: a POST opens an upload, one
        PUT to its location sends the whole content (distribution 2.8 answers a POST that carries
        the content with a session too, so it is not tried).  The location must stay on this
        host: the credentials go with it."""
        digest = digest_of(data)
        scope = self._scope(repo, push=True)
        start = f"/v2/{repo}/blobs/uploads/"
        resp = self.request("POST", start, scope=scope, data=b"")
        if resp.status_code != 202:
            self._raise(resp, f"starting an upload to {repo}", write=True)
        location = resp.headers.get("Location", "")
        url = urlsplit(urljoin(resp.url or self.base + start, location))
        here = urlsplit(self.base)
        if (not location or url.scheme != here.scheme or url.netloc != here.netloc
                or not url.path.startswith(start)):
            raise RegistryError(f"Registry {self.host} gave an upload location elsewhere "
                                f"({shown(location)}): refusing to send the credentials there",
                                "protocol", write=True)
        query = "&".join(q for q in url.query.split("&") if q and not q.startswith("digest="))
        resp = self.request("PUT", f"{url.path}?{query + '&' if query else ''}digest={digest}",
                            scope=scope, data=data,
                            headers={"Content-Type": "application/octet-stream"})
        if resp.status_code not in (201, 204):
            self._raise(resp, f"uploading the blob {digest} to {repo}", write=True)
        return digest

    def find_manifest(self, repo: str, ref: str) -> tuple[bytes, str, str] | None:
        """:meth:`get_manifest`, or None when ``ref`` does not exist."""
        resp = self.request("GET", f"/v2/{repo}/manifests/{ref}", scope=self._scope(repo),
                            headers={"Accept": ACCEPT})
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            self._raise(resp, f"reading the manifest {repo}:{ref}")
        body = resp.content
        digest = digest_of(body)
        return body, resp.headers.get("Content-Type", "").split(";")[0].strip(), digest

    def put_oci_manifest(self, repo: str, ref: str, manifest: dict[str, Any]) -> str:
        """Write an OCI image manifest (compact JSON) under ``ref``; return its digest."""
        body = json.dumps(manifest, separators=(",", ":")).encode()
        return self.put_manifest(repo, ref, body, OCI_MANIFEST)

