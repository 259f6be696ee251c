"""Running a pipe on a laptop: each README's "Run it locally" line, run as written (only the path
``vars.env`` and the published image reference replaced), and ``./dev pipe``."""
from __future__ import annotations

import os
import re
import secrets as pysecrets
import shlex
import shutil
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
import yaml
from testbed.do_stub import DOApiStub
from testbed.docker_engine import DockerEngine
from testbed.fixtures import DOCR_REGISTRY_NAME, canary
from testbed.git_http import GitHttpServer, create_repo, git
from testbed.pipes import REPO_ROOT, PipeRun
from testbed.registry import LocalRegistry
from testbed.s3 import MotoS3
from testbed.wheelhouse import WheelHouse

SECTION = re.compile(r"^## Run it locally\n.*?^```bash\n(.*?)^```", re.S | re.M)
ENV_FILE = "--env-file vars.env"


def readme_line(pipe: str, image: str, env_file: Path) -> str:
    """The README's line with the two documented placeholders replaced, nothing else."""
    text = (REPO_ROOT / "pipes" / pipe / "README.md").read_text()
    match = SECTION.search(text)
    assert match, f"pipes/{pipe}/README.md has no 'Run it locally' bash block"
    line = match.group(1)
    published = str(yaml.safe_load((REPO_ROOT / "pipes" / pipe / "pipe.yml").read_text())["image"])
    published = published.removeprefix("docker://")
    assert line.count(published) == 1 and line.count(ENV_FILE) == 1, line
    return line.replace(published, image).replace(ENV_FILE, f"--env-file {shlex.quote(str(env_file))}")


def write_env_file(path: Path, variables: Mapping[str, str]) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("".join(f"{name}={value}\n" for name, value in variables.items()))
    return path


def git_checkout(folder: Path) -> Path:
    subprocess.run(["git", "init", "-q", "-b", "main", str(folder)], check=True)
    subprocess.run(["git", "-c", "user.name=dev", "-c", "user.email=dev@example.com", "commit", "-q",
                    "--allow-empty", "-m", "local"], cwd=folder, check=True)
    return folder


def run_shell(line: str, cwd: Path, engine: DockerEngine, **extra: str) -> PipeRun:
    env = {k: os.environ[k] for k in ("PATH", "LANG") if k in os.environ}
    env.update({"HOME": str(cwd.parent), "DOCKER_HOST": engine.host, **extra})
    proc = subprocess.run(["bash", "-c", line], cwd=cwd, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=900, check=False)
    return PipeRun(proc.returncode, proc.stdout, 0.0)


def test_build_push_readme_line(pipe_image: Callable[[str], str], docker_engine: DockerEngine,
                                registry: LocalRegistry, do_api: DOApiStub, do_token: str,
                                base_image: str, tmp_path: Path, sample_wheels: WheelHouse) -> None:
    if docker_engine.socket_path is None:
        pytest.skip("the engine has no socket here (DOCKER_HOST is tcp://): the line mounts one")
    build = tmp_path / "app"
    shutil.copytree(REPO_ROOT / "tests" / "fixtures" / "sample-app", build)
    git_checkout(build)
    env_file = write_env_file(tmp_path / "vars.env", {
        "DIGITALOCEAN_ACCESS_TOKEN": do_token, "REGISTRY_NAME": DOCR_REGISTRY_NAME,
        "IMAGE": "readme-web", "REGISTRY_HOST": registry.host, "DIGITALOCEAN_API_URL": do_api.url,
        "BUILD_ARGS_COUNT": "2", "BUILD_ARGS_0": f"BASE_IMAGE={base_image}", "NETWORK": "host",
        "BUILD_ARGS_1": sample_wheels.build_arg})
    line = readme_line("build-push", pipe_image("build-push"), env_file)
    run = run_shell(line, build, docker_engine, DOCKER_SOCKET=docker_engine.socket_path)
    assert run.code == 0, run.output
    assert "✔ Pushed" in run.output
    commit = git("rev-parse", "HEAD", cwd=build).strip()
    assert f"sha-{commit[:7]}" in registry.tags(f"{DOCR_REGISTRY_NAME}/readme-web")


def test_tf_apply_readme_line(pipe_image: Callable[[str], str], terraform_image: str,
                              docker_engine: DockerEngine, moto_s3: MotoS3, tmp_path: Path) -> None:
    image = pipe_image("tf-apply")  # after terraform_image: COPY --from needs the seeded tag
    build = tmp_path / "infra-repo"
    shutil.copytree(REPO_ROOT / "tests" / "fixtures" / "tf-apply" / "basic", build / "infra")
    git_checkout(build)
    bucket = moto_s3.create_bucket(f"readme-{pysecrets.token_hex(6)}")
    env_file = write_env_file(tmp_path / "vars.env", {
        "SPACES_ACCESS_KEY_ID": canary("DO00LOCAL"), "SPACES_SECRET_ACCESS_KEY": canary("local-"),
        "SPACES_BUCKET": bucket, "SPACES_ENDPOINT": moto_s3.url, "WORKING_DIR": "infra",
        "VARS_COUNT": "2", "VARS_0": "name=local", "VARS_1": "db_password=pw",
        "STATE_KEY": "web/infra/terraform.tfstate"})
    run = run_shell(readme_line("tf-apply", image, env_file), build, docker_engine)
    assert run.code == 0, run.output
    assert "Code Insights report skipped: not running in Bitbucket Pipelines" in run.output
    assert any(key.endswith(".tfstate") for key in moto_s3.objects(bucket)), run.output


def test_flux_bump_readme_line(pipe_image: Callable[[str], str], docker_engine: DockerEngine,
                               git_http: GitHttpServer, git_token: str, tmp_path: Path) -> None:
    repo = create_repo(git_http.root / "acme/readme-gitops.git",
                       {"apps/web/kustomization.yaml": "images:\n  - name: reg.io/acme/web\n    newTag: 1.0.0\n"})
    env_file = write_env_file(tmp_path / "vars.env", {
        "GITOPS_REPO": git_http.url("acme/readme-gitops.git"), "BITBUCKET_ACCESS_TOKEN": git_token,
        "IMAGE": "reg.io/acme/web", "TAG": "1.1.0"})
    build = git_checkout(tmp_path / "app")
    run = run_shell(readme_line("flux-bump", pipe_image("flux-bump"), env_file), build, docker_engine)
    assert run.code == 0, run.output
    assert "newTag: 1.1.0" in git("show", "main:apps/web/kustomization.yaml", cwd=repo)


def test_dev_pipe(docker_engine: DockerEngine, git_http: GitHttpServer, git_token: str,
                  tmp_path: Path) -> None:
    """``./dev pipe`` prints the faithful ``docker container run`` line and runs it."""
    repo = create_repo(git_http.root / "acme/devpipe-gitops.git",
                       {"apps/web/kustomization.yaml": "images:\n  - name: reg.io/acme/web\n    newTag: 1.0.0\n"})
    env_file = write_env_file(tmp_path / "vars.env", {
        "GITOPS_REPO": git_http.url("acme/devpipe-gitops.git"), "BITBUCKET_ACCESS_TOKEN": git_token,
        "IMAGE": "reg.io/acme/web", "TAG": "2.0.0"})
    build = git_checkout(tmp_path / "app")
    env = {k: v for k, v in os.environ.items() if k != "DOCKER_HOST"}
    env["DOCKER_HOST"] = docker_engine.host
    proc = subprocess.run([str(REPO_ROOT / "dev"), "pipe", "flux-bump", "--env-file",
                           str(env_file), "--build-dir", str(build)], cwd=tmp_path, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=900,
                          check=False)
    assert proc.returncode == 0, proc.stdout
    first = next(line for line in proc.stdout.splitlines() if line.startswith("docker "))
    assert first.startswith("docker container run --rm ")
    assert f"--env-file={env_file}" in first and "--add-host=host.docker.internal:127.0.0." in first
    assert "--env=DOCKER_HOST=tcp://host.docker.internal:2375" in first and git_token not in proc.stdout
    assert "newTag: 2.0.0" in git("show", "main:apps/web/kustomization.yaml", cwd=repo)


def test_docr_retention_readme_line(pipe_image: Callable[[str], str], docker_engine: DockerEngine,
                                    do_api: DOApiStub, do_token: str, tmp_path: Path) -> None:
    folder = git_checkout(tmp_path / "app")
    env_file = write_env_file(tmp_path / "vars.env", {
        "DIGITALOCEAN_ACCESS_TOKEN": do_token, "REGISTRY_NAME": DOCR_REGISTRY_NAME,
        "DIGITALOCEAN_API_URL": do_api.url})
    line = readme_line("docr-retention", pipe_image("docr-retention"), env_file)
    run = run_shell(line, folder, docker_engine)
    assert run.code == 0, run.output
    assert "Dry run: 0 repositories" in run.output
