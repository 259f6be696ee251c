"""The build strategy: chosen once from what the engine and the docker CLI are, named in one line.

- **classic builder** (no BuildKit): the cache sources are pulled into the engine, then built on.
- **BuildKit, inline cache, cache sources pulled first**: an engine whose images are kept by a
  graph driver (overlay2; Docker 20.10, or a later one without the containerd image store).  Its
  BuildKit writes, into the config of an image built from cache, cache records for the rebuilt
  layers only, so reading a cache source from the registry hits on every second commit; pulled
  into the engine first, the image's own layers are reused on every commit (measured in
  docs/BENCHMARKS.md (f)).  No cache export, no multi-platform image (the engine's BuildKit
  refuses both: "not supported for the docker driver").
- **BuildKit through buildx, registry cache per branch**: the containerd image store keeps every
  cache record; the cache of the image's own layers is exported to the registry (``mode=min``: the
  layers buildx just pushed, so only a manifest and a config travel) under a tag per branch, and
  a new branch starts from the main branch's cache.  Multi-platform images and
  attestations are possible.
"""
from __future__ import annotations

from dataclasses import dataclass

from .buildkit import Cli, EngineInfo

CLASSIC = "classic builder"
PULL_INLINE = "BuildKit, inline cache, cache sources pulled first"
REGISTRY_CACHE = "BuildKit through buildx, registry cache per branch"
CACHE_PREFIX = "buildcache-"
MAIN_BRANCHES = ("main", "master")


@dataclass(frozen=True)
class Strategy:
    name: str
    why: str
    pull_cache: bool       # pull the cache sources into the engine before building
    registry_cache: bool   # buildx: --cache-to/--cache-from type=registry, PLATFORMS, PROVENANCE

    def line(self) -> str:
        return f"Build strategy: {self.name} ({self.why})."


def choose(cli: Cli | None, engine: EngineInfo, no_buildkit: str = "") -> Strategy:
    """The strategy for ``cli`` (None: the classic builder, ``no_buildkit`` says why) on
    ``engine``."""
    if cli is None:
        return Strategy(CLASSIC, f"no BuildKit: {no_buildkit}" if no_buildkit else "BUILDER is classic",
                        pull_cache=True, registry_cache=False)
    if cli.buildx and engine.containerd_store:
        return Strategy(REGISTRY_CACHE, f"{engine.describe()}, buildx {cli.buildx_version or '?'}: "
                        "every cache record is kept and exported", pull_cache=False,
                        registry_cache=True)
    if engine.containerd_store:
        why = f"{engine.describe()} but the docker CLI {cli.version} has no buildx"
    else:
        why = (f"{engine.describe()}: its BuildKit keeps cache records only for rebuilt layers, "
               "pulling the cache sources keeps every commit cached")
    return Strategy(PULL_INLINE, why, pull_cache=True, registry_cache=False)


def missing_for_buildx(cli: Cli | None, engine: EngineInfo) -> str:
    """What the step lacks for a cache export, a multi-platform image or attestations ('' when
    nothing)."""
    lacks = []
    if cli is None or not cli.buildx:
        lacks.append("docker buildx")
    if not engine.containerd_store:
        lacks.append(f"an engine with the containerd image store ({engine.describe()})")
    return " and ".join(lacks)


YAML_FIX = ("in bitbucket-pipelines.yml run the step on runtime 3 (options: runtime: cloud: "
            "version: \"3\") with a Docker service of a current engine that uses the containerd "
            "image store (definitions: services: docker: image: docker:dind, type: docker, "
            "memory: 3072 or more)")
