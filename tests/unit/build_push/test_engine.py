"""What the engine is asked to pull for a cache source: the reference split by imageref."""
from __future__ import annotations

import pytest
from build_push.engine import pull_source

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(("ref", "expected"), [
    ("registry.example.com/acme/web:1.2", ("registry.example.com/acme/web", "1.2")),
    ("registry.example.com/acme/web", ("registry.example.com/acme/web", "latest")),
    ("localhost:5000/acme/web", ("localhost:5000/acme/web", "latest")),
    ("localhost:5000/acme/web:main", ("localhost:5000/acme/web", "main")),
    # a digest is pulled by itself (it was cut at its ':' into 'web@sha256' and the hex)
    (f"registry.example.com/acme/web@{DIGEST}", ("registry.example.com/acme/web", DIGEST)),
    (f"localhost:5000/web:1.2@{DIGEST}", ("localhost:5000/web", DIGEST)),
    ("redis", ("redis", "latest")),
])
def test_pull_source_splits_by_imageref(ref: str, expected: tuple[str, str]) -> None:
    assert pull_source(ref) == expected
