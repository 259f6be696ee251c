"""Checking in the registry that every tag (and digest) about to be written exists there.

Only with registry credentials (``DIGITALOCEAN_ACCESS_TOKEN``, as build-push takes them): for
DigitalOcean Container Registry the token buys short-lived read-only credentials through the
DigitalOcean API; any other registry takes ``REGISTRY_USERNAME`` (default: the token) and the
token.  The registry is the one the image name starts with.  Nothing is written when a tag is
missing or points at another digest than the one to write.

The token (or the credentials it buys) goes to DOCR, or to a registry the user named in
REGISTRY_HOST, IMAGE or IMAGES; never to a registry that only a hand-off (build-push's outputs)
names."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from pipes_common import imageref, secrets
from pipes_common.docr import DOCR_HOST, DigitalOceanClient, DOApiError
from pipes_common.errors import PipeError
from pipes_common.log import get_logger
from pipes_common.registry import ManifestRef, RegistryClient, RegistryError

from .guard import style
from .references import Target
from .signatures import Gate, require

READ_CREDENTIALS_SECONDS = 300


@dataclass(frozen=True)
class RegistryAuth:
    token: str                    # DIGITALOCEAN_ACCESS_TOKEN
    api_url: str                  # DIGITALOCEAN_API_URL
    every_host: bool              # the API is asked for any registry, not DOCR's only
    username: str | None = None   # REGISTRY_USERNAME (other registries; default: the token)
    hosts: tuple[str, ...] = ()   # REGISTRY_HOST and the registries of IMAGE / IMAGES (the user's)


def _client(host: str, repo: str, creds: RegistryAuth) -> RegistryClient:
    if host != DOCR_HOST and not creds.every_host:
        return RegistryClient(host, creds.username or creds.token, creds.token)
    name = repo.split("/", 1)[0]
    api = DigitalOceanClient(creds.token, creds.api_url)
    try:
        login = api.docker_credentials(name, host, READ_CREDENTIALS_SECONDS, read_write=False)
    except DOApiError as err:
        if err.status is None:
            raise PipeError(f"DIGITALOCEAN_API_URL: the DigitalOcean API is unreachable ({err}): "
                            "check the network, or DIGITALOCEAN_API_URL if you set it") from None
        if err.status in (401, 403):
            raise PipeError(f"DIGITALOCEAN_ACCESS_TOKEN was refused ({err.status}) when asking "
                            f"for read access to the registry '{name}': give the token the "
                            "registry read scope, or unset it to write without the check") from None
        raise PipeError(f"DigitalOcean API error while asking for read access to the registry "
                        f"'{name}': {err}") from None
    secrets.register(login.password)
    return RegistryClient(host, login.username, login.password)


def _head(client: RegistryClient, repo: str, ref: str, image: str) -> ManifestRef | None:
    try:
        return client.head_manifest(repo, ref)
    except RegistryError as err:
        if err.kind == "unreachable":
            raise PipeError(f"IMAGE: the registry {client.host} of {image} is unreachable: check "
                            "the image name and that the step can reach the registry") from None
        if err.kind in ("auth", "denied"):
            raise PipeError(f"DIGITALOCEAN_ACCESS_TOKEN: the registry {client.host} refused to "
                            f"show {image} ({err}): give the token read access to the "
                            "registry, or unset it to write without the check") from None
        raise PipeError(f"The registry {client.host} failed the check of {image}:{ref}: "
                        f"{err}") from None


def verify(targets: Sequence[Target], creds: RegistryAuth, gate: Gate | None = None) -> list[Target]:
    """``targets`` with every tag found in its registry (a ``v1.4.2`` not there but ``1.4.2``
    there becomes ``1.4.2``) and every digest checked against it; PipeError naming the first
    one that does not exist.  With a ``gate`` (VERIFY_KEYS), the digest each tag resolves to
    (the one that will be deployed) must be signed as it asks (:mod:`signatures`)."""
    log = get_logger()
    clients: dict[str, RegistryClient] = {}
    out: list[Target] = []
    for t in targets:
        where = imageref.split_domain(t.image)
        if where is None:
            raise PipeError(f"IMAGE {t.image} names no registry host, so its tag cannot be checked: "
                            "spell the image with its registry (e.g. "
                            "registry.digitalocean.com/acme/web), or unset DIGITALOCEAN_ACCESS_TOKEN")
        host, repo = where
        if host != DOCR_HOST and host not in creds.hosts:
            raise PipeError(f"IMAGE: {t.image} (from build-push's outputs) is not on DOCR "
                            f"({DOCR_HOST}), and DIGITALOCEAN_ACCESS_TOKEN only goes to DOCR, to "
                            "REGISTRY_HOST or to the registry of an IMAGE or IMAGES you set: set "
                            f"REGISTRY_HOST: {host} (the registry build-push pushes to), or IMAGE "
                            "and TAG, or unset DIGITALOCEAN_ACCESS_TOKEN to write without the check")
        client = clients.get(host) or clients.setdefault(host, _client(host, repo, creds))
        tag, found = t.tag, _head(client, repo, t.tag, t.image)
        if found is None and style(t.tag) == "v-semver":  # TAG: $BITBUCKET_TAG without a hand-off
            found = _head(client, repo, t.tag[1:], t.image)
            if found is not None:
                tag = t.tag[1:]
                log.info("%s:%s is not in the registry but %s:%s is (image tags carry no 'v'): "
                         "writing %s.", t.image, t.tag, t.image, tag, tag)
        if found is None:
            raise PipeError(f"TAG: {t.image}:{t.tag} is not in the registry {host}, so it is "
                            "not written: give the tag build-push pushed (its outputs list them), "
                            "or push the image first")
        if t.digest and found.digest != t.digest:
            if _head(client, repo, t.digest, t.image) is None:
                raise PipeError(f"DIGEST: {t.image}@{t.digest} is not in the registry {host}, so "
                                "it is not written: give the digest build-push pushed")
            raise PipeError(f"DIGEST: {t.image}:{tag} points at {found.digest} in the registry, "
                            f"not at {t.digest}: the tag moved since; give the tag and digest of "
                            "one push (build-push's outputs)")
        log.info("%s:%s is in the registry (%s).", t.image, tag, found.digest)
        if gate is not None:
            require(client, repo, t.image, found.digest, gate)
        out.append(replace(t, tag=tag))
    return out
