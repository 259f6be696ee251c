"""DOCR pre-flight through the DigitalOcean API, and the push credentials it yields."""
from __future__ import annotations

from pipes_common import registrylogin
from pipes_common.docr import DOApiError
from pipes_common.errors import PipeError
from pipes_common.log import get_logger

from .ports import DigitalOcean

CREDENTIALS_EXPIRY_SECONDS = 1800
PushCredentials = registrylogin.Credentials

# what the DigitalOcean API's refusals of the pre-flight say ({registry}: REGISTRY_NAME's)
API_WORDING = registrylogin.Wording(
    unreachable=None,  # the error's own message names DIGITALOCEAN_API_URL already
    rejected=("DIGITALOCEAN_ACCESS_TOKEN was rejected by the DigitalOcean API (401): create a new "
              "token with the scopes registry:read and registry:update and update the variable"),
    denied=("DIGITALOCEAN_ACCESS_TOKEN may not read registry '{registry}' (403): give the token "
            "the scope registry:read"),
    failed="DigitalOcean API error: {err}")
# the push credentials: a 403 is a token that may read but not write
PUSH_WORDING = registrylogin.Wording(
    unreachable=None, rejected=API_WORDING.rejected, failed=API_WORDING.failed,
    denied=("DIGITALOCEAN_ACCESS_TOKEN can read the registry but not push (docker-credentials "
            "read_write answered 403): use a token with registry write scope (registry:update) "
            "or a full-access token"))


def _api_error(err: DOApiError, registry: str) -> PipeError:
    return registrylogin.failure(err, API_WORDING, registry=registry)


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
        creds = registrylogin.short_lived(client, registry, host, CREDENTIALS_EXPIRY_SECONDS,
                                          read_write=True)
    except DOApiError as err:
        if err.status in (401, 403):
            raise registrylogin.failure(err, PUSH_WORDING, registry=registry) from None
        log.warning("Short-lived push credentials are unavailable (%s); pushing with the API "
                    "token instead.", err)
        return registrylogin.basic(None, token)
    log.info("Using short-lived push credentials (expire in %d minutes).",
             CREDENTIALS_EXPIRY_SECONDS // 60)
    return creds


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
