"""flux-bump e2e: the pipe image run exactly as Bitbucket runs it (testbed.pipes.pipe_command),
against the loopback git servers; SSH with the key Bitbucket mounts in its ssh folder."""
from __future__ import annotations

import dataclasses
import subprocess
from collections.abc import Callable
from pathlib import Path

from testbed import leaks
from testbed.bitbucket_stub import BitbucketStub
from testbed.git_http import GitHttpServer, create_repo, git
from testbed.git_ssh import GitSshServer
from testbed.pipe_host import agent_ssh_dir
from testbed.pipes import PipeHost, PipeRun, bitbucket_env, pipe_command, read_handoff, run_pipe

FILES = {
    "apps/web/kustomization.yaml": "images:\n  - name: registry.example.com/acme/web\n    newTag: \"1.0.0\"\n",
    "apps/web/release.yaml": (
        "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: web\nspec:\n"
        "  values:\n    image:\n      repository: registry.example.com/acme/web\n      tag: 1.0.0\n"),
}


def test_pipe_image_push_pr_and_ssh(pipe_image: Callable[[str], str], pipe_host: PipeHost,
                                    git_http: GitHttpServer, git_ssh: GitSshServer,
                                    bitbucket_api: BitbucketStub, git_token: str,
                                    tmp_path: Path) -> None:
    pipe = f"docker://{pipe_image('flux-bump')}"
    repo = create_repo(git_http.root / "acme/e2e-gitops.git", FILES)
    build = tmp_path / "build"
    build.mkdir()

    def run(step: dict[str, str], variables: dict[str, str], host: PipeHost = pipe_host) -> PipeRun:
        return run_pipe(pipe_command(pipe, build, step, host, variables=variables))

    step = bitbucket_env(build, commit="ab" * 20, branch="main")
    variables = {"GITOPS_REPO": git_http.url("acme/e2e-gitops.git"),
                 "BITBUCKET_ACCESS_TOKEN": git_token, "IMAGE": "registry.example.com/acme/web",
                 "TAG": "1.1.0", "DEBUG": "true"}
    result = run(step, variables)
    assert result.code == 0, result.output
    assert "✔ Pushed" in result.last_line()
    show = git("show", "main:apps/web/release.yaml", cwd=repo)
    assert "      tag: 1.1.0\n" in show
    assert read_handoff(build, "flux-bump")["commit"] == git("rev-parse", "main", cwd=repo).strip()

    # pull-request mode through the stub
    result = run(step, dict(variables, MODE="pull-request", TAG="1.2.0",
                            BITBUCKET_API_URL=bitbucket_api.url))
    assert result.code == 0, result.output
    assert "Opened pull request #1" in result.last_line()
    assert len(bitbucket_api.state.pullrequests) == 1

    # SSH with the key and known hosts as variables
    ssh_step = bitbucket_env(build, branch="main")
    ssh_vars = {"GITOPS_REPO": git_ssh.url("acme/e2e-gitops.git"),
                "SSH_KEY": git_ssh.client_key_b64, "KNOWN_HOSTS": git_ssh.known_hosts_line,
                "IMAGE": "registry.example.com/acme/web", "TAG": "1.3.0"}
    result = run(ssh_step, ssh_vars)
    assert result.code == 0, result.output
    assert "newTag: \"1.3.0\"" in git("show", "main:apps/web/kustomization.yaml", cwd=repo)
    history = subprocess.run(["git", "log", "-p", "--all"], cwd=repo, capture_output=True,
                             text=True, check=True).stdout
    leaks.assert_absent(git_token, text=result.output + history, paths=[build, repo])
    assert len(git("rev-list", "main", cwd=repo).split()) == 3
    leaks.assert_absent(git_ssh.client_key_b64, text=result.output + history, paths=[build, repo])

    # SSH with the repository's Pipelines SSH key and known hosts, in the ssh folder Bitbucket
    # mounts (the key world-readable as id_rsa_tmp: the pipe copies it to a private file)
    agent_ssh = agent_ssh_dir(tmp_path / "agent-ssh", key=git_ssh.client_key,
                              known_hosts=git_ssh.known_hosts_line)
    with_key = dataclasses.replace(pipe_host, ssh_dir=agent_ssh)
    default_vars = {k: v for k, v in ssh_vars.items() if k not in ("SSH_KEY", "KNOWN_HOSTS")}
    result = run(ssh_step, dict(default_vars, TAG="1.4.0"), with_key)
    assert result.code == 0, result.output
    assert "newTag: \"1.4.0\"" in git("show", "main:apps/web/kustomization.yaml", cwd=repo)
    leaks.assert_absent(git_ssh.client_key, text=result.output, paths=[build, repo])
    # without any SSH key (none configured: the folder has no id_rsa_tmp) the message says where
    result = run(ssh_step, dict(default_vars, TAG="1.5.0"))
    assert result.code == 1 and "SSH_KEY" in result.last_line() and "Traceback" not in result.output

    # bad input as a container: one ✖ line, exit 1
    result = run(ssh_step, dict(ssh_vars, TAG="not a tag"))
    assert result.code == 1 and "Traceback" not in result.output
    assert "TAG 'not a tag' is not a valid image tag" in result.last_line()
