"""build-push: build a Docker image and push it to DigitalOcean Container Registry."""
from __future__ import annotations

PIPE = "build-push"
__version__ = "0.3.1"
