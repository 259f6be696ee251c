"""flux-bump: bump image references in a Flux GitOps repository, exactly and safely."""
from __future__ import annotations

PIPE = "flux-bump"
__version__ = "0.4.0"
