"""Images signed by the standard tool, and signatures bent the ways an attacker would bend them.

cosign 2.5.0 (:mod:`testbed.cosign`) signs and attests in the test bed's registry exactly as a
team would (``--tlog-upload=false``: no transparency log here); the bent signatures are made with
the plain distribution API from what cosign wrote (a copied ``.sig`` manifest, a changed payload
blob, a swapped annotation), so the verifier is tested against real bytes, not hand-made ones."""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from . import cosign, oci

PASSWORD = "correct horse battery staple"  # the cosign.key's password in these tests
# a small SPDX 2.3 document, the predicate of `cosign attest --type spdxjson`
SBOM = {"spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT",
        "name": "web", "documentNamespace": "https://example.com/spdx/web",
        "creationInfo": {"created": "2026-01-01T00:00:00Z", "creators": ["Tool: test-bed"]},
        "packages": []}


@dataclass(frozen=True)
class KeyPair:
    key: Path       # cosign.key, encrypted with PASSWORD
    public: Path    # cosign.pub, PEM SPKI

    @property
    def pem(self) -> str:
        return self.public.read_text()


def key_pair(folder: Path) -> KeyPair:
    key, public = cosign.generate_key_pair(folder, PASSWORD)
    return KeyPair(key, public)


@dataclass(frozen=True)
class Signer:
    """cosign against one registry of the test bed, logged in with ``user``/``password``."""

    host: str
    user: str
    password: str
    folder: Path  # DOCKER_CONFIG and the predicate files live here

    @property
    def base(self) -> str:
        return f"http://{self.host}"

    def session(self) -> requests.Session:
        session = requests.Session()
        session.auth = (self.user, self.password)
        return session

    def _config(self) -> Path:
        config = self.folder / "docker"
        config.mkdir(parents=True, exist_ok=True)
        auth = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        (config / "config.json").write_text(json.dumps({"auths": {self.host: {"auth": auth}}}))
        return config

    def sign(self, keys: KeyPair, repo: str, digest: str, referrers: bool = False) -> None:
        """``cosign sign --key cosign.key --tlog-upload=false <host>/<repo>@<digest>``; with
        ``referrers``, as an OCI 1.1 referrer (``--registry-referrers-mode=oci-1-1``, experimental
        in cosign 2.5: no ``.sig`` tag, a manifest whose ``subject`` is the image)."""
        mode = ("--registry-referrers-mode=oci-1-1",) if referrers else ()
        cosign.run("sign", "--key", str(keys.key), "--tlog-upload=false", "--yes", *mode,
                   f"{self.host}/{repo}@{digest}", docker_config=self._config(),
                   env={"COSIGN_PASSWORD": PASSWORD, "COSIGN_EXPERIMENTAL": "1" if referrers else "0"})

    def attest(self, keys: KeyPair, repo: str, digest: str,
               predicate: dict[str, Any] | None = None, kind: str = "spdxjson") -> None:
        """``cosign attest --type spdxjson --predicate sbom.json --key … --tlog-upload=false``."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / "predicate.json"
        path.write_text(json.dumps(predicate if predicate is not None else SBOM))
        cosign.run("attest", "--key", str(keys.key), "--tlog-upload=false", "--yes",
                   "--type", kind, "--predicate", str(path), f"{self.host}/{repo}@{digest}",
                   env={"COSIGN_PASSWORD": PASSWORD}, docker_config=self._config())

    def verify(self, keys: KeyPair, repo: str, digest: str) -> bool:
        """What ``cosign verify --key cosign.pub --insecure-ignore-tlog=true`` says."""
        return cosign.run("verify", "--key", str(keys.public), "--insecure-ignore-tlog=true",
                          f"{self.host}/{repo}@{digest}", docker_config=self._config(),
                          check=False).returncode == 0

    # -- reading and bending what cosign wrote ----------------------------------------------
    def manifest(self, repo: str, tag: str) -> dict[str, Any]:
        resp = self.session().get(f"{self.base}/v2/{repo}/manifests/{tag}", timeout=30,
                                  headers={"Accept": oci.OCI_MANIFEST})
        resp.raise_for_status()
        doc: dict[str, Any] = resp.json()
        return doc

    def blob(self, repo: str, digest: str) -> bytes:
        resp = self.session().get(f"{self.base}/v2/{repo}/blobs/{digest}", timeout=30)
        resp.raise_for_status()
        return resp.content

    def put_manifest(self, repo: str, tag: str, doc: dict[str, Any]) -> None:
        """Put ``doc`` as ``repo:tag``, its blobs copied into ``repo`` first when missing."""
        resp = self.session().put(f"{self.base}/v2/{repo}/manifests/{tag}", timeout=30,
                                  data=json.dumps(doc).encode(),
                                  headers={"Content-Type": oci.OCI_MANIFEST})
        assert resp.status_code == 201, (resp.status_code, resp.text)

    def upload(self, repo: str, data: bytes) -> str:
        return oci.upload_blob(self.session(), self.base, repo, data)

    def copy_blobs(self, source: str, repo: str, doc: dict[str, Any]) -> None:
        """Every blob of ``doc`` (read from ``source``) uploaded into ``repo``."""
        for descriptor in [doc["config"], *doc["layers"]]:
            self.upload(repo, self.blob(source, descriptor["digest"]))
