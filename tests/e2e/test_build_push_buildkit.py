"""build-push on BuildKit, the image run exactly as Bitbucket runs a pipe (testbed.pipes.pipe_command),
on the test bed's two engine lanes (``engine_lane``): classic (Debian 12's engine 20.10, the Debian
docker CLI mounted at /usr/local/bin/docker as Bitbucket runtime 2 does) and, for the tests
parametrized with it, modern (Debian 13's engine 26.1.5 with the containerd image store as the
step's Docker service, nothing mounted: the pipe image's own CLI and buildx, as on runtime 3)."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import secrets as pysecrets
import subprocess
from collections.abc import Callable
from pathlib import Path

import docker
import pytest
from testbed import leaks, registry_log
from testbed.do_stub import DOApiStub
from testbed.fixtures import DOCR_REGISTRY_NAME, EngineLane, canary
from testbed.git_ssh import GitSshServer
from testbed.pipe_host import agent_ssh_dir
from testbed.pipes import PipeHost, PipeRun, bitbucket_env, pipe_command, run_pipe
from testbed.registry import LocalRegistry

MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
RED_CROSS = "\x1b[31m✖ "


class Bed:
    """One build-push run's surroundings: the pipe image, the pipe host, the registry stand-in."""

    def __init__(self, image: str, lane: EngineLane, registry: LocalRegistry, do_api: DOApiStub,
                 token: str) -> None:
        self.pipe = f"docker://{image}"
        self.lane = lane
        self.host: PipeHost = lane.pipe_host
        self.client = lane.client
        self.registry = registry
        self.do_api = do_api
        self.token = token
        self.base = lane.base

    def variables(self, repo: str, **extra: str) -> dict[str, str]:
        return {"DIGITALOCEAN_ACCESS_TOKEN": self.token, "REGISTRY_NAME": DOCR_REGISTRY_NAME,
                "IMAGE": repo, "REGISTRY_HOST": self.registry.host,
                "DIGITALOCEAN_API_URL": self.do_api.url, "BUILD_ARGS_COUNT": "1",
                "BUILD_ARGS_0": f"BASE_IMAGE={self.base}", **extra}

    def run(self, build_dir: Path, repo: str, *, commit: str | None = None, branch: str = "main",
            **extra: str) -> PipeRun:
        step = bitbucket_env(build_dir, commit=commit or pysecrets.token_hex(20), branch=branch)
        return run_pipe(pipe_command(self.pipe, build_dir, step, self.host,
                                     variables=self.variables(repo, **extra)))

    def config(self, repo: str, tag: str) -> dict[str, object]:
        head = self.registry.get(f"/v2/acme/{repo}/manifests/{tag}", headers={"Accept": MANIFEST})
        blob = self.registry.get(f"/v2/acme/{repo}/blobs/{head.json()['config']['digest']}")
        config: dict[str, object] = blob.json()
        return config


@pytest.fixture()
def bed(pipe_image: Callable[[str], str], engine_lane: EngineLane, registry: LocalRegistry,
        do_api: DOApiStub, do_token: str) -> Bed:
    return Bed(pipe_image("build-push"), engine_lane, registry, do_api, do_token)


BOTH_LANES = pytest.mark.parametrize("engine_lane", ["classic", "modern"], indirect=True)
MODERN = pytest.mark.parametrize("engine_lane", ["modern"], indirect=True)


def _dockerfile(build_dir: Path, body: str) -> None:
    (build_dir / "Dockerfile").write_text("ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n" + body)


def test_run_mount_cache_builds_with_buildkit(bed: Bed, build_dir: Path) -> None:
    marker = pysecrets.token_hex(8)  # a step no earlier run has cached
    run_step = f"RUN --mount=type=cache,target=/root/.cache echo {marker} > /root/.cache/m && cp /root/.cache/m /built"
    _dockerfile(build_dir, f"{run_step}\nCOPY app.py /app.py\n")
    commit = pysecrets.token_hex(20)
    run = bed.run(build_dir, "bk-cache", commit=commit, LABELS_COUNT="1", LABELS_0="team=web")
    assert run.code == 0, run.output
    assert "(BuildKit, docker CLI 20.10" in run.output
    # one line per step with its time, none for BuildKit's internal work
    lines = [line for line in run.output.splitlines() if run_step in line]
    assert len(lines) == 1 and re.search(r"2/3\] RUN .* \(\d+\.\d+s\)", lines[0]), run.output
    assert "[internal]" not in run.output and "#1 " not in run.output
    config = bed.config("bk-cache", f"sha-{commit[:7]}")
    labels = config["config"]["Labels"]  # type: ignore[index]
    assert labels["team"] == "web" and labels["org.opencontainers.image.revision"] == commit
    # labels are build options: no LABEL step in the image's history
    assert "LABEL" not in json.dumps(config["history"])

    again = bed.run(build_dir, "bk-cache")  # the next commit: every step cached
    assert again.code == 0, again.output
    assert f"2/3] {run_step} (cached)" in again.output, again.output


def test_classic_builder_on_the_old_path(bed: Bed, build_dir: Path) -> None:
    _dockerfile(build_dir, "RUN echo classic > /built\n")
    run = bed.run(build_dir, "bk-classic", BUILDER="classic")
    assert run.code == 0, run.output
    assert "(classic builder)" in run.output and "Step 2/" in run.output


def test_multi_stage_target(bed: Bed, build_dir: Path) -> None:
    _dockerfile(build_dir, "RUN echo one > /stage\nFROM ${BASE_IMAGE} AS second\n"
                           "RUN echo two > /stage\nFROM second AS third\nRUN false\n")
    commit = pysecrets.token_hex(20)
    run = bed.run(build_dir, "bk-target", commit=commit, TARGET="second")
    assert run.code == 0, run.output
    history = json.dumps(bed.config("bk-target", f"sha-{commit[:7]}")["history"])
    assert "echo two" in history and "echo one" not in history and "false" not in history


def test_failure_at_a_buildkit_step(bed: Bed, build_dir: Path) -> None:
    _dockerfile(build_dir, "RUN echo first-line-of-output && echo the-last-words && exit 3\n")
    run = bed.run(build_dir, "bk-fail")
    assert run.code == 1
    assert "ERROR: Build failed at [2/2] RUN echo first-line-of-output" in run.output
    assert "ERROR:   the-last-words" in run.output
    last = run.last_line()
    assert last.startswith(RED_CROSS + "Build failed at [2/2] RUN echo first-line-of-output")
    assert "exit code: 3" in last
    assert sum(line.startswith(RED_CROSS) for line in run.output.splitlines()) == 1
    assert "Traceback" not in run.output


def test_secret_never_leaves_the_run_step(bed: Bed, build_dir: Path,
                                          docker_client: docker.DockerClient) -> None:
    token = canary("npm-canary-")
    _dockerfile(build_dir, "RUN --mount=type=secret,id=npmrc,required=true "
                           "sha256sum /run/secrets/npmrc | cut -c1-64 > /checksum\n")
    commit = pysecrets.token_hex(20)
    run = bed.run(build_dir, "bk-secret", commit=commit, SECRETS_COUNT="1",
                  SECRETS_0="npmrc=NPM_TOKEN", NPM_TOKEN=token, DEBUG="true")
    assert run.code == 0, run.output
    ref = f"{bed.registry.host}/acme/bk-secret:sha-{commit[:7]}"
    container = docker_client.containers.create(ref, command=["cat", "/checksum"])
    try:
        data = b"".join(container.get_archive("/checksum")[0])
    finally:
        container.remove()
    assert hashlib.sha256(token.encode()).hexdigest().encode() in data  # the build did see it
    image = docker_client.images.get(ref)
    saved = b"".join(image.save())  # every layer, the config and the history
    for where, blob in (("image", saved), ("history", json.dumps(image.history()).encode()),
                        ("config", json.dumps(image.attrs).encode())):
        assert leaks.found_in(blob, token) is None, where
    leaks.assert_absent(token, text=run.output, paths=[build_dir])


@pytest.mark.parametrize(("extra", "message"), [
    ({"BUILDER": "kaniko"}, "BUILDER must be one of: auto, buildkit, classic"),
    ({"SECRETS_COUNT": "1", "SECRETS_0": "npmrc"}, "SECRETS: entry 1 is not id=VARIABLE"),
    ({"SECRETS_COUNT": "1", "SECRETS_0": "npmrc=NPM_TOKEN"},
     "SECRETS: npmrc=NPM_TOKEN names the variable NPM_TOKEN, which is not set"),
    ({"CACHE_TO": "type=registry,ref=r/x:cache,mode=max"},
     "CACHE_TO needs an engine with the containerd image store"),
    ({"BUILDER": "classic", "SECRETS_COUNT": "1", "SECRETS_0": "npmrc=NPM_TOKEN",
      "NPM_TOKEN": "npm-canary-value"},
     "SECRETS needs BuildKit but BUILDER is classic"),
])
def test_bad_input(bed: Bed, build_dir: Path, extra: dict[str, str], message: str) -> None:
    run = bed.run(build_dir, "bk-bad", **extra)
    assert run.code == 1, run.output
    assert run.last_line().startswith(RED_CROSS + message), run.output
    assert sum(line.startswith(RED_CROSS) for line in run.output.splitlines()) == 1
    assert "Traceback" not in run.output
    assert bed.registry.tags("acme/bk-bad") in (None, [])


def test_ssh_forwards_the_pipelines_key_to_run_mount_ssh(
        bed: Bed, build_dir: Path, tmp_path: Path, git_ssh: GitSshServer,
        docker_client: docker.DockerClient) -> None:
    """A private git dependency cloned over SSH inside the build, with the repository's SSH key
    as Bitbucket mounts it (ssh folder id_rsa_tmp) and its known hosts; the key stays out."""
    name = f"dep-{pysecrets.token_hex(4)}.git"
    work = tmp_path / "dep"
    subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True)
    (work / "dep.txt").write_text("private dependency\n")
    git = ["git", "-C", str(work), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "dep"], check=True)
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(git_ssh.root / name)], check=True)
    ssh_dir = agent_ssh_dir(tmp_path / "agent-ssh", key=git_ssh.client_key,
                            known_hosts=git_ssh.known_hosts_line)
    bed.host = dataclasses.replace(bed.host, ssh_dir=ssh_dir)
    _dockerfile(build_dir, "RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends "
                           "openssh-client >/dev/null\n"
                           "RUN --mount=type=ssh --mount=type=secret,id=known_hosts,target=/root/.ssh/known_hosts "
                           f"git clone -q {git_ssh.url(name)} /dep && rm -rf /dep/.git\n")
    commit = pysecrets.token_hex(20)
    run = bed.run(build_dir, "bk-ssh", commit=commit, SSH="true")
    assert run.code == 0, run.output
    ref = f"{bed.registry.host}/acme/bk-ssh:sha-{commit[:7]}"
    container = docker_client.containers.create(ref, command=["true"])
    try:
        data = b"".join(container.get_archive("/dep/dep.txt")[0])
    finally:
        container.remove()
    assert b"private dependency" in data
    image = docker_client.images.get(ref)
    saved = b"".join(image.save())
    key_body = "".join(git_ssh.client_key.strip().splitlines()[1:-1])
    for blob in (saved, json.dumps(image.history()).encode(), json.dumps(image.attrs).encode()):
        assert leaks.found_in(blob, key_body) is None
    leaks.assert_absent(key_body, text=run.output, paths=[build_dir])


@MODERN
def test_next_commit_on_a_fresh_engine_reuses_the_registry_cache(bed: Bed, build_dir: Path) -> None:
    """The second commit of a branch on a runner that has nothing (no build cache, no image of
    the repository), on the containerd store: the unchanged steps come from the branch's
    registry cache, which BuildKit reads from the registry with the pipe's credentials: the
    layer of the changed step is never fetched (nothing is pulled whole first)."""
    docker_client = bed.client
    marker = pysecrets.token_hex(8)
    slow_step = f"RUN echo {marker} > /deps && sleep 2"
    _dockerfile(build_dir, f"{slow_step}\nCOPY app.py /app.py\n")
    first = bed.run(build_dir, "bk-fresh", branch="feature")
    assert first.code == 0, first.output
    assert f"2/3] {slow_step} (cached)" not in first.output

    for image in docker_client.images.list(name=f"{bed.registry.host}/acme/bk-fresh"):
        docker_client.images.remove(image.id, force=True)
    docker_client.api.prune_builds(all=True)  # BuildKit's cache: a fresh runner has none
    (build_dir / "app.py").write_text((build_dir / "app.py").read_text() + "\n# next commit\n")
    _, index = _index(bed, "bk-fresh", "feature")
    image = next(m for m in index["manifests"]  # type: ignore[attr-defined]
                 if (m.get("platform") or {}).get("os") == "linux")
    manifest = bed.registry.get(f"/v2/acme/bk-fresh/manifests/{image['digest']}",
                                headers={"Accept": image["mediaType"]}).json()
    reused, replaced = (layer["digest"] for layer in manifest["layers"][-2:])  # RUN, COPY app.py

    start = registry_log.offset(bed.registry.log_path)
    second = bed.run(build_dir, "bk-fresh", branch="feature")
    assert second.code == 0, second.output
    assert "bk-fresh:buildcache-feature (BuildKit reads it from the registry)" in second.output
    fetched = {r.uri.rsplit("/", 1)[-1] for r in registry_log.requests_since(
        bed.registry.log_path, bed.registry.host, start) if r.method == "GET" and "/blobs/" in r.uri}
    assert reused in fetched and replaced not in fetched, fetched
    assert f"2/3] {slow_step} (cached" in second.output, second.output
    assert "3/3] COPY app.py /app.py (cached" not in second.output


INDEX = "application/vnd.oci.image.index.v1+json"
ATTESTATION = "attestation-manifest"


def _fresh_engine(bed: Bed, repo: str) -> None:
    """What a fresh runner's engine has of ``repo``: nothing (its images and the build cache gone)."""
    for image in bed.client.images.list(name=f"{bed.registry.host}/acme/{repo}"):
        for ref in image.tags:
            bed.client.images.remove(ref, force=True)
    bed.client.api.prune_builds(all=True)


@BOTH_LANES
def test_every_commit_of_a_branch_reuses_the_cache_on_a_fresh_engine(bed: Bed, build_dir: Path) -> None:
    """Four commits, each on an engine that has nothing: from the second on, every one reuses the
    unchanged step (the measured fix: cache sources pulled first where the engine drops cache
    records; the buildx registry cache per branch on the containerd store)."""
    marker = pysecrets.token_hex(8)
    _dockerfile(build_dir, f"RUN echo {marker} > /marker\nCOPY app.py /app.py\nRUN cat /app.py > /copy\n")
    repo = f"cache-{bed.lane.name}"
    strategy = {"classic": "BuildKit, inline cache, cache sources pulled first",
                "modern": "BuildKit through buildx, registry cache per branch"}[bed.lane.name]
    for number in range(4):
        (build_dir / "app.py").write_text(f"print({number})\n")  # changes per commit
        _fresh_engine(bed, repo)
        run = bed.run(build_dir, repo)
        assert run.code == 0, run.output
        assert f"Build strategy: {strategy} (" in run.output
        if number == 0:
            assert "Cache: 0 of 3 Dockerfile steps reused." in run.output, run.output
        else:
            assert "Cache: 1 of 3 Dockerfile steps reused." in run.output, (number, run.output)
            assert re.search(rf"\[2/4\] RUN echo {marker} > /marker \(cached", run.output), run.output
    if bed.lane.name == "modern":  # the branch's registry cache is in the registry
        assert "buildcache-main" in (bed.registry.tags(f"acme/{repo}") or [])


@MODERN
def test_a_new_branch_starts_from_the_main_branch_cache(bed: Bed, build_dir: Path) -> None:
    marker = pysecrets.token_hex(8)
    _dockerfile(build_dir, f"RUN echo {marker} > /marker\nCOPY app.py /app.py\n")
    assert bed.run(build_dir, "newbranch", branch="main").code == 0
    _fresh_engine(bed, "newbranch")
    (build_dir / "app.py").write_text("print('feature')\n")
    run = bed.run(build_dir, "newbranch", branch="feature/login")
    assert run.code == 0, run.output
    assert "Cache source type=registry,ref=" in run.output and ":buildcache-main " in run.output
    assert "Cache: 1 of 2 Dockerfile steps reused." in run.output, run.output
    assert {"buildcache-main", "buildcache-feature-login"} <= set(bed.registry.tags("acme/newbranch") or [])


@MODERN
def test_the_default_cache_export_uploads_no_layer_outside_the_image(bed: Bed, build_dir: Path) -> None:
    """A builder stage's layers are in no pushed image: the default export (``mode=min``) leaves
    them out, so it uploads nothing buildx did not push with the image (``mode=max`` compressed
    and uploaded the builder's whole base layer on every fresh runner), and the next commit on a
    fresh engine still reuses the unchanged builder stage."""
    marker = pysecrets.token_hex(8)
    (build_dir / "Dockerfile").write_text(
        f"ARG BASE_IMAGE\nFROM ${{BASE_IMAGE}} AS build\nRUN echo {marker} > /out\n"
        "FROM scratch\nCOPY --from=build /out /out\nCOPY app.py /app.py\n")
    first = bed.run(build_dir, "mincache")
    assert first.code == 0, first.output
    _, index = _index(bed, "mincache", "main")
    pushed = set()
    for entry in index["manifests"]:  # type: ignore[attr-defined]
        manifest = bed.registry.get(f"/v2/acme/mincache/manifests/{entry['digest']}",
                                    headers={"Accept": entry["mediaType"]}).json()
        pushed |= {layer["digest"] for layer in manifest["layers"]}
    _, cache = _index(bed, "mincache", "buildcache-main")
    exported = {entry["digest"] for entry in cache["manifests"]  # type: ignore[attr-defined]
                if "layer" in entry["mediaType"]}
    assert exported and exported <= pushed, (exported, pushed)
    assert ":buildcache-main,mode=min." in first.output, first.output

    _fresh_engine(bed, "mincache")
    (build_dir / "app.py").write_text("print('next commit')\n")
    second = bed.run(build_dir, "mincache")
    assert second.code == 0, second.output
    assert re.search(rf"RUN echo {marker} > /out \(cached", second.output), second.output
    assert "Cache: 2 of 3 Dockerfile steps reused." in second.output, second.output


def _index(bed: Bed, repo: str, ref: str) -> tuple[str, dict[str, object]]:
    resp = bed.registry.get(f"/v2/acme/{repo}/manifests/{ref}", headers={"Accept": INDEX})
    assert resp.status_code == 200, resp.text
    return resp.headers["Docker-Content-Digest"], resp.json()


def _platform_configs(bed: Bed, repo: str, index: dict[str, object]) -> dict[str, dict[str, object]]:
    """platform -> image config of each image of ``index`` (attestations aside)."""
    found = {}
    for entry in index["manifests"]:  # type: ignore[attr-defined]
        platform = entry.get("platform") or {}
        if platform.get("os") == "unknown":
            continue
        manifest = bed.registry.get(f"/v2/acme/{repo}/manifests/{entry['digest']}",
                                    headers={"Accept": entry["mediaType"]}).json()
        config = bed.registry.get(f"/v2/acme/{repo}/blobs/{manifest['config']['digest']}").json()
        found[f"{platform['os']}/{platform['architecture']}"] = config
    return found


@MODERN
@pytest.mark.parametrize("dockerfile", [
    "FROM scratch\nCOPY app.py /app.py\n",
    # cross-compiling: the builder stage runs on the build platform for every target platform
    "ARG BASE_IMAGE\nFROM --platform=$BUILDPLATFORM ${BASE_IMAGE} AS build\nARG TARGETOS TARGETARCH\n"
    "RUN echo \"built on $(uname -m) for $TARGETOS/$TARGETARCH\" > /out\n"
    "FROM scratch\nCOPY --from=build /out /platform\n",
], ids=["scratch-copy", "cross-compile"])
def test_platforms_push_one_index_under_every_tag(bed: Bed, build_dir: Path, dockerfile: str) -> None:
    (build_dir / "Dockerfile").write_text(dockerfile)
    repo = f"multi-{pysecrets.token_hex(3)}"
    commit = pysecrets.token_hex(20)
    run = bed.run(build_dir, repo, commit=commit, PLATFORMS="linux/amd64,linux/arm64")
    assert run.code == 0, run.output
    digest, index = _index(bed, repo, f"sha-{commit[:7]}")
    assert index["mediaType"] == INDEX
    assert _index(bed, repo, "main")[0] == digest  # the same index under every tag
    assert f"BUILD_PUSH_DIGEST = {digest}" in run.output
    configs = _platform_configs(bed, repo, index)
    assert sorted(configs) == ["linux/amd64", "linux/arm64"]
    for platform, config in configs.items():
        assert config["architecture"] == platform.split("/")[1]
        labels = config["config"]["Labels"]  # type: ignore[index]
        assert labels["org.opencontainers.image.revision"] == commit
    kinds = [(m.get("annotations") or {}).get("vnd.docker.reference.type")
             for m in index["manifests"]]  # type: ignore[attr-defined]
    assert kinds.count(ATTESTATION) == 2  # PROVENANCE min (the default): one per platform

    # the same commit again: skipped, the new branch's tag added server-side to the index
    again = bed.run(build_dir, repo, commit=commit, branch="release")
    assert again.code == 0, again.output
    assert "build skipped, tags added: release" in again.output
    assert _index(bed, repo, "release")[0] == digest


@MODERN
def test_provenance_off_and_max(bed: Bed, build_dir: Path) -> None:
    (build_dir / "Dockerfile").write_text("FROM scratch\nCOPY app.py /app.py\n")
    for mode, count in (("off", 0), ("max", 1)):
        commit = pysecrets.token_hex(20)
        run = bed.run(build_dir, f"prov-{mode}", commit=commit, PROVENANCE=mode)
        assert run.code == 0, run.output
        _, index = _index(bed, f"prov-{mode}", f"sha-{commit[:7]}")
        attestations = [m for m in index.get("manifests", [])  # type: ignore[attr-defined]
                        if (m.get("annotations") or {}).get("vnd.docker.reference.type") == ATTESTATION]
        assert len(attestations) == count, index


def test_platforms_on_the_classic_engine_say_what_to_change(bed: Bed, build_dir: Path) -> None:
    run = bed.run(build_dir, "bk-platforms", PLATFORMS="linux/amd64,linux/arm64")
    assert run.code == 1, run.output
    last = run.last_line()
    assert last.startswith(RED_CROSS + "PLATFORMS needs an engine with the containerd image store "
                           "(Docker 20.10"), last
    assert "bitbucket-pipelines.yml" in last and "runtime 3" in last and "memory" in last
    assert sum(line.startswith(RED_CROSS) for line in run.output.splitlines()) == 1
    assert "PROVENANCE" not in run.output

