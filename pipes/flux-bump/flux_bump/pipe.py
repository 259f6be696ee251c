"""flux-bump: orchestration (variables -> clone -> find and edit -> deliver -> outputs)."""
from __future__ import annotations

import re
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from pipes_common import log as plog
from pipes_common import outputs, runner
from pipes_common.bitbucket import StepContext
from pipes_common.errors import PipeError
from pipes_common.handoff import FluxBumpOutputs

from . import __version__, auth, deliver, engine, message, promote, signing
from .bbapi import BitbucketClient
from .gitrepo import Git, Identity
from .references import Target
from .schema import RULES, SCHEMA
from .targets import target_from, targets_from

__all__ = ["main", "target_from", "targets_from"]

KIND_NAMES = ("Flux setter markers ({\"$imagepolicy\": ...}) naming it", "kustomize images entries "
              "(name/newName)", "HelmRelease spec.values image maps (repository)",
              "plain 'image: <image>:<tag>' fields", "Argo CD Image Updater .argocd-source files",
              "Helm values files (image.repository)")


def _credentials(values: dict[str, Any], remote: auth.Remote, workdir: Path) -> auth.Credentials:
    token = values.get("BITBUCKET_ACCESS_TOKEN")
    if values.get("GIT_USERNAME") and not values.get("GIT_PASSWORD"):
        raise PipeError("GIT_USERNAME is set but GIT_PASSWORD is not: pass the password or token "
                        "as GIT_PASSWORD (a secured variable), or use BITBUCKET_ACCESS_TOKEN")
    if remote.scheme == "ssh":
        return auth.ssh(remote, workdir, values.get("SSH_KEY"), values.get("KNOWN_HOSTS"))
    return auth.https(remote, workdir, token, values.get("GIT_USERNAME"), values.get("GIT_PASSWORD"),
                      values.get("ATLASSIAN_API_TOKEN"))


def _check_tokens(values: dict[str, Any], delivery: str) -> None:
    """Which Bitbucket credential: an access token, or an Atlassian API token with its email."""
    api_token, email = values.get("ATLASSIAN_API_TOKEN"), values.get("ATLASSIAN_EMAIL")
    if api_token and any(c.isspace() for c in str(api_token)):
        raise PipeError("ATLASSIAN_API_TOKEN contains spaces or line breaks: paste the token "
                        "alone, as a secured variable")
    if api_token and values.get("BITBUCKET_ACCESS_TOKEN"):
        raise PipeError("BITBUCKET_ACCESS_TOKEN and ATLASSIAN_API_TOKEN are both set: give one "
                        "(an access token of the repository, project or workspace, or an "
                        "Atlassian API token with ATLASSIAN_EMAIL)")
    if api_token and not email:
        raise PipeError("ATLASSIAN_API_TOKEN is set but ATLASSIAN_EMAIL is not: give the email "
                        "of the Atlassian account the token belongs to (the REST API takes it)")
    if email and not api_token:
        raise PipeError("ATLASSIAN_EMAIL is set but ATLASSIAN_API_TOKEN is not: pass the API "
                        "token as a secured variable")
    if delivery == "pull-request" and not (values.get("BITBUCKET_ACCESS_TOKEN") or api_token):
        raise PipeError("MODE pull-request needs BITBUCKET_ACCESS_TOKEN (pullrequest:write) or "
                        "ATLASSIAN_EMAIL and ATLASSIAN_API_TOKEN (write:pullrequest:bitbucket) "
                        "to open the pull request through the Bitbucket API")


def _not_found(targets: Sequence[Target], result: engine.Multi, branch: str,
               remote: auth.Remote, paths: list[str] | None) -> PipeError:
    missing = result.missing
    target = missing[0]
    files = result.searched
    listed = ", ".join(files[:10]) + (f" and {len(files) - 10} more" if len(files) > 10 else "")
    scope = f"matching PATHS {', '.join(paths)}" if paths else "(*.yaml, *.yml, Kustomization)"
    what = (f"Flux setter markers of POLICY {', '.join(target.policies)}" if target.policies
            else "; ".join(KIND_NAMES))
    skipped = (f"; skipped as unparseable: {'; '.join(result.skipped)}" if result.skipped else "")
    images = ", ".join(t.image for t in missing)
    nothing = "" if len(targets) == 1 else " (nothing was changed for the other images either)"
    return PipeError(f"No reference to {images} in {remote.display} ({branch}): searched "
                     f"{len(files)} files {scope}{': ' + listed if files else ''} for {what}"
                     f"{skipped}{nothing}. Check {'IMAGES' if len(targets) > 1 else 'IMAGE'} "
                     "(spelled as in the manifests), POLICY and PATHS")


def _listed(targets: Sequence[Target]) -> str:
    if len(targets) == 1:
        t = targets[0]
        return f"{t.image} to {t.tag}" + (f"@{t.digest}" if t.pin and t.digest else "")
    return f"{len(targets)} images ({', '.join(f'{t.image}:{t.tag}' for t in targets)})"


def _needles(names: Sequence[str]) -> list[str]:
    out: list[str] = []
    for name in names:
        for needle in engine.needles(Target(name, "x")):
            if needle not in out:
                out.append(needle)
    return out


def main() -> int:
    log = plog.get_logger()
    values, ctx = runner.start(SCHEMA, RULES)
    remote = auth.parse_remote(str(values["GITOPS_REPO"]))
    mode = str(values["MODE"])
    branch = str(values["BRANCH"])
    paths = [p for p in values.get("PATHS") or [] if p.strip()] or None
    from_paths = [p for p in values.get("FROM_PATHS") or [] if p.strip()] or None
    promoting = mode == "promote" or from_paths is not None
    delivery = "push" if mode == "promote" else mode
    targets: list[Target] = []
    helm_keys = _helm_keys(values)
    if promoting:
        if not from_paths:
            raise PipeError("FROM_PATHS is required with MODE promote: give the files of the "
                            "environment to copy from, e.g. ['clusters/staging/**']")
        if not paths:
            raise PipeError("PATHS is required when promoting: give the files of the environment "
                            "to write, e.g. ['clusters/production/**'] (FROM_PATHS is read only)")
        if values.get("POLICY"):
            raise PipeError("POLICY cannot be set when promoting: the image is found by IMAGE "
                            "in FROM_PATHS and PATHS; drop POLICY")
        names = promote.names_from(values)
    else:
        targets = [replace(t, helm_keys=helm_keys) for t in targets_from(values, ctx)]
        names = [t.image for t in targets]
    _check_tokens(values, delivery)
    if values.get("COMMIT_MESSAGE"):
        message.check_template(str(values["COMMIT_MESSAGE"]))
    reviewers = _reviewers(values)
    for name in ("REVIEWERS", "BRANCH_NAME"):
        if values.get(name) and delivery != "pull-request":
            raise PipeError(f"{name} is only used with MODE pull-request: drop it, or set MODE "
                            "pull-request")
    started = time.monotonic()
    clone_dir = Path(values["CLONE_DIR"]).resolve() if values.get("CLONE_DIR") else None
    if clone_dir is not None and clone_dir.exists() and any(clone_dir.iterdir()):
        raise PipeError(f"CLONE_DIR {clone_dir} is not empty: give an empty or missing folder")
    workdir = Path(tempfile.mkdtemp(prefix="flux-bump-"))
    root = clone_dir or workdir / "repo"
    root.parent.mkdir(parents=True, exist_ok=True)
    creds: auth.Credentials | None = None
    signer: signing.Signing | None = None
    try:
        (workdir / "home").mkdir()
        creds = _credentials(values, remote, workdir)
        signer = signing.prepare(values.get("SIGNING_KEY"), workdir)
        if signer is not None:
            log.info("Commits are signed with the SSH key %s (SIGNING_KEY).", signer.fingerprint)
        identity = Identity(str(values["GIT_AUTHOR_NAME"]), str(values["GIT_AUTHOR_EMAIL"]))
        git = Git(root, remote, creds, identity, workdir / "home",
                  signer.env if signer is not None else None, signed=signer is not None)
        to_paths = engine.selector(paths)
        from_sel = engine.selector(from_paths) if from_paths else None

        def selected(rel: str) -> bool:
            return to_paths(rel) or (from_sel is not None and from_sel(rel))

        needles = _needles(names)
        if values.get("CHART_APP_VERSION"):
            needles.append("appVersion")  # so that the charts are checked out too
        searched = git.clone(branch, selected, needles)
        log.debug("Cloned %s at %s in %.1fs.", branch, git.head()[:12], time.monotonic() - started)
        if from_sel is not None and from_paths is not None:
            overlap = [s for s in searched if from_sel(s) and to_paths(s)]
            if overlap:
                listed = ", ".join(overlap[:5]) + (" …" if len(overlap) > 5 else "")
                raise PipeError(f"PATHS and FROM_PATHS both match {listed}: give FROM_PATHS and "
                                "PATHS that do not overlap (the source is only read)")
            targets = promote.deployed(root, names, from_paths, [s for s in searched if from_sel(s)],
                                       bool(values.get("PIN_DIGEST")), helm_keys)
            for t in targets:
                log.info("%s runs %s%s in %s.", t.image, t.tag, f"@{t.digest}" if t.digest else "",
                         ", ".join(from_paths))
        log.info("%s %s in %s (%s, mode %s).", "Promoting" if promoting else "Bumping",
                 _listed(targets), remote.display, branch, mode)

        def rescan(searched: list[str]) -> engine.Multi:
            mine = [s for s in searched if to_paths(s)]
            try:
                res = engine.scan_all(root, targets, paths, mine,
                                      bool(values.get("CHART_APP_VERSION")))
            except engine.BumpError as err:
                raise PipeError(f"Cannot edit exactly: {err}; the file was left alone"
                                + ("" if len(targets) == 1 else
                                   " and nothing was changed for the other images either")) from None
            for skipped in res.skipped:
                log.warning("Skipped %s", skipped)
            for warning in res.warnings:
                log.warning("%s", warning)
            return res

        def refresh() -> engine.Result:
            res = rescan(git.refresh(branch, selected, needles))
            if res.missing:
                raise PipeError(f"The references to {', '.join(t.image for t in res.missing)} "
                                f"disappeared from {branch} while we retried: nothing was pushed")
            return res

        result = rescan(searched)
        if result.missing:
            raise _not_found(targets, result, branch, remote, paths)
        for path, found in result.found:
            state = f"{found.old} -> {found.new}" if found.changed else f"{found.old} (unchanged)"
            log.info("%s:%d %s %s: %s", path, found.line, found.kind, found.field, state)
        already = (f"{targets[0].image} is already at {targets[0].tag}" if len(targets) == 1 else
                   f"All {len(targets)} images are already at their tags")
        if not result.changes:
            _publish(ctx, mode, None, result, None, branch)
            plog.success(f"{already} in {branch}: nothing to commit")
            return 0
        build_url = ctx.build_url
        source = ", ".join(from_paths) if promoting and from_paths else None

        def render(res: engine.Result) -> str:
            return message.render(values.get("COMMIT_MESSAGE"), targets, res, ctx.commit, build_url,
                                  promoted_from=source)

        if delivery == "dry-run":
            for change in result.changes:
                print(change.diff(), end="")
            _publish(ctx, mode, None, result, None, branch)
            plog.success(f"Dry run: {len(result.changes)} file(s) would change; nothing was "
                         "committed or pushed")
            return 0
        if delivery == "pull-request":
            workspace, slug = _repo_path(remote)
            if values.get("ATLASSIAN_API_TOKEN"):
                client = BitbucketClient(str(values["ATLASSIAN_API_TOKEN"]),
                                         str(values["BITBUCKET_API_URL"]),
                                         email=str(values["ATLASSIAN_EMAIL"]))
            else:
                client = BitbucketClient(str(values["BITBUCKET_ACCESS_TOKEN"]),
                                         str(values["BITBUCKET_API_URL"]))
            source_branch = (deliver.branch_name(str(values["BRANCH_NAME"]), targets, ctx.commit)
                             if values.get("BRANCH_NAME") else deliver.pr_branch_for(targets))
            if source_branch == branch:
                raise PipeError(f"BRANCH_NAME gives '{branch}', the target BRANCH itself: give the "
                                "pull request a branch of its own, e.g. flux-bump/{name}-{tag}")
            done = deliver.pull_request(git, root, branch, source_branch, result, render(result),
                                        client, workspace, slug, reviewers,
                                        bool(values["CLOSE_SOURCE_BRANCH"]))
            assert done.pr is not None
            _publish(ctx, mode, done.commit, result, done.pr.url, done.branch, done.pr.id)
            verb = "Opened" if done.pr.created else "Updated the open"
            plog.success(f"{verb} pull request #{done.pr.id} {done.pr.url} "
                         f"{'promoting' if promoting else 'bumping'} {_listed(targets)} "
                         f"({time.monotonic() - started:.1f}s)")
            return 0
        done = deliver.push_with_retry(git, root, branch, result, refresh, render,
                                       int(values["RETRIES"]), selected, needles)
        if done.commit is None:
            _publish(ctx, mode, None, done.result, None, branch)
            plog.success(f"{already} in {branch}: nothing to commit")
            return 0
        _publish(ctx, mode, done.commit, done.result, None, branch)
        what = (f"{targets[0].image} -> {targets[0].tag}" if len(targets) == 1 else
                f"{len(targets)} images ({', '.join(f'{t.image} -> {t.tag}' for t in targets)})")
        plog.success(f"Pushed {done.commit[:12]} to {branch}: {what} in "
                     f"{len(done.result.changes)} file(s) ({time.monotonic() - started:.1f}s"
                     f"{f', {done.attempts} attempts' if done.attempts > 1 else ''})")
        return 0
    finally:
        signing.cleanup(signer)
        if creds is not None:
            auth.cleanup(creds)
        shutil.rmtree(workdir, ignore_errors=True)


KEY_PATH_RE = re.compile(r"^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*$")


def _helm_keys(values: dict[str, Any]) -> tuple[str, ...]:
    """HELM_KEYS: the dotted paths of the repository, the tag and optionally the digest."""
    keys = tuple(str(k).strip() for k in values.get("HELM_KEYS") or [] if str(k).strip())
    if not keys:
        return ()
    bad = [k for k in keys if not KEY_PATH_RE.match(k)]
    if len(keys) not in (2, 3) or bad or len(set(keys)) != len(keys):
        shown = f" ('{bad[0][:60]}' is not a dotted key path)" if bad else ""
        raise PipeError(f"HELM_KEYS must be 2 or 3 different dotted key paths, the repository, "
                        f"the tag and optionally the digest{shown}: e.g. "
                        "['app.image.repository', 'app.image.tag', 'app.image.digest']")
    return keys


REVIEWER_RE = re.compile(r"^(?:\{[0-9a-fA-F-]{36}\}|[A-Za-z0-9][A-Za-z0-9:_-]{0,127})$")


def _reviewers(values: dict[str, Any]) -> list[str]:
    """REVIEWERS: Atlassian account ids (``557058:…`` or 24 hex digits), or ``{uuid}``s."""
    out: list[str] = []
    for item in values.get("REVIEWERS") or []:
        text = str(item).strip()
        if not text:
            continue
        if not REVIEWER_RE.match(text):
            shown = text[:60] + ("…" if len(text) > 60 else "")
            raise PipeError(f"REVIEWERS item '{shown}' is not an Atlassian account id: give the "
                            "account id (e.g. 557058:0b7c0a34-…, from the user's profile URL or "
                            "GET /2.0/workspaces/{workspace}/members) or the {uuid}")
        if text not in out:
            out.append(text)
    return out


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
