"""DigitalOcean Container Registry API client (the multi-registry ``/v2/registries/...`` endpoints)."""
from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests

from . import httpclient, secrets

DEFAULT_API_URL = "https://api.digitalocean.com"
URL_VARIABLE = "DIGITALOCEAN_API_URL"
RETRY_BUDGET = 20.0  # seconds: the most one API call waits for retries of 429/5xx answers
DOCR_HOST = "registry.digitalocean.com"
# garbage collection states during which the registry is read-only
GC_ACTIVE = frozenset({"requested", "waiting for write JWTs to expire", "scanning manifests",
                       "deleting unreferenced blobs", "cancelling"})


class DOApiError(httpclient.ApiError):
    """A DigitalOcean API failure; ``status`` is the HTTP status (None when unreachable)."""

    def __init__(self, message: str, status: int | None, error_id: str = "") -> None:
        super().__init__(message, status)
        self.error_id = error_id


@dataclass(frozen=True)
class DockerCredentials:
    username: str
    password: str


class DigitalOceanClient:
    def __init__(self, token: str, api_url: str = DEFAULT_API_URL, *,
                 session: requests.Session | None = None, timeout: float = 30.0) -> None:
        secrets.register(token)
        self._token = token
        self._api = httpclient.Endpoint(api_url, service="the DigitalOcean API",
                                        variable=URL_VARIABLE, session=session, timeout=timeout,
                                        budget=RETRY_BUDGET)
        self.api_url = self._api.base_url

    def _get(self, path: str, params: dict[str, Any] | None = None,
             missing_ok: bool = False) -> dict[str, Any] | None:
        return self._send("GET", path, params=params, missing_ok=missing_ok)

    def _send(self, method: str, path: str, params: dict[str, Any] | None = None,
              body: dict[str, Any] | None = None, missing_ok: bool = False) -> dict[str, Any] | None:
        """One call; its JSON answer ({} for 204), None for a 404 when ``missing_ok``."""
        try:
            resp = self._api.send(method, path, params=params, json=body,
                                  headers={"Authorization": f"Bearer {self._token}",
                                           "Accept": "application/json"})
        except httpclient.Unreachable as err:
            raise DOApiError(err.message, None) from None
        if resp.status_code == 404 and missing_ok:
            return None
        if resp.status_code == 204:
            return {}
        if not resp.ok:
            error_id, message = "", resp.reason
            try:
                body = resp.json()
                error_id, message = str(body.get("id", "")), str(body.get("message", message))
            except ValueError:
                pass
            raise DOApiError(f"DigitalOcean API {path.split('?')[0]} answered {resp.status_code}"
                             f" {error_id}: {message}", resp.status_code, error_id)
        try:
            data: dict[str, Any] = resp.json()
        except ValueError:
            raise DOApiError(f"DigitalOcean API {path} returned a body that is not JSON",
                             resp.status_code) from None
        return data

    def registry(self, name: str) -> dict[str, Any] | None:
        """The registry, or None when no registry of that name is in the account."""
        data = self._get(f"/v2/registries/{name}", missing_ok=True)
        return None if data is None else dict(data.get("registry") or {})

    def active_garbage_collection(self, name: str) -> dict[str, Any] | None:
        """The garbage collection running now, or None."""
        data = self._get(f"/v2/registries/{name}/garbage-collection", missing_ok=True)
        if not data:
            return None
        gc = dict(data.get("garbage_collection") or {})
        return gc if gc.get("status") in GC_ACTIVE else None

    def subscription(self) -> dict[str, Any]:
        data = self._get("/v2/registries/subscription") or {}
        return dict(data.get("subscription") or {})

    def repository_count(self, name: str) -> int:
        data = self._get(f"/v2/registries/{name}/repositoriesV2",
                         params={"per_page": 1, "page": 1}) or {}
        meta = data.get("meta") or {}
        if "total" in meta:
            return int(meta["total"])
        return len(data.get("repositories") or [])

    def docker_credentials(self, name: str, host: str, expiry_seconds: int,
                           read_write: bool = True) -> DockerCredentials:
        """Short-lived Docker credentials for ``host`` from the ``docker-credentials`` endpoint."""
        data = self._get(f"/v2/registries/{name}/docker-credentials",
                         params={"read_write": "true" if read_write else "false",
                                 "expiry_seconds": expiry_seconds}) or {}
        auths = data.get("auths") or {}
        entry = auths.get(host) or auths.get(DOCR_HOST) or next(iter(auths.values()), None)
        if not entry or "auth" not in entry:
            raise DOApiError("DigitalOcean docker-credentials answer holds no auth entry", 200)
        decoded = base64.b64decode(entry["auth"]).decode("utf-8")
        username, _, password = decoded.partition(":")
        secrets.register(password)
        secrets.register(decoded)
        return DockerCredentials(username, password)

    # -- retention: listings, deletions, garbage collection -----------------------------------------
    def _pages(self, path: str, key: str, per_page: int = 200, max_pages: int = 1000) -> list[dict[str, Any]]:
        """Every item (``key``) of a paginated listing, page by page while ``links.pages.next`` says
        there is one (at most ``max_pages``)."""
        items: list[dict[str, Any]] = []
        for page in range(1, max_pages + 1):
            data = self._get(path, params={"per_page": per_page, "page": page}) or {}
            items += [item for item in data.get(key) or [] if isinstance(item, dict)]
            if not ((data.get("links") or {}).get("pages") or {}).get("next"):
                return items
        raise DOApiError(f"DigitalOcean API {path} has more than {max_pages} pages", 200)

    def repositories(self, name: str) -> list[dict[str, Any]]:
        """Every repository of the registry (``repositoriesV2``)."""
        return self._pages(f"/v2/registries/{name}/repositoriesV2", "repositories")

    def tags(self, name: str, repository: str) -> list[dict[str, Any]]:
        """Every tag of ``repository``: tag, manifest_digest, compressed_size_bytes, updated_at."""
        return self._pages(f"/v2/registries/{name}/repositories/{quote(repository, safe='')}/tags", "tags")

    def delete_tag(self, name: str, repository: str, tag: str) -> None:
        self._send("DELETE", f"/v2/registries/{name}/repositories/{quote(repository, safe='')}/tags/"
                             f"{quote(tag, safe='')}")

    def start_garbage_collection(self, name: str, kind: str) -> dict[str, Any]:
        data = self._send("POST", f"/v2/registries/{name}/garbage-collection", body={"type": kind}) or {}
        return dict(data.get("garbage_collection") or {})

    def garbage_collections(self, name: str) -> list[dict[str, Any]]:
        """The registry's garbage collections, past and current (the first page: the newest)."""
        data = self._get(f"/v2/registries/{name}/garbage-collections", params={"per_page": 20, "page": 1}) or {}
        return [dict(gc) for gc in data.get("garbage_collections") or [] if isinstance(gc, dict)]
