"""Reading a pipe's hand-off file as a later pipe of the step finds it (for the assertions)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipes_common import handoff
from testbed.pipes import SHARED_STORAGE


def outputs_of(build_dir: Path, pipe: str, owner: str = "do-pipes") -> dict[str, Any]:
    """The ``outputs`` object of ``$PIPES_DIR/<owner>/<pipe>/outputs.json``, its envelope checked."""
    doc = json.loads((build_dir / SHARED_STORAGE / owner / pipe / handoff.FILE_NAME).read_text())
    assert doc["kind"] == handoff.KIND and doc["schema"] == handoff.SCHEMA_VERSION, doc
    assert doc["pipe"] == pipe, doc
    return dict(doc["outputs"])
