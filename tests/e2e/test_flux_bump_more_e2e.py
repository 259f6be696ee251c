"""flux-bump e2e for issue 14: several images, promotion, head-comment markers, signed commits
and pull-request options, through the pipe image run as Bitbucket runs it (pipe_command)."""
from __future__ import annotations

import base64
import subprocess
from collections.abc import Callable
from pathlib import Path

from pipes_common import handoff
from pipes_common.bitbucket import StepContext
from pipes_common.contracts import BuildPushOutputs
from testbed import leaks
from testbed.bitbucket_stub import BitbucketStub
from testbed.git_http import GitHttpServer, create_repo, git
from testbed.pipes import SHARED_STORAGE, PipeHost, PipeRun, bitbucket_env, pipe_command, run_pipe

WEB, API = "registry.example.com/acme/web", "registry.example.com/acme/api"
D_STAGE = "sha256:" + "5a" * 32
FILES = {
    "staging/web.yaml": f"image: {WEB}:1.9.0@{D_STAGE}\n",
    "prod/web.yaml": f"image: {WEB}:1.0.0\n",
    "prod/api.yaml": ('args:\n- --x\n# {"$imagepolicy": "flux-system:api"}\n'
                      f"- {API}:1.0.0\n"),
    "dev/both.yaml": f"a:\n  image: {WEB}:1.0.0\nb:\n  image: {API}:1.0.0\n",
    "argo/.argocd-source-web.yaml": ("helm:\n  parameters:\n  - name: image.name\n"
                                     f"    value: {WEB}\n    forcestring: true\n"
                                     "  - name: image.tag\n    value: 1.0.0\n    forcestring: true\n"),
    "charts/frontend/Chart.yaml": "apiVersion: v2\nname: frontend\nversion: 0.1.0\nappVersion: 1.0.0\n",
    "charts/frontend/values.yaml": f"image:\n  repository: {WEB}\n  tag: 1.0.0\n",
}


def test_several_images_promotion_signing_and_pull_requests(
        pipe_image: Callable[[str], str], pipe_host: PipeHost, git_http: GitHttpServer,
        bitbucket_api: BitbucketStub, git_token: str, tmp_path: Path) -> None:
    pipe = f"docker://{pipe_image('flux-bump')}"
    repo = create_repo(git_http.root / "acme/e2e-more.git", FILES)
    build = tmp_path / "build"
    build.mkdir()
    step = bitbucket_env(build, commit="ab" * 20, branch="main")
    base = {"GITOPS_REPO": git_http.url("acme/e2e-more.git"), "BITBUCKET_ACCESS_TOKEN": git_token}

    def run(variables: dict[str, str]) -> PipeRun:
        return run_pipe(pipe_command(pipe, build, step, pipe_host, variables=variables))

    def show(path: str, ref: str = "main") -> str:
        return git("show", f"{ref}:{path}", cwd=repo)

    # 1. every image build-push handed over in the step, in one signed commit
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "", "-f",
                    str(tmp_path / "sign")], check=True)
    key = (tmp_path / "sign").read_text()
    public = (tmp_path / "sign.pub").read_text().strip()
    own = build / SHARED_STORAGE / "dopipes" / "build-push"
    for image in (WEB, API):
        handoff.write(StepContext.from_env({"BITBUCKET_PIPE_STORAGE_DIR": str(own)}),
                      BuildPushOutputs(image=image, tags=("sha-abababa",), digest="",
                                       ref=f"{image}:sha-abababa", skipped=False), "0.2.0")
    signed = base64.b64encode(key.encode()).decode()
    result = run(dict(base, PATHS="[dev/**, prod/api.yaml]", SIGNING_KEY=signed))
    assert result.code == 0, result.output
    assert "2 images" in result.last_line()
    assert show("dev/both.yaml") == (f"a:\n  image: {WEB}:sha-abababa\n"
                                     f"b:\n  image: {API}:sha-abababa\n")
    assert show("prod/api.yaml").endswith(f"- {API}:sha-abababa\n")  # the head-comment marker
    assert git("log", "-1", "--format=%s", cwd=repo).strip() == "Bump 2 images"
    signers = tmp_path / "allowed_signers"
    signers.write_text(f'flux-bump@noreply.bitbucket.org namespaces="git" {public}\n')
    verified = subprocess.run(["git", "-c", f"gpg.ssh.allowedSignersFile={signers}",
                               "verify-commit", "main"], cwd=repo, capture_output=True, text=True)
    assert verified.returncode == 0, verified.stderr

    # 2. promotion: production gets staging's exact reference
    result = run(dict(base, IMAGE=WEB, MODE="promote", FROM_PATHS="[staging/**]", PATHS="[prod/**]"))
    assert result.code == 0, result.output
    assert show("prod/web.yaml") == f"image: {WEB}:1.9.0@{D_STAGE}\n"

    # 3. IMAGES as a pull request with reviewers and a branch template; run again: updated
    variables = dict(base, IMAGES=f"[{WEB}=3.0.0, {API}=3.0.0]", MODE="pull-request",
                     BITBUCKET_API_URL=bitbucket_api.url, BRANCH_NAME="deploy/{name}",
                     REVIEWERS="['557058:0b7c0a34-aaaa-bbbb-cccc-000000000001']",
                     CLOSE_SOURCE_BRANCH="false", PATHS="[dev/**]")
    result = run(variables)
    assert result.code == 0, result.output
    [pr] = bitbucket_api.state.pullrequests
    assert pr["source"]["branch"]["name"] == "deploy/2-images"
    assert pr["close_source_branch"] is False and len(pr["reviewers"]) == 1
    result = run(dict(variables, IMAGES=f"[{WEB}=3.0.1, {API}=3.0.1]"))
    assert result.code == 0, result.output
    assert "Updated the open pull request #1" in result.last_line()
    assert len(bitbucket_api.state.pullrequests) == 1
    assert f"{WEB}:3.0.1" in show("dev/both.yaml", "deploy/2-images")

    # 4. Argo CD write-back file and a chart (appVersion asked), with an Atlassian API token
    api_token = "ATATT-e2e-api-token-canary"
    git_http.accounts.api_tokens["ci-bot"] = api_token
    try:
        result = run({"GITOPS_REPO": base["GITOPS_REPO"], "IMAGE": WEB, "TAG": "4.0.0",
                      "PATHS": "[argo/**, charts/**]", "CHART_APP_VERSION": "true",
                      "ATLASSIAN_EMAIL": "ci-bot@example.com", "ATLASSIAN_API_TOKEN": api_token})
    finally:
        del git_http.accounts.api_tokens["ci-bot"]
    assert result.code == 0, result.output
    assert show("argo/.argocd-source-web.yaml") == FILES["argo/.argocd-source-web.yaml"].replace(
        "value: 1.0.0", "value: 4.0.0")
    assert show("charts/frontend/Chart.yaml").endswith("appVersion: 4.0.0\n")
    assert show("charts/frontend/values.yaml") == f"image:\n  repository: {WEB}\n  tag: 4.0.0\n"
    leaks.assert_absent(api_token, text=result.output, paths=[build])

    # bad input for a new variable: one line, no secret
    result = run(dict(base, IMAGES="[web:1.0]", SIGNING_KEY=signed))
    assert result.code == 1 and "Traceback" not in result.output
    assert "IMAGES item 'web:1.0' is not image=tag[@digest]" in result.last_line()
    history = subprocess.run(["git", "log", "-p", "--all"], cwd=repo, capture_output=True,
                             text=True, check=True).stdout
    for secret in (key, signed, git_token):
        leaks.assert_absent(secret, text=result.output + history, paths=[build, repo])
