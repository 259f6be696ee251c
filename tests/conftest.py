"""Markers by folder (unit, integration, e2e) and the shared test bed fixtures."""
from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["testbed.fixtures"]

_HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        try:
            kind = Path(item.path).relative_to(_HERE).parts[0]
        except ValueError:
            continue
        if kind in ("unit", "integration", "e2e"):
            item.add_marker(getattr(pytest.mark, kind))
