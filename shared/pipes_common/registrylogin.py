"""Logging in to a container registry, one way for every pipe.

Which credentials a registry host gets (:func:`through_api`): on DigitalOcean Container Registry,
or on any host when ``DIGITALOCEAN_API_URL`` names another API than DigitalOcean's, short-lived
ones that ``DIGITALOCEAN_ACCESS_TOKEN`` buys from the DigitalOcean API (:func:`short_lived`); on
any other registry ``REGISTRY_USERNAME`` (default: the token) and the token (:func:`basic`).
:func:`login` opens the registry client with them, checked with ``GET /v2/`` where the pipe asks.

A failure is one line, chosen by how the call failed (:func:`failure`): no answer, the token or
credentials refused (401), the access denied (403, a write apart), any other answer.  Each pipe
words the lines for its own calls (:class:`Wording`), as it words the Bitbucket API's refusals
(:mod:`pipes_common.bbapi`)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from . import secrets
from .docr import DEFAULT_API_URL, DOCR_HOST, DOApiError, DockerCredentials
from .errors import PipeError
from .registry import RegistryError


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str


class CredentialsApi(Protocol):
    """The DigitalOcean API call that buys registry credentials (``docr.DigitalOceanClient``)."""

    def docker_credentials(self, name: str, host: str, expiry_seconds: int,
                           read_write: bool = True) -> DockerCredentials: ...


class Pingable(Protocol):
    def ping(self) -> None: ...


C = TypeVar("C", bound=Pingable)


def registry_host(value: str) -> str:
    """``REGISTRY_HOST`` as a host: ``host[:port]``, an ``https://`` or ``http://`` in front and a
    final ``/`` tolerated."""
    return value.strip().removeprefix("https://").removeprefix("http://").rstrip("/")


def through_api(host: str, api_url: str) -> bool:
    """Whether the credentials for ``host`` are bought from the DigitalOcean API at ``api_url``:
    DOCR's host, or any host when the API is another one than DigitalOcean's (a stand-in)."""
    return host == DOCR_HOST or api_url != DEFAULT_API_URL


def basic(username: str | None, token: str) -> Credentials:
    """The credentials for a registry that is not reached through the API: ``REGISTRY_USERNAME``
    (default: the token) and the token."""
    return Credentials(username or token, token)


def short_lived(api: CredentialsApi, registry: str, host: str, seconds: int, *,
                read_write: bool) -> Credentials:
    """Credentials for ``host`` that expire after ``seconds``, for the DOCR registry ``registry``
    (push and pull with ``read_write``, else pull only); DOApiError when the API refuses."""
    bought = api.docker_credentials(registry, host, seconds, read_write=read_write)
    secrets.register(bought.password)
    return Credentials(bought.username, bought.password)


def login(connect: Callable[[str, str, str], C], host: str, creds: Credentials, *,
          check: bool = True) -> C:
    """The client of ``host`` with ``creds`` (``connect``: host, username, password), checked with
    the registry's ``GET /v2/`` when ``check`` (RegistryError when it fails)."""
    secrets.register(creds.password)
    client = connect(host, creds.username, creds.password)
    if check:
        client.ping()
    return client


@dataclass(frozen=True)
class Wording:
    """A pipe's one-line messages for one kind of call, by how it failed: ``str.format`` templates
    over the fields the pipe names (the registry, host, image…) and ``err`` (the error's own
    message) and ``status`` (its HTTP status); ``None`` says the error's own message.

    ``unreachable``: no answer; ``rejected``: 401, the token or credentials refused; ``denied``:
    403, the access denied (``denied_write``: to a write; default as ``denied``); ``failed``: any
    other answer."""

    unreachable: str | None
    rejected: str
    denied: str
    failed: str | None
    denied_write: str | None = None


def _template(err: DOApiError | RegistryError, wording: Wording) -> str | None:
    if isinstance(err, RegistryError):
        if err.kind == "unreachable":
            return wording.unreachable
        if err.kind == "auth":
            return wording.rejected
        if err.kind == "denied":
            return (wording.denied_write or wording.denied) if err.write else wording.denied
        return wording.failed
    if err.status is None:
        return wording.unreachable
    if err.status == 401:
        return wording.rejected
    if err.status == 403:
        return wording.denied
    return wording.failed


def failure(err: DOApiError | RegistryError, wording: Wording, **fields: str) -> PipeError:
    """The one ``✖`` line for ``err`` of the DigitalOcean API or a registry, in ``wording``."""
    template = _template(err, wording)
    if template is None:
        return PipeError(str(err))
    return PipeError(template.format(**fields, err=err, status=err.status))
