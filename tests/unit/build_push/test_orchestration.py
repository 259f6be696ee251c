"""build-push's orchestration (pre-flight, skip or build, push, tags, outputs) against small fakes
of the pipe's ports: the DigitalOcean API client, the registry client and the Docker engine (build,
pull, push).  The real services are the integration tests' job; these fail in milliseconds when
the order or the choices of ``build_push.pipe.main`` break (the fakes are handed to it as its
ports, nothing is patched)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from build_push import buildkit, inputs, pipe, preflight
from build_push.ports import Ports
from build_push.request import BuildRequest
from build_push.schema import VARIABLES
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pipes_common import cosign
from pipes_common.docr import DOApiError, DockerCredentials
from pipes_common.errors import PipeError
from pipes_common.registry import ManifestRef, RegistryError, digest_of
from testbed import dotenv

COMMIT = "0123456789abcdef0123456789abcdef01234567"
SHA_TAG = "sha-0123456"
HOST = "registry.digitalocean.com"
REPO = "acme/web"
OLD = "sha256:" + "0" * 64
NEW = "sha256:" + "1" * 64


@dataclass
class FakeDO:
    gc: dict[str, Any] | None = None
    credentials_error: int | None = None
    limit: int = 0
    count: int = 0
    calls: list[tuple[Any, ...]] = field(default_factory=list)

    def registry(self, name: str) -> dict[str, Any] | None:
        self.calls.append(("registry", name))
        return {"name": name} if name == "acme" else None

    def active_garbage_collection(self, name: str) -> dict[str, Any] | None:
        self.calls.append(("gc", name))
        return self.gc

    def docker_credentials(self, name: str, host: str, expiry_seconds: int,
                           read_write: bool = True) -> DockerCredentials:
        self.calls.append(("credentials", name, host, expiry_seconds, read_write))
        if self.credentials_error:
            raise DOApiError("down", self.credentials_error)
        return DockerCredentials("short-user", "short-password")

    def subscription(self) -> dict[str, Any]:
        self.calls.append(("subscription",))
        return {"tier": {"name": "Basic", "included_repositories": self.limit}}

    def repository_count(self, name: str) -> int:
        self.calls.append(("count", name))
        return self.count


@dataclass
class FakeRegistry:
    manifests: dict[str, str] = field(default_factory=dict)  # tag -> digest of REPO
    labels: dict[str, dict[str, str]] = field(default_factory=dict)  # digest -> its image's labels
    calls: list[tuple[Any, ...]] = field(default_factory=list)
    creds: tuple[str | None, str | None] = (None, None)
    refuse_writes: bool = False  # as a registry does for a read-only account (403 on the PUT)

    def ping(self) -> None:
        self.calls.append(("ping",))

    def head_manifest(self, repo: str, ref: str) -> ManifestRef | None:
        self.calls.append(("head", ref))
        digest = self.manifests.get(ref) if repo == REPO else None
        return None if digest is None else ManifestRef(digest, "application/vnd.oci.image.manifest.v1+json", 1)

    def image_labels(self, repo: str, ref: str) -> dict[str, str]:
        self.calls.append(("labels", ref))
        return dict(self.labels.get(ref, {}))

    def add_tag(self, repo: str, source_ref: str, tag: str) -> str:
        self.calls.append(("add_tag", source_ref, tag))
        if self.refuse_writes:
            raise RegistryError(f"Registry {HOST} denied writing the manifest {repo}:{tag} (403)",
                                "denied", 403, write=True)
        self.manifests[tag] = self.manifests[source_ref]
        return self.manifests[tag]

    def tags(self, repo: str) -> list[str] | None:
        self.calls.append(("tags",))
        return sorted(self.manifests) or None

    # signatures: manifests written as bodies (by tag), blobs by digest
    bodies: dict[str, bytes] = field(default_factory=dict)
    blobs: dict[str, bytes] = field(default_factory=dict)
    refuse_signatures: bool = False

    def find_manifest(self, repo: str, ref: str) -> tuple[bytes, str, str] | None:
        self.calls.append(("find", ref))
        if ref in self.bodies:
            body = self.bodies[ref]
        elif ref in self.manifests.values():  # a pushed image: a manifest without an index
            body = json.dumps({"schemaVersion": 2, "layers": []}).encode()
        else:
            return None
        return body, "application/vnd.oci.image.manifest.v1+json", digest_of(body)

    def get_blob(self, repo: str, digest: str) -> bytes:
        return self.blobs[digest]

    def upload_blob(self, repo: str, data: bytes) -> str:
        digest = digest_of(data)
        self.blobs[digest] = data
        return digest

    def put_oci_manifest(self, repo: str, ref: str, manifest: dict[str, Any]) -> str:
        self.calls.append(("put", ref))
        if self.refuse_signatures:
            raise RegistryError(f"Registry {HOST} denied writing the manifest {repo}:{ref} (403)",
                                "denied", 403, write=True)
        self.bodies[ref] = json.dumps(manifest).encode()
        return digest_of(self.bodies[ref])


@dataclass
class FakeEngine:
    """The Docker engine port: pulls, builds, tags, pushes (into the fake registry)."""

    registry: FakeRegistry
    events: list[tuple[Any, ...]] = field(default_factory=list)

    def default_network(self) -> str | None:
        return None

    def pull(self, ref: str, auth: dict[str, str] | None) -> bool:
        self.events.append(("pull", ref, auth))
        return True

    def tag(self, image_id: str, repository: str, tag: str) -> None:
        self.events.append(("tag", tag))

    def build(self, request: BuildRequest, cli: buildkit.Cli | None) -> str:
        self.events.append(("build", request))
        return "sha256:image"

    def push(self, repository: str, tag: str, auth: dict[str, str]) -> str:
        self.events.append(("push", f"{repository}:{tag}", auth))
        self.registry.manifests[tag] = NEW
        built = [e[1] for e in self.events if e[0] == "build"][-1]
        self.registry.labels[NEW] = dict(built.labels)
        return NEW


@dataclass
class Bed:
    do: FakeDO
    registry: FakeRegistry
    engine: FakeEngine
    build_dir: Path
    engine_allowed: bool = True
    buildkit: bool = True  # a BuildKit CLI is found, else the classic builder
    buildx: bool = False   # the CLI found has the buildx plugin
    containerd: bool = False  # the engine keeps images in the containerd image store
    probes: int = 0        # how many times the docker CLI was probed

    @property
    def ports(self) -> Ports:
        def registry_client(host: str, username: str | None, password: str | None) -> FakeRegistry:
            self.registry.creds = (username, password)
            return self.registry

        def engine() -> FakeEngine:
            assert self.engine_allowed, "the Docker engine is not needed here"
            return self.engine

        cli = buildkit.Cli(Path("/usr/bin/docker"), "20.10.24", buildx=self.buildx)
        info = (buildkit.EngineInfo("26.1.5", "overlayfs", True) if self.containerd
                else buildkit.EngineInfo("20.10.24", "overlay2", False))
        found = (buildkit.Probe(cli, "", info) if self.buildkit
                 else buildkit.Probe(None, "no CLI (unit)", info))

        def probe() -> buildkit.Probe:
            self.probes += 1
            return found

        return Ports(digitalocean=lambda token, url: self.do, registry=registry_client,
                     engine=engine, buildkit=probe)

    def main(self) -> int:
        return pipe.main(self.ports)

    def labels(self, **changes: str) -> dict[str, str]:
        """The labels of an image of this commit built from the bed's inputs (``changes`` on top)."""
        key = inputs.key(self.build_dir, self.build_dir / "Dockerfile", self.build_dir, None, {}, {})
        return {"org.opencontainers.image.revision": COMMIT, inputs.LABEL: key, **changes}

    def built(self) -> BuildRequest | None:
        found = [e[1] for e in self.engine.events if e[0] == "build"]
        return found[0] if found else None

    def outputs(self) -> dict[str, str]:
        return dotenv.source(self.build_dir / ".do-pipes" / "build-push.env")


@pytest.fixture()
def bed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Bed:
    for name in [v.name for v in VARIABLES] + [f"{v.name}_COUNT" for v in VARIABLES]:
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    env = {"BITBUCKET_CLONE_DIR": str(tmp_path), "BITBUCKET_COMMIT": COMMIT, "BITBUCKET_BRANCH": "main",
           "BITBUCKET_PIPE_SHARED_STORAGE_DIR": str(tmp_path / "shared"),
           "DIGITALOCEAN_ACCESS_TOKEN": "dop_v1_unit", "REGISTRY_NAME": "acme", "IMAGE": "web"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    registry = FakeRegistry()
    return Bed(FakeDO(), registry, FakeEngine(registry), tmp_path)


def test_commit_already_pushed_skips_the_engine(bed: Bed) -> None:
    bed.registry.manifests = {SHA_TAG: OLD}
    bed.registry.labels = {OLD: bed.labels()}
    bed.engine_allowed = False
    assert bed.main() == 0
    assert bed.engine.events == [] and bed.probes == 0  # nor the docker CLI
    assert ("add_tag", SHA_TAG, "main") in bed.registry.calls  # the missing branch tag, server-side
    assert bed.registry.creds == ("short-user", "short-password")
    out = bed.outputs()
    assert (out["BUILD_PUSH_DIGEST"], out["BUILD_PUSH_SKIPPED"]) == (OLD, "true")


@pytest.mark.parametrize("builder", ["buildkit", "classic"])
def test_new_commit_preflight_build_push_tags(bed: Bed, builder: str) -> None:
    bed.registry.manifests = {"main": OLD}  # the branch's previous image: the build cache
    bed.buildkit = builder == "buildkit"
    assert bed.main() == 0
    # pre-flight, in order, with the documented 30-minute read-write credentials
    assert bed.do.calls[:3] == [("registry", "acme"), ("gc", "acme"),
                                  ("credentials", "acme", HOST, 1800, True)]
    heads = [c[1] for c in bed.registry.calls if c[0] == "head"]
    assert heads[:3] == [SHA_TAG, "main", "latest"]  # skip check, then the default cache sources
    auth = {"username": "short-user", "password": "short-password"}
    request = bed.built()
    assert request is not None and request.cache_from == [f"{HOST}/{REPO}:main"]
    # an engine without the containerd store (overlay2): the cache source is pulled whole first,
    # with the classic builder as with BuildKit (whose records of reused layers it would lose)
    assert bed.engine.events[0] == ("pull", f"{HOST}/{REPO}:main", auth)
    if builder == "classic":
        assert request.registry_auth == {}
    else:  # BuildKit gets the push credentials too
        assert request.registry_auth == {HOST: ("short-user", "short-password")}
    assert request.tag == f"{HOST}/{REPO}:{SHA_TAG}"
    assert request.labels["org.opencontainers.image.revision"] == COMMIT
    assert ("push", f"{HOST}/{REPO}:{SHA_TAG}", auth) in bed.engine.events
    assert bed.registry.manifests == {SHA_TAG: NEW, "main": NEW}
    out = bed.outputs()
    assert (out["BUILD_PUSH_DIGEST"], out["BUILD_PUSH_REF"]) == (NEW, f"{HOST}/{REPO}@{NEW}")
    assert out["BUILD_PUSH_TAGS"] == f"{SHA_TAG} main" and out["BUILD_PUSH_SKIPPED"] == "false"
    assert bed.probes == 1


def test_multi_platform_buildx_pushes_every_tag(bed: Bed, monkeypatch: pytest.MonkeyPatch) -> None:
    """On the containerd store with buildx: the request carries the platforms and every tag,
    buildx pushes them itself; the engine neither tags nor pushes; the branch's registry cache
    is read (else main's) and exported."""
    monkeypatch.setenv("PLATFORMS", "linux/amd64,linux/arm64")
    monkeypatch.setenv("BITBUCKET_BRANCH", "feature/x")
    bed.buildx = bed.containerd = True
    bed.registry.manifests = {"buildcache-main": OLD}
    assert bed.main() == 0
    request = bed.built()
    assert request is not None and request.platforms == ("linux/amd64", "linux/arm64")
    assert request.push_tags == [f"{HOST}/{REPO}:{SHA_TAG}", f"{HOST}/{REPO}:feature-x"]
    assert request.cache_from == [f"type=registry,ref={HOST}/{REPO}:buildcache-main"]
    assert request.cache_to == f"type=registry,ref={HOST}/{REPO}:buildcache-feature-x,mode=min"
    assert request.provenance == "min"
    assert [e[0] for e in bed.engine.events] == ["build"]
    assert bed.outputs()["BUILD_PUSH_DIGEST"] == "sha256:image"  # what buildx pushed


def test_a_registry_cache_found_is_the_only_cache_source(bed: Bed,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """On the registry cache strategy, a branch cache found is read alone: no HEAD of the branch
    image or ``latest`` and no inline cache written into the image (the registry cache holds
    every record; the inline one only cost round trips)."""
    bed.buildx = bed.containerd = True
    bed.registry.manifests = {"buildcache-main": OLD, "main": OLD, "latest": OLD}
    assert bed.main() == 0
    request = bed.built()
    assert request is not None
    assert request.cache_from == [f"type=registry,ref={HOST}/{REPO}:buildcache-main"]
    heads = [c[1] for c in bed.registry.calls if c[0] == "head"]
    assert "latest" not in heads and heads.count("main") <= 1, heads  # main: the tag sync only
    assert request.inline_cache is False


def test_without_a_registry_cache_the_branch_image_is_read(bed: Bed) -> None:
    """A branch with no registry cache yet (e.g. its images were built on an older engine): the
    branch image's inline cache is the cache source."""
    bed.buildx = bed.containerd = True
    bed.registry.manifests = {"main": OLD}
    assert bed.main() == 0
    request = bed.built()
    assert request is not None and request.cache_from == [f"{HOST}/{REPO}:main"]


def test_platforms_stop_the_pipe_before_any_registry_call(bed: Bed,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLATFORMS", "linux/arm64")
    bed.engine_allowed = False
    with pytest.raises(PipeError, match=r"^PLATFORMS needs docker buildx and an engine with the "
                                        r"containerd image store"):
        bed.main()
    assert bed.registry.calls == [] and bed.do.calls == []


@pytest.mark.parametrize("change", [{"BUILD_ARGS": "[APP_ENV=production]"}, {"TARGET": "runtime"},
                                    {"LABELS": "[team=ads]"}, {"CONTEXT": "sub"}, {"Dockerfile": "FROM busybox\n"}])
def test_the_same_commit_from_other_inputs_is_built_anew(bed: Bed, monkeypatch: pytest.MonkeyPatch,
                                                         change: dict[str, str]) -> None:
    bed.registry.manifests = {SHA_TAG: OLD}
    before = bed.labels()  # this commit, built from the bed's inputs
    bed.registry.labels = {OLD: before}
    (bed.build_dir / "sub").mkdir()
    for key, value in change.items():
        if key == "Dockerfile":
            (bed.build_dir / key).write_text(value)
        else:
            monkeypatch.setenv(key, value)
    assert bed.main() == 0
    request = bed.built()
    assert request is not None and bed.registry.manifests[SHA_TAG] == NEW
    assert request.labels[inputs.LABEL] != before[inputs.LABEL]
    assert bed.outputs()["BUILD_PUSH_SKIPPED"] == "false"


def test_a_hotfix_release_moves_only_its_own_minor(bed: Bed, monkeypatch: pytest.MonkeyPatch,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.delenv("BITBUCKET_BRANCH")
    monkeypatch.setenv("BITBUCKET_TAG", "v1.3.5")
    bed.registry.manifests = {"1.4.0": OLD, "1.4": OLD, "1": OLD, "latest": OLD, "1.3.4": OLD, "1.3": OLD}
    assert bed.main() == 0
    moved = {tag for tag, digest in bed.registry.manifests.items() if digest == NEW}
    assert moved == {SHA_TAG, "1.3.5", "1.3"}
    out = bed.outputs()
    assert out["BUILD_PUSH_TAGS"] == f"{SHA_TAG} 1.3.5 1.3" and out["BUILD_PUSH_VERSION"] == "1.3.5"
    held = [r.getMessage() for r in caplog.records if "not moved" in r.getMessage()]
    assert held == [f"{tag} not moved: 1.4.0 is already pushed, newer than 1.3.5 (latest, X and X.Y "
                    "move only forward)." for tag in ("latest", "1")]


def test_a_rerun_of_a_release_skips_with_the_same_outputs(bed: Bed, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BITBUCKET_BRANCH")
    monkeypatch.setenv("BITBUCKET_TAG", "v1.3.5")
    bed.registry.manifests = {"1.4.0": OLD, "latest": OLD}
    assert bed.main() == 0
    first = bed.outputs()
    bed.engine_allowed = False
    assert bed.main() == 0
    again = bed.outputs()
    assert again.pop("BUILD_PUSH_SKIPPED") == "true" and first.pop("BUILD_PUSH_SKIPPED") == "false"
    assert "BUILD_PUSH_IMAGE_ID" not in again and first.pop("BUILD_PUSH_IMAGE_ID")  # nothing built
    assert again == first and first["BUILD_PUSH_VERSION"] == "1.3.5"
    assert bed.registry.manifests["latest"] == OLD


@pytest.mark.parametrize(("write", "expected"), [
    (True, "denied the write: DIGITALOCEAN_ACCESS_TOKEN can read but not push"),
    (False, "denied access to acme/web: give DIGITALOCEAN_ACCESS_TOKEN access")])
def test_a_registry_denial_is_told_by_its_kind(bed: Bed, write: bool, expected: str) -> None:
    """A denied write and a denied read are told apart by the error's ``write``, whatever its
    text says (the skip's server-side tagging writes; its check reads)."""
    bed.registry.manifests = {SHA_TAG: OLD}
    bed.registry.labels = {OLD: bed.labels()}
    bed.registry.refuse_writes = True
    if not write:
        def denied(repo: str, ref: str) -> dict[str, str]:
            raise RegistryError(f"Registry {HOST} denied pushing and writing {repo}:{ref} (403)",
                                "denied", 403)
        bed.registry.image_labels = denied  # type: ignore[method-assign]
    with pytest.raises(PipeError, match=expected):
        bed.main()


def test_new_repository_checks_the_plan_limit_before_building(bed: Bed) -> None:
    bed.do.limit, bed.do.count = 2, 2
    with pytest.raises(PipeError, match="already holds 2 repositories"):
        bed.main()
    assert bed.engine.events == []


def test_garbage_collection_stops_before_any_registry_call(bed: Bed) -> None:
    bed.do.gc = {"uuid": "u", "status": "scanning manifests"}
    with pytest.raises(PipeError, match="read-only while garbage collection"):
        bed.main()
    assert bed.registry.calls == [] and bed.engine.events == []


def test_push_false_builds_only(bed: Bed, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUSH", "false")
    assert bed.main() == 0
    assert bed.do.calls == [] and bed.registry.calls == []
    assert [e[0] for e in bed.engine.events] == ["build", "tag"]
    assert bed.outputs()["BUILD_PUSH_DIGEST"] == ""


def test_skip_if_exists_false_builds_an_existing_commit(bed: Bed, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKIP_IF_EXISTS", "false")
    bed.registry.manifests = {SHA_TAG: OLD}
    assert bed.main() == 0
    assert bed.built() is not None
    assert bed.registry.manifests[SHA_TAG] == NEW


@pytest.mark.parametrize(("given", "expected"), [({"CACHE_FROM_COUNT": "0"}, []),
                                                 ({"CACHE_FROM": "[reg.io/cache:1]"}, ["reg.io/cache:1"])])
def test_cache_from_given_replaces_the_lookups(bed: Bed, monkeypatch: pytest.MonkeyPatch,
                                               given: dict[str, str], expected: list[str]) -> None:
    for key, value in given.items():
        monkeypatch.setenv(key, value)
    bed.buildx = bed.containerd = True  # BuildKit reads the sources from the registry
    bed.registry.manifests = {"main": OLD, "latest": OLD}
    assert bed.main() == 0
    request = bed.built()
    assert request is not None and request.cache_from == expected
    assert [e[1] for e in bed.engine.events if e[0] == "pull"] == []  # BuildKit: no pull first
    heads_before_build = [c[1] for c in bed.registry.calls if c[0] == "head"][:2]
    assert "latest" not in heads_before_build


def test_target_reaches_the_build(bed: Bed, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TARGET", "runtime")
    monkeypatch.setenv("PUSH", "false")
    assert bed.main() == 0
    request = bed.built()
    assert request is not None and request.target == "runtime"


# -- the pre-flight alone ----------------------------------------------------------------------

def test_preflight_falls_back_to_the_token_when_credentials_are_down() -> None:
    do = FakeDO(credentials_error=503)
    creds = preflight.run(do, "acme", HOST, "dop_v1_unit")
    assert creds == preflight.PushCredentials("dop_v1_unit", "dop_v1_unit")


def test_preflight_refuses_a_read_only_token() -> None:
    with pytest.raises(PipeError, match="can read the registry but not push"):
        preflight.run(FakeDO(credentials_error=403), "acme", HOST, "dop_v1_unit")


def test_preflight_unknown_registry() -> None:
    do = FakeDO()
    with pytest.raises(PipeError, match="REGISTRY_NAME: no registry 'other'"):
        preflight.run(do, "other", HOST, "dop_v1_unit")
    assert do.calls == [("registry", "other")]


def test_work_in_background_hands_over_its_result_or_its_error() -> None:
    assert pipe.in_background(lambda: 42)() == 42

    def broken() -> int:
        raise PipeError("the probe failed")

    wait = pipe.in_background(broken)
    with pytest.raises(PipeError, match="the probe failed"):
        wait()


@pytest.mark.parametrize("fallback", [False, True], ids=["short-lived", "api-token"])
def test_classic_cache_from_on_another_host_gets_no_credentials(
        bed: Bed, monkeypatch: pytest.MonkeyPatch, fallback: bool) -> None:
    """The classic builder passed the push credentials (or the API token itself, when short-lived
    credentials failed) to the engine's pull of a CACHE_FROM on any host (issue 20): only a
    source on REGISTRY_HOST gets them now, others are pulled anonymously."""
    if fallback:
        bed.do.credentials_error = 503
    theirs = ["evil.example.com/acme/web:main", "registry.digitalocean.com.evil.example/acme/web:1",
              "localhost:5000/acme/web:main", "library/python:3.12", f"{HOST}:443/{REPO}:main"]
    monkeypatch.setenv("CACHE_FROM", "[" + ", ".join([*theirs, f"{HOST}/{REPO}:main"]) + "]")
    bed.buildkit = False
    assert bed.main() == 0
    pulls = {e[1]: e[2] for e in bed.engine.events if e[0] == "pull"}
    assert all(pulls[ref] is None for ref in theirs), pulls
    assert pulls[f"{HOST}/{REPO}:main"] is not None
    request = bed.built()
    assert request is not None and request.registry_auth == {}


def test_buildkit_credentials_are_for_registry_host_only(bed: Bed, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CACHE_FROM", f"[evil.example.com/acme/web:main, {HOST}/{REPO}:main]")
    assert bed.main() == 0
    request = bed.built()
    assert request is not None and set(request.registry_auth) == {HOST}


def _signing_key(monkeypatch: pytest.MonkeyPatch) -> ec.EllipticCurvePrivateKey:
    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    monkeypatch.setenv("SIGNING_KEY", pem.strip())
    return private


def _signature_layers(bed: Bed, digest: str) -> list[dict[str, Any]]:
    body = bed.registry.bodies.get(cosign.signature_tag(digest))
    layers: list[dict[str, Any]] = json.loads(body)["layers"] if body else []
    return layers


def test_signing_key_signs_the_pushed_digest_after_the_push(
        bed: Bed, monkeypatch: pytest.MonkeyPatch) -> None:
    private = _signing_key(monkeypatch)
    assert bed.main() == 0
    puts = [c for c in bed.registry.calls if c[0] == "put"]
    assert puts == [("put", cosign.signature_tag(NEW))]
    assert bed.registry.calls.index(puts[0]) > bed.registry.calls.index(("add_tag", SHA_TAG, "main"))
    (layer,) = _signature_layers(bed, NEW)
    payload = bed.registry.blobs[layer["digest"]]
    assert payload == cosign.payload(f"{HOST}/{REPO}", NEW)
    signature = cosign.decode_signature(layer["annotations"][cosign.SIGNATURE_ANNOTATION])
    private.public_key().verify(signature, payload, ec.ECDSA(hashes.SHA256()))
    assert bed.outputs()["BUILD_PUSH_SIGNATURES"] == f"{HOST}/{REPO}:{cosign.signature_tag(NEW)}"


def test_a_rerun_that_skips_the_build_signs_once(bed: Bed, monkeypatch: pytest.MonkeyPatch) -> None:
    """A commit pushed before signing was turned on gets its signature on the skipped re-run;
    the next re-run finds it and writes nothing."""
    _signing_key(monkeypatch)
    bed.registry.manifests = {SHA_TAG: OLD, "main": OLD}
    bed.registry.labels = {OLD: bed.labels()}
    bed.engine_allowed = False
    assert bed.main() == 0
    assert len(_signature_layers(bed, OLD)) == 1
    bed.registry.calls.clear()
    assert bed.main() == 0
    assert not [c for c in bed.registry.calls if c[0] == "put"]
    assert len(_signature_layers(bed, OLD)) == 1
    assert bed.outputs()["BUILD_PUSH_SIGNATURES"] == f"{HOST}/{REPO}:{cosign.signature_tag(OLD)}"


def test_a_failed_signature_says_what_was_pushed_unsigned(
        bed: Bed, monkeypatch: pytest.MonkeyPatch) -> None:
    _signing_key(monkeypatch)
    bed.registry.refuse_signatures = True
    with pytest.raises(PipeError) as caught:
        bed.main()
    assert str(caught.value).startswith(f"{HOST}/{REPO}@{NEW} is pushed but unsigned: Registry")
    assert "run the step again" in str(caught.value)
    assert bed.registry.manifests[SHA_TAG] == NEW  # the push itself happened


def test_a_bad_signing_key_stops_before_anything_is_built(
        bed: Bed, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGNING_KEY", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----")
    bed.engine_allowed = False
    with pytest.raises(PipeError, match=r"^SIGNING_KEY is not a valid PRIVATE KEY"):
        bed.main()
    assert bed.registry.calls == [] and bed.do.calls == [] and bed.probes == 0
