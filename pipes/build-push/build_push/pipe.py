"""build-push: orchestration (variables -> pre-flight -> skip or build -> push -> outputs)."""
from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipes_common import log as plog
from pipes_common import outputs, runner, secrets
from pipes_common.bitbucket import StepContext
from pipes_common.docr import DEFAULT_API_URL, DOCR_HOST, DigitalOceanClient
from pipes_common.errors import PipeError
from pipes_common.handoff import BuildPushOutputs
from pipes_common.registry import ManifestRef, RegistryClient, RegistryError

from . import __version__, buildkit, buildsecrets, preflight, sshkeys, tags
from .request import BuildRequest
from .schema import RULES, SCHEMA

if TYPE_CHECKING:
    import docker

# The docker SDK (and the builder and pusher modules on it) is imported only when the pipe
# builds: a rerun that skips the build, or adds tags server-side, never needs it and starts faster.


@dataclass(frozen=True)
class Settings:
    token: str
    registry_name: str
    image_name: str
    host: str
    username: str | None
    api_url: str | None
    tag_plan: tags.TagPlan
    commit: str | None
    dockerfile: Path
    context: Path
    target: str | None
    build_args: dict[str, str]
    labels: dict[str, str]
    cache_from: list[str] | None
    network: str | None
    skip_if_exists: bool
    push: bool
    builder: str = "auto"
    secrets: dict[str, str] = field(default_factory=dict, repr=False)
    ssh: sshkeys.SshForward | None = field(default=None, repr=False)
    cache_to: str | None = None

    @property
    def needs_buildkit(self) -> str | None:
        """The variable that only BuildKit can honour, if one is set."""
        if self.secrets:
            return "SECRETS"
        if self.ssh is not None:
            return "SSH"
        if self.cache_to:
            return "CACHE_TO"
        return None

    @property
    def repository(self) -> str:
        """The repository path inside the registry: ``<registry>/<image>``."""
        return f"{self.registry_name}/{self.image_name}"

    @property
    def image(self) -> str:
        return f"{self.host}/{self.repository}"

    @property
    def uses_do_api(self) -> bool:
        return self.host == DOCR_HOST or (self.api_url or DEFAULT_API_URL) != DEFAULT_API_URL


def settings(values: dict[str, Any], ctx: StepContext,
             env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    if values.get("PLATFORMS"):
        raise PipeError("PLATFORMS is not supported yet: multi-platform builds need docker buildx "
                        "with a builder of its own, which the pipe does not drive yet; remove "
                        "PLATFORMS (the image is built for the Docker engine's platform)")
    host = str(values["REGISTRY_HOST"]).strip().removeprefix("https://").removeprefix("http://")
    host = host.rstrip("/")
    context = (ctx.clone_dir / str(values["CONTEXT"])).resolve()
    if not context.is_dir():
        raise PipeError(f"CONTEXT: '{values['CONTEXT']}' is not a directory in the build "
                        "directory: set CONTEXT to the folder to build (default '.')")
    dockerfile = (ctx.clone_dir / str(values["DOCKERFILE"])).resolve()
    if not dockerfile.is_file():
        raise PipeError(f"DOCKERFILE: '{values['DOCKERFILE']}' was not found in the build "
                        "directory: set DOCKERFILE to its path, relative to the repository root")
    plan = tags.plan(ctx, values.get("TAGS"))
    labels = tags.oci_labels(ctx, plan)
    labels.update(tags.key_values(values.get("LABELS"), "LABELS"))
    result = Settings(
        token=str(values["DIGITALOCEAN_ACCESS_TOKEN"]),
        registry_name=str(values["REGISTRY_NAME"]),
        image_name=str(values["IMAGE"]),
        host=host,
        username=values.get("REGISTRY_USERNAME"),
        api_url=values.get("DIGITALOCEAN_API_URL"),
        tag_plan=plan,
        commit=ctx.commit,
        dockerfile=dockerfile,
        context=context,
        target=values.get("TARGET") or None,
        build_args=tags.key_values(values.get("BUILD_ARGS"), "BUILD_ARGS"),
        labels=labels,
        cache_from=values.get("CACHE_FROM"),
        network=values.get("NETWORK"),
        skip_if_exists=bool(values["SKIP_IF_EXISTS"]),
        push=bool(values["PUSH"]),
        builder=str(values["BUILDER"]),
        secrets=buildsecrets.parse(values.get("SECRETS"), env),
        ssh=sshkeys.forward(values.get("SSH_KEY"), values.get("KNOWN_HOSTS"))
        if values.get("SSH") else None,
        cache_to=values.get("CACHE_TO") or None,
    )
    sshkeys.check_secret_ids(result.ssh, set(result.secrets))
    return result


def _registry_error(err: RegistryError, s: Settings) -> PipeError:
    if err.kind == "unreachable":
        return PipeError(f"REGISTRY_HOST: the registry {s.host} is unreachable: check "
                         "REGISTRY_HOST and that the step can reach it")
    if err.kind == "auth":
        return PipeError(f"The registry {s.host} rejected the credentials (401): check "
                         "DIGITALOCEAN_ACCESS_TOKEN (a valid token with registry access)")
    if err.kind == "denied":
        if "push" in str(err) or "writing" in str(err):
            return PipeError(f"The registry {s.host} denied the write: DIGITALOCEAN_ACCESS_TOKEN "
                             "can read but not push; use a token with registry write scope")
        return PipeError(f"The registry {s.host} denied access to {s.repository}: give "
                         "DIGITALOCEAN_ACCESS_TOKEN access to the registry")
    return PipeError(str(err))


def _docker() -> docker.DockerClient:
    import docker
    from docker.errors import DockerException

    try:
        client = docker.from_env(timeout=600)
        client.ping()
        return client
    except DockerException:
        raise PipeError("Docker is not available to the pipe: add 'services: [docker]' to the "
                        "step (or pass DOCKER_HOST / mount /var/run/docker.sock when running "
                        "the pipe with docker run)") from None


def _network(client: docker.DockerClient, wanted: str | None) -> str | None:
    if wanted:
        return wanted
    if not client.networks.list(names=["bridge"]):
        plog.get_logger().info("The Docker engine has no default bridge network; RUN steps use "
                               "the host network.")
        return "host"
    return None


def _sync_tags(reg: RegistryClient, s: Settings, digest: str, source_tag: str) -> list[str]:
    """Point every planned tag at ``digest`` server-side; return the tags it changed."""
    changed = []
    for tag in s.tag_plan.tags:
        if tag == source_tag:
            continue
        current = reg.head_manifest(s.repository, tag)
        if current is None or current.digest != digest:
            reg.add_tag(s.repository, source_tag, tag)
            changed.append(tag)
    return changed


def _built_from_this_commit(reg: RegistryClient, s: Settings, commit_tag: str) -> ManifestRef | None:
    """The manifest of ``commit_tag`` when it is an image of this very commit, else None.

    The tag holds 7 characters of the commit, which two commits of a big repository can share:
    only the ``org.opencontainers.image.revision`` label equal to the full commit proves the image
    is this commit's.  Anything else is built and pushed again (the tag then moves), with one
    warning line."""
    existing = reg.head_manifest(s.repository, commit_tag)
    if existing is None:
        return None
    revision = reg.image_labels(s.repository, existing.digest).get(tags.REVISION_LABEL)
    if revision is not None and revision == s.commit:
        return existing
    plog.get_logger().warning(
        "%s:%s exists but its %s label is %s, not this commit %s (another commit with the same "
        "7 characters?): building and pushing this commit, which moves the tag.", s.image,
        commit_tag, tags.REVISION_LABEL, revision or "not set", s.commit)
    return None


def _cache_sources(reg: RegistryClient | None, s: Settings) -> list[str]:
    if s.cache_from is not None:
        return list(s.cache_from)
    if reg is None:
        return []
    wanted = [t for t in (s.tag_plan.branch_tag, "latest") if t]
    return [f"{s.image}:{t}" for t in wanted if reg.head_manifest(s.repository, t) is not None]


def _pull_cache(client: docker.DockerClient, refs: list[str], auth: dict[str, str] | None) -> list[str]:
    from docker.errors import DockerException

    log = plog.get_logger()
    pulled = []
    for ref in refs:
        repo, _, tag = ref.rpartition(":")
        if "/" in tag or not repo:
            repo, tag = ref, "latest"
        try:
            client.api.pull(repo, tag=tag, auth_config=auth)
            pulled.append(ref)
            log.info("Cache source %s pulled.", ref)
        except DockerException as err:
            log.warning("Cache source %s unavailable (%s); building without it.", ref,
                        type(err).__name__)
    return pulled


def choose_builder(s: Settings) -> buildkit.Cli | None:
    """The BuildKit CLI to build with, or None for the classic builder (BUILDER)."""
    if s.builder == "classic":
        needs = s.needs_buildkit
        if needs:
            raise PipeError(f"{needs} needs BuildKit but BUILDER is classic: set BUILDER to auto "
                            f"or buildkit, or remove {needs}")
        return None
    found = buildkit.probe(os.environ)
    if found.cli is None:
        needs = s.needs_buildkit
        if s.builder == "buildkit" or needs:
            variable = "BUILDER" if s.builder == "buildkit" else needs
            raise PipeError(f"{variable} needs BuildKit, which is not available: {found.reason}. "
                            "Use a docker CLI that builds with BuildKit (Bitbucket runtime 2 "
                            "mounts one; the pipe image ships one), or set BUILDER: classic "
                            "without SECRETS, SSH and CACHE_TO")
        plog.get_logger().warning("BuildKit is not available (%s): building with the classic "
                                  "builder.", found.reason)
        return None
    if s.cache_to and not found.cli.buildx:
        raise PipeError(f"CACHE_TO needs docker buildx, which the docker CLI {found.cli.path} "
                        f"({found.cli.version}) lacks: remove CACHE_TO (pushed images carry inline "
                        "cache metadata that CACHE_FROM reuses), or run with a CLI that has buildx")
    return found.cli


def main() -> int:
    started = time.monotonic()
    log = plog.get_logger()
    values, ctx = runner.start(SCHEMA, RULES)
    s = settings(values, ctx)
    log.info("Image %s, tags: %s", s.image, ", ".join(s.tag_plan.tags))
    # settings that only a build can refuse are checked before any registry call
    cli = choose_builder(s) if s.needs_buildkit or s.builder != "auto" else None
    chosen = s.needs_buildkit is not None or s.builder != "auto"

    username, password = (s.username or s.token), s.token
    reg: RegistryClient | None = None
    do_client: DigitalOceanClient | None = None
    if s.push:
        if s.uses_do_api:
            do_client = DigitalOceanClient(s.token, s.api_url or "https://api.digitalocean.com")
            creds = preflight.run(do_client, s.registry_name, s.host, s.token)
            username, password = creds.username, creds.password
        secrets.register(password)
        reg = RegistryClient(s.host, username, password)
        try:
            reg.ping()
            existing = None
            if s.skip_if_exists and s.tag_plan.commit_tag:
                existing = _built_from_this_commit(reg, s, s.tag_plan.commit_tag)
            if existing is not None:
                assert s.tag_plan.commit_tag is not None
                changed = _sync_tags(reg, s, existing.digest, s.tag_plan.commit_tag)
                log.info("%s:%s already exists (%s): build skipped%s.", s.image,
                         s.tag_plan.commit_tag, existing.digest,
                         f", tags added: {', '.join(changed)}" if changed else "")
                _publish(ctx, s, existing.digest, skipped=True)
                plog.success(f"{s.image}@{existing.digest} is up to date "
                             f"({time.monotonic() - started:.1f}s, no build)")
                return 0
            if do_client is not None and reg.tags(s.repository) is None:
                preflight.check_repository_limit(do_client, s.registry_name, s.image_name)
        except RegistryError as err:
            raise _registry_error(err, s) from None

    from . import builder, pusher

    client = _docker()
    if not chosen:
        cli = choose_builder(s)
    auth = {"username": username, "password": password} if s.push else None
    try:
        cache = _pull_cache(client, _cache_sources(reg, s), auth)
    except RegistryError as err:
        raise _registry_error(err, s) from None
    first = s.tag_plan.tags[0]
    network = _network(client, s.network)
    request = BuildRequest(
        context=s.context, dockerfile=s.dockerfile, tag=f"{s.image}:{first}", target=s.target,
        build_args=s.build_args, labels=s.labels, cache_from=cache, network=network,
        cache_to=s.cache_to, secrets=dict(s.secrets),
        ssh_key=s.ssh.key if s.ssh is not None else None)
    if cli is None:
        log.info("Building %s from %s (classic builder)", s.image, s.dockerfile.name)
        image_id = builder.build(client, request)
    else:
        if s.ssh is not None and s.ssh.known_hosts:
            request.secrets[sshkeys.KNOWN_HOSTS_ID] = s.ssh.known_hosts
        log.info("Building %s from %s (BuildKit, docker CLI %s)", s.image, s.dockerfile.name,
                 cli.version)
        image_id = buildkit.build(cli, request, os.environ)
    for tag in s.tag_plan.tags[1:]:
        client.api.tag(image_id, s.image, tag)
    log.info("Built %s", image_id)
    if not s.push or reg is None:
        _publish(ctx, s, None, skipped=False, image_id=image_id)
        plog.success(f"Built {s.image} as {', '.join(s.tag_plan.tags)} (not pushed: PUSH is false)")
        return 0

    assert auth is not None
    log.info("Pushing %s:%s", s.image, first)
    digest = pusher.push(client, s.image, first, auth)
    try:
        _sync_tags(reg, s, digest, first)
    except RegistryError as err:
        raise _registry_error(err, s) from None
    _publish(ctx, s, digest, skipped=False, image_id=image_id)
    plog.success(f"Pushed {s.image}@{digest} as {', '.join(s.tag_plan.tags)} "
                 f"({time.monotonic() - started:.1f}s)")
    return 0


def _publish(ctx: StepContext, s: Settings, digest: str | None, *, skipped: bool,
             image_id: str | None = None) -> None:
    outputs.publish(ctx, BuildPushOutputs(
        image=s.image, tags=tuple(s.tag_plan.tags), digest=digest or "",
        ref=f"{s.image}@{digest}" if digest else f"{s.image}:{s.tag_plan.tags[0]}",
        skipped=skipped, image_id=image_id or ""), __version__)
