"""Benchmarks of the pipes against the plain tools they replace; results go to docs/BENCHMARKS.md.

Run one with ``./dev bench <name>`` (``python -m bench <name>``), e.g. ``./dev bench build_push``,
or directly with ``.venv/bin/python -m bench.<name>``.  Shared helpers live in ``bench.report``;
the test bed (``tests/testbed``) provides the services.  ``./dev`` installs ``bench``, ``testbed``,
the shared library and every pipe into ``.venv`` (the root pyproject.toml), so they import as
installed packages.
"""
from __future__ import annotations

# how the running benchmark was started (set by ``python -m bench``), recorded with its results
INVOKED_AS: str | None = None
