"""Which images one run bumps: IMAGE/TAG/DIGEST, the IMAGES list, or what build-push handed over."""
from __future__ import annotations

from dataclasses import dataclass

from pipes_common import artifacts, imageref
from pipes_common.bitbucket import StepContext
from pipes_common.contracts import BuildPushOutputs
from pipes_common.errors import PipeError
from pipes_common.handoff import HandoffError
from pipes_common.handoff import read as handoff_read
from pipes_common.handoff import read_all as handoff_read_all
from pipes_common.log import get_logger

from .references import Target


@dataclass(frozen=True)
class Requested:
    """What the variables ask for, as given (``IMAGES``, ``IMAGE``, ``TAG``, ``DIGEST``,
    ``POLICY``, ``PIN_DIGEST``); :func:`targets_from` completes it from build-push's hand-off."""
    images: tuple[str, ...] = ()
    image: str | None = None
    tag: str | None = None
    digest: str | None = None
    policies: tuple[str, ...] = ()
    pin: bool = False


def handed_tag(run: BuildPushOutputs, git_tag: str | None) -> str | None:
    """The tag of ``run`` to write, as build-push named it: on a git tag build (``git_tag``,
    ``BITBUCKET_TAG``) the version it pushed for that git tag (or the git tag itself when it
    pushed that); otherwise, or when it pushed neither, the commit's tag (from build-push 0.2.0,
    which did not name it, its first tag: the commit's when known)."""
    if git_tag:
        if run.version:
            return run.version
        if git_tag in run.tags:
            return git_tag
    return run.commit_tag or (run.tags[0] if run.tags else None)


INSTEAD = "set IMAGE and TAG"


def _built(ctx: StepContext, instead: str = INSTEAD) -> BuildPushOutputs | None:
    """build-push's outputs from earlier in this step, or else from an earlier step's artifacts
    (``.do-pipes/build-push.env``); None when there are neither."""
    built = handoff_read(ctx, BuildPushOutputs, instead=instead)
    if built is None:
        built = artifacts.read(ctx, BuildPushOutputs, instead=instead)
        if built is not None:
            get_logger().info("Using build-push's outputs from an earlier step (%s, passed as "
                              "artifacts).", ".do-pipes/build-push.env")
    return built


def _runs(ctx: StepContext) -> list[BuildPushOutputs]:
    """Every run of build-push earlier in this step (oldest first), or else the last run of an
    earlier step that passed its outputs on as artifacts."""
    instead = "set IMAGE and TAG (or IMAGES)"
    runs = handoff_read_all(ctx, BuildPushOutputs, instead=instead)
    if runs:
        return runs
    built = _built(ctx, instead)
    return [built] if built is not None else []


def _unprefixed(image: str, tag: str, ctx: StepContext) -> str:
    """``TAG`` as build-push pushed it: the git tag it built (``TAG: $BITBUCKET_TAG``, ``v1.4.2``)
    is the version it pushed for it (``1.4.2``) when build-push handed ``image`` over with that
    version and without ``tag`` (a hand-off that cannot be read changes nothing: IMAGE and TAG
    are set)."""
    try:
        built = _built(ctx)
    except HandoffError:
        return tag
    if built is None or built.image != image or tag in built.tags or not built.version:
        return tag
    if tag != (built.git_tag or ctx.tag):  # build-push 0.2.0 named no git tag: this step's
        return tag
    get_logger().info("TAG %s: build-push pushed %s as %s (its version tag for that git tag); "
                      "writing %s.", tag, image, built.version, built.version)
    return built.version


def _no_build_push(ctx: StepContext, variable: str, example: str) -> PipeError:
    where = ("BITBUCKET_PIPE_SHARED_STORAGE_DIR is not set" if ctx.shared_storage_dir is None else
             f"none under {ctx.shared_storage_dir}/<owner>/build-push/")
    where += ", nor .do-pipes/build-push.env from an earlier step's artifacts"
    return PipeError(f"{variable} is required: no build-push outputs in this step ({where}): "
                     f"run build-push earlier in the step, or set {variable}, e.g. {example}")


def target_from(req: Requested, ctx: StepContext) -> Target:
    """IMAGE, TAG and DIGEST, defaulting to what build-push handed over earlier in the step."""
    # the hand-off is read only when a value must come from it: a set IMAGE and TAG never fail on it
    built = _built(ctx) if not (req.image and req.tag) else None
    image = req.image or (built.image if built else None)
    tag = req.tag or (handed_tag(built, ctx.tag) if built else None)
    digest = req.digest
    if not digest and not req.image and built:  # its digest only goes with its image
        digest = built.digest or None
    if not image:
        raise _no_build_push(ctx, "IMAGE", "IMAGE: registry.digitalocean.com/acme/web (the image "
                                           "repository as the manifests spell it)")
    if not tag:
        raise _no_build_push(ctx, "TAG", "TAG: 1.4.2")
    if not imageref.is_name(image):
        raise PipeError(f"IMAGE '{image}' is not an image repository name: give it without tag "
                        "or digest, lowercase path components (e.g. registry.digitalocean.com/acme/web)")
    if req.tag:
        tag = _unprefixed(image, tag, ctx)
    if not imageref.is_tag(tag):
        raise PipeError(f"TAG '{tag[:140]}' is not a valid image tag: letters, digits, '_', '.' "
                        "and '-', at most 128, not starting with '.' or '-'")
    if digest and not imageref.is_digest(digest):
        raise PipeError("DIGEST is not a valid digest: give it as sha256:<64 lowercase hex digits>")
    if req.pin and not digest:
        raise PipeError("PIN_DIGEST is true but no DIGEST is known: set DIGEST (sha256:...) or "
                        "run build-push earlier in the step")
    return Target(image, tag, digest or None, req.pin, req.policies)


def parse_item(item: str, pin: bool) -> Target:
    """One ``IMAGES`` item, ``image=tag[@digest]``."""
    shown = item if len(item) <= 120 else item[:120] + "…"
    image, eq, rest = item.strip().partition("=")
    ref = imageref.parse(f"{image}:{rest}") if eq and not rest.endswith("@") else None
    if ref is None or ref.name != image or ref.tag is None:
        raise PipeError(f"IMAGES item '{shown}' is not image=tag[@digest]: give e.g. "
                        "registry.digitalocean.com/acme/web=1.4.2 or "
                        "registry.digitalocean.com/acme/web=1.4.2@sha256:<64 hex digits> (image "
                        "without tag, lowercase; tag of letters, digits, '_', '.', '-')")
    if pin and not ref.digest:
        raise PipeError(f"PIN_DIGEST is true but IMAGES item '{shown}' has no digest: write it "
                        "as image=tag@sha256:…")
    return Target(image, ref.tag, ref.digest, pin)


def _unique(targets: list[Target], what: str) -> list[Target]:
    seen: dict[str, Target] = {}
    for t in targets:
        if t.image in seen and seen[t.image] != t:
            raise PipeError(f"{what} names {t.image} twice with different tags "
                            f"({seen[t.image].tag}, {t.tag}): give each image once")
        seen[t.image] = t
    return list(seen.values())


def targets_from(req: Requested, ctx: StepContext) -> list[Target]:
    """The images to bump, in order: ``IMAGES`` when given; else IMAGE/TAG/DIGEST (defaulting to
    build-push's hand-off); with neither IMAGE nor TAG set and build-push run more than once in
    the step for different images, every image it handed over."""
    pin = req.pin
    if req.images:  # alone, at most 50 items of at most 400 characters: schema.py
        return _unique([parse_item(i, pin) for i in req.images], "IMAGES")
    if not (req.image or req.tag):
        runs = _runs(ctx)
        latest: dict[str, BuildPushOutputs] = {}
        for run in runs:  # oldest first: the last run of each image wins
            latest.pop(run.image, None)
            latest[run.image] = run
        if len(latest) > 1:
            if req.policies:
                raise PipeError("POLICY is set but build-push handed over several images "
                                f"({', '.join(latest)}): set IMAGE and TAG with POLICY, or drop "
                                "POLICY")
            targets = []
            for run in latest.values():
                tag = handed_tag(run, ctx.tag)
                if not tag:
                    raise PipeError(f"build-push handed over {run.image} without a tag: set "
                                    "IMAGES (image=tag[@digest])")
                if pin and not run.digest:
                    raise PipeError(f"PIN_DIGEST is true but build-push handed over {run.image} "
                                    "without a digest (not pushed): push it, or set IMAGES")
                targets.append(Target(run.image, tag, run.digest or None, pin))
            return targets
    return [target_from(req, ctx)]
