"""The release script against real services: the Docker engine builds the pipe image and the
docker CLI pushes it to the loopback registry (htpasswd, as DOCR)."""
from __future__ import annotations

import base64
import json
import os
import secrets as pysecrets
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from testbed import oci
from testbed.docker_engine import DockerEngine
from testbed.net import free_port
from testbed.registry import LocalRegistry
from testbed.release import REPO_ROOT, copy_repo, load

MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


def release(root: Path, tag: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # -I: the script must run on a bare python3 (the release step installs nothing else)
    return subprocess.run([sys.executable, "-I", str(REPO_ROOT / ".ci" / "release.py"), "--root",
                           str(root), tag], env=env, capture_output=True, text=True, check=False,
                          timeout=900)


def test_release_pushes_the_version_and_floating_tags_once(
        tmp_path: Path, docker_engine: DockerEngine, registry: LocalRegistry, base_image: str) -> None:
    (tmp_path / "repo").mkdir()
    root = copy_repo(tmp_path / "repo", "build-push", "0.1.0")
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "DOCKER_HOST": docker_engine.host,
           "DOCKER_CONFIG": str(tmp_path / "docker-config"), "BASE_IMAGE": base_image,
           "BUILD_NETWORK": "host",
           "RELEASE_REGISTRY": f"{registry.host}/do-pipes", "BITBUCKET_COMMIT": "c0ffee" * 6 + "c0ff"}
    login = subprocess.run(["docker", "login", registry.host, "-u", registry.token, "--password-stdin"],
                           input=registry.token, env=env, capture_output=True, text=True, check=False)
    assert login.returncode == 0, login.stderr

    first = release(root, "build-push-v0.1.0", env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert first.stdout.rstrip().splitlines()[-1].startswith("✔ Released build-push 0.1.0 (sha256:")
    summary = json.loads(first.stdout.rstrip().splitlines()[-2])
    assert registry.tags("do-pipes/build-push") == ["0", "0.1", "0.1.0"]
    digests = {registry.get(f"/v2/do-pipes/build-push/manifests/{tag}", headers={"Accept": MANIFEST})
               .headers["Docker-Content-Digest"] for tag in ("0", "0.1", "0.1.0")}
    assert digests == {summary["digest"]}
    manifest = registry.get("/v2/do-pipes/build-push/manifests/0.1.0", headers={"Accept": MANIFEST}).json()
    labels = registry.get(f"/v2/do-pipes/build-push/blobs/{manifest['config']['digest']}").json()[
        "config"]["Labels"]
    assert labels["org.opencontainers.image.version"] == "0.1.0"
    assert labels["org.opencontainers.image.revision"] == env["BITBUCKET_COMMIT"]

    again = release(root, "build-push-v0.1.0", env)
    assert again.returncode == 1
    assert again.stdout.rstrip().splitlines()[-1] == (
        f"✖ {registry.host}/do-pipes/build-push:0.1.0 is already released and a released version "
        "never changes: release a new version instead")
    assert "$ docker build" not in again.stdout and "$ docker push" not in again.stdout
    assert {registry.get(f"/v2/do-pipes/build-push/manifests/{tag}", headers={"Accept": MANIFEST})
            .headers["Docker-Content-Digest"] for tag in ("0", "0.1", "0.1.0")} == digests


def _cli_config(tmp_path: Path, host: str, user: str, password: str) -> Path:
    """A docker CLI configuration holding credentials for ``host`` (what ``docker login`` stores;
    ``docker manifest inspect`` reads the registry itself, no engine involved)."""
    config = tmp_path / "cli-config"
    config.mkdir()
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    (config / "config.json").write_text(json.dumps({"auths": {host: {"auth": auth}}}))
    return config


def test_exists_reads_the_real_docker_cli_answers(tmp_path: Path, registry: LocalRegistry,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """``exists`` on what the docker CLI really prints: a repository the registry does not know
    yet (a first release) and a version not pushed are absent, a pushed one is there, and a
    registry that does not answer stops the release instead of being taken for "absent".

    (With credentials the registry refuses, this CLI prints "no such manifest" as for an absent
    version; the release then stops at its push, which the same refusal fails.)"""
    script = load()
    repo = f"do-pipes/exists-{pysecrets.token_hex(4)}"
    monkeypatch.setenv("DOCKER_CONFIG", str(_cli_config(tmp_path, registry.host, registry.token, registry.token)))
    assert script.exists(f"{registry.host}/{repo}:1.0.0") is False
    session = requests.Session()
    session.auth = (registry.token, registry.token)
    oci.push_image(session, f"http://{registry.host}", repo, "1.0.0", media_type=oci.DOCKER_MANIFEST)
    assert script.exists(f"{registry.host}/{repo}:1.0.0") is True
    assert script.exists(f"{registry.host}/{repo}:1.0.1") is False

    nobody = f"127.0.0.1:{free_port()}"
    with pytest.raises(script.ReleaseError, match=rf"cannot tell whether {nobody}/{repo}:1\.0\.0 exists: .*refused"):
        script.exists(f"{nobody}/{repo}:1.0.0")
