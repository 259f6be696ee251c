"""Benchmarks of the pipes against the plain tools they replace; results go to docs/BENCHMARKS.md.

Run one with ``./dev bench <name>`` (``python -m bench <name>``), e.g. ``./dev bench build_push``,
or directly with ``.venv/bin/python -m bench.<name>`` from the repository root.  Shared helpers
live in ``bench.report``; the test bed (``tests/testbed``) provides the services.
"""
from __future__ import annotations

import sys
from pathlib import Path

# how the running benchmark was started (set by ``python -m bench``), recorded with its results
INVOKED_AS: str | None = None

# the test bed lives in tests/ (``./dev`` puts it on PYTHONPATH; a direct ``python -m bench.x``
# from the repository root finds it here)
_TESTS = str(Path(__file__).resolve().parents[1] / "tests")
if _TESTS not in sys.path:
    sys.path.append(_TESTS)
