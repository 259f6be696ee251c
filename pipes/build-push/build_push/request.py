"""What to build: one request for both builders (the classic engine API and BuildKit's CLI)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

Auth = dict[str, str]  # the registry credentials the engine pulls and pushes with (docker's auth_config)


@dataclass
class BuildRequest:
    context: Path
    dockerfile: Path
    tag: str
    target: str | None = None
    build_args: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    cache_from: list[str] = field(default_factory=list)
    network: str | None = None
    # BuildKit only (the pipe refuses them with the classic builder before it builds)
    cache_to: str | None = None
    # buildx only: the platforms of a multi-platform build; buildx pushes the image itself as every
    # one of ``push_tags`` (full references) when given (an engine of the graph-driver store cannot
    # hold a multi-platform image; on the containerd store the cache is exported after the push)
    platforms: tuple[str, ...] = ()
    push_tags: list[str] = field(default_factory=list)
    provenance: str | None = None  # buildx: min, max or off (None: buildx's own default)
    sbom: str | None = None        # buildx: an SBOM attestation ('' the default generator, or its image)
    inline_cache: bool = True
    secrets: dict[str, str] = field(default_factory=dict, repr=False)  # id -> value
    ssh_key: str | None = field(default=None, repr=False)
    # registry host -> (username, password): BuildKit reads the cache sources from the registry
    registry_auth: dict[str, tuple[str, str]] = field(default_factory=dict, repr=False)
