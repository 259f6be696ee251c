"""Pushing a tiny image to a registry with the plain distribution API, without Docker.

One random layer (a gzipped tar holding one small file) and its config blob are uploaded
monolithically (``POST /v2/<name>/blobs/uploads/`` then ``PUT <location>?digest=``), then the
manifest is put under a tag.  The session carries the authentication (Basic or a Bearer token).
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import secrets as pysecrets
import tarfile
from dataclasses import dataclass

import requests

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class PushedImage:
    repo: str
    tag: str
    digest: str
    manifest: bytes
    media_type: str
    blobs: tuple[str, ...]


def _layer() -> tuple[bytes, bytes]:
    """``(uncompressed tar, gzipped tar)`` of one small file with random content."""
    content = pysecrets.token_hex(16).encode() + b"\n"
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = len(content)
        info.mode = 0o644
        tar.addfile(info, io.BytesIO(content))
    tar_bytes = raw.getvalue()
    return tar_bytes, gzip.compress(tar_bytes, mtime=0)


def upload_blob(session: requests.Session, base: str, repo: str, data: bytes) -> str:
    digest = digest_of(data)
    resp = session.post(f"{base}/v2/{repo}/blobs/uploads/", timeout=30)
    assert resp.status_code == 202, (resp.status_code, resp.text)
    location = resp.headers["Location"]
    if location.startswith("/"):
        location = base + location
    sep = "&" if "?" in location else "?"
    resp = session.put(f"{location}{sep}digest={digest}", data=data, timeout=30,
                       headers={"Content-Type": "application/octet-stream"})
    assert resp.status_code == 201, (resp.status_code, resp.text)
    return digest


def push_image(session: requests.Session, base: str, repo: str, tag: str,
               media_type: str = OCI_MANIFEST, labels: dict[str, str] | None = None,
               config: bytes | None = None) -> PushedImage:
    """Push a new one-layer image as ``repo:tag``; ``media_type`` is OCI or Docker schema 2.
    ``labels`` go into the image config; ``config`` replaces the whole config blob (any bytes:
    the registry stores a config without reading it)."""
    oci = media_type == OCI_MANIFEST
    tar_bytes, layer = _layer()
    if config is None:
        config = json.dumps({
            "architecture": "amd64", "os": "linux",
            "config": {"Cmd": ["/bin/true"], **({"Labels": labels} if labels is not None else {})},
            "rootfs": {"type": "layers", "diff_ids": [digest_of(tar_bytes)]},
        }, sort_keys=True).encode()
    layer_digest = upload_blob(session, base, repo, layer)
    config_digest = upload_blob(session, base, repo, config)
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": {"mediaType": OCI_CONFIG if oci else DOCKER_CONFIG,
                   "digest": config_digest, "size": len(config)},
        "layers": [{"mediaType": OCI_LAYER if oci else DOCKER_LAYER,
                    "digest": layer_digest, "size": len(layer)}],
    }, indent=3).encode()
    resp = session.put(f"{base}/v2/{repo}/manifests/{tag}", data=manifest, timeout=30,
                       headers={"Content-Type": media_type})
    assert resp.status_code == 201, (resp.status_code, resp.text)
    digest = digest_of(manifest)
    assert resp.headers.get("Docker-Content-Digest") == digest
    return PushedImage(repo, tag, digest, manifest, media_type, (layer_digest, config_digest))


def tag_manifest(session: requests.Session, base: str, image: PushedImage, tag: str) -> None:
    """Put ``image``'s manifest under another tag (plain API, for set-up)."""
    resp = session.put(f"{base}/v2/{image.repo}/manifests/{tag}", data=image.manifest,
                       timeout=30, headers={"Content-Type": image.media_type})
    assert resp.status_code == 201, (resp.status_code, resp.text)


def push_index(session: requests.Session, base: str, repo: str, tag: str,
               entries: list[tuple[PushedImage, dict[str, str]]]) -> str:
    """Put an OCI image index of ``entries`` (each an image already pushed to ``repo`` and its
    ``platform``, in this order) as ``repo:tag``, as BuildKit pushes an image with its attestation
    manifest (platform ``unknown/unknown``); return the index's digest."""
    index = json.dumps({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": image.media_type, "digest": image.digest,
                       "size": len(image.manifest), "platform": platform}
                      for image, platform in entries],
    }, indent=3).encode()
    resp = session.put(f"{base}/v2/{repo}/manifests/{tag}", data=index, timeout=30,
                       headers={"Content-Type": OCI_INDEX})
    assert resp.status_code == 201, (resp.status_code, resp.text)
    assert resp.headers.get("Docker-Content-Digest") == digest_of(index)
    return digest_of(index)
