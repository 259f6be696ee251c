"""tf-apply: Terraform with its state in DigitalOcean Spaces, safe in CI."""
from __future__ import annotations

PIPE = "tf-apply"
__version__ = "0.3.0"
