"""build-push's orchestration (pre-flight, skip or build, push, tags, outputs) against small fakes
of the pipe's ports: the DigitalOcean API client, the registry client and the Docker engine (build,
pull, push).  The real services are the integration tests' job; these fail in milliseconds when
the order or the choices of ``build_push.pipe.main`` break."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from build_push import builder, pipe, preflight, pusher
from build_push.request import BuildRequest
from build_push.schema import SCHEMA
from pipes_common.docr import DOApiError, DockerCredentials
from pipes_common.errors import PipeError
from pipes_common.registry import ManifestRef
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
    revisions: dict[str, str] = field(default_factory=dict)  # digest -> its revision label
    calls: list[tuple[Any, ...]] = field(default_factory=list)
    creds: tuple[str | None, str | None] = (None, None)

    def ping(self) -> None:
        self.calls.append(("ping",))

    def head_manifest(self, repo: str, ref: str) -> ManifestRef | None:
        self.calls.append(("head", ref))
        digest = self.manifests.get(ref) if repo == REPO else None
        return None if digest is None else ManifestRef(digest, "application/vnd.oci.image.manifest.v1+json", 1)

    def image_labels(self, repo: str, ref: str) -> dict[str, str]:
        self.calls.append(("labels", ref))
        revision = self.revisions.get(ref)
        return {} if revision is None else {"org.opencontainers.image.revision": revision}

    def add_tag(self, repo: str, source_ref: str, tag: str) -> str:
        self.calls.append(("add_tag", source_ref, tag))
        self.manifests[tag] = self.manifests[source_ref]
        return self.manifests[tag]

    def tags(self, repo: str) -> list[str] | None:
        self.calls.append(("tags",))
        return sorted(self.manifests) or None


@dataclass
class FakeEngine:
    """The Docker engine port: pulls, builds, tags, pushes (into the fake registry)."""

    registry: FakeRegistry
    events: list[tuple[Any, ...]] = field(default_factory=list)

    @property
    def api(self) -> FakeEngine:
        return self

    @property
    def networks(self) -> FakeEngine:
        return self

    def list(self, names: list[str]) -> list[str]:
        return ["bridge"]

    def pull(self, repo: str, tag: str, auth_config: dict[str, str] | None) -> None:
        self.events.append(("pull", f"{repo}:{tag}", auth_config))

    def tag(self, image_id: str, repo: str, tag: str) -> None:
        self.events.append(("tag", tag))

    def build(self, client: object, req: BuildRequest) -> str:
        self.events.append(("build", req))
        return "sha256:image"

    def push(self, client: object, repository: str, tag: str, auth: dict[str, str]) -> str:
        self.events.append(("push", f"{repository}:{tag}", auth))
        self.registry.manifests[tag] = NEW
        self.registry.revisions[NEW] = COMMIT
        return NEW


@dataclass
class Ports:
    do: FakeDO
    registry: FakeRegistry
    engine: FakeEngine
    build_dir: Path

    def built(self) -> BuildRequest | None:
        found = [e[1] for e in self.engine.events if e[0] == "build"]
        return found[0] if found else None

    def outputs(self) -> dict[str, str]:
        return dotenv.source(self.build_dir / ".do-pipes" / "build-push.env")


@pytest.fixture()
def ports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Ports:
    for name in list(SCHEMA) + [f"{n}_COUNT" for n in SCHEMA]:
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    env = {"BITBUCKET_CLONE_DIR": str(tmp_path), "BITBUCKET_COMMIT": COMMIT, "BITBUCKET_BRANCH": "main",
           "BITBUCKET_PIPE_SHARED_STORAGE_DIR": str(tmp_path / "shared"),
           "DIGITALOCEAN_ACCESS_TOKEN": "dop_v1_unit", "REGISTRY_NAME": "acme", "IMAGE": "web"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    do, registry = FakeDO(), FakeRegistry()
    engine = FakeEngine(registry)

    def registry_client(host: str, username: str | None, password: str | None) -> FakeRegistry:
        registry.creds = (username, password)
        return registry

    monkeypatch.setattr(pipe, "DigitalOceanClient", lambda token, url: do)
    monkeypatch.setattr(pipe, "RegistryClient", registry_client)
    monkeypatch.setattr(pipe, "_docker", lambda: engine)
    monkeypatch.setattr(builder, "build", engine.build)
    monkeypatch.setattr(pusher, "push", engine.push)
    return Ports(do, registry, engine, tmp_path)


def test_commit_already_pushed_skips_the_engine(ports: Ports, monkeypatch: pytest.MonkeyPatch) -> None:
    ports.registry.manifests = {SHA_TAG: OLD}
    ports.registry.revisions = {OLD: COMMIT}

    def no_engine() -> None:
        raise AssertionError("the Docker engine is not needed to skip")

    monkeypatch.setattr(pipe, "_docker", no_engine)
    assert pipe.main() == 0
    assert ports.engine.events == []
    assert ("add_tag", SHA_TAG, "main") in ports.registry.calls  # the missing branch tag, server-side
    assert ports.registry.creds == ("short-user", "short-password")
    out = ports.outputs()
    assert (out["BUILD_PUSH_DIGEST"], out["BUILD_PUSH_SKIPPED"]) == (OLD, "true")


def test_new_commit_preflight_build_push_tags(ports: Ports) -> None:
    ports.registry.manifests = {"main": OLD}  # the branch's previous image: the build cache
    assert pipe.main() == 0
    # pre-flight, in order, with the documented 30-minute read-write credentials
    assert ports.do.calls[:3] == [("registry", "acme"), ("gc", "acme"),
                                  ("credentials", "acme", HOST, 1800, True)]
    heads = [c[1] for c in ports.registry.calls if c[0] == "head"]
    assert heads[:3] == [SHA_TAG, "main", "latest"]  # skip check, then the default cache sources
    auth = {"username": "short-user", "password": "short-password"}
    assert ports.engine.events[0] == ("pull", f"{HOST}/{REPO}:main", auth)
    request = ports.built()
    assert request is not None and request.cache_from == [f"{HOST}/{REPO}:main"]
    assert request.tag == f"{HOST}/{REPO}:{SHA_TAG}"
    assert request.labels["org.opencontainers.image.revision"] == COMMIT
    assert ("push", f"{HOST}/{REPO}:{SHA_TAG}", auth) in ports.engine.events
    assert ports.registry.manifests == {SHA_TAG: NEW, "main": NEW}
    out = ports.outputs()
    assert (out["BUILD_PUSH_DIGEST"], out["BUILD_PUSH_REF"]) == (NEW, f"{HOST}/{REPO}@{NEW}")
    assert out["BUILD_PUSH_TAGS"] == f"{SHA_TAG} main" and out["BUILD_PUSH_SKIPPED"] == "false"


def test_new_repository_checks_the_plan_limit_before_building(ports: Ports) -> None:
    ports.do.limit, ports.do.count = 2, 2
    with pytest.raises(PipeError, match="already holds 2 repositories"):
        pipe.main()
    assert ports.engine.events == []


def test_garbage_collection_stops_before_any_registry_call(ports: Ports) -> None:
    ports.do.gc = {"uuid": "u", "status": "scanning manifests"}
    with pytest.raises(PipeError, match="read-only while garbage collection"):
        pipe.main()
    assert ports.registry.calls == [] and ports.engine.events == []


def test_push_false_builds_only(ports: Ports, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUSH", "false")
    assert pipe.main() == 0
    assert ports.do.calls == [] and ports.registry.calls == []
    assert [e[0] for e in ports.engine.events] == ["build", "tag"]
    assert ports.outputs()["BUILD_PUSH_DIGEST"] == ""


def test_skip_if_exists_false_builds_an_existing_commit(ports: Ports, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKIP_IF_EXISTS", "false")
    ports.registry.manifests = {SHA_TAG: OLD}
    assert pipe.main() == 0
    assert ports.built() is not None
    assert ports.registry.manifests[SHA_TAG] == NEW


@pytest.mark.parametrize(("given", "expected"), [({"CACHE_FROM_COUNT": "0"}, []),
                                                 ({"CACHE_FROM": "[reg.io/cache:1]"}, ["reg.io/cache:1"])])
def test_cache_from_given_replaces_the_lookups(ports: Ports, monkeypatch: pytest.MonkeyPatch,
                                               given: dict[str, str], expected: list[str]) -> None:
    for key, value in given.items():
        monkeypatch.setenv(key, value)
    ports.registry.manifests = {"main": OLD, "latest": OLD}
    assert pipe.main() == 0
    request = ports.built()
    assert request is not None and request.cache_from == expected
    assert [e[1] for e in ports.engine.events if e[0] == "pull"] == expected
    heads_before_build = [c[1] for c in ports.registry.calls if c[0] == "head"][:2]
    assert "latest" not in heads_before_build


def test_target_reaches_the_build(ports: Ports, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TARGET", "runtime")
    monkeypatch.setenv("PUSH", "false")
    assert pipe.main() == 0
    request = ports.built()
    assert request is not None and request.target == "runtime"


# -- the pre-flight alone ----------------------------------------------------------------------

def test_preflight_falls_back_to_the_token_when_credentials_are_down() -> None:
    do = FakeDO(credentials_error=503)
    creds = preflight.run(do, "acme", HOST, "dop_v1_unit")  # type: ignore[arg-type]
    assert creds == preflight.PushCredentials("dop_v1_unit", "dop_v1_unit")


def test_preflight_refuses_a_read_only_token() -> None:
    with pytest.raises(PipeError, match="can read the registry but not push"):
        preflight.run(FakeDO(credentials_error=403), "acme", HOST, "dop_v1_unit")  # type: ignore[arg-type]


def test_preflight_unknown_registry() -> None:
    do = FakeDO()
    with pytest.raises(PipeError, match="REGISTRY_NAME: no registry 'other'"):
        preflight.run(do, "other", HOST, "dop_v1_unit")  # type: ignore[arg-type]
    assert do.calls == [("registry", "other")]
