"""Which images one run bumps: IMAGE/TAG/DIGEST, the IMAGES list, or what build-push handed over."""
from __future__ import annotations

import re
from typing import Any

from pipes_common import imageref
from pipes_common.bitbucket import StepContext
from pipes_common.errors import PipeError
from pipes_common.handoff import BuildPushOutputs
from pipes_common.handoff import read as handoff_read
from pipes_common.handoff import read_all as handoff_read_all

from .references import Target

MAX_IMAGES = 50
POLICY_RE = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?:[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
MAX_ITEM = 400  # image (255) = tag (128) @ digest (71), with room


def _built(ctx: StepContext) -> BuildPushOutputs | None:
    """build-push's outputs from earlier in this step (None when it left none)."""
    return handoff_read(ctx, BuildPushOutputs, instead="set IMAGE and TAG")


def _no_build_push(ctx: StepContext, variable: str, example: str) -> PipeError:
    where = ("BITBUCKET_PIPE_SHARED_STORAGE_DIR is not set" if ctx.shared_storage_dir is None else
             f"none under {ctx.shared_storage_dir}/<owner>/build-push/")
    return PipeError(f"{variable} is required: no build-push outputs in this step ({where}): "
                     f"run build-push earlier in the step, or set {variable}, e.g. {example}")


def target_from(values: dict[str, Any], ctx: StepContext) -> Target:
    """IMAGE, TAG and DIGEST, defaulting to what build-push handed over earlier in the step."""
    # the hand-off is read only when a value must come from it: a set IMAGE and TAG never fail on it
    built = _built(ctx) if not (values.get("IMAGE") and values.get("TAG")) else None
    image = values.get("IMAGE") or (built.image if built else None)
    tag = values.get("TAG") or (built.tags[0] if built and built.tags else None)
    digest = values.get("DIGEST")
    if not digest and not values.get("IMAGE") and built:  # its digest only goes with its image
        digest = built.digest or None
    if not image:
        raise _no_build_push(ctx, "IMAGE", "IMAGE: registry.digitalocean.com/acme/web (the image "
                                           "repository as the manifests spell it)")
    if not tag:
        raise _no_build_push(ctx, "TAG", "TAG: 1.4.2")
    image, tag = str(image), str(tag)
    if not imageref.is_name(image):
        raise PipeError(f"IMAGE '{image}' is not an image repository name: give it without tag "
                        "or digest, lowercase path components (e.g. registry.digitalocean.com/acme/web)")
    if not imageref.is_tag(tag):
        raise PipeError(f"TAG '{tag[:140]}' is not a valid image tag: letters, digits, '_', '.' "
                        "and '-', at most 128, not starting with '.' or '-'")
    if digest and not imageref.is_digest(str(digest)):
        raise PipeError("DIGEST is not a valid digest: give it as sha256:<64 lowercase hex digits>")
    policies = tuple(p.strip() for p in values.get("POLICY") or [] if p.strip())
    for policy in policies:
        if not POLICY_RE.match(policy):
            raise PipeError(f"POLICY '{policy}' is not <namespace>:<policy> (as in the markers "
                            "{\"$imagepolicy\": \"flux-system:web\"})")
    pin = bool(values.get("PIN_DIGEST"))
    if pin and not digest:
        raise PipeError("PIN_DIGEST is true but no DIGEST is known: set DIGEST (sha256:...) or "
                        "run build-push earlier in the step")
    return Target(image, tag, str(digest) if digest else None, pin, policies)


def parse_item(item: str, pin: bool) -> Target:
    """One ``IMAGES`` item, ``image=tag[@digest]``."""
    shown = item if len(item) <= 120 else item[:120] + "…"
    if len(item) > MAX_ITEM:
        raise PipeError(f"IMAGES item '{shown}' is longer than {MAX_ITEM} characters: give "
                        "image=tag or image=tag@sha256:<64 hex digits>")
    image, eq, rest = item.strip().partition("=")
    tag, _, digest = rest.partition("@")
    if not eq or not imageref.is_name(image) or not imageref.is_tag(tag) or (
            digest and not imageref.is_digest(digest)) or (rest.endswith("@") and not digest):
        raise PipeError(f"IMAGES item '{shown}' is not image=tag[@digest]: give e.g. "
                        "registry.digitalocean.com/acme/web=1.4.2 or "
                        "registry.digitalocean.com/acme/web=1.4.2@sha256:<64 hex digits> (image "
                        "without tag, lowercase; tag of letters, digits, '_', '.', '-')")
    if pin and not digest:
        raise PipeError(f"PIN_DIGEST is true but IMAGES item '{shown}' has no digest: write it "
                        "as image=tag@sha256:…")
    return Target(image, tag, digest or None, pin)


def _unique(targets: list[Target], what: str) -> list[Target]:
    seen: dict[str, Target] = {}
    for t in targets:
        if t.image in seen and seen[t.image] != t:
            raise PipeError(f"{what} names {t.image} twice with different tags "
                            f"({seen[t.image].tag}, {t.tag}): give each image once")
        seen[t.image] = t
    return list(seen.values())


def targets_from(values: dict[str, Any], ctx: StepContext) -> list[Target]:
    """The images to bump, in order: ``IMAGES`` when given; else IMAGE/TAG/DIGEST (defaulting to
    build-push's hand-off); with neither IMAGE nor TAG set and build-push run more than once in
    the step for different images, every image it handed over."""
    items = [i for i in values.get("IMAGES") or [] if str(i).strip()]
    pin = bool(values.get("PIN_DIGEST"))
    if items:
        clash = [n for n in ("IMAGE", "TAG", "DIGEST", "POLICY") if values.get(n)]
        if clash:
            raise PipeError(f"IMAGES and {', '.join(clash)} are both set: give every image in "
                            "IMAGES (image=tag[@digest]), or one image with IMAGE and TAG "
                            "(POLICY goes with IMAGE)")
        if len(items) > MAX_IMAGES:
            raise PipeError(f"IMAGES has {len(items)} items, more than {MAX_IMAGES}: split the "
                            "bump over several steps")
        return _unique([parse_item(str(i), pin) for i in items], "IMAGES")
    if not (values.get("IMAGE") or values.get("TAG")):
        runs = handoff_read_all(ctx, BuildPushOutputs, instead="set IMAGE and TAG (or IMAGES)")
        latest: dict[str, BuildPushOutputs] = {}
        for run in runs:  # oldest first: the last run of each image wins
            latest.pop(run.image, None)
            latest[run.image] = run
        if len(latest) > 1:
            if values.get("POLICY"):
                raise PipeError("POLICY is set but build-push handed over several images "
                                f"({', '.join(latest)}): set IMAGE and TAG with POLICY, or drop "
                                "POLICY")
            targets = []
            for run in latest.values():
                if not run.tags:
                    raise PipeError(f"build-push handed over {run.image} without a tag: set "
                                    "IMAGES (image=tag[@digest])")
                if pin and not run.digest:
                    raise PipeError(f"PIN_DIGEST is true but build-push handed over {run.image} "
                                    "without a digest (not pushed): push it, or set IMAGES")
                targets.append(Target(run.image, run.tags[0], run.digest or None, pin))
            return targets
    return [target_from(values, ctx)]
