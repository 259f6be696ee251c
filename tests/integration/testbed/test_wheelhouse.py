"""The sample app's wheels: its build installs them from the test bed, never from a package index."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import docker
from testbed.pipes import REPO_ROOT
from testbed.wheelhouse import REQUIREMENTS, WheelHouse

SAMPLE_APP = REPO_ROOT / "tests" / "fixtures" / "sample-app"


def test_the_sample_app_installs_every_wheel_from_the_bed(docker_client: docker.DockerClient,
                                                          base_image: str, tmp_path: Path) -> None:
    """A build of the sample app given the bed's ``WHEELS`` build argument, from scratch (no
    cache), asks the bed for each pinned requirement's wheel and succeeds with pip's
    ``--no-index``: nothing came from a package index."""
    context = tmp_path / "app"
    shutil.copytree(SAMPLE_APP, context)
    with WheelHouse() as house:
        _, logs = docker_client.images.build(
            path=str(context), nocache=True, rm=True, network_mode="host",
            buildargs={"BASE_IMAGE": base_image, "WHEELS": house.url})
        fetched = {path.lstrip("/").split("?")[0] for path in house.requests}
    output = "".join(str(chunk.get("stream", "")) for chunk in logs)
    assert "--no-index" in (context / "Dockerfile").read_text()
    pinned = [line.split("==")[0].lower().replace("-", "_")
              for line in REQUIREMENTS.read_text().split() if "==" in line]
    wheels = {re.split(r"-\d", name, maxsplit=1)[0].lower() for name in fetched if name.endswith(".whl")}
    assert wheels == set(pinned), (fetched, output[-2000:])
    assert "Successfully installed" in output

