"""A DigitalOcean API stub for the container registry endpoints the pipes call.

It follows DigitalOcean's published OpenAPI contract (``specification/resources/registry``):
Bearer auth, ``{"id", "message"}`` error bodies, and the multi-registry paths

- ``GET /v2/registries/{registry_name}``                      -> ``{"registry": {...}}``
- ``GET /v2/registries/{registry_name}/garbage-collection``   -> ``{"garbage_collection": {...}}`` or 404
- ``GET /v2/registries/{registry_name}/docker-credentials``   -> a Docker ``config.json`` (``auths``)
- ``GET /v2/registries/{registry_name}/repositoriesV2``       -> ``{"repositories", "meta", "links"}``
- ``GET /v2/registries/subscription``                         -> ``{"subscription": {"tier": {...}}}``
- ``GET /v2/registries/{registry_name}/repositories/{repository_name}/tags`` -> ``{"tags", "meta", "links"}``
- ``DELETE /v2/registries/{registry_name}/repositories/{repository_name}/tags/{tag}``      -> 204
- ``DELETE /v2/registries/{registry_name}/repositories/{repository_name}/digests/{digest}`` -> 204
- ``POST /v2/registries/{registry_name}/garbage-collection`` (``{"type": ...}``) -> 201 ``{"garbage_collection"}``
- ``GET /v2/registries/{registry_name}/garbage-collections``  -> ``{"garbage_collections", "meta", "links"}``

Listings are paginated as the contract says (``per_page`` up to 200, ``page`` from 1,
``links.pages.next`` while there is a next page).  Tests switch it into the states they need: garbage
collection running, the plan's repository limit reached, a read-only token, the credentials endpoint
down, a read-only registry (deletions refused), rate limiting (429 with ``Retry-After``).

The tags of the retention endpoints are ``catalog`` (repository -> tag -> :class:`TagRow`), which
:func:`load_catalog` fills from the local test bed registry (digests and sizes of the pushed
manifests); a deleted tag leaves the catalog, and a garbage collection deletes every manifest no tag
of the catalog names any more from that registry (``backend``), as DOCR's
``untagged manifests and unreferenced blobs`` type does, and reports the bytes of the blobs only those manifests used.
"""
from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import parse_qs, unquote, urlsplit

import requests
from pipes_common.docr import GC_ACTIVE

from .httpserve import QuietHandler, StateServer, StateStub

NOT_FOUND = {"id": "not_found", "message": "The resource you requested could not be found."}
UNAUTHORIZED = {"id": "Unauthorized", "message": "Unable to authenticate you"}
FORBIDDEN = {"id": "Forbidden", "message": "You are not authorized to perform this operation"}
TOO_MANY = {"id": "too_many_requests", "message": "API Rate limit exceeded."}
READ_ONLY = {"id": "precondition_failed", "message": "registry is read-only: garbage collection in progress"}
GC_UUID = "eff0feee-49c7-4e8f-ba5c-a320c109c8a8"
MAX_PER_PAGE = 200
# the garbage collection types (godo's GarbageCollectionType; doctl's --include-untagged-manifests is the last)
GC_TYPES = ("untagged manifests only", "unreferenced blobs only", "untagged manifests and unreferenced blobs")


@dataclass
class TagRow:
    """One tag as the tags listing shows it."""
    digest: str
    size: int                 # compressed_size_bytes
    updated_at: str           # RFC 3339


@dataclass
class Collection:
    """One garbage collection: ``steps`` are the statuses its next looks at it show, the last one final."""
    uuid: str
    kind: str
    steps: list[str]
    status: str = "requested"
    freed_bytes: int = 0
    blobs_deleted: int = 0

    def view(self, registry: str) -> dict[str, Any]:
        return {"uuid": self.uuid, "registry_name": registry, "status": self.status, "type": self.kind,
                "created_at": "2026-12-07T03:00:00Z", "updated_at": "2026-12-07T03:00:10Z",
                "blobs_deleted": self.blobs_deleted, "freed_bytes": self.freed_bytes}


@dataclass
class StubState:
    registry_name: str
    registry_host: str
    tokens: set[str]
    push_user: str
    push_password: str
    read_only_tokens: set[str] = field(default_factory=set)
    gc_status: str | None = None
    included_repositories: int = 0
    repositories: list[str] = field(default_factory=list)
    credentials_status: int = 200
    requests: list[tuple[str, str]] = field(default_factory=list)
    catalog: dict[str, dict[str, TagRow]] = field(default_factory=dict)
    registry_read_only: bool = False        # DELETEs answered 412
    throttled: int = 0                      # the next N requests answered 429 with Retry-After
    retry_after: str = "2"
    gc_steps: list[str] = field(default_factory=lambda: ["succeeded"])  # ends at the first look
    collections: list[Collection] = field(default_factory=list)
    on_collect: Callable[[str, str], int] | None = None   # (repository, digest) -> bytes freed
    gone: set[tuple[str, str]] = field(default_factory=set)  # (repository, digest) untagged by a deletion
    on_list: Callable[[str], None] | None = None  # called before each tags listing (a push meanwhile)

    def reset(self) -> None:
        self.read_only_tokens.clear()
        self.gc_status = None
        self.included_repositories = 0
        self.repositories = []
        self.credentials_status = 200
        self.requests.clear()
        self.catalog.clear()
        self.registry_read_only = False
        self.throttled = 0
        self.collections.clear()
        self.gone.clear()
        self.on_list = None
        self.retry_after = "2"
        self.gc_steps = ["succeeded"]

    @property
    def active(self) -> Collection | None:
        return next((c for c in self.collections if c.status not in ("succeeded", "failed", "cancelled")), None)

    def advance(self, gc: Collection) -> None:
        """One look at ``gc``: it moves on to its next status, and collects when it succeeds."""
        if gc.steps and gc.status not in ("succeeded", "failed", "cancelled"):
            gc.status = gc.steps.pop(0)
            if gc.status == "succeeded":
                self.collect(gc)

    def collect(self, gc: Collection) -> None:
        named = {(repo, row.digest) for repo, rows in self.catalog.items() for row in rows.values()}
        for repo, digest in sorted(self.gone - named):
            gc.freed_bytes += self.on_collect(repo, digest) if self.on_collect else 0
            gc.blobs_deleted += 1
        self.gone &= named


def page(items: list[Any], query: Mapping[str, str], path: str) -> tuple[list[Any], dict[str, Any]]:
    """One page of ``items`` and the ``links`` of the answer, as the contract paginates."""
    per_page = max(1, min(int(query.get("per_page", "20")), MAX_PER_PAGE))
    number = max(1, int(query.get("page", "1")))
    last = max(1, -(-len(items) // per_page))
    pages: dict[str, str] = {}
    if number < last:
        pages["next"] = f"https://api.digitalocean.com{path}?page={number + 1}&per_page={per_page}"
        pages["last"] = f"https://api.digitalocean.com{path}?page={last}&per_page={per_page}"
    return items[(number - 1) * per_page: number * per_page], {"pages": pages}


class _Handler(QuietHandler):
    server: StateServer[StubState]
    json_content_type = "application/json; charset=utf-8"
    json_headers: ClassVar[Mapping[str, str]] = {"ratelimit-limit": "5000", "ratelimit-remaining": "4999"}

    def _admit(self, method: str) -> str | None:
        """Record the request; the caller's token, or None when it was answered already (401, 429)."""
        state = self.server.state
        state.requests.append((method, self.path))
        if state.throttled > 0:
            state.throttled -= 1
            self.send_json(429, TOO_MANY, {"Retry-After": state.retry_after, "ratelimit-remaining": "0"})
            return None
        auth = self.headers.get("Authorization", "")
        token = auth[len("Bearer "):] if auth.startswith("Bearer ") else ""
        if token not in state.tokens:
            self.send_json(401, UNAUTHORIZED)
            return None
        return token

    def _repository(self, rest: str) -> tuple[str, str] | None:
        """``(repository, what follows)`` of ``/repositories/<name>/...`` (the name URL-encoded)."""
        match = re.fullmatch(r"/repositories/([^/]+)(/.*)?", rest)
        return None if match is None else (unquote(match.group(1)), match.group(2) or "")

    def do_DELETE(self) -> None:
        state = self.server.state
        token = self._admit("DELETE")
        if token is None:
            return None
        url = urlsplit(self.path)
        prefix = f"/v2/registries/{state.registry_name}"
        found = self._repository(url.path.removeprefix(prefix)) if url.path.startswith(prefix + "/") else None
        if found is None or found[0] not in state.catalog:
            return self.send_json(404, NOT_FOUND)
        if token in state.read_only_tokens:
            return self.send_json(403, FORBIDDEN)
        if state.registry_read_only or state.active is not None or state.gc_status in GC_ACTIVE:
            return self.send_json(412, READ_ONLY)  # read-only while a garbage collection runs
        repo, rest = found
        rows = state.catalog[repo]
        kind, _, name = rest.lstrip("/").partition("/")
        name = unquote(name)
        if kind == "tags" and name in rows:
            state.gone.add((repo, rows.pop(name).digest))
            return self.send_empty(204)
        if kind == "digests" and any(row.digest == name for row in rows.values()):
            for tag in [t for t, row in rows.items() if row.digest == name]:
                del rows[tag]
            state.gone.add((repo, name))
            return self.send_empty(204)
        return self.send_json(404, NOT_FOUND)

    def do_POST(self) -> None:
        state = self.server.state
        token = self._admit("POST")
        if token is None:
            return None
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            return self.send_json(400, {"id": "bad_request", "message": "the body is not JSON"})
        if urlsplit(self.path).path != f"/v2/registries/{state.registry_name}/garbage-collection":
            return self.send_json(404, NOT_FOUND)
        if token in state.read_only_tokens:
            return self.send_json(403, FORBIDDEN)
        kind = str(body.get("type") or "unreferenced blobs only") if isinstance(body, dict) else ""
        if kind not in GC_TYPES:
            return self.send_json(422, {"id": "unprocessable_entity", "message": f"invalid type {kind!r}"})
        if state.active is not None or state.gc_status in GC_ACTIVE:
            return self.send_json(409, {"id": "conflict", "message": "a garbage collection is already active"})
        gc = Collection(str(uuid.uuid4()), kind, list(state.gc_steps))
        state.collections.append(gc)
        return self.send_json(201, {"garbage_collection": gc.view(state.registry_name)})

    def send_empty(self, status: int) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "0")
        for key, value in self.json_headers.items():
            self.send_header(key, value)
        self.end_headers()

    def do_GET(self) -> None:
        state = self.server.state
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        token = self._admit("GET")
        if token is None:
            return None
        path = url.path.rstrip("/")
        prefix = f"/v2/registries/{state.registry_name}"
        repository = self._repository(path.removeprefix(prefix)) if path.startswith(prefix + "/repositories/") \
            else None
        if repository is not None:
            repo, rest = repository
            if rest != "/tags" or repo not in state.catalog:
                return self.send_json(404, NOT_FOUND)
            if state.on_list is not None:
                state.on_list(repo)
            rows = [{"registry_name": state.registry_name, "repository": repo, "tag": tag,
                     "manifest_digest": row.digest, "compressed_size_bytes": row.size,
                     "size_bytes": row.size * 2, "updated_at": row.updated_at}
                    for tag, row in sorted(state.catalog[repo].items())]
            chunk, links = page(rows, query, path)
            return self.send_json(200, {"tags": chunk, "meta": {"total": len(rows)}, "links": links})
        if path == f"{prefix}/garbage-collections":
            for gc in state.collections:
                state.advance(gc)
            views = [gc.view(state.registry_name) for gc in reversed(state.collections)]
            chunk, links = page(views, query, path)
            return self.send_json(200, {"garbage_collections": chunk, "meta": {"total": len(views)},
                                       "links": links})
        if path == "/v2/registries/subscription":
            return self.send_json(200, {"subscription": {
                "tier": {"name": "Basic", "slug": "basic",
                         "included_repositories": state.included_repositories,
                         "included_storage_bytes": 5368709120, "allow_storage_overage": True,
                         "included_bandwidth_bytes": 5368709120, "monthly_price_in_cents": 500,
                         "storage_overage_price_in_cents": 2},
                "created_at": "2020-01-23T21:19:12Z", "updated_at": "2020-11-05T15:53:24Z"}})
        match = re.fullmatch(r"/v2/registries/([a-z0-9-]+)(/[A-Za-z-]+[A-Za-z0-9]*)?", path)
        if not match or match.group(1) != state.registry_name:
            return self.send_json(404, NOT_FOUND)
        sub = match.group(2) or ""
        if sub == "":
            return self.send_json(200, {"registry": {
                "name": state.registry_name, "created_at": "2020-03-21T16:02:37Z",
                "region": "fra1", "storage_usage_bytes": 29393920,
                "storage_usage_bytes_updated_at": "2020-11-04T21:39:49.530562231Z",
                "subscription": {"tier": {"name": "Basic", "slug": "basic"}}}})
        if sub == "/garbage-collection":
            active = state.active
            if active is not None:
                return self.send_json(200, {"garbage_collection": active.view(state.registry_name)})
            if state.gc_status is None:
                return self.send_json(404, NOT_FOUND)
            return self.send_json(200, {"garbage_collection": {
                "uuid": GC_UUID,
                "registry_name": state.registry_name, "status": state.gc_status,
                "created_at": "2020-10-30T21:03:24Z", "updated_at": "2020-10-30T21:03:44Z",
                "blobs_deleted": 0, "freed_bytes": 0}})
        if sub == "/docker-credentials":
            read_write = query.get("read_write", "false") == "true"
            if read_write and token in state.read_only_tokens:
                return self.send_json(403, FORBIDDEN)
            if state.credentials_status != 200:
                return self.send_json(state.credentials_status,
                                     {"id": "server_error", "message": "Unexpected server-side error"})
            user, password = ((state.push_user, state.push_password) if read_write
                              else (token, token))
            auth_value = base64.b64encode(f"{user}:{password}".encode()).decode()
            return self.send_json(200, {"auths": {state.registry_host: {"auth": auth_value}}})
        if sub == "/repositoriesV2":
            names = sorted(state.catalog) if state.catalog else state.repositories
            repos = [{"registry_name": state.registry_name, "name": n,
                      "tag_count": len(state.catalog.get(n, {})) or 1,
                      "manifest_count": len({r.digest for r in state.catalog.get(n, {}).values()}) or 1}
                     for n in names]
            chunk, links = page(repos, query, path)
            return self.send_json(200, {"repositories": chunk, "meta": {"total": len(names)},
                                       "links": links})
        return self.send_json(404, NOT_FOUND)


class DOApiStub(StateStub[StubState]):
    """``with DOApiStub(state) as stub:`` serves the API on ``stub.url``."""

    handler = _Handler


class RegistryBackend:
    """The local test bed registry behind the stub's catalogue: its tags, digests and sizes read in,
    and an untagged manifest deleted from it when a garbage collection runs."""

    def __init__(self, base: str, auth: tuple[str, str], under: str = "") -> None:
        """``under``: the registry's name when its repositories live below it in the local registry
        (``acme/web`` there is the repository ``web`` of the registry ``acme``, as DOCR names it)."""
        self.base = base
        self.session = requests.Session()
        self.session.auth = auth
        self.under = under

    def path(self, repo: str) -> str:
        return f"{self.under}/{repo}" if self.under else repo

    def manifest(self, repo: str, ref: str) -> tuple[str, int]:
        """The digest and compressed size (config and layers) of ``repo:ref``."""
        accept = ", ".join(("application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.index.v1+json",
                            "application/vnd.docker.distribution.manifest.v2+json"))
        resp = self.session.get(f"{self.base}/v2/{self.path(repo)}/manifests/{ref}", timeout=30,
                                headers={"Accept": accept})
        resp.raise_for_status()
        body = resp.json()
        size = len(resp.content) + int((body.get("config") or {}).get("size") or 0) + sum(
            int(layer.get("size") or 0) for layer in body.get("layers") or [])
        return resp.headers["Docker-Content-Digest"], size

    def load(self, state: StubState, repos: list[str], updated: Mapping[str, str],
             default_updated: str = "2026-10-01T00:00:00Z") -> None:
        """Fill ``state.catalog`` with the tags of ``repos`` (``updated``: tag or repo:tag -> time)."""
        for repo in repos:
            resp = self.session.get(f"{self.base}/v2/{self.path(repo)}/tags/list", timeout=30)
            resp.raise_for_status()
            rows = state.catalog.setdefault(repo, {})
            for tag in resp.json().get("tags") or []:
                digest, size = self.manifest(repo, tag)
                rows[tag] = TagRow(digest, size, updated.get(f"{repo}:{tag}") or updated.get(tag) or default_updated)
        state.on_collect = self.delete

    def delete(self, repo: str, digest: str) -> int:
        """Delete ``repo@digest`` from the registry (the garbage collection); the bytes it held."""
        _, size = self.manifest(repo, digest)
        resp = self.session.delete(f"{self.base}/v2/{self.path(repo)}/manifests/{digest}", timeout=30)
        resp.raise_for_status()
        return size
