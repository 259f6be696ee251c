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

from pipes_common import imageref, registrylogin
from pipes_common.docr import DOCR_HOST, DigitalOceanClient, DOApiError
from pipes_common.errors import PipeError
from pipes_common.log import get_logger
from pipes_common.registry import ManifestRef, RegistryClient, RegistryError

from .guard import style
from .references import Target
from .signatures import Gate, require

READ_CREDENTIALS_SECONDS = 300
_REFUSED_READ = ("DIGITALOCEAN_ACCESS_TOKEN was refused ({status}) when asking for read access to "
                 "the registry '{registry}': give the token the registry read scope, or unset it "
                 "to write without the check")
_REFUSED_SHOW = ("DIGITALOCEAN_ACCESS_TOKEN: the registry {host} refused to show {image} ({err}): "
                 "give the token read access to the registry, or unset it to write without the "
                 "check")
# what the DigitalOcean API's refusals of read credentials say ({registry}: the DOCR registry's)
API_WORDING = registrylogin.Wording(
    unreachable=("DIGITALOCEAN_API_URL: the DigitalOcean API is unreachable ({err}): check the "
                 "network, or DIGITALOCEAN_API_URL if you set it"),
    rejected=_REFUSED_READ, denied=_REFUSED_READ,
    failed=("DigitalOcean API error while asking for read access to the registry '{registry}': "
            "{err}"))
# what the registry's failures of the check say ({image}, {ref}: what was checked)
CHECK_WORDING = registrylogin.Wording(
    unreachable=("IMAGE: the registry {host} of {image} is unreachable: check the image name and "
                 "that the step can reach the registry"),
    rejected=_REFUSED_SHOW, denied=_REFUSED_SHOW,
    failed="The registry {host} failed the check of {image}:{ref}: {err}")


@dataclass(frozen=True)
class RegistryAuth:
    token: str                    # DIGITALOCEAN_ACCESS_TOKEN
    api_url: str                  # DIGITALOCEAN_API_URL
    username: str | None = None   # REGISTRY_USERNAME (other registries; default: the token)
    hosts: tuple[str, ...] = ()   # REGISTRY_HOST and the registries of IMAGE / IMAGES (the user's)


def _client(host: str, repo: str, creds: RegistryAuth) -> RegistryClient:
    login = registrylogin.basic(creds.username, creds.token)
    if registrylogin.through_api(host, creds.api_url):
        name = repo.split("/", 1)[0]
        api = DigitalOceanClient(creds.token, creds.api_url)
        try:
            login = registrylogin.short_lived(api, name, host, READ_CREDENTIALS_SECONDS,
                                              read_write=False)
        except DOApiError as err:
            raise registrylogin.failure(err, API_WORDING, registry=name) from None
    # no GET /v2/ first: the HEAD of each tag checks the credentials as well
    return registrylogin.login(RegistryClient, host, login, check=False)


def _head(client: RegistryClient, repo: str, ref: str, image: str) -> ManifestRef | None:
    try:
        return client.head_manifest(repo, ref)
    except RegistryError as err:
        raise registrylogin.failure(err, CHECK_WORDING, host=client.host, image=image,
                                    ref=ref) from None


def _registry_of(t: Target, creds: RegistryAuth, clients: dict[str, RegistryClient]
                 ) -> tuple[str, str, RegistryClient]:
    """The registry host, repository and client of ``t`` (one client per host, logged in once);
    PipeError when the credentials may not go to that registry."""
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
    return host, repo, client


def verify(targets: Sequence[Target], creds: RegistryAuth, gate: Gate | None = None) -> list[Target]:
    """``targets`` with every tag found in its registry (a ``v1.4.2`` not there but ``1.4.2``
    there becomes ``1.4.2``) and every digest checked against it; PipeError naming the first
    one that does not exist.  With a ``gate`` (VERIFY_KEYS), the digest each tag resolves to
    (the one that will be deployed) must be signed as it asks (:mod:`signatures`)."""
    log = get_logger()
    clients: dict[str, RegistryClient] = {}
    out: list[Target] = []
    for t in targets:
        host, repo, client = _registry_of(t, creds, clients)
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


def verify_deployed(targets: Sequence[Target], creds: RegistryAuth, gate: Gate | None = None) -> None:
    """Promotion: each reference read under FROM_PATHS is in its registry, the digest it pins
    (its tag may have moved since: the digest is what is copied) or else the digest its tag
    resolves to now; with a ``gate`` (VERIFY_KEYS) that digest must be signed as it asks.
    PipeError naming the first that is not."""
    clients: dict[str, RegistryClient] = {}
    for t in targets:
        host, repo, client = _registry_of(t, creds, clients)
        ref = t.digest or t.tag
        shown = f"{t.image}@{t.digest}" if t.digest else f"{t.image}:{t.tag}"
        found = _head(client, repo, ref, t.image)
        if found is None:
            raise PipeError(f"FROM_PATHS deploys {shown}, which is not in the registry {host}, so "
                            "it is not promoted: push it again, or promote from an environment "
                            "that runs an image of the registry")
        get_logger().info("%s is in the registry (%s).", shown, found.digest)
        if gate is not None:
            require(client, repo, t.image, found.digest, gate)
