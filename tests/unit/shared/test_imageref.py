"""The image-reference grammar (pipes_common.imageref), after the OCI distribution spec."""
from __future__ import annotations

import re

import pytest
from pipes_common import imageref
from pipes_common.imageref import ImageRef

SHA256 = "sha256:" + "a" * 64
SHA512 = "sha512:" + "0123456789abcdef" * 8


@pytest.mark.parametrize("tag", ["latest", "1.2.3", "v1", "_x", "A_b.c-d", "9", "a" * 128])
def test_valid_tags(tag: str) -> None:
    assert imageref.is_tag(tag)


@pytest.mark.parametrize("tag", ["", ".hidden", "-x", "a" * 129, "a/b", "a:b", "a+b", "é",
                                 "1.2.3\n", " 1", "1 "])
def test_invalid_tags(tag: str) -> None:
    assert not imageref.is_tag(tag)


@pytest.mark.parametrize("digest", [SHA256, SHA512])
def test_valid_digests(digest: str) -> None:
    assert imageref.is_digest(digest)


@pytest.mark.parametrize("digest", ["sha256:" + "a" * 63, "sha256:" + "A" * 64, "sha256:" + "g" * 64,
                                    "md5:" + "a" * 32, "sha512:" + "a" * 64, SHA256 + "\n",
                                    "a" * 64, "sha256" + "a" * 64])
def test_invalid_digests(digest: str) -> None:
    assert not imageref.is_digest(digest)


@pytest.mark.parametrize("name", ["web", "acme/web", "a.b/c_d/e__f", "a-b---c",
                                  "registry.digitalocean.com/acme/web", "localhost:5000/x",
                                  "127.0.0.1:5000/acme/web", "Registry.Example.com/acme"])
def test_valid_names(name: str) -> None:
    assert imageref.is_name(name)


@pytest.mark.parametrize("name", ["", "Web", "acme//web", "/web", "web/", "we b", "-web",
                                  "web-", "a..b", "a___b", "acme/web:1", "acme/web@" + SHA256,
                                  "web\n", "a" * 256])
def test_invalid_names(name: str) -> None:
    assert not imageref.is_name(name)


@pytest.mark.parametrize(("value", "ok"), [("acme/web", True), ("web", True),
                                           ("localhost:5000/web", False), ("Registry.io/acme", False),
                                           ("acme/web\n", False)])
def test_a_path_has_no_domain(value: str, ok: bool) -> None:
    """PATH (build-push's IMAGE rule) matches a repository path without domain, whole."""
    assert (re.fullmatch(imageref.PATH, value) is not None) == ok


@pytest.mark.parametrize(("text", "ref"), [
    ("web", ImageRef("web", None, None)),
    ("acme/web:1.2", ImageRef("acme/web", "1.2", None)),
    ("localhost:5000/web", ImageRef("localhost:5000/web", None, None)),
    ("localhost:5000/web:2", ImageRef("localhost:5000/web", "2", None)),
    (f"r.io/acme/web:1@{SHA256}", ImageRef("r.io/acme/web", "1", SHA256)),
    (f"web@{SHA512}", ImageRef("web", None, SHA512)),
])
def test_parse_and_format_round_trip(text: str, ref: ImageRef) -> None:
    assert imageref.parse(text) == ref
    assert str(ref) == text


@pytest.mark.parametrize("text", ["", "web:", "web:.x", "Web:1", "web@sha256:abc", "web 1",
                                  "web:1\n", "${IMAGE}:1"])
def test_parse_refuses(text: str) -> None:
    assert imageref.parse(text) is None


def test_short_name() -> None:
    assert imageref.short_name("registry.digitalocean.com/acme/web") == "web"
    assert imageref.short_name("web") == "web"


@pytest.mark.parametrize(("name", "expected"), [
    ("registry.digitalocean.com/acme/web", ("registry.digitalocean.com", "acme/web")),
    ("127.0.0.1:5000/acme/web", ("127.0.0.1:5000", "acme/web")),
    ("localhost/web", ("localhost", "web")),
    ("acme/web", None),  # Docker Hub: the first component is a path, not a domain
    ("web", None),
])
def test_split_domain_tells_a_registry_domain_from_a_path(name: str, expected: tuple[str, str] | None) -> None:
    assert imageref.split_domain(name) == expected


@pytest.mark.parametrize("spelling", ["redis", "docker.io/redis", "docker.io/library/redis",
                                      "index.docker.io/library/redis", "index.docker.io/redis",
                                      "registry-1.docker.io/library/redis"])
def test_every_docker_hub_spelling_is_one_image(spelling: str) -> None:
    assert imageref.canonical(spelling) == "docker.io/library/redis"
    assert imageref.same_image(spelling, "redis")


@pytest.mark.parametrize(("a", "b"), [
    ("docker.io/alkrauss48/app", "alkrauss48/app"),
    ("index.docker.io/alkrauss48/app", "alkrauss48/app"),
    ("ghcr.io/acme/web", "ghcr.io/acme/web"),
])
def test_same_image_across_spellings(a: str, b: str) -> None:
    assert imageref.same_image(a, b)


@pytest.mark.parametrize(("a", "b"), [
    ("redis", "bitnami/redis"),           # another Hub namespace
    ("redis", "ghcr.io/redis"),            # another registry
    ("docker.io/acme/web", "ghcr.io/acme/web"),
    ("library/redis/x", "redis"),
    ("localhost/redis", "redis"),          # a local registry is not Docker Hub
])
def test_different_images_stay_different(a: str, b: str) -> None:
    assert not imageref.same_image(a, b)
