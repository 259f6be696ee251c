"""The build's inputs as one key, recorded on the image as a label: the "already built" skip
takes an image only when it is this commit's *and* was built from the same inputs.

What the key covers: the Dockerfile's content, the context folder (CONTEXT, relative to the
repository), TARGET, BUILD_ARGS and LABELS.  Not in it: what the commit already fixes (the files
of the context are the commit's), what changes no image (the builder, the cache sources, the
network) and the build secrets and SSH key (a value of theirs must never be derived into a label;
a build whose output depends on a secret's value is rebuilt with SKIP_IF_EXISTS: false)."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path

LABEL = "do-pipes.build-push.inputs"


def key(root: Path, dockerfile: Path, context: Path, target: str | None,
        build_args: Mapping[str, str], labels: Mapping[str, str]) -> str:
    """``sha256:<hex>`` of the inputs; the same inputs give the same key on any machine."""
    try:
        folder = context.relative_to(root.resolve()).as_posix()
    except ValueError:  # a context outside the build directory: its absolute path
        folder = context.as_posix()
    document = {
        "dockerfile": hashlib.sha256(dockerfile.read_bytes()).hexdigest(),
        "context": folder,
        "target": target or "",
        "build_args": sorted(build_args.items()),
        "labels": sorted(labels.items()),
    }
    text = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()
