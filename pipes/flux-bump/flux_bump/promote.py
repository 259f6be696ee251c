"""Promotion: the image reference deployed under ``FROM_PATHS``, read exactly (tag and digest).

No registry is asked: what runs in the source overlay (staging, say) is what the target overlay
gets, byte for byte the same reference."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pipes_common import imageref
from pipes_common.errors import PipeError

from . import engine
from .references import Found, Target
from .targets import Requested

PROBE_TAG = "flux-bump-promote-probe"  # never written: only the old values are read
PROBE_DIGEST = "sha256:" + "0" * 64  # so that digest fields and markers are read too


def names_from(req: Requested) -> list[str]:
    """The images to promote: IMAGE, or IMAGES items (bare names; a tag there is refused)."""
    clash = [n for n, v in (("TAG", req.tag), ("DIGEST", req.digest)) if v]
    if clash:
        raise PipeError(f"{' and '.join(clash)} cannot be set when promoting: the tag and digest "
                        "are read from FROM_PATHS; drop them")
    items = [i.strip() for i in req.images]  # never with IMAGE (schema: IMAGES goes alone)
    names = items or ([req.image] if req.image else [])
    if not names:
        raise PipeError("IMAGE is required when promoting: name the image to copy from FROM_PATHS "
                        "(e.g. registry.digitalocean.com/acme/web), or several in IMAGES")
    for name in names:
        if not imageref.is_name(name):
            var = "IMAGES" if items else "IMAGE"
            raise PipeError(f"{var} '{name[:120]}' is not an image repository name: when "
                            "promoting give it without tag or digest (e.g. "
                            "registry.digitalocean.com/acme/web)")
    return list(dict.fromkeys(names))


def _parts(found: Found) -> tuple[str | None, str | None]:
    """The tag and digest one found value spells (None where it spells neither): what the probe
    would have written there says which part the value is."""
    old = found.old
    if old is None:
        return None, None
    if found.new == PROBE_TAG:
        return old, None
    if found.new == PROBE_DIGEST:
        return None, old
    ref = imageref.parse(old.rpartition("=")[2])  # a full reference (an alias= kept aside)
    return (ref.tag, ref.digest) if ref is not None else (None, None)


def deployed(root: Path, names: Sequence[str], from_paths: Sequence[str],
             searched: Sequence[str], pin: bool, helm_keys: tuple[str, ...] = ()) -> list[Target]:
    """For each image, the one reference found under ``from_paths``: its tag and digest."""
    out: list[Target] = []
    where = ", ".join(from_paths)
    for name in names:
        try:
            probe = Target(name, PROBE_TAG, PROBE_DIGEST, helm_keys=helm_keys)
            res = engine.scan(root, probe, from_paths, searched)
        except engine.BumpError as err:
            raise PipeError(f"FROM_PATHS: cannot read {name} exactly: {err}") from None
        tags: dict[str, str] = {}
        digests: dict[str, str] = {}
        for path, found in res.found:
            tag, digest = _parts(found)
            if tag:
                tags.setdefault(tag, f"{path}:{found.line}")
            if digest:
                digests.setdefault(digest, f"{path}:{found.line}")
        if not tags:
            raise PipeError(f"FROM_PATHS ({where}) holds no tagged reference to {name}: check "
                            "FROM_PATHS and IMAGE (spelled as in the manifests)")
        for what, seen in (("tags", tags), ("digests", digests)):
            if len(seen) > 1:
                listed = "; ".join(f"{v} at {w}" for v, w in seen.items())
                raise PipeError(f"FROM_PATHS ({where}) deploys {name} with different {what} "
                                f"({listed}): narrow FROM_PATHS to one environment")
        digest = next(iter(digests), None)
        # the digest is the point of a promotion: when the source pins one, the target does too
        out.append(Target(name, next(iter(tags)), digest, pin or digest is not None,
                          helm_keys=helm_keys))
    return out
