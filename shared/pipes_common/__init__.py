"""Common library of the DigitalOcean pipes suite.

One module, one job: see ``shared/README.md`` for the list and for what belongs here.
"""
from __future__ import annotations

__version__ = "0.1.0"
