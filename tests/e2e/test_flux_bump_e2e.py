"""flux-bump e2e: the pipe image run as Bitbucket runs it, against the loopback git servers."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

from testbed import leaks
from testbed.bitbucket_stub import BitbucketStub
from testbed.docker_engine import DockerEngine
from testbed.git_http import GitHttpServer, create_repo, git
from testbed.git_ssh import GitSshServer
from testbed.pipes import bitbucket_env, run_container

FILES = {
    "apps/web/kustomization.yaml": "images:\n  - name: registry.example.com/acme/web\n    newTag: \"1.0.0\"\n",
    "apps/web/release.yaml": (
        "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: web\nspec:\n"
        "  values:\n    image:\n      repository: registry.example.com/acme/web\n      tag: 1.0.0\n"),
}


def test_pipe_image_push_pr_and_ssh(pipe_image: object, docker_engine: DockerEngine,
                                    git_http: GitHttpServer, git_ssh: GitSshServer,
                                    bitbucket_api: BitbucketStub, git_token: str,
                                    tmp_path: Path) -> None:
    image = pipe_image("flux-bump")  # type: ignore[operator]
    repo = create_repo(git_http.root / "acme/e2e-gitops.git", FILES)
    build = tmp_path / "build"
    build.mkdir()
    env = bitbucket_env(build, commit="ab" * 20, branch="main")
    env.update({"GITOPS_REPO": git_http.url("acme/e2e-gitops.git"),
                "BITBUCKET_ACCESS_TOKEN": git_token, "IMAGE": "registry.example.com/acme/web",
                "TAG": "1.1.0", "DEBUG": "true"})
    run = run_container(image, env, build, docker_engine.host, [])
    assert run.code == 0, run.output
    assert "✔ Pushed" in run.last_line()
    show = git("show", "main:apps/web/release.yaml", cwd=repo)
    assert "      tag: 1.1.0\n" in show
    out = json.loads((build / ".bitbucket/pipelines/generated/pipeline/pipes/do-pipes/"
                      "flux-bump.json").read_text())
    assert out["commit"] == git("rev-parse", "main", cwd=repo).strip()

    # pull-request mode through the stub
    env.update({"MODE": "pull-request", "TAG": "1.2.0", "BITBUCKET_API_URL": bitbucket_api.url})
    run = run_container(image, env, build, docker_engine.host, [])
    assert run.code == 0, run.output
    assert "Opened pull request #1" in run.last_line()
    assert len(bitbucket_api.state.pullrequests) == 1

    # SSH with the key and known hosts as variables
    ssh_env = bitbucket_env(build, branch="main")
    ssh_env.update({"GITOPS_REPO": git_ssh.url("acme/e2e-gitops.git"),
                    "SSH_KEY": git_ssh.client_key_b64, "KNOWN_HOSTS": git_ssh.known_hosts_line,
                    "IMAGE": "registry.example.com/acme/web", "TAG": "1.3.0"})
    run = run_container(image, ssh_env, build, docker_engine.host, [])
    assert run.code == 0, run.output
    assert "newTag: \"1.3.0\"" in git("show", "main:apps/web/kustomization.yaml", cwd=repo)
    history = subprocess.run(["git", "log", "-p", "--all"], cwd=repo, capture_output=True,
                             text=True, check=True).stdout
    leaks.assert_absent(git_token, text=run.output + history, paths=[build, repo])
    assert len(git("rev-list", "main", cwd=repo).split()) == 3
    leaks.assert_absent(git_ssh.client_key_b64, text=run.output + history, paths=[build, repo])

    # SSH with the pipelines SSH key and known hosts, mounted where Bitbucket mounts them
    agent_ssh = tmp_path / "agent-ssh"
    agent_ssh.mkdir()
    (agent_ssh / "id_rsa").write_text(git_ssh.client_key)
    (agent_ssh / "id_rsa").chmod(0o600)
    (agent_ssh / "known_hosts").write_text(git_ssh.known_hosts_line + "\n")
    default_env = {k: v for k, v in ssh_env.items() if k not in ("SSH_KEY", "KNOWN_HOSTS")}
    default_env["TAG"] = "1.4.0"
    run = run_container(image, default_env, build, docker_engine.host, [],
                        extra=["-v", f"{agent_ssh}:/opt/atlassian/pipelines/agent/ssh:ro"])
    assert run.code == 0, run.output
    assert "newTag: \"1.4.0\"" in git("show", "main:apps/web/kustomization.yaml", cwd=repo)
    # without any SSH key the message says where to configure one
    run = run_container(image, dict(default_env, TAG="1.5.0"), build, docker_engine.host, [])
    assert run.code == 1 and "SSH_KEY" in run.last_line() and "Traceback" not in run.output

    # bad input as a container: one ✖ line, exit 1
    bad = dict(ssh_env, TAG="not a tag")
    run = run_container(image, bad, build, docker_engine.host, [])
    assert run.code == 1 and "Traceback" not in run.output
    assert "TAG 'not a tag' is not a valid image tag" in run.last_line()
