"""DOCR pre-flight through the DigitalOcean API, and the push credentials it yields."""
from __future__ import annotations

from dataclasses import dataclass

from pipes_common import secrets
from pipes_common.docr import DOApiError
from pipes_common.errors import PipeError
from pipes_common.log import get_logger

from .ports import DigitalOcean

CREDENTIALS_EXPIRY_SECONDS = 1800


@dataclass(frozen=True)
class PushCredentials:
    username: str
    password: str


def _api_error(err: DOApiError, registry: str) -> PipeError:
    if err.status is None:  # unreachable: the message names DIGITALOCEAN_API_URL already
        return PipeError(str(err))
    if err.status == 401:
        return PipeError("DIGITALOCEAN_ACCESS_TOKEN was rejected by the DigitalOcean API (401): "
                         "create a new token with the scopes registry:read and registry:update and update the variable")
    if err.status == 403:
        return PipeError(f"DIGITALOCEAN_ACCESS_TOKEN may not read registry '{registry}' (403): "
                         "give the token the scope registry:read")
    return PipeError(f"DigitalOcean API error: {err}")


def run(client: DigitalOcean, registry: str, host: str, token: str) -> PushCredentials:
    """Check the registry can take a push now; return the credentials to push with."""
    log = get_logger()
    try:
        info = client.registry(registry)
    except DOApiError as err:
        raise _api_error(err, registry) from None
    if info is None:
        raise PipeError(f"REGISTRY_NAME: no registry '{registry}' in this DigitalOcean account: "
                        "check the name (doctl registry get) or create the registry")
    try:
        gc = client.active_garbage_collection(registry)
    except DOApiError as err:
        raise _api_error(err, registry) from None
    if gc is not None:
        raise PipeError(f"Registry '{registry}' is read-only while garbage collection "
                        f"{gc.get('uuid', '')} runs (status: {gc.get('status')}): wait until it "
                        "ends (doctl registry garbage-collection get-active) and run the step again")
    try:
        creds = client.docker_credentials(registry, host, CREDENTIALS_EXPIRY_SECONDS)
    except DOApiError as err:
        if err.status == 403:
            raise PipeError("DIGITALOCEAN_ACCESS_TOKEN can read the registry but not push "
                            "(docker-credentials read_write answered 403): use a token with "
                            "registry write scope (registry:update) or a full-access token") from None
        if err.status == 401:
            raise _api_error(err, registry) from None
        log.warning("Short-lived push credentials are unavailable (%s); pushing with the API "
                    "token instead.", err)
        return PushCredentials(token, token)
    secrets.register(creds.password)
    log.info("Using short-lived push credentials (expire in %d minutes).",
             CREDENTIALS_EXPIRY_SECONDS // 60)
    return PushCredentials(creds.username, creds.password)


def check_repository_limit(client: DigitalOcean, registry: str, image: str) -> None:
    """Fail before building when a new repository would exceed the plan's repository limit."""
    try:
        tier = (client.subscription().get("tier") or {})
        limit = int(tier.get("included_repositories") or 0)
        if limit <= 0:
            return
        count = client.repository_count(registry)
    except DOApiError as err:
        raise _api_error(err, registry) from None
    if count >= limit:
        raise PipeError(f"Registry '{registry}' already holds {count} repositories, the limit of "
                        f"its {tier.get('name', '')} plan ({limit}), so the new repository "
                        f"'{image}' cannot be created: delete an unused repository or upgrade "
                        "the plan (doctl registry options subscription-tiers)")
