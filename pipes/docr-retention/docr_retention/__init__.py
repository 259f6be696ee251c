"""docr-retention: keep a DigitalOcean Container Registry inside its plan without deleting what runs."""
from __future__ import annotations

PIPE = "docr-retention"
__version__ = "0.1.0"
