"""``RegistryClient.image_labels``, the labels build-push's skip decision reads, from images the
test bed registry really serves (pushed with the plain distribution API, ``testbed.oci``): an
image manifest, an OCI index with an attestation manifest first (as BuildKit pushes one), and a
config that is not JSON."""
from __future__ import annotations

import secrets as pysecrets

import pytest
import requests
from pipes_common.registry import RegistryClient, RegistryError
from testbed import oci
from testbed.registry import LocalRegistry

LABELS = {"org.opencontainers.image.revision": "c0ffee" * 6 + "abcd"}
ATTESTATION = {"os": "unknown", "architecture": "unknown"}
AMD64 = {"os": "linux", "architecture": "amd64"}


@pytest.fixture()
def session(do_token: str) -> requests.Session:
    sess = requests.Session()
    sess.auth = (do_token, do_token)
    return sess


@pytest.fixture()
def client(registry: LocalRegistry, do_token: str) -> RegistryClient:
    return RegistryClient(registry.host, do_token, do_token)


def _repo() -> str:
    return f"acme/labels-{pysecrets.token_hex(4)}"


def test_labels_of_an_image_manifest(registry: LocalRegistry, session: requests.Session,
                                     client: RegistryClient) -> None:
    repo, base = _repo(), f"http://{registry.host}"
    oci.push_image(session, base, repo, "sha-c0ffee0", labels=LABELS)
    assert client.image_labels(repo, "sha-c0ffee0") == LABELS
    oci.push_image(session, base, repo, "plain")
    assert client.image_labels(repo, "plain") == {}
    oci.push_image(session, base, repo, "schema2", media_type=oci.DOCKER_MANIFEST, labels=LABELS)
    assert client.image_labels(repo, "schema2") == LABELS


def test_labels_of_an_index_skip_the_attestation(registry: LocalRegistry, session: requests.Session,
                                                 client: RegistryClient) -> None:
    repo, base = _repo(), f"http://{registry.host}"
    attestation = oci.push_image(session, base, repo, "attestation", labels={"not": "these"})
    image = oci.push_image(session, base, repo, "image", labels=LABELS)
    digest = oci.push_index(session, base, repo, "t", [(attestation, ATTESTATION), (image, AMD64)])
    assert client.image_labels(repo, "t") == LABELS
    assert client.image_labels(repo, digest) == LABELS
    only = oci.push_index(session, base, repo, "only-attestation", [(attestation, ATTESTATION)])
    assert client.image_labels(repo, only) == {}


def test_a_damaged_config_is_a_registry_error(registry: LocalRegistry, session: requests.Session,
                                              client: RegistryClient) -> None:
    repo = _repo()
    oci.push_image(session, f"http://{registry.host}", repo, "t", config=b"{nope")
    with pytest.raises(RegistryError, match="not valid JSON"):
        client.image_labels(repo, "t")
