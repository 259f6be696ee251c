"""flux-bump: the story of one run (settings -> clone -> find and edit -> deliver -> outputs)."""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipes_common import log as plog
from pipes_common import outputs, runner
from pipes_common.contracts import FluxBumpOutputs
from pipes_common.errors import PipeError

from . import __version__, deliver, engine, guard, hints, message, promote, receiver, registrycheck, workspace
from .bbapi import BitbucketClient, PullRequest
from .gitrepo import Git
from .references import Target
from .schema import VARIABLES
from .settings import Settings

__all__ = ["main"]

KIND_NAMES = ("Flux setter markers ({\"$imagepolicy\": ...}) naming it", "kustomize images entries "
              "(name/newName)", "HelmRelease spec.values and Helm values files (<x>.repository, "
              "<x>.registry+<x>.repository, <x>.image, each with <x>.tag)",
              "plain 'image: <image>:<tag>' fields", "Argo CD Image Updater .argocd-source files")


def main() -> int:
    values, ctx = runner.start(VARIABLES)
    s = Settings.from_values(values, ctx)
    started = time.monotonic()
    targets = list(s.targets)
    if s.registry is not None:  # the tags (and digests) to write exist, signed when VERIFY_KEYS
        targets = registrycheck.verify(targets, s.registry, s.verify)  # asks: before anything
    pr = _pr_ready(s, targets) if s.delivery == "pull-request" else None
    scope = Scope.of(s)
    with workspace.opened(s) as git:
        searched = git.clone(s.branch, scope.selected, scope.needles)
        plog.get_logger().debug("Cloned %s at %s in %.1fs.", s.branch, git.head()[:12],
                                time.monotonic() - started)
        if s.promoting:
            targets = _deployed(s, git, scope, searched)
            if s.registry is not None:  # what is copied exists, signed when VERIFY_KEYS
                registrycheck.verify_deployed(targets, s.registry, s.verify)
        plog.get_logger().info("%s %s in %s (%s, mode %s).",
                               "Promoting" if s.promoting else "Bumping", _listed(targets),
                               s.remote.display, s.branch, s.mode)
        scanner = Scanner(s, git, targets, scope)
        result = scanner.scan(searched)
        if result.missing:
            raise _not_found(s, targets, result, git.root)
        _report_found(result)
        if not result.changes:
            return _already(s, targets, result)
        if s.delivery == "dry-run":
            return _dry_run(s, result)
        if pr is not None:
            return _pull_request(s, git, scanner, result, pr, started)
        return _push(s, git, scanner, result, started)


# -- what is searched ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Scope:
    """Which files are searched: those of PATHS (written) and of FROM_PATHS (only read), and
    the strings one of which a file must contain to be read at all."""
    writes: Callable[[str], bool]
    reads: Callable[[str], bool] | None
    needles: tuple[str, ...]

    @classmethod
    def of(cls, s: Settings) -> Scope:
        found: list[str] = []
        for name in s.names:
            for needle in engine.needles(Target(name, "x")):
                if needle not in found:
                    found.append(needle)
        if s.chart_app_version:
            found.append("appVersion")  # so that the charts are checked out too
        return cls(engine.selector(s.paths),
                   engine.selector(s.from_paths) if s.from_paths else None, tuple(found))

    def selected(self, rel: str) -> bool:
        return self.writes(rel) or (self.reads is not None and self.reads(rel))


def _deployed(s: Settings, git: Git, scope: Scope, searched: list[str]) -> list[Target]:
    """Promotion: the references deployed under FROM_PATHS, which must not overlap PATHS."""
    assert scope.reads is not None and s.from_paths is not None
    overlap = [p for p in searched if scope.reads(p) and scope.writes(p)]
    if overlap:
        listed = ", ".join(overlap[:5]) + (" …" if len(overlap) > 5 else "")
        raise PipeError(f"PATHS and FROM_PATHS both match {listed}: give FROM_PATHS and "
                        "PATHS that do not overlap (the source is only read)")
    targets = promote.deployed(git.root, s.names, s.from_paths,
                               [p for p in searched if scope.reads(p)], s.pin_digest, s.helm_keys)
    for t in targets:
        plog.get_logger().info("%s runs %s%s in %s.", t.image, t.tag,
                               f"@{t.digest}" if t.digest else "", ", ".join(s.from_paths))
    return targets


class Scanner:
    """Finds and edits the references in the clone: first after the clone, again on a new tip."""

    def __init__(self, s: Settings, git: Git, targets: Sequence[Target], scope: Scope) -> None:
        self.s, self.git, self.targets, self.scope = s, git, list(targets), scope

    def scan(self, searched: list[str]) -> engine.Multi:
        log = plog.get_logger()
        mine = [p for p in searched if self.scope.writes(p)]
        try:
            res = engine.scan_all(self.git.root, self.targets, self.s.paths, mine,
                                  self.s.chart_app_version)
        except engine.BumpError as err:
            raise PipeError(f"Cannot edit exactly: {err}; the file was left alone"
                            + ("" if len(self.targets) == 1 else
                               " and nothing was changed for the other images either")) from None
        ambiguous = engine.several_policies(res, self.s.paths)
        if ambiguous:
            raise PipeError(ambiguous)
        res.warnings += [w for w in guard.check(res, self.s.allow_downgrade) if w not in res.warnings]
        if res.templated:
            shown = ", ".join(res.templated[:3]) + (" …" if len(res.templated) > 3 else "")
            log.info("Skipped %d templated file(s) ({{ … }}: Go or Helm templates, not YAML): %s",
                     len(res.templated), shown)
        for skipped in res.skipped:
            log.warning("Skipped %s", skipped)
        for warning in res.warnings:
            log.warning("%s", warning)
        return res

    def refresh(self) -> engine.Result:
        """The new tip of the branch (fetched by the push retry) checked out and scanned."""
        res = self.scan(self.git.refresh(self.s.branch, self.scope.selected, self.scope.needles))
        if res.missing:
            raise PipeError(f"The references to {', '.join(t.image for t in res.missing)} "
                            f"disappeared from {self.s.branch} while we retried: nothing was pushed")
        return res

    def message(self, res: engine.Result) -> str:
        source = ", ".join(self.s.from_paths) if self.s.promoting and self.s.from_paths else None
        return message.render(self.s.commit_message, self.targets, res, self.s.ctx.commit,
                              self.s.ctx.build_url, promoted_from=source)


# -- the outcomes -------------------------------------------------------------------------------
def _already(s: Settings, targets: Sequence[Target], result: engine.Result) -> int:
    _publish(s, None, result, s.branch)
    plog.success(f"{_already_at(targets)} in {s.branch}: nothing to commit")
    return 0


def _dry_run(s: Settings, result: engine.Result) -> int:
    for change in result.changes:
        print(change.diff(), end="")
    _publish(s, None, result, s.branch)
    plog.success(f"Dry run: {len(result.changes)} file(s) would change; nothing was committed "
                 "or pushed")
    return 0


@dataclass(frozen=True)
class PrReady:
    """Pull-request mode, checked before the clone: the API client (credential accepted, the
    repository seen), the pull request's branch and the open pull request of it, if any (both
    None when promoting: the branch is named after the tags read in the clone)."""
    client: BitbucketClient
    branch: str | None
    existing: PullRequest | None


def _pr_branch(s: Settings, targets: Sequence[Target]) -> str:
    pr = s.pull_request
    assert pr is not None
    branch = (deliver.branch_name(pr.branch_name, targets, s.ctx.commit) if pr.branch_name
              else deliver.pr_branch_for(targets))
    if branch == s.branch:
        raise PipeError(f"BRANCH_NAME gives '{s.branch}', the target BRANCH itself: give the "
                        "pull request a branch of its own, e.g. flux-bump/{name}-{tag}")
    return branch


def _pr_ready(s: Settings, targets: Sequence[Target]) -> PrReady:
    """Every template and the Bitbucket API checked before anything is cloned or pushed."""
    pr, api = s.pull_request, s.api
    assert pr is not None and api is not None
    if s.commit_message:  # the title is the first line of the message
        deliver.pr_title(message.fill(s.commit_message, dict.fromkeys(message.FIELDS, "x")).strip())
    probe = targets or [Target(name, "0.0.0", promote.PROBE_DIGEST) for name in s.names]
    branch = _pr_branch(s, probe)
    client = BitbucketClient(api.token, api.url, email=api.email)
    client.check_repository(pr.workspace, pr.slug)
    if not targets:
        return PrReady(client, None, None)
    return PrReady(client, branch, client.find_open(pr.workspace, pr.slug, branch))


def _pull_request(s: Settings, git: Git, scanner: Scanner, result: engine.Result, ready: PrReady,
                  started: float) -> int:
    pr, targets = s.pull_request, scanner.targets
    assert pr is not None
    branch, existing = ready.branch, ready.existing
    if branch is None:  # promoting: the tags are known now
        branch = _pr_branch(s, targets)
        existing = ready.client.find_open(pr.workspace, pr.slug, branch)
    done = deliver.pull_request(git, git.root, s.branch, branch, result, scanner.message(result),
                                ready.client, pr.workspace, pr.slug, pr.reviewers,
                                pr.close_source_branch, existing,
                                named=pr.branch_name is not None)
    assert done.pr is not None
    _publish(s, done.commit, result, done.branch, done.pr.url, done.pr.id)
    verb = "Opened" if done.pr.created else "Updated the open"
    plog.success(f"{verb} pull request #{done.pr.id} {done.pr.url} "
                 f"{'promoting' if s.promoting else 'bumping'} {_listed(targets)} "
                 f"({time.monotonic() - started:.1f}s)")
    return 0


def _push(s: Settings, git: Git, scanner: Scanner, result: engine.Result, started: float) -> int:
    targets = scanner.targets
    done = deliver.push_with_retry(git, git.root, s.branch, result, scanner.refresh,
                                   scanner.message, s.retries, scanner.scope.selected,
                                   scanner.scope.needles)
    if done.commit is None:
        return _already(s, targets, done.result)
    _publish(s, done.commit, done.result, s.branch)
    if s.receiver is not None:  # the commit has landed: Flux may reconcile now
        receiver.notify(s.receiver, done.commit, s.branch, s.remote.display)
    what = (f"{targets[0].image} -> {targets[0].tag}" if len(targets) == 1 else
            f"{len(targets)} images ({', '.join(f'{t.image} -> {t.tag}' for t in targets)})")
    plog.success(f"Pushed {done.commit[:12]} to {s.branch}: {what} in "
                 f"{len(done.result.changes)} file(s) ({time.monotonic() - started:.1f}s"
                 f"{f', {done.attempts} attempts' if done.attempts > 1 else ''})")
    return 0


# -- messages and outputs -----------------------------------------------------------------------
def _report_found(result: engine.Result) -> None:
    for path, found in result.found:
        plog.get_logger().info("%s", found.describe(path))


def _already_at(targets: Sequence[Target]) -> str:
    return (f"{targets[0].image} is already at {targets[0].tag}" if len(targets) == 1 else
            f"All {len(targets)} images are already at their tags")


def _not_found(s: Settings, targets: Sequence[Target], result: engine.Multi,
               root: Path) -> PipeError:
    missing = result.missing
    target = missing[0]
    files = result.searched
    scope = (f"matching PATHS {', '.join(s.paths)}" if s.paths else
             "(*.yaml, *.yml, Kustomization)")
    what = (f"Flux setter markers of POLICY {', '.join(target.policies)}" if target.policies
            else "; ".join(KIND_NAMES))
    skipped = (f"; skipped as unparseable: {'; '.join(result.skipped)}" if result.skipped else "")
    if result.templated:
        skipped += f"; skipped {len(result.templated)} templated file(s) ({{{{ … }}}})"
    images = ", ".join(t.image for t in missing)
    nothing = "" if len(targets) == 1 else " (nothing was changed for the other images either)"
    hint = hints.explain(root, result.parsed, target)
    return PipeError(f"No reference to {images} in {s.remote.display} ({s.branch}): searched "
                     f"{len(files)} files {scope} for {what}{skipped}{nothing}; {hint}. Check "
                     f"{'IMAGES' if len(targets) > 1 else 'IMAGE'}, POLICY and PATHS")


def _listed(targets: Sequence[Target]) -> str:
    if len(targets) == 1:
        t = targets[0]
        return f"{t.image} to {t.tag}" + (f"@{t.digest}" if t.pin and t.digest else "")
    return f"{len(targets)} images ({', '.join(f'{t.image}:{t.tag}' for t in targets)})"


def _publish(s: Settings, commit: str | None, result: engine.Result, branch: str,
             pr_url: str | None = None, pr_id: int | None = None) -> None:
    changes = [f.describe(p) for p, f in result.changed]
    outputs.publish(s.ctx, FluxBumpOutputs(
        commit=commit or "", branch=branch, mode=s.mode, files=tuple(c.path for c in result.changes),
        changes=tuple(changes), pr_url=pr_url or "", pr_id=pr_id or None,
        changed=bool(commit) or (s.mode == "dry-run" and bool(result.changes))), __version__)
