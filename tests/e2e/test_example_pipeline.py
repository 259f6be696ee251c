"""docs/examples/bitbucket-pipelines.yml, executed: its pipelines run step by step, in order, through the
pipe images as Bitbucket runs them (testbed.pipelines_yaml on top of testbed.pipes.pipe_command), on
the test bed: the DOCR stand-in and the DigitalOcean API stub, moto's S3 as the Space, the smart-HTTP
git server as the GitOps repository, the Bitbucket API stub for the pull request (its comment, and
after the merge the link from the merge commit to it, as Bitbucket's commit -> pull requests endpoint
answers; before that link exists, the apply on main is refused and staging never runs, as the guide
says of a first merge before Bitbucket's Pull Request Commit Links app is installed).

The file is taken as a team would copy it. The test changes only the pipe images (built from this
tree), the values of the repository variables (an env file of the names docs/getting-started.md
lists) and, in ``TESTBED``, where the services are. Each step starts from a fresh clone; what a step
hands to the next goes through its ``artifacts:`` only.

On main, tf-apply applies what was reviewed: the plan the pull request's pipeline made of the pull
request's last commit, found through the merged pull request and planned again to compare.

The later steps rely on flux-bump reading build-push's outputs from the artifacts (``.do-pipes/``)
of an earlier step, and on a version-tag build taking the version build-push released (``v1.4.2`` ->
``1.4.2``).
"""
from __future__ import annotations

import re
import secrets as pysecrets
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from testbed import leaks
from testbed.bitbucket_comments import open_pull_request
from testbed.bitbucket_commits import merged_pull_request
from testbed.bitbucket_stub import BitbucketStub
from testbed.do_stub import DOApiStub, RegistryBackend, StubState
from testbed.fixtures import DOCR_REGISTRY_NAME, SESSION_REGISTRIES, canary
from testbed.git_http import GitHttpServer, create_repo, git, ref_updates
from testbed.pipelines_yaml import Pipeline, StepRun, guide_variables, read_env_file
from testbed.pipes import REPO_ROOT, PipeHost
from testbed.registry import LocalRegistry
from testbed.reports_stub import BitbucketReportsStub
from testbed.s3 import MotoS3
from testbed.wheelhouse import WheelHouse

EXAMPLE = REPO_ROOT / "docs" / "examples" / "bitbucket-pipelines.yml"
GUIDE = REPO_ROOT / "docs" / "getting-started.md"
MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
ZERO_DIGEST = "sha256:" + "0" * 64

def variables_named(node: Any) -> set[str]:
    """The names of every ``pipe:``'s ``variables:`` in a configuration."""
    if isinstance(node, dict):
        own = set(node.get("variables") or {}) if "pipe" in node else set()
        return own.union(*(variables_named(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(variables_named(item) for item in node))
    return set()


def gitops_files(image: str) -> dict[str, bytes | str]:
    """The GitOps repository of docs/getting-started.md (section 4), naming the test bed's registry."""
    overlay = ("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n"
               "  - ../../../apps/web\nimages:\n")
    return {
        "apps/web/deployment.yaml": (
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n"
            f"    spec:\n      containers:\n        - name: web\n          image: {image}\n"),
        "apps/web/kustomization.yaml": (
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n"
            "  - deployment.yaml\n"),
        "clusters/staging/web/kustomization.yaml": (
            f"{overlay}  - name: {image}\n    newTag: sha-0000000\n    digest: {ZERO_DIGEST}\n"),
        "clusters/production/web/kustomization.yaml": (
            f'{overlay}  - name: {image}\n    newTag: "1.4.1" '
            '# {"$imagepolicy": "flux-system:web-production:tag"}\n'),
    }


def app_repository(path: Path) -> tuple[Path, str, str]:
    """The application's repository: the sample app, its Terraform in infra/ and the example as its
    bitbucket-pipelines.yml; a pull request branch and its merge into main. Returns (repository,
    pull request commit, merge commit)."""
    shutil.copytree(REPO_ROOT / "tests" / "fixtures" / "sample-app", path)
    shutil.copytree(REPO_ROOT / "tests" / "fixtures" / "tf-apply" / "basic", path / "infra")
    shutil.copy(EXAMPLE, path / "bitbucket-pipelines.yml")
    git("init", "-q", "-b", "main", cwd=path)
    git("add", "-A", cwd=path)
    git("commit", "-q", "-m", "web", cwd=path)
    git("checkout", "-q", "-b", "feature/login", cwd=path)
    (path / "app.py").write_text((path / "app.py").read_text() + "# login\n")
    git("commit", "-q", "-am", "login", cwd=path)
    pr_commit = git("rev-parse", "HEAD", cwd=path).strip()
    git("checkout", "-q", "main", cwd=path)
    git("merge", "-q", "--no-ff", "-m", "Merge feature/login", "feature/login", cwd=path)
    return path, pr_commit, git("rev-parse", "HEAD", cwd=path).strip()


@pytest.fixture()
def account(tmp_path: Path, do_token: str,
            push_credentials: tuple[str, str]) -> Iterator[tuple[LocalRegistry, DOApiStub]]:
    """A DOCR registry ``acme`` of its own and the DigitalOcean API in front of it: a new account, so
    that no other test's ``acme/web`` tags (a higher release, say) are in the way."""
    user, password = push_credentials
    with LocalRegistry(do_token, user, password, workdir=tmp_path) as registry:
        SESSION_REGISTRIES.append(registry.host)  # its images leave the engine with the session's
        state = StubState(registry_name=DOCR_REGISTRY_NAME, registry_host=registry.host,
                          tokens={do_token}, push_user=user, push_password=password)
        with DOApiStub(state) as api:
            yield registry, api


def test_the_example_pipeline_runs(tmp_path: Path, pipe_image: Callable[[str], str], terraform_image: str,
                                   pipe_host: PipeHost, base_image: str,
                                   account: tuple[LocalRegistry, DOApiStub], do_token: str,
                                   moto_s3: MotoS3, git_http: GitHttpServer, git_token: str,
                                   bitbucket_api: BitbucketStub,
                                   reports_proxy: BitbucketReportsStub,
                                   sample_wheels: WheelHouse) -> None:
    registry, do_api = account
    config: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    images = {pipe: pipe_image(pipe) for pipe in ("build-push", "tf-apply", "flux-bump", "docr-retention")}
    origin, pr_commit, commit = app_repository(tmp_path / "app")
    image = f"{registry.host}/acme/web"
    gitops_name = f"acme/gitops-{pysecrets.token_hex(4)}.git"
    gitops = create_repo(git_http.root / gitops_name, gitops_files(image))
    bucket = moto_s3.create_bucket("acme-terraform")
    open_pull_request(bitbucket_api.state.pullrequests, "acme/web", 7, source="feature/login")

    # the repository variables of docs/getting-started.md, as an env file
    spaces_key, spaces_secret = canary("DO00EXAMPLE"), canary("example-spaces-")
    values = {"DIGITALOCEAN_ACCESS_TOKEN": do_token, "SPACES_ACCESS_KEY_ID": spaces_key,
              "SPACES_SECRET_ACCESS_KEY": spaces_secret, "GITOPS_ACCESS_TOKEN": git_token,
              "PR_ACCESS_TOKEN": git_token}
    assert guide_variables(GUIDE) == set(values)
    env_file = tmp_path / "repository-variables.env"
    env_file.write_text("".join(f"{name}={value}\n" for name, value in values.items()))

    # where the test bed's services are (the only values put over the file's), and what its Docker
    # build needs without the internet (a local base image, the host network for RUN)
    testbed: dict[str, dict[str, str | list[str]]] = {
        "build-push": {"REGISTRY_HOST": registry.host, "DIGITALOCEAN_API_URL": do_api.url,
                       "BUILD_ARGS": [f"BASE_IMAGE={base_image}", sample_wheels.build_arg],
                       "NETWORK": "host"},
        "tf-apply": {"SPACES_ENDPOINT": moto_s3.url, "BITBUCKET_API_URL": bitbucket_api.url},
        "flux-bump": {"GITOPS_REPO": git_http.url(gitops_name), "BITBUCKET_API_URL": bitbucket_api.url,
                      "DIGITALOCEAN_API_URL": do_api.url, "REGISTRY_HOST": registry.host},
        "docr-retention": {"GITOPS_REPO": git_http.url(gitops_name), "DIGITALOCEAN_API_URL": do_api.url},
    }
    # the file's own values stay: the test bed replaces only the GitOps repository's address
    assert {name for pipe in testbed.values() for name in pipe} & variables_named(config) == {"GITOPS_REPO"}
    runs: list[StepRun] = []
    pipeline = Pipeline(config, origin, tmp_path / "agent", pipe_host, images, read_env_file(env_file),
                        extra=testbed, on_step=runs.append)

    def manifest(path: str) -> str:
        return git("show", f"main:{path}", cwd=gitops)

    before = {path: manifest(path) for path in gitops_files(image)}

    # -- a push to a branch: built and pushed -----------------------------------------------------
    pushed = pipeline.run("default", commit=pr_commit, branch="feature/login")
    assert [s.name for s in pushed] == ["Build and push"]
    assert pushed[0].ok, pushed[0].output()
    assert {f"sha-{pr_commit[:7]}", "feature-login"} <= set(registry.tags("acme/web"))

    # -- a pull request: the plan, saved and posted on it ------------------------------------------
    pr = pipeline.run("pull-requests", "**", commit=pr_commit, branch="feature/login", pr_id="7")
    assert [s.name for s in pr] == ["Terraform plan"]
    plan = pr[0].run_of("tf-apply")
    assert plan.code == 0, plan.output
    assert f"Plan saved as PLAN_ID {pr_commit}" in plan.output
    assert f"Stored as the plan of pull request #7 (commit {pr_commit[:12]})" in plan.output
    (comment,) = bitbucket_api.state.comments.on("acme", "web", 7)
    assert "2 to create" in comment["content"]["raw"]

    # -- the merge, before anyone installed Bitbucket's Pull Request Commit Links app (the guide's
    # one-time step): Bitbucket links no pull request to the merge commit, so the apply is refused,
    # naming the app and how to install it, nothing is applied and the staging bump never runs
    early = pipeline.run("branches", "main", commit=commit, branch="main")
    assert [s.name for s in early] == ["Build and push", "Terraform apply"], [s.name for s in early]
    refused = early[1].run_of("tf-apply")
    assert refused.code == 1, refused.output
    for needle in ("REQUIRE_REVIEWED_PLAN", "Pull Request Commit Links app", "'Go to pull request' once"):
        assert needle in refused.last_line(), refused.output
    assert "web/infra/terraform.tfstate" not in moto_s3.keys(bucket)

    # -- the app installed: Bitbucket links the merge commit to the pull request whose last push was
    # planned; the pipeline of main runs again (on Bitbucket: Rerun of the failed step, which then goes
    # on to staging; the player runs the whole pipeline, and the build step skips the image it pushed)
    merged_pull_request(bitbucket_api.state.pullrequests, bitbucket_api.state.commit_links, "acme/web", 7,
                        [pr_commit], commit, source="feature/login")

    # -- main: build, apply what was reviewed in the pull request, bump staging --------------------
    main = pipeline.run("branches", "main", commit=commit, branch="main")
    names = [s.name for s in main]
    assert names[:2] == ["Build and push", "Terraform apply"], names
    build, apply_step = main[:2]
    assert build.ok, build.output()
    assert set(registry.tags("acme/web")) >= {f"sha-{commit[:7]}", "main"}
    digest = registry.get(f"/v2/acme/web/manifests/sha-{commit[:7]}",
                          headers={"Accept": MANIFEST}).headers["Docker-Content-Digest"]
    # the apply step asked Bitbucket for the pull request of the merge commit, planned again, found
    # it the same as the plan the pull request's pipeline made of its last commit, and applied it
    assert apply_step.ok, apply_step.output()
    applied = apply_step.run_of("tf-apply")
    assert f"matches the plan reviewed in pull request #7 (commit {pr_commit[:12]}" in applied.output
    assert f"Applied the plan reviewed in pull request #7 (commit {pr_commit[:12]}): 2 to create" \
        in applied.last_line(), applied.output
    assert any(f"/commit/{commit}/pullrequests" in path
               for path in bitbucket_api.state.commit_links.requests)
    outputs = (apply_step.build / ".do-pipes" / "tf-apply.env").read_text()
    assert re.search(r"^TF_APPLY_REVIEWED_PR=['\"]?7['\"]?$", outputs, re.M), outputs
    assert "web/infra/terraform.tfstate" in moto_s3.keys(bucket)
    assert apply_step.env["BITBUCKET_DEPLOYMENT_ENVIRONMENT"] == "infrastructure"
    # build-push's outputs reached the staging step as artifacts
    assert len(main) == 3, names
    staging = main[2]
    assert ".do-pipes/build-push.env" in staging.restored
    assert staging.ok, staging.output().strip().splitlines()[-1]
    overlay = manifest("clusters/staging/web/kustomization.yaml")
    assert f"newTag: sha-{commit[:7]}\n" in overlay and f"digest: {digest}\n" in overlay, overlay
    # PATHS: nothing outside the staging overlay changed
    for path in ("apps/web/deployment.yaml", "clusters/production/web/kustomization.yaml"):
        assert manifest(path) == before[path], path

    # -- a version tag on the merge commit: release tags without a rebuild, bump production -------
    staged = {path: manifest(path) for path in gitops_files(image)}
    release = pipeline.run("tags", "v*", commit=commit, tag="v1.4.2")
    assert [s.name for s in release] == ["Build and push", "Deploy to production"]
    released = release[0].run_of("build-push")
    assert released.code == 0, released.output
    assert "build skipped" in released.output and "INFO: Building " not in released.output
    tags = registry.tags("acme/web")
    assert {"1.4.2", "1.4", "1", "latest"} <= set(tags), tags
    for tag in ("1.4.2", "1.4", "1", "latest"):
        head = registry.get(f"/v2/acme/web/manifests/{tag}", headers={"Accept": MANIFEST})
        assert head.headers["Docker-Content-Digest"] == digest, tag
    production = release[1]
    # on Bitbucket the pipeline paused before this step until a person pressed Run (trigger: manual);
    # the player runs it as if they had
    assert production.manual and not release[0].manual
    assert not any(step.manual for step in [*pushed, *pr, *main])
    assert production.env["BITBUCKET_DEPLOYMENT_ENVIRONMENT"] == "production"
    assert production.ok, production.output().strip().splitlines()[-1]
    overlay = manifest("clusters/production/web/kustomization.yaml")
    # POLICY: the marker's value is the released version, not the git tag
    assert 'newTag: "1.4.2" # {"$imagepolicy": "flux-system:web-production:tag"}' in overlay, overlay
    for path in ("apps/web/deployment.yaml", "clusters/staging/web/kustomization.yaml"):
        assert manifest(path) == staged[path], path

    # -- the scheduled retention: the registry's tags as the DO API lists them (all old), nothing
    # that staging or production runs deleted, the garbage collection started and awaited
    RegistryBackend(f"http://{registry.host}", (do_token, do_token), under="acme").load(do_api.state, ["web"], {})
    retention = pipeline.run("custom", "registry-retention", commit=commit, branch="main")
    assert [s.name for s in retention] == ["Registry retention"]
    cleaned = retention[0].run_of("docr-retention")
    assert cleaned.code == 0, cleaned.output
    assert {f"sha-{commit[:7]}", "1.4.2", "latest"} <= set(registry.tags("acme/web"))
    assert "named in GITOPS_REPO" in cleaned.output

    # no force push ever reached the GitOps repository, and no secret left the variables
    assert not [u for u in ref_updates(gitops) if u.forced], ref_updates(gitops)
    history = subprocess.run(["git", "log", "-p", "--all"], cwd=gitops, capture_output=True, text=True,
                             check=True).stdout
    text = "\n".join(run.output() for run in runs) + history + comment["content"]["raw"]
    for secret in (do_token, spaces_key, spaces_secret, git_token):
        leaks.assert_absent(secret, text=text, paths=[run.build for run in runs])
