"""docr-retention e2e: the pipe image run exactly as Bitbucket runs it (testbed.pipes.pipe_command),
against the DO API stub backed by the local registry and a GitOps repository on the git server:
the dry run's plan, then the real run deleting exactly it and collecting."""
from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from pathlib import Path

import requests
from testbed import leaks, oci
from testbed.do_stub import DOApiStub, RegistryBackend
from testbed.fixtures import DOCR_REGISTRY_NAME
from testbed.git_http import GitHttpServer, create_repo
from testbed.pipes import PipeHost, bitbucket_env, pipe_command, run_pipe
from testbed.registry import LocalRegistry


def test_pipe_image_plans_then_deletes_the_plan(pipe_image: Callable[[str], str], pipe_host: PipeHost,
                                                registry: LocalRegistry, do_api: DOApiStub, do_token: str,
                                                git_http: GitHttpServer, git_token: str, tmp_path: Path) -> None:
    pipe = f"docker://{pipe_image('docr-retention')}"
    repo = f"e2e{uuid.uuid4().hex[:8]}"
    session = requests.Session()
    session.auth = (do_token, do_token)
    base = f"http://{registry.host}"
    images = [oci.push_image(session, base, repo, f"main-{n:07x}") for n in range(1, 5)]
    oci.tag_manifest(session, base, images[-1], "main")
    signature = oci.push_image(session, base, repo, f"sha256-{images[0].digest[7:]}.sig")
    assert signature
    updated = {f"main-{n:07x}": f"2026-09-01T0{n}:00:00Z" for n in range(1, 5)}
    RegistryBackend(base, (do_token, do_token)).load(do_api.state, [repo], updated)
    create_repo(git_http.root / f"{repo}.git", {
        "apps/web.yaml": f"image: registry.digitalocean.com/{DOCR_REGISTRY_NAME}/{repo}:main-0000002\n"})
    build = tmp_path / "build"
    build.mkdir()
    step = bitbucket_env(build, branch="main", commit="ab" * 20)
    variables = {"DIGITALOCEAN_ACCESS_TOKEN": do_token, "REGISTRY_NAME": DOCR_REGISTRY_NAME,
                 "DIGITALOCEAN_API_URL": do_api.url, "KEEP_PER_BRANCH": "1",
                 "GITOPS_REPO": git_http.url(f"{repo}.git"), "GITOPS_ACCESS_TOKEN": git_token, "DEBUG": "true"}

    dry = run_pipe(pipe_command(pipe, build, step, pipe_host, variables=variables))
    assert dry.code == 0, dry.output
    planned = set(re.findall(r"delete\s+(\S+)\s{2}", dry.output))
    assert planned == {"main-0000001", "main-0000003", f"sha256-{images[0].digest[7:]}.sig"}, dry.output
    assert "named in GITOPS_REPO" in dry.output and "Dry run:" in dry.last_line()
    assert not [r for r in do_api.state.requests if r[0] != "GET"]

    real = run_pipe(pipe_command(pipe, build, step, pipe_host, variables={**variables, "DRY_RUN": "false"}))
    assert real.code == 0, real.output
    deleted = {path.rsplit("/", 1)[1] for method, path in do_api.state.requests if method == "DELETE"}
    assert deleted == planned
    assert "freed" in real.last_line() and "garbage collection" in real.last_line()
    assert set(registry.tags(repo)) == {"main-0000002", "main-0000004", "main"}
    for secret in (do_token, git_token):
        leaks.assert_absent(secret, text=dry.output + real.output, paths=[build])
