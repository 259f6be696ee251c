"""The OCI registry client (pipes_common.registry) against real registries on loopback.

Each test runs against both registries the test bed has: distribution with htpasswd (Basic
auth) and distribution with Bearer token auth (the flow DOCR uses), with the DO-token account
(user and password both the token) and the push account.  Images are pushed with the plain
distribution API (testbed.oci), so no Docker is needed.
"""
from __future__ import annotations

import json
import secrets as pysecrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from pipes_common import httpclient
from pipes_common.registry import RegistryClient, RegistryError
from testbed import oci, registry_log
from testbed.flaky_http import FlakyServer, Reply
from testbed.net import free_port
from testbed.recorder import Recorder as LoopbackRecorder
from testbed.referrers_front import ReferrersFront
from testbed.registry import LocalRegistry
from testbed.tag_pager import TagPager
from testbed.token_registry import LEEWAY, Account, TokenRegistry


@dataclass
class Target:
    """One registry under test and how to reach it."""

    kind: str  # "basic" or "token"
    host: str
    accounts: list[tuple[str, str]]
    log_path: Path
    plain_session: Callable[[str], requests.Session]
    token_registry: TokenRegistry | None = None

    @property
    def base(self) -> str:
        return f"http://{self.host}"

    @property
    def creds(self) -> tuple[str, str]:
        return self.accounts[0]

    def client(self, session: requests.Session | None = None) -> RegistryClient:
        return RegistryClient(self.host, *self.creds, session=session)

    def push(self, repo: str, tag: str, media_type: str = oci.OCI_MANIFEST) -> oci.PushedImage:
        return oci.push_image(self.plain_session(repo), self.base, repo, tag, media_type)


@pytest.fixture(params=["basic", "token"])
def target(request: pytest.FixtureRequest, do_token: str,
           push_credentials: tuple[str, str]) -> Target:
    accounts = [(do_token, do_token), push_credentials]
    if request.param == "basic":
        reg: LocalRegistry = request.getfixturevalue("registry")

        def basic_session(repo: str) -> requests.Session:
            sess = requests.Session()
            sess.auth = (do_token, do_token)
            return sess

        return Target("basic", reg.host, accounts, reg.log_path, basic_session)
    treg: TokenRegistry = request.getfixturevalue("token_registry")
    return Target("token", treg.host, accounts, treg.log_path,
                  lambda repo: treg.session(do_token, do_token, repo), treg)


@pytest.fixture()
def token_reg(token_registry: TokenRegistry) -> Iterator[TokenRegistry]:
    """The token registry, its token lifetime restored after the test."""
    lifetime = token_registry.lifetime
    yield token_registry
    token_registry.lifetime = lifetime


def repo_name() -> str:
    return f"acme/it-{pysecrets.token_hex(4)}"


class Recorder:
    """A retrying session that records ``(method, path, status)`` of every answer."""

    def __init__(self) -> None:
        self.session = httpclient.session()
        self.seen: list[tuple[str, str, int]] = []
        self.session.hooks["response"].append(self._hook)

    def _hook(self, resp: requests.Response, *args: object, **kwargs: object) -> None:
        path = urlsplit(resp.request.url or "").path
        self.seen.append((resp.request.method or "", path, resp.status_code))


# -- basics ------------------------------------------------------------------------------------

def test_ping_with_each_account(target: Target) -> None:
    for user, password in target.accounts:
        RegistryClient(target.host, user, password).ping()


def test_head_manifest_of_missing_tag_or_repo(target: Target) -> None:
    repo = repo_name()
    client = target.client()
    assert client.head_manifest(repo, "latest") is None  # no such repository
    target.push(repo, "v1")
    assert client.head_manifest(repo, "nope") is None  # no such tag


@pytest.mark.parametrize("media_type", [oci.OCI_MANIFEST, oci.DOCKER_MANIFEST])
def test_pushed_manifest_digests_match(target: Target, media_type: str) -> None:
    repo = repo_name()
    image = target.push(repo, "v1", media_type)
    client = target.client()
    ref = client.head_manifest(repo, "v1")
    assert ref is not None
    assert ref.digest == image.digest
    assert ref.media_type == media_type
    assert ref.size == len(image.manifest)
    body, got_type, digest = client.get_manifest(repo, "v1")
    assert body == image.manifest  # byte for byte: the digest depends on it
    assert (got_type, digest) == (media_type, image.digest)
    by_digest = client.head_manifest(repo, image.digest)
    assert by_digest is not None and by_digest.digest == image.digest
    assert client.get_blob(repo, image.blobs[1]).startswith(b"{")  # the config blob


@pytest.mark.parametrize("media_type", [oci.OCI_MANIFEST, oci.DOCKER_MANIFEST])
def test_add_tag_moves_no_blob(target: Target, media_type: str) -> None:
    repo = repo_name()
    image = target.push(repo, "v1", media_type)
    rec = Recorder()
    client = target.client(rec.session)
    offset = registry_log.offset(target.log_path)
    assert client.add_tag(repo, "v1", "latest") == image.digest
    ref = target.client().head_manifest(repo, "latest")
    assert ref is not None and ref.digest == image.digest
    # the client only read the manifest and wrote it under the new tag
    answered = [(m, p) for m, p, status in rec.seen if status != 401 and p.startswith("/v2/")]
    assert answered == [("GET", f"/v2/{repo}/manifests/v1"),
                        ("PUT", f"/v2/{repo}/manifests/latest")]
    assert not any("/blobs/" in p for _, p, _ in rec.seen)
    # and the registry saw no blob traffic at all
    seen = [(r.method, r.uri) for r in registry_log.requests_since(target.log_path, target.host, offset)]
    assert ("PUT", f"/v2/{repo}/manifests/latest") in seen
    assert not [uri for _, uri in seen if "/blobs/" in uri], seen


def test_add_tag_overwrites_an_existing_tag(target: Target) -> None:
    repo = repo_name()
    old = target.push(repo, "latest")
    new = target.push(repo, "v2")
    client = target.client()
    assert client.add_tag(repo, "v2", "latest") == new.digest
    ref = client.head_manifest(repo, "latest")
    assert ref is not None and ref.digest == new.digest != old.digest


# -- tags ---------------------------------------------------------------------------------------

TAGS = ["1.0.0", "1.0.1", "1.1.0", "latest", "main-3f2a9c1"]


def test_tags_without_pagination(target: Target) -> None:
    repo = repo_name()
    image = target.push(repo, TAGS[0])
    for tag in TAGS[1:]:
        oci.tag_manifest(target.plain_session(repo), target.base, image, tag)
    client = target.client()
    assert sorted(client.tags(repo) or []) == TAGS
    assert client.tags(repo_name()) is None


@pytest.mark.parametrize("absolute_links", [False, True], ids=["path-link", "url-link"])
def test_tags_follows_pagination(target: Target, absolute_links: bool) -> None:
    repo = repo_name()
    image = target.push(repo, TAGS[0])
    for tag in TAGS[1:]:
        oci.tag_manifest(target.plain_session(repo), target.base, image, tag)
    with TagPager(target.host, page_size=2, absolute_links=absolute_links) as front:
        client = RegistryClient(front.host, *target.creds)
        assert client.tags(repo) == TAGS  # every page, in order, nothing twice
        pages = [p for m, p in front.requests if m == "GET" and "/tags/list" in p]
    # three pages of 2, 2 and 1 tags; the first was asked twice (once for the 401 challenge)
    assert [p.split("?", 1)[1] for p in pages[1:]] == [
        "n=1000", "n=2&last=1.0.1", "n=2&last=latest"]
    assert pages[0] == pages[1]


def test_tags_follows_a_next_link_among_others(target: Target) -> None:
    """RFC 8288: several links in one header, rel with several types, in any order."""
    repo = repo_name()
    image = target.push(repo, TAGS[0])
    for tag in TAGS[1:]:
        oci.tag_manifest(target.plain_session(repo), target.base, image, tag)

    def links(path: str) -> str:
        return f'</v2/{repo}/tags/list?n=2>; rel="first", <{path}>; title="x, y"; rel="last next"'

    with TagPager(target.host, page_size=2, link=links) as front:
        assert RegistryClient(front.host, *target.creds).tags(repo) == TAGS


HOSTILE_LINKS = {
    # another host over a scheme in capitals: passed the startswith("http") check, then
    # Endpoint.url took it as absolute and sent the credentials there
    "other-host-capitals": "<HTTPS://{evil}/v2/{repo}/tags/list?n=2&last=~>",
    "other-host": "<http://{evil}/v2/{repo}/tags/list?n=2&last=~>",
    "scheme-relative": "<//{evil}/v2/{repo}/tags/list?n=2&last=~>",
    "other-port": "<http://127.0.0.1:{free}/v2/{repo}/tags/list?n=2&last=~>",
    "other-scheme": "<https://{front}/v2/{repo}/tags/list?n=2&last=~>",
    "credentials": "<http://u:p@{front}/v2/{repo}/tags/list?n=2&last=~>",
    "other-repository": "<http://{front}/v2/acme/secret/tags/list?n=2&last=~>",
    "other-api": "</v2/{repo}/manifests/latest>",
    "no-slashes": "<http:x>",  # an IndexError before
    "loop": "</v2/{repo}/tags/list?n=1000>",  # the first page again: never ended
}


@pytest.mark.parametrize("link", list(HOSTILE_LINKS.values()), ids=list(HOSTILE_LINKS))
def test_tags_link_to_another_host_is_refused_without_credentials(
        target: Target, link: str) -> None:
    repo = repo_name()
    image = target.push(repo, TAGS[0])
    for tag in TAGS[1:]:
        oci.tag_manifest(target.plain_session(repo), target.base, image, tag)
    with LoopbackRecorder() as evil, TagPager(target.host, page_size=2) as front:
        front.link = lambda path: link.format(evil=evil.host, repo=repo, front=front.host,
                                              free=free_port()) + '; rel="next"'
        with pytest.raises(RegistryError) as err:
            RegistryClient(front.host, *target.creds).tags(repo)
        assert err.value.kind == "protocol"
        assert "next-page link" in err.value.message
        assert evil.seen == []
        pages = [p for m, p in front.requests if "/tags/list" in p]
        assert all(p.startswith(f"/v2/{repo}/tags/list?n=1000") for p in pages)


# -- authentication failures -------------------------------------------------------------------

def test_wrong_password_is_auth_error(target: Target) -> None:
    user = target.creds[0]
    wrong = "wrong-" + pysecrets.token_hex(8)
    client = RegistryClient(target.host, user, wrong)
    with pytest.raises(RegistryError) as info:
        client.ping()
    assert info.value.kind == "auth"
    assert info.value.status == 401
    assert "rejected the credentials" in str(info.value)
    assert wrong not in str(info.value) and user not in str(info.value)


def test_unknown_user_is_auth_error_on_repository_calls(target: Target) -> None:
    client = RegistryClient(target.host, "nobody", "nothing")
    with pytest.raises(RegistryError) as info:
        client.head_manifest(repo_name(), "latest")
    assert info.value.kind == "auth"


def test_no_credentials_is_auth_error(target: Target) -> None:
    with pytest.raises(RegistryError) as info:
        RegistryClient(target.host).ping()
    assert info.value.kind == "auth"


def test_unreachable_host() -> None:
    host = f"127.0.0.1:{free_port()}"
    client = RegistryClient(host, "u", "p", session=httpclient.session(retries=2, backoff=0.01))
    with pytest.raises(RegistryError) as info:
        client.ping()
    assert info.value.kind == "unreachable"
    assert host in str(info.value)
    assert str(info.value).startswith("REGISTRY_HOST: ") and "connection refused" in str(info.value)


# -- Bearer tokens (DOCR's flow) ----------------------------------------------------------------

def test_token_flow_asks_for_the_scope_it_needs(token_reg: TokenRegistry, do_token: str) -> None:
    repo = repo_name()
    image = oci.push_image(token_reg.session(do_token, do_token, repo), f"http://{token_reg.host}",
                           repo, "v1")
    start = len(token_reg.requests)
    client = RegistryClient(token_reg.host, do_token, do_token)
    assert client.add_tag(repo, "v1", "v2") == image.digest
    assert client.head_manifest(repo, "v2") is not None  # the pull token is reused
    # the client asks for the scope of the registry's challenge, whose actions distribution
    # lists in no fixed order: compare the actions as sets
    asked = [(r.user == do_token, [(s.rsplit(":", 1)[0], frozenset(s.rsplit(":", 1)[1].split(",")))
                                   for s in r.scopes], r.status)
             for r in token_reg.requests[start:]]
    assert asked == [(True, [(f"repository:{repo}", frozenset({"pull"}))], 200),
                     (True, [(f"repository:{repo}", frozenset({"pull", "push"}))], 200)]


def test_read_only_account_can_pull(token_reg: TokenRegistry, do_token: str,
                                    read_only_credentials: tuple[str, str]) -> None:
    repo = repo_name()
    image = oci.push_image(token_reg.session(do_token, do_token, repo), f"http://{token_reg.host}",
                           repo, "v1")
    client = RegistryClient(token_reg.host, *read_only_credentials)
    ref = client.head_manifest(repo, "v1")
    assert ref is not None and ref.digest == image.digest
    assert client.tags(repo) == ["v1"]


def test_read_only_account_push_is_denied(token_reg: TokenRegistry, do_token: str,
                                          read_only_credentials: tuple[str, str]) -> None:
    """The token server grants only ``pull``; the registry answers 401 insufficient_scope.
    The client reports it as ``denied`` (valid credentials, missing permission), not ``auth``."""
    repo = repo_name()
    image = oci.push_image(token_reg.session(do_token, do_token, repo), f"http://{token_reg.host}",
                           repo, "v1")
    start = len(token_reg.requests)
    client = RegistryClient(token_reg.host, *read_only_credentials)
    with pytest.raises(RegistryError) as info:
        client.put_manifest(repo, "v2", image.manifest, image.media_type)
    err = info.value
    assert err.kind == "denied"
    assert err.status == 401
    assert str(err) == (f"Registry {token_reg.host} denied repository:{repo}:pull,push: the "
                        "credentials are valid but lack the permission")
    granted = [r.access for r in token_reg.requests[start:]]
    assert granted == [({"type": "repository", "name": repo, "actions": ["pull"]},)]
    with pytest.raises(RegistryError) as info:
        client.add_tag(repo, "v1", "v3")
    assert info.value.kind == "denied"
    assert client.head_manifest(repo, "v2") is None and client.head_manifest(repo, "v3") is None


def test_expired_token_is_renewed_once(token_reg: TokenRegistry, do_token: str) -> None:
    repo = repo_name()
    image = oci.push_image(token_reg.session(do_token, do_token, repo), f"http://{token_reg.host}",
                           repo, "v1")
    rec = Recorder()
    client = RegistryClient(token_reg.host, do_token, do_token, session=rec.session)
    assert client.head_manifest(repo, "v1") is not None
    # the token the client keeps for this scope expires (no waiting for it: it is replaced by one
    # of the token server's own, signed with its key, whose exp and leeway have passed)
    scope = f"repository:{repo}:pull"
    assert scope in client._tokens, "the client caches its token under the scope it asked for"
    client._tokens[scope] = token_reg.expired_token(do_token, scope)
    start = len(token_reg.requests)
    rec.seen.clear()
    ref = client.head_manifest(repo, "v1")
    assert ref is not None and ref.digest == image.digest
    # one 401 (expired token), one new token, one successful retry
    manifest = f"/v2/{repo}/manifests/v1"
    assert rec.seen == [("HEAD", manifest, 401), ("GET", "/token", 200), ("HEAD", manifest, 200)]
    assert len(token_reg.requests) - start == 1


def test_token_refused_again_gives_up_after_one_renewal(token_reg: TokenRegistry,
                                                        do_token: str) -> None:
    """Tokens the registry never accepts: one token request, one retry, then an auth error."""
    token_reg.lifetime = -2 * LEEWAY
    start = len(token_reg.requests)
    with pytest.raises(RegistryError) as info:
        RegistryClient(token_reg.host, do_token, do_token).head_manifest(repo_name(), "v1")
    assert info.value.kind == "auth"
    assert len(token_reg.requests) - start == 1


def test_token_service_unreachable(do_token: str, testbed_dir: Path) -> None:
    """The registry answers but its token service is down: ``unreachable``, naming the latter."""
    accounts = {do_token: Account(do_token)}
    with TokenRegistry(accounts, workdir=testbed_dir) as reg:
        reg.stop_token_server()
        sess = httpclient.session(retries=1, backoff=0.01)
        with pytest.raises(RegistryError) as info:
            RegistryClient(reg.host, do_token, do_token, session=sess).ping()
    assert info.value.kind == "unreachable"
    assert str(info.value).startswith("Token service ")
    assert str(info.value).endswith(f" of {reg.host} is unreachable (connection refused)")


def test_credentials_never_go_to_a_plain_http_token_service(flaky_http: FlakyServer) -> None:
    """A registry naming an http:// realm off this machine gets no credentials (nothing is sent)."""
    host = flaky_http.url.split("://", 1)[1]
    flaky_http.script(Reply(401, {"WWW-Authenticate": 'Bearer realm="http://203.0.113.5/token",service="x"'}))
    with pytest.raises(RegistryError) as info:
        RegistryClient(host, "user", "pw-canary-123").ping()
    assert info.value.kind == "protocol"
    assert "over plain HTTP (203.0.113.5)" in str(info.value)
    assert len(flaky_http.hits) == 1


# -- OCI 1.1 referrers -----------------------------------------------------------------------------
def test_referrers_are_none_without_the_api_and_listed_with_it(target: Target) -> None:
    """Distribution 2.8 answers 404 on /referrers: none.  Behind a front that implements the
    API, a manifest put with the image as its subject is listed, with its artifact type."""
    repo = repo_name()
    image = target.push(repo, "1.0.0")
    assert target.client().referrers(repo, image.digest) == []
    session = target.plain_session(repo)
    empty = oci.upload_blob(session, target.base, repo, b"{}")
    layer = oci.upload_blob(session, target.base, repo, b"payload")
    body = json.dumps({
        "schemaVersion": 2, "mediaType": oci.OCI_MANIFEST,
        "artifactType": "application/vnd.example.sig",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
        "layers": [{"mediaType": "application/vnd.example.layer", "digest": layer, "size": 7}],
        "subject": {"mediaType": image.media_type, "digest": image.digest,
                    "size": len(image.manifest)}}).encode()
    with ReferrersFront(target.host) as front:
        resp = session.put(f"http://{front.host}/v2/{repo}/manifests/{oci.digest_of(body)}",
                           data=body, headers={"Content-Type": oci.OCI_MANIFEST}, timeout=30)
        assert resp.status_code == 201, resp.text
        found = RegistryClient(front.host, *target.creds).referrers(repo, image.digest)
    assert found == [{"mediaType": oci.OCI_MANIFEST, "digest": oci.digest_of(body),
                      "size": len(body), "artifactType": "application/vnd.example.sig"}]


@pytest.mark.parametrize("location", ["http://203.0.113.5/v2/acme/web/blobs/uploads/u1",
                                      "/v2/acme/other/blobs/uploads/u1", ""])
def test_a_blob_upload_location_elsewhere_gets_no_content_nor_credentials(
        flaky_http: FlakyServer, location: str) -> None:
    """The upload session a registry opens must be its own, for this repository: a location on
    another host (or another repository's, or none) gets neither the blob nor the credentials."""
    host = flaky_http.url.split("://", 1)[1]
    flaky_http.script(Reply(202, {"Location": location}))
    with pytest.raises(RegistryError, match="gave an upload location elsewhere") as info:
        RegistryClient(host, "user", "pw-canary-123").upload_blob("acme/web", b"signature payload")
    assert info.value.write
    assert [hit.method for hit in flaky_http.hits] == ["POST"]


def test_a_blob_is_uploaded_to_the_location_given(registry: LocalRegistry) -> None:
    client = RegistryClient(registry.host, registry.push_user, registry.push_password)
    data = pysecrets.token_bytes(64)
    digest = client.upload_blob("acme/blobs", data)
    assert client.get_blob("acme/blobs", digest) == data
    assert client.upload_blob("acme/blobs", data) == digest  # again: the same blob
