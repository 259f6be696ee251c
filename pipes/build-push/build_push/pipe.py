"""build-push: check the registry, skip a build already pushed or build, push, hand over."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from pipes_common import cosign, imageref, outputs, registrylogin, runner
from pipes_common import log as plog
from pipes_common.bitbucket import StepContext
from pipes_common.contracts import BuildPushOutputs
from pipes_common.errors import PipeError
from pipes_common.registry import ManifestRef, RegistryError

from . import __version__, buildkit, inputs, preflight, sbom, signatures, sshkeys, strategy, tags
from .ports import DigitalOcean, Engine, Ports, Registry
from .request import Auth, BuildRequest
from .schema import VARIABLES
from .settings import Settings
from .strategy import Strategy

T = TypeVar("T")
# what a registry's failures say ({host}: REGISTRY_HOST's, {repository}: the image's)
REGISTRY_WORDING = registrylogin.Wording(
    unreachable=("REGISTRY_HOST: the registry {host} is unreachable: check REGISTRY_HOST and that "
                 "the step can reach it"),
    rejected=("The registry {host} rejected the credentials (401): check DIGITALOCEAN_ACCESS_TOKEN "
              "(a valid token with registry access)"),
    denied=("The registry {host} denied access to {repository}: give DIGITALOCEAN_ACCESS_TOKEN "
            "access to the registry"),
    denied_write=("The registry {host} denied the write: DIGITALOCEAN_ACCESS_TOKEN can read but "
                  "not push; use a token with registry write scope"),
    failed=None)


@dataclass(frozen=True)
class Outcome:
    """What a run did: the image in the registry (``digest``), or only in the engine."""
    digest: str = ""
    image_id: str = ""
    skipped: bool = False
    signatures: tuple[str, ...] = ()    # the signature references of the pushed digests
    attestations: tuple[str, ...] = ()  # the SBOM attestation references


def main(ports: Ports | None = None) -> int:
    started = time.monotonic()
    values, ctx = runner.start(VARIABLES)
    s = Settings.from_values(values, ctx)
    ports = Ports.real() if ports is None else ports
    plog.get_logger().info("Image %s, tags: %s", s.image, ", ".join(s.tag_plan.tags))
    try:
        s, done = build_and_push(s, ports)
    except RegistryError as err:
        raise registry_failure(err, s) from None
    publish(ctx, s, done)
    plog.success(summary(s, done, time.monotonic() - started))
    return 0


def build_and_push(s: Settings, ports: Ports) -> tuple[Settings, Outcome]:
    """The pipe's work: pre-flight, then skip (the commit is pushed) or build, push, tag; then
    sign what is in the registry (SIGNING_KEY), a skipped build's image too."""
    s, done, registry, auth = push_image(s, ports)
    if s.signing is not None and registry is not None and auth is not None and done.digest:
        done = sign_pushed(registry, s, done, auth)
    return s, done


def push_image(s: Settings, ports: Ports
               ) -> tuple[Settings, Outcome, Registry | None, Auth | None]:
    """Pre-flight, then skip (the commit is pushed) or build, push, tag; the outcome, and the
    registry and credentials of the push (None when not pushing)."""
    # settings that only a build can refuse are checked before any registry call
    chosen = s.needs_buildkit is not None or s.builder != "auto"
    cli, plan = choose_builder(s, ports.buildkit) if chosen else (None, None)
    registry: Registry | None = None
    auth: Auth | None = None
    if s.push:
        do_api, registry, auth = open_registry(s, ports)
        s = forward_only(registry, s)
        existing = already_built(registry, s) if s.skip_if_exists else None
        if existing is not None:
            return s, skip(registry, s, existing), registry, auth
        if do_api is not None and registry.tags(s.repository) is None:
            preflight.check_repository_limit(do_api, s.registry_name, s.image_name)
    # a build it is: in auto mode the docker CLI is probed (a process of its own) while the
    # docker SDK loads and connects to the engine
    probe = None if chosen else in_background(ports.buildkit)
    engine = ports.engine()
    if probe is not None:
        cli, plan = choose_builder(s, probe)
    assert plan is not None
    plog.get_logger().info("%s", plan.line())
    if s.provenance != "off" and not plan.registry_cache:
        plog.get_logger().info("PROVENANCE %s: no attestation attached (attestations need docker "
                               "buildx and the containerd image store).", s.provenance)
    if s.sbom is not None and not plan.registry_cache:
        plog.get_logger().info("SBOM: no SBOM attached (attestations need docker buildx and the "
                               "containerd image store).")
    image_id = build(s, engine, cli, plan, cache_sources(s, registry, plan), auth,
                     cache_export(s, plan))
    if pushes_itself(s, plan) and registry is not None:
        # buildx pushed every tag itself; what it returned is the pushed digest
        return s, Outcome(digest=image_id), registry, auth
    if registry is None or auth is None:
        return s, Outcome(image_id=image_id), None, None
    first = s.tag_plan.tags[0]
    plog.get_logger().info("Pushing %s:%s", s.image, first)
    digest = engine.push(s.image, first, auth)
    sync_tags(registry, s, digest, first)
    return s, Outcome(digest=digest, image_id=image_id), registry, auth


def sign_pushed(registry: Registry, s: Settings, done: Outcome, auth: Auth) -> Outcome:
    """Sign the pushed digest (for an index, each platform's manifest too) with SIGNING_KEY and,
    with SBOM, attach each one's SPDX SBOM as a signed attestation.  What already carries a
    signature (attestation) by this key gets no other.  Any failure is one line saying what is
    in the registry unsigned."""
    assert s.signing is not None
    log = plog.get_logger()
    signed: list[signatures.Written] = []
    attested: list[signatures.Written] = []
    digests = [done.digest]
    try:
        digests = signatures.targets(registry, s.repository, done.digest)
        signed, failed = signatures.sign_each(registry, s.signing, s.image, s.repository, digests)
        if failed is not None:
            raise failed
        log.info("Signatures (%s key): %s.", s.signing.form, "; ".join(
            f"{w.ref} {'added' if w.added else 'already signed by this key'}" for w in signed))
        if s.sbom_attestation:
            attested = sbom_attestations(registry, s, digests, auth)
            log.info("SBOM attestations: %s.", "; ".join(
                f"{w.ref} {'added' if w.added else 'already attested by this key'}"
                for w in attested))
    except (RegistryError, signatures.ArtefactError, cosign.FormatError, PipeError) as err:
        unsigned = [d for d in digests if d not in {w.digest for w in signed}]
        state = ("is pushed but unsigned" if unsigned
                 else "is pushed and signed but has no signed SBOM attestation")
        detail = (f" ({len(unsigned)} of {len(digests)} manifests lack a signature: "
                  f"{', '.join(unsigned)})" if unsigned and len(digests) > 1 else "")
        raise PipeError(f"{s.image}@{done.digest} {state}{detail}: {err}. Fix it and run the "
                        "step again: a re-run signs what lacks a signature by SIGNING_KEY and "
                        "attests what lacks an SBOM") from None
    return replace(done, signatures=tuple(w.ref for w in signed),
                   attestations=tuple(dict.fromkeys(w.ref for w in attested)))


def sbom_attestations(registry: Registry, s: Settings, digests: list[str],
                      auth: Auth) -> list[signatures.Written]:
    """An SPDX SBOM attestation signed by SIGNING_KEY on each of ``digests`` lacking one: an
    image's own SBOM (syft), and for an index (``digests[0]``, its platforms after it) the SBOM
    of its first platform."""
    assert s.signing is not None
    made: dict[str, dict[str, Any]] = {}
    found = []
    for digest in digests:
        had = signatures.attested(registry, s.signing, s.image, s.repository, digest,
                                  cosign.SPDX_JSON_PREDICATE)
        if had is not None:
            found.append(had)
            continue
        source = digests[1] if digest == digests[0] and len(digests) > 1 else digest
        if source not in made:
            made[source] = sbom.spdx(s.image, source, s.host, auth)
            plog.get_logger().info("SBOM of %s@%s: %d packages (syft).", s.image, source,
                                   len(made[source].get("packages") or []))
        found.append(signatures.attest(registry, s.signing, s.image, s.repository, digest,
                                       cosign.SPDX_JSON_PREDICATE, made[source]))
    return found


def pushes_itself(s: Settings, plan: Strategy) -> bool:
    """Whether buildx pushes the image itself (every tag, one index): a multi-platform build, or
    any build of the registry cache strategy (the cache is exported after the push)."""
    return s.push and (bool(s.platforms) or plan.registry_cache)


def in_background(work: Callable[[], T]) -> Callable[[], T]:
    """Start ``work`` in a thread now; the function returned waits for its result (or error)."""
    done: list[T] = []
    failed: list[BaseException] = []

    def run() -> None:
        try:
            done.append(work())
        except BaseException as err:  # handed to the caller, raised there
            failed.append(err)

    thread = threading.Thread(target=run, name="build-push-probe", daemon=True)
    thread.start()

    def result() -> T:
        thread.join()
        if failed:
            raise failed[0]
        return done[0]

    return result


def open_registry(s: Settings, ports: Ports) -> tuple[DigitalOcean | None, Registry, Auth]:
    """The DOCR pre-flight (when it applies) and the registry, checked, with the push credentials."""
    do_api = None
    creds = registrylogin.basic(s.username, s.token)
    if s.preflight:
        do_api = ports.digitalocean(s.token, s.api_url)
        creds = preflight.run(do_api, s.registry_name, s.host, s.token)
    registry = registrylogin.login(ports.registry, s.host, creds)
    return do_api, registry, {"username": creds.username, "password": creds.password}


def forward_only(registry: Registry, s: Settings) -> Settings:
    """The settings without the floating tags of a release that would move them backwards (one
    line each says which and why)."""
    if s.tag_plan.release is None:
        return s
    plan, held = tags.forward_only(s.tag_plan, registry.tags(s.repository) or [])
    release = ".".join(map(str, s.tag_plan.release))
    for tag in held:
        plog.get_logger().info("%s not moved: %s is already pushed, newer than %s (latest, X and "
                               "X.Y move only forward).", tag.tag, tag.newer, release)
    return replace(s, tag_plan=plan)


def already_built(registry: Registry, s: Settings) -> ManifestRef | None:
    """The manifest of the commit tag when it is an image of this very commit built from the same
    inputs, else None.

    The tag holds 7 characters of the commit, which two commits of a big repository can share:
    only the ``org.opencontainers.image.revision`` label equal to the full commit proves the image
    is this commit's (anything else is built and pushed again, the tag then moves, with one
    warning line).  The inputs label proves it was built from the same Dockerfile, TARGET,
    BUILD_ARGS and LABELS (see :mod:`inputs`): other inputs are a new build too."""
    commit_tag = s.tag_plan.commit_tag
    if commit_tag is None:
        return None
    existing = registry.head_manifest(s.repository, commit_tag)
    if existing is None:
        return None
    labels = registry.image_labels(s.repository, existing.digest)
    revision = labels.get(tags.REVISION_LABEL)
    if revision is not None and revision == s.commit:
        if labels.get(inputs.LABEL) == s.inputs:
            return existing
        plog.get_logger().info(
            "%s:%s holds this commit built from other inputs (Dockerfile, CONTEXT, TARGET, "
            "BUILD_ARGS or LABELS differ, or an image without the %s label): building it anew, "
            "which moves the tag.", s.image, commit_tag, inputs.LABEL)
        return None
    plog.get_logger().warning(
        "%s:%s exists but its %s label is %s, not this commit %s (another commit with the same "
        "7 characters?): building and pushing this commit, which moves the tag.", s.image,
        commit_tag, tags.REVISION_LABEL, revision or "not set", s.commit)
    return None


def skip(registry: Registry, s: Settings, existing: ManifestRef) -> Outcome:
    """No build: the commit's image is pushed; point the other planned tags at it server-side."""
    assert s.tag_plan.commit_tag is not None  # already_built found it
    moved = sync_tags(registry, s, existing.digest, s.tag_plan.commit_tag)
    plog.get_logger().info("%s:%s already exists (%s): build skipped%s.", s.image,
                           s.tag_plan.commit_tag, existing.digest,
                           f", tags added: {', '.join(moved)}" if moved else "")
    return Outcome(digest=existing.digest, skipped=True)


def sync_tags(registry: Registry, s: Settings, digest: str, source_tag: str) -> list[str]:
    """Point every planned tag at ``digest`` server-side; return the tags it changed."""
    changed = []
    for tag in s.tag_plan.tags:
        if tag == source_tag:
            continue
        current = registry.head_manifest(s.repository, tag)
        if current is None or current.digest != digest:
            registry.add_tag(s.repository, source_tag, tag)
            changed.append(tag)
    return changed


def cache_sources(s: Settings, registry: Registry | None, plan: Strategy) -> list[str]:
    """CACHE_FROM, or by default what the registry has of: the branch's registry cache (else the
    main branch's, for a new branch) where the strategy exports one; without one, the branch tag
    and ``latest`` (their inline cache, e.g. of images built on an older engine)."""
    if s.cache_from is not None:
        return list(s.cache_from)
    if registry is None:
        return []
    if plan.registry_cache:
        for ref in cache_refs(s):
            if registry.head_manifest(s.repository, ref) is not None:
                # it holds the records of every layer of the branch's image: reading that
                # image's inline cache too would only cost BuildKit more round trips
                return [f"type=registry,ref={s.image}:{ref}"]
    wanted = [t for t in (s.tag_plan.branch_tag, "latest") if t]
    return [f"{s.image}:{t}" for t in wanted if registry.head_manifest(s.repository, t) is not None]


def cache_refs(s: Settings) -> list[str]:
    """The registry cache tags to read, in order: the branch's, then the main branch's."""
    refs = [strategy.CACHE_PREFIX + b for b in (s.tag_plan.branch_tag, *strategy.MAIN_BRANCHES) if b]
    return list(dict.fromkeys(imageref.tag_safe(r) for r in refs))


def cache_export(s: Settings, plan: Strategy) -> str | None:
    """CACHE_TO, or by default (registry cache strategy, pushing a branch) the branch's cache tag.

    The default exports the cache records of the image's own layers (``mode=min``): buildx has
    just pushed those layers, so the export uploads a manifest and a config only.  ``mode=max``
    would also compress and upload every layer of the other stages (a builder stage's base
    image: seconds per build) for no more hits on the next commit when those stages did not
    change (measured in docs/BENCHMARKS.md (b), (f), (g))."""
    if s.cache_to or not plan.registry_cache or not s.push or not s.tag_plan.branch_tag:
        return s.cache_to
    return f"type=registry,ref={s.image}:{cache_refs(s)[0]},mode=min"


def choose_builder(s: Settings, probe: Callable[[], buildkit.Probe]
                   ) -> tuple[buildkit.Cli | None, Strategy]:
    """The BuildKit CLI to build with (None: the classic builder, BUILDER) and the strategy."""
    if s.builder == "classic":
        needs = s.needs_buildkit
        if needs:
            raise PipeError(f"{needs} needs BuildKit but BUILDER is classic: set BUILDER to auto "
                            f"or buildkit, or remove {needs}")
        return None, strategy.choose(None, buildkit.EngineInfo())
    found = probe()
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
        return None, strategy.choose(None, found.engine, found.reason)
    plan = strategy.choose(found.cli, found.engine)
    missing = strategy.missing_for_buildx(found.cli, found.engine)
    if s.platforms and missing:
        raise PipeError(f"PLATFORMS needs {missing}: {strategy.YAML_FIX}; or remove PLATFORMS "
                        "(the image is then built for the Docker engine's platform)")
    if s.cache_to and missing:
        raise PipeError(f"CACHE_TO needs {missing}: {strategy.YAML_FIX}; or remove CACHE_TO "
                        "(the pipe then pulls the cache sources before building)")
    return found.cli, plan


def build(s: Settings, engine: Engine, cli: buildkit.Cli | None, plan: Strategy,
          cache_from: list[str], auth: Auth | None, cache_to: str | None = None) -> str:
    """Build with the cache sources, tag every planned tag in the engine; return the image id.

    Where the strategy says so (the classic builder; BuildKit on an engine without the containerd
    image store) each cache source is pulled into the engine first; otherwise BuildKit reads them
    from the registry, fetching only the layers it reuses.  Either way the push credentials go to
    the pipe's own registry only (REGISTRY_HOST): a cache source elsewhere is read anonymously."""
    log = plog.get_logger()
    cache = []
    for ref in cache_from:
        own = registry_of(ref) == s.host.lower()
        if not plan.pull_cache or ref.startswith("type="):
            log.info("Cache source %s (BuildKit reads it from the registry).", ref)
            cache.append(ref)
        elif engine.pull(ref, auth if own else None):
            log.info("Cache source %s pulled%s.", ref, "" if own else " without credentials "
                     "(not on REGISTRY_HOST)")
            cache.append(ref)
    if cache_to:
        log.info("Cache export %s.", cache_to)
    request = BuildRequest(
        context=s.context, dockerfile=s.dockerfile, tag=f"{s.image}:{s.tag_plan.tags[0]}",
        target=s.target, build_args=dict(s.build_args), labels=dict(s.labels), cache_from=cache,
        network=s.network or engine.default_network(), cache_to=cache_to,
        provenance=s.provenance if plan.registry_cache else None,
        sbom=s.sbom if plan.registry_cache else None,
        secrets=dict(s.secrets), ssh_key=s.ssh.key if s.ssh is not None else None,
        registry_auth={s.host: (auth["username"], auth["password"])} if auth and cli else {},
        platforms=s.platforms, inline_cache=not plan.registry_cache,  # its export is the registry's
        push_tags=[f"{s.image}:{tag}" for tag in s.tag_plan.tags] if pushes_itself(s, plan) else [])
    if cli is None:
        log.info("Building %s from %s (classic builder)", s.image, s.dockerfile.name)
    else:
        if s.ssh is not None and s.ssh.known_hosts:
            request.secrets[sshkeys.KNOWN_HOSTS_ID] = s.ssh.known_hosts
        log.info("Building %s from %s (BuildKit, docker CLI %s)", s.image, s.dockerfile.name,
                 cli.version)
    image_id = engine.build(request, cli)
    if request.push_tags:
        log.info("Built and pushed %s%s", image_id,
                 f" for {', '.join(s.platforms)}" if s.platforms else "")
        return image_id
    for tag in s.tag_plan.tags[1:]:
        engine.tag(image_id, s.image, tag)
    log.info("Built %s", image_id)
    return image_id


def registry_of(ref: str) -> str:
    """The registry host of an image reference, lowercase (Docker Hub's for a name without one)."""
    parsed = imageref.parse(ref)
    found = imageref.split_domain(parsed.name if parsed else ref)
    return found[0].lower() if found else "docker.io"


def registry_failure(err: RegistryError, s: Settings) -> PipeError:
    """The one ``✖`` line for a registry failure, by its kind: what to check or change."""
    return registrylogin.failure(err, REGISTRY_WORDING, host=s.host, repository=s.repository)


def publish(ctx: StepContext, s: Settings, done: Outcome) -> None:
    outputs.publish(ctx, BuildPushOutputs(
        image=s.image, tags=tuple(s.tag_plan.tags), digest=done.digest,
        ref=f"{s.image}@{done.digest}" if done.digest else f"{s.image}:{s.tag_plan.tags[0]}",
        skipped=done.skipped, image_id=done.image_id, version=s.tag_plan.version_tag or "",
        commit_tag=s.tag_plan.commit_tag or "", git_tag=ctx.tag or "", floating=s.tag_plan.floating,
        build_number=ctx.build_number or "", source_commit=ctx.commit or "",
        signatures=done.signatures, attestations=done.attestations), __version__)


def summary(s: Settings, done: Outcome, seconds: float) -> str:
    if done.skipped:
        return f"{s.image}@{done.digest} is up to date ({seconds:.1f}s, no build)"
    if not done.digest:
        return f"Built {s.image} as {', '.join(s.tag_plan.tags)} (not pushed: PUSH is false)"
    return f"Pushed {s.image}@{done.digest} as {', '.join(s.tag_plan.tags)} ({seconds:.1f}s)"
