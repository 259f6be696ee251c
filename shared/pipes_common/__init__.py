"""Common library of the DigitalOcean pipes suite.

One module, one job: ``errors`` (the fatal error type), ``secrets`` (what must never be shown),
``log`` (the masking logger and the ✔/✖ lines), ``proc`` (the one subprocess wrapper),
``variables`` (pipe variables on the toolkit's Cerberus schema), ``fsutil`` (atomic writes),
``outputs`` (shared storage and dotenv), ``bitbucket`` (the step's BITBUCKET_* context),
``httpclient`` (retrying requests session), ``registry`` (OCI distribution client), ``docr``
(DigitalOcean registry API), ``runner`` (the entry point wrapper).
"""
from __future__ import annotations

__version__ = "0.1.0"
