"""A registry with Bearer token authentication, as DOCR has it.

Debian's ``docker-registry`` (CNCF distribution 2.8) runs with ``auth: token`` and trusts one
self-signed certificate (its ``rootcertbundle``).  Beside it, a small token server on loopback
follows the Docker registry token authentication spec:

- ``GET <realm>?service=<service>&scope=repository:<name>:<actions>`` (``scope`` may repeat, or
  hold several scopes separated by spaces) with HTTP Basic credentials;
- unknown user or wrong password: ``401`` with a Basic challenge; another service: ``400``;
- otherwise ``200`` with ``{"token", "access_token", "expires_in", "issued_at"}``: a JWT signed
  RS256 whose ``x5c`` header carries the certificate, with the claims ``iss``, ``sub``, ``aud``,
  ``exp``, ``nbf``, ``iat``, ``jti`` and ``access`` = the requested actions the account may do
  (possibly none: the registry then answers ``401`` with ``error="insufficient_scope"``).

``lifetime`` (seconds from ``iat`` to ``exp``) can be changed while the registry runs.  The
registry accepts a token until ``LEEWAY`` seconds after its ``exp`` (clock skew allowance of
distribution), so ``lifetime = 2 - LEEWAY`` makes tokens that the registry refuses two to three
seconds after they were issued.  Every token request is recorded in ``requests``.
"""
from __future__ import annotations

import base64
import datetime as dt
import json
import secrets as pysecrets
import shutil
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from . import debian
from .httpserve import LoopbackHTTPServer, QuietHandler
from .net import free_port
from .procs import Background
from .registry import serve

LEEWAY = 60
"""Seconds distribution still accepts a token after its ``exp`` (and before its ``nbf``)."""

PULL = frozenset({"pull"})
PULL_PUSH = frozenset({"pull", "push"})


@dataclass(frozen=True)
class Account:
    """A user of the token server and the actions it may do on every repository."""

    password: str
    actions: frozenset[str] = PULL_PUSH


@dataclass(frozen=True)
class TokenRequest:
    """One request the token server answered: who (``None``: bad or no credentials), what."""

    user: str | None
    scopes: tuple[str, ...]
    status: int
    access: tuple[dict[str, Any], ...] = ()


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class SigningKey:
    """An RSA key and its self-signed certificate (the registry's whole trust bundle)."""

    def __init__(self, common_name: str = "do-pipes token stand-in") -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        now = dt.datetime.now(dt.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         crl_sign=False, encipher_only=False,
                                         decipher_only=False), critical=True)
            .sign(self.key, hashes.SHA256())
        )

    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def jwt(self, claims: Mapping[str, Any]) -> str:
        """``claims`` as a compact JWS, RS256, with the certificate chain in ``x5c``."""
        header = {"typ": "JWT", "alg": "RS256",
                  "x5c": [base64.b64encode(self.cert.public_bytes(serialization.Encoding.DER))
                          .decode()]}
        signing_input = ".".join(_b64url(json.dumps(part, separators=(",", ":")).encode())
                                 for part in (header, claims))
        signature = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64url(signature)}"


def parse_scopes(values: Iterable[str]) -> list[tuple[str, str, list[str]]]:
    """``type:name:actions`` scopes (several per value when space-separated) as tuples."""
    found = []
    for value in values:
        for scope in value.split():
            parts = scope.split(":")
            if len(parts) < 3:
                continue
            found.append((parts[0], ":".join(parts[1:-1]), [a for a in parts[-1].split(",") if a]))
    return found


class _Handler(QuietHandler):
    server: _TokenServer

    def _user(self) -> str | None:
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Basic "):
            return None
        try:
            user, _, password = base64.b64decode(auth[6:], validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        account = self.server.owner.accounts.get(user)
        if account is None or not pysecrets.compare_digest(account.password, password):
            return None
        return user

    def do_GET(self) -> None:
        owner = self.server.owner
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        scopes = tuple(query.get("scope", []))
        if url.path != "/token":
            return self.send_json(404, {"errors": [{"code": "NOT_FOUND", "message": "no such path"}]})
        user = self._user()
        if user is None:
            owner.record(TokenRequest(None, scopes, 401))
            return self.send_json(401, {"errors": [{"code": "UNAUTHORIZED",
                                                   "message": "invalid username or password"}]},
                                 {"WWW-Authenticate": f'Basic realm="{owner.service}"'})
        if query.get("service", [owner.service])[-1] != owner.service:
            owner.record(TokenRequest(user, scopes, 400))
            return self.send_json(400, {"errors": [{"code": "UNSUPPORTED",
                                                   "message": "unknown service"}]})
        allowed = owner.accounts[user].actions
        access = []
        for kind, name, actions in parse_scopes(scopes):
            granted = [a for a in actions if a in allowed or "*" in allowed]
            if granted:
                access.append({"type": kind, "name": name, "actions": granted})
        now = int(time.time())
        lifetime = owner.lifetime
        claims = {"iss": owner.issuer, "sub": user, "aud": owner.service, "exp": now + lifetime,
                  "nbf": now, "iat": now, "jti": pysecrets.token_hex(16), "access": access}
        token = owner.signer.jwt(claims)
        owner.record(TokenRequest(user, scopes, 200, tuple(access)))
        issued = dt.datetime.fromtimestamp(now, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.send_json(200, {"token": token, "access_token": token, "expires_in": max(lifetime, 0),
                            "issued_at": issued})


class _TokenServer(LoopbackHTTPServer):
    owner: TokenRegistry


class TokenRegistry:
    """``with TokenRegistry({"user": Account("pw", PULL)}) as reg:`` a registry on ``reg.host``.

    ``reg.realm`` is the token endpoint; ``reg.requests`` lists the token requests answered.
    """

    def __init__(self, accounts: Mapping[str, Account], *, service: str = "registry.stand-in",
                 issuer: str = "token-stand-in", lifetime: int = 300,
                 workdir: Path | None = None) -> None:
        self.accounts = dict(accounts)
        self.service = service
        self.issuer = issuer
        self.lifetime = lifetime
        self.signer = SigningKey()
        self.requests: list[TokenRequest] = []
        self._lock = threading.Lock()
        self._workdir = workdir
        self.port = 0
        self.host = ""
        self.realm = ""
        self.root: Path | None = None
        self._proc: Background | None = None
        self._server: _TokenServer | None = None

    def record(self, request: TokenRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def __enter__(self) -> TokenRegistry:
        debian.ensure({"docker-registry": "docker-registry"})
        self.root = Path(tempfile.mkdtemp(prefix="dopipes-token-registry-", dir=self._workdir))
        try:
            self._start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _start(self) -> None:
        assert self.root is not None
        server = _TokenServer(_Handler)
        server.owner = self
        self.realm = f"{server.url}/token"
        self._server = server.start()

        bundle = self.root / "token-ca.pem"
        bundle.write_bytes(self.signer.cert_pem())
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self._proc = serve(self.root, self.port,
                           "  token:\n"
                           f"    realm: {self.realm}\n"
                           f"    service: {self.service}\n"
                           f"    issuer: {self.issuer}\n"
                           f"    rootcertbundle: {bundle}\n")

    @property
    def log_path(self) -> Path:
        assert self.root is not None
        return self.root / "registry.log"

    def token(self, user: str, password: str, *scopes: str) -> str:
        """A token for ``scopes``, asked of the token server as a client does."""
        resp = requests.get(self.realm, params={"service": self.service, "scope": list(scopes)},
                            auth=(user, password), timeout=30)
        resp.raise_for_status()
        return str(resp.json()["token"])

    def expired_token(self, user: str, *scopes: str) -> str:
        """A token signed by this server for ``scopes`` whose ``exp`` (and the registry's
        ``LEEWAY`` after it) has passed: the registry refuses it, as any expired token."""
        now = int(time.time())
        access = [{"type": kind, "name": name, "actions": actions}
                  for kind, name, actions in parse_scopes(scopes)]
        issued = now - 10 * LEEWAY
        return self.signer.jwt({"iss": self.issuer, "sub": user, "aud": self.service,
                                "exp": now - 2 * LEEWAY, "nbf": issued, "iat": issued,
                                "jti": pysecrets.token_hex(16), "access": access})

    def session(self, user: str, password: str, repo: str) -> requests.Session:
        """A plain ``requests`` session that may pull and push ``repo`` (for test set-up)."""
        sess = requests.Session()
        token = self.token(user, password, f"repository:{repo}:pull,push")
        sess.headers["Authorization"] = f"Bearer {token}"
        return sess

    def stop_token_server(self) -> None:
        """Stop answering at the realm (the registry keeps running): a token service outage."""
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._proc is not None:
            self._proc.stop()
        self.stop_token_server()
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
