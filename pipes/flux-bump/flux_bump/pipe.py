"""flux-bump: orchestration (variables -> clone -> find and edit -> deliver -> outputs)."""
from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from pipes_common import log as plog
from pipes_common import outputs, runner
from pipes_common.bitbucket import StepContext
from pipes_common.errors import PipeError
from pipes_common.handoff import BuildPushOutputs, FluxBumpOutputs
from pipes_common.handoff import read as handoff_read

from . import __version__, auth, deliver, engine, imageref, message
from .bbapi import BitbucketClient
from .gitrepo import Git, Identity
from .references import Target
from .schema import SCHEMA

KIND_NAMES = ("Flux setter markers ({\"$imagepolicy\": ...}) naming it", "kustomize images entries "
              "(name/newName)", "HelmRelease spec.values image maps (repository)",
              "plain 'image: <image>:<tag>' fields")


def _built(ctx: StepContext) -> BuildPushOutputs | None:
    """build-push's outputs from earlier in this step (None when it left none)."""
    return handoff_read(ctx, BuildPushOutputs, instead="set IMAGE and TAG")


def _no_build_push(ctx: StepContext, variable: str, example: str) -> PipeError:
    where = ("BITBUCKET_PIPE_SHARED_STORAGE_DIR is not set" if ctx.shared_storage_dir is None else
             f"none under {ctx.shared_storage_dir}/<owner>/build-push/")
    return PipeError(f"{variable} is required: no build-push outputs in this step ({where}): "
                     f"run build-push earlier in the step, or set {variable}, e.g. {example}")


def target_from(values: dict[str, Any], ctx: StepContext) -> Target:
    """IMAGE, TAG and DIGEST, defaulting to what build-push handed over earlier in the step."""
    # the hand-off is read only when a value must come from it: a set IMAGE and TAG never fail on it
    built = _built(ctx) if not (values.get("IMAGE") and values.get("TAG")) else None
    image = values.get("IMAGE") or (built.image if built else None)
    tag = values.get("TAG") or (built.tags[0] if built and built.tags else None)
    digest = values.get("DIGEST")
    if not digest and not values.get("IMAGE") and built:  # its digest only goes with its image
        digest = built.digest or None
    if not image:
        raise _no_build_push(ctx, "IMAGE", "IMAGE: registry.digitalocean.com/acme/web (the image "
                                           "repository as the manifests spell it)")
    if not tag:
        raise _no_build_push(ctx, "TAG", "TAG: 1.4.2")
    image, tag = str(image), str(tag)
    if not imageref.NAME_RE.match(image):
        raise PipeError(f"IMAGE '{image}' is not an image repository name: give it without tag "
                        "or digest, lowercase path components (e.g. registry.digitalocean.com/acme/web)")
    if not imageref.TAG_RE.match(tag):
        raise PipeError(f"TAG '{tag[:140]}' is not a valid image tag: letters, digits, '_', '.' "
                        "and '-', at most 128, not starting with '.' or '-'")
    if digest and not imageref.DIGEST_RE.match(str(digest)):
        raise PipeError("DIGEST is not a valid digest: give it as sha256:<64 lowercase hex digits>")
    policies = tuple(p.strip() for p in values.get("POLICY") or [] if p.strip())
    for policy in policies:
        if not imageref.POLICY_RE.match(policy):
            raise PipeError(f"POLICY '{policy}' is not <namespace>:<policy> (as in the markers "
                            "{\"$imagepolicy\": \"flux-system:web\"})")
    pin = bool(values.get("PIN_DIGEST"))
    if pin and not digest:
        raise PipeError("PIN_DIGEST is true but no DIGEST is known: set DIGEST (sha256:...) or "
                        "run build-push earlier in the step")
    return Target(image, tag, str(digest) if digest else None, pin, policies)


def _credentials(values: dict[str, Any], remote: auth.Remote, workdir: Path) -> auth.Credentials:
    token = values.get("BITBUCKET_ACCESS_TOKEN")
    if values.get("GIT_USERNAME") and not values.get("GIT_PASSWORD"):
        raise PipeError("GIT_USERNAME is set but GIT_PASSWORD is not: pass the password or token "
                        "as GIT_PASSWORD (a secured variable), or use BITBUCKET_ACCESS_TOKEN")
    if remote.scheme == "ssh":
        return auth.ssh(remote, workdir, values.get("SSH_KEY"), values.get("KNOWN_HOSTS"), token)
    return auth.https(remote, workdir, token, values.get("GIT_USERNAME"), values.get("GIT_PASSWORD"))


def _not_found(target: Target, result: engine.Result, branch: str, remote: auth.Remote,
               paths: list[str] | None) -> PipeError:
    files = result.searched
    listed = ", ".join(files[:10]) + (f" and {len(files) - 10} more" if len(files) > 10 else "")
    scope = f"matching PATHS {', '.join(paths)}" if paths else "(*.yaml, *.yml, Kustomization)"
    what = (f"Flux setter markers of POLICY {', '.join(target.policies)}" if target.policies
            else "; ".join(KIND_NAMES))
    skipped = (f"; skipped as unparseable: {'; '.join(result.skipped)}" if result.skipped else "")
    return PipeError(f"No reference to {target.image} in {remote.display} ({branch}): searched "
                     f"{len(files)} files {scope}{': ' + listed if files else ''} for {what}"
                     f"{skipped}. Check IMAGE (spelled as in the manifests), POLICY and PATHS")


def main() -> int:
    log = plog.get_logger()
    values, ctx = runner.start(SCHEMA)
    target = target_from(values, ctx)
    remote = auth.parse_remote(str(values["GITOPS_REPO"]))
    mode = str(values["MODE"])
    branch = str(values["BRANCH"])
    paths = [p for p in values.get("PATHS") or [] if p.strip()] or None
    if mode == "pull-request" and not values.get("BITBUCKET_ACCESS_TOKEN"):
        raise PipeError("MODE pull-request needs BITBUCKET_ACCESS_TOKEN (pullrequest:write) to open "
                        "the pull request through the Bitbucket API")
    started = time.monotonic()
    clone_dir = Path(values["CLONE_DIR"]).resolve() if values.get("CLONE_DIR") else None
    if clone_dir is not None and clone_dir.exists() and any(clone_dir.iterdir()):
        raise PipeError(f"CLONE_DIR {clone_dir} is not empty: give an empty or missing folder")
    workdir = Path(tempfile.mkdtemp(prefix="flux-bump-"))
    root = clone_dir or workdir / "repo"
    root.parent.mkdir(parents=True, exist_ok=True)
    creds: auth.Credentials | None = None
    try:
        (workdir / "home").mkdir()
        creds = _credentials(values, remote, workdir)
        identity = Identity(str(values["GIT_AUTHOR_NAME"]), str(values["GIT_AUTHOR_EMAIL"]))
        git = Git(root, remote, creds, identity, workdir / "home")
        log.info("Bumping %s to %s%s in %s (%s, mode %s).", target.image, target.tag,
                 f"@{target.digest}" if target.pin and target.digest else "", remote.display,
                 branch, mode)
        selected, needles = engine.selector(paths), engine.needles(target)
        searched = git.clone(branch, selected, needles)
        log.debug("Cloned %s at %s in %.1fs.", branch, git.head()[:12], time.monotonic() - started)

        def rescan(searched: list[str]) -> engine.Result:
            try:
                res = engine.scan(root, target, paths, searched)
            except engine.BumpError as err:
                raise PipeError(f"Cannot edit exactly: {err}; the file was left alone") from None
            for skipped in res.skipped:
                log.warning("Skipped %s", skipped)
            for warning in res.warnings:
                log.warning("%s", warning)
            return res

        def refresh() -> engine.Result:
            return rescan(git.refresh(branch, selected, needles))

        result = rescan(searched)
        if not result.found:
            raise _not_found(target, result, branch, remote, paths)
        for path, found in result.found:
            state = f"{found.old} -> {found.new}" if found.changed else f"{found.old} (unchanged)"
            log.info("%s:%d %s %s: %s", path, found.line, found.kind, found.field, state)
        if not result.changes:
            _publish(ctx, mode, None, result, None, branch)
            plog.success(f"{target.image} is already at {target.tag} in {branch}: nothing to commit")
            return 0
        build_url = ctx.build_url

        def render(res: engine.Result) -> str:
            return message.render(values.get("COMMIT_MESSAGE"), target, res, ctx.commit, build_url)

        if mode == "dry-run":
            for change in result.changes:
                print(change.diff(), end="")
            _publish(ctx, mode, None, result, None, branch)
            plog.success(f"Dry run: {len(result.changes)} file(s) would change; nothing was "
                         "committed or pushed")
            return 0
        if mode == "pull-request":
            workspace, slug = _repo_path(remote)
            client = BitbucketClient(str(values["BITBUCKET_ACCESS_TOKEN"]),
                                     str(values["BITBUCKET_API_URL"]))
            done = deliver.pull_request(git, root, branch, target.image, target.tag, result,
                                        render(result), client, workspace, slug)
            assert done.pr is not None
            _publish(ctx, mode, done.commit, result, done.pr.url, done.branch, done.pr.id)
            verb = "Opened" if done.pr.created else "Updated the open"
            plog.success(f"{verb} pull request #{done.pr.id} {done.pr.url} bumping {target.image} "
                         f"to {target.tag} ({time.monotonic() - started:.1f}s)")
            return 0
        done = deliver.push_with_retry(git, root, branch, result, refresh, render,
                                       int(values["RETRIES"]), selected, needles)
        if done.commit is None:
            _publish(ctx, mode, None, done.result, None, branch)
            plog.success(f"{target.image} is already at {target.tag} in {branch}: nothing to commit")
            return 0
        _publish(ctx, mode, done.commit, done.result, None, branch)
        plog.success(f"Pushed {done.commit[:12]} to {branch}: {target.image} -> {target.tag} in "
                     f"{len(done.result.changes)} file(s) ({time.monotonic() - started:.1f}s"
                     f"{f', {done.attempts} attempts' if done.attempts > 1 else ''})")
        return 0
    finally:
        if creds is not None:
            auth.cleanup(creds)
        shutil.rmtree(workdir, ignore_errors=True)


def _repo_path(remote: auth.Remote) -> tuple[str, str]:
    parts = [p for p in remote.path.strip("/").split("/") if p]
    if len(parts) < 2:
        raise PipeError(f"GITOPS_REPO {remote.display} does not end in <workspace>/<repository>: "
                        "pull requests need a Bitbucket Cloud repository URL")
    slug = parts[-1].removesuffix(".git")
    return parts[-2], slug


def _publish(ctx: StepContext, mode: str, commit: str | None, result: engine.Result,
             pr_url: str | None, branch: str, pr_id: int | None = None) -> None:
    changes = [f"{p}:{f.line} {f.field}: {f.old or '(none)'} -> {f.new}" for p, f in result.changed]
    outputs.publish(ctx, FluxBumpOutputs(
        commit=commit or "", branch=branch, mode=mode, files=tuple(c.path for c in result.changes),
        changes=tuple(changes), pr_url=pr_url or "", pr_id=pr_id or None,
        changed=bool(commit) or (mode == "dry-run" and bool(result.changes))), __version__)
