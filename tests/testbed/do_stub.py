"""A DigitalOcean API stub for the container registry endpoints the pipes call.

It follows DigitalOcean's published OpenAPI contract (``specification/resources/registry``):
Bearer auth, ``{"id", "message"}`` error bodies, and the multi-registry paths

- ``GET /v2/registries/{registry_name}``                      -> ``{"registry": {...}}``
- ``GET /v2/registries/{registry_name}/garbage-collection``   -> ``{"garbage_collection": {...}}`` or 404
- ``GET /v2/registries/{registry_name}/docker-credentials``   -> a Docker ``config.json`` (``auths``)
- ``GET /v2/registries/{registry_name}/repositoriesV2``       -> ``{"repositories", "meta", "links"}``
- ``GET /v2/registries/subscription``                         -> ``{"subscription": {"tier": {...}}}``

Tests switch it into the states they need: garbage collection running, the plan's repository
limit reached, a read-only token, the credentials endpoint down.
"""
from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar
from urllib.parse import parse_qs, urlsplit

from .httpserve import QuietHandler, StateServer, StateStub

NOT_FOUND = {"id": "not_found", "message": "The resource you requested could not be found."}
UNAUTHORIZED = {"id": "Unauthorized", "message": "Unable to authenticate you"}
FORBIDDEN = {"id": "Forbidden", "message": "You are not authorized to perform this operation"}


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

    def reset(self) -> None:
        self.read_only_tokens.clear()
        self.gc_status = None
        self.included_repositories = 0
        self.repositories = []
        self.credentials_status = 200
        self.requests.clear()


class _Handler(QuietHandler):
    server: StateServer[StubState]
    json_content_type = "application/json; charset=utf-8"
    json_headers: ClassVar[Mapping[str, str]] = {"ratelimit-limit": "5000", "ratelimit-remaining": "4999"}

    def do_GET(self) -> None:
        state = self.server.state
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        state.requests.append(("GET", self.path))
        auth = self.headers.get("Authorization", "")
        token = auth[len("Bearer "):] if auth.startswith("Bearer ") else ""
        if token not in state.tokens:
            return self.send_json(401, UNAUTHORIZED)
        path = url.path.rstrip("/")
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
            if state.gc_status is None:
                return self.send_json(404, NOT_FOUND)
            return self.send_json(200, {"garbage_collection": {
                "uuid": "eff0feee-49c7-4e8f-ba5c-a320c109c8a8",
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
            per_page = int(query.get("per_page", "20"))
            page = int(query.get("page", "1"))
            names = state.repositories
            chunk = names[(page - 1) * per_page: page * per_page]
            repos = [{"registry_name": state.registry_name, "name": n, "tag_count": 1,
                      "manifest_count": 1} for n in chunk]
            return self.send_json(200, {"repositories": repos, "meta": {"total": len(names)},
                                       "links": {}})
        return self.send_json(404, NOT_FOUND)


class DOApiStub(StateStub[StubState]):
    """``with DOApiStub(state) as stub:`` serves the API on ``stub.url``."""

    handler = _Handler
