"""Delivering the edit: push with retry onto the target branch, or a pull request."""
from __future__ import annotations

import hashlib
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipes_common import imageref
from pipes_common.bbapi import Transient
from pipes_common.errors import PipeError
from pipes_common.log import get_logger

from . import engine
from .bbapi import BitbucketClient, PullRequest
from .gitrepo import Git
from .message import fill
from .references import Target
from .schema import BRANCH_FIELDS, BRANCH_RE

Rescan = Callable[[], engine.Result]  # fetch the new tip, check it out, scan it again
Message = Callable[[engine.Result], str]


@dataclass
class Delivered:
    commit: str | None  # None: nothing to do after all (someone else made the same change)
    result: engine.Result
    attempts: int = 1
    pr: PullRequest | None = None
    branch: str = ""


BACKOFF_FIRST = 0.25  # seconds: the window of the first retry, doubled each time ...
BACKOFF_CAP = 2.0     # ... up to this


def backoff(attempt: int) -> float:
    """Seconds to wait before retry ``attempt`` (1-based): short, exponential with full jitter,
    capped at :data:`BACKOFF_CAP`.

    A retry is cheap (fetch the tip, replay the commit, push: no clone), so the windows stay short;
    full jitter spreads the writers that lost the same race over the whole window, so they do not
    collide again all at once on the next try."""
    return random.uniform(0.0, min(BACKOFF_CAP, BACKOFF_FIRST * 2.0 ** (attempt - 1)))  # noqa: S311


def push_with_retry(git: Git, root: Path, branch: str, result: engine.Result, refresh: Rescan,
                    message: Message, retries: int, selected: Callable[[str], bool],
                    needles: Sequence[str]) -> Delivered:
    """Commit and push onto ``branch``; when the push is rejected because the branch moved, fetch
    the new tip, re-apply the edit and try again (at most ``retries`` more times).  Never forces.

    The commit is replayed as it is when the new tip holds nothing more to edit (see
    :meth:`Git.reapply`); otherwise the new tip is scanned again, so that a reference added
    meanwhile is bumped too."""
    log = get_logger()
    attempt = 0
    commit: str | None = None
    base = git.head()
    while True:
        attempt += 1
        if commit is None:
            base = git.head()
            engine.write(root, result)
            commit = git.commit([c.path for c in result.changes], message(result))
        ok, retryable, text = git.push(commit, branch)
        if ok:
            return Delivered(commit, result, attempt, branch=branch)
        if not retryable:
            raise git.explain(text, branch)
        if attempt > retries:
            raise PipeError(f"The push to {branch} was rejected {attempt} times because the branch "
                            "kept moving: run the pipe again or raise RETRIES")
        wait = backoff(attempt)
        log.info("%s moved while we pushed: re-applying the edit on the new tip (retry %d of %d, "
                 "in %.1fs).", branch, attempt, retries, wait)
        time.sleep(wait)
        tip = git.fetch_tip(branch)
        commit = git.reapply(base, commit, tip, branch, selected, needles)
        if commit is not None:
            log.debug("Replayed the edit onto %s (nothing more to edit there).", tip[:12])
            continue
        result = refresh()
        if not result.found:
            raise PipeError(f"The references to the image disappeared from {branch} at {tip[:12]} "
                            "while we retried: nothing was pushed")
        if not result.changes:
            log.info("The new tip %s already holds the change.", tip[:12])
            return Delivered(None, result, attempt, branch=branch)


def pr_branch(image: str, tag: str) -> str:
    """The deterministic pull-request branch of ``image`` at ``tag``."""
    def slug(text: str) -> str:
        return re.sub(r"-{2,}", "-", re.sub(r"[^A-Za-z0-9._-]", "-", text)).strip("-.")
    short = imageref.short_name(image)
    digest = hashlib.sha256(f"{image}:{tag}".encode()).hexdigest()[:8]
    return f"flux-bump/{slug(short)[:60]}-{slug(tag)[:60]}-{digest}"


def pr_branch_for(targets: Sequence[Target]) -> str:
    """The pull-request branch of one change: :func:`pr_branch` for one image; for several,
    their count and a hash of every ``image:tag``."""
    if len(targets) == 1:
        return pr_branch(targets[0].image, targets[0].tag)
    pairs = "\n".join(sorted(f"{t.image}:{t.tag}" for t in targets))
    return f"flux-bump/{len(targets)}-images-{hashlib.sha256(pairs.encode()).hexdigest()[:8]}"


MAX_BRANCH = 200


def _slug(text: str, keep: str = "") -> str:
    return re.sub(r"-{2,}", "-", re.sub(rf"[^A-Za-z0-9._{re.escape(keep)}-]", "-", text)).strip("-.")


def branch_name(template: str, targets: Sequence[Target], commit: str | None) -> str:
    """``BRANCH_NAME`` filled in: ``{name}`` (the image's last path component, ``<n>-images``
    for several), ``{image}`` (the image path, ``/`` kept), ``{tag}``, ``{short_digest}`` (12
    hex digits), ``{commit}`` and ``{short_commit}`` (the source commit); characters a branch
    cannot hold become ``-``.  The result must be a valid branch name."""
    many = len(targets) > 1
    digests = [t.digest.partition(":")[2][:12] for t in targets if t.digest]
    values = {
        "name": f"{len(targets)}-images" if many else _slug(imageref.short_name(targets[0].image)),
        "image": "-".join(_slug(t.image, "/") for t in targets),
        "tag": "-".join(_slug(t.tag) for t in targets),
        "short_digest": "-".join(digests), "commit": commit or "", "short_commit": (commit or "")[:12],
    }
    rendered = fill(template, values, "BRANCH_NAME", BRANCH_FIELDS).strip()
    if not rendered or len(rendered) > MAX_BRANCH or not re.match(BRANCH_RE, rendered):
        shown = rendered[:MAX_BRANCH] + ("…" if len(rendered) > MAX_BRANCH else "")
        raise PipeError(f"BRANCH_NAME gives '{shown}', which is not a valid branch name (at most "
                        f"{MAX_BRANCH} characters, no spaces, '..', '~', '^', ':', '?', '*', '[', "
                        "'\\', no leading '/', no trailing '/', '.' or '.lock'): fix the template, "
                        "e.g. flux-bump/{name}-{tag}")
    return rendered


def pr_title(message: str) -> str:
    """The pull request's title: the message's first line, which must not be empty."""
    title = message.partition("\n")[0].strip()
    if not title:
        raise PipeError("COMMIT_MESSAGE gives an empty first line, the pull request's title: start "
                        "the template with a line of text, e.g. 'Bump {image} to {tag}'")
    return title


OWNER_TRAILER = "Flux-Bump-Branch"  # on every commit pushed to a pull-request branch: its name


def marked(message: str, branch: str) -> str:
    """The commit message for the pull-request branch ``branch``: ``message`` with the trailer
    line that says the pipe made the branch (``Flux-Bump-Branch: <branch>``)."""
    return f"{message.rstrip()}\n\n{OWNER_TRAILER}: {branch}\n"


def check_owned(git: Git, branch: str, tip: str, named: bool) -> None:
    """Refuse to move ``branch`` (at ``tip``) unless this pipe made it: its last commit carries
    ``Flux-Bump-Branch: <branch>``.  A branch of the default name (``named`` False: not from
    BRANCH_NAME) whose last commit has no such line was made by an earlier release."""
    git.fetch_branch(branch)
    values = git.trailer(tip, OWNER_TRAILER)
    if values == [branch] or (not values and not named):
        return
    what = "BRANCH_NAME gives" if named else "The pull-request branch is"
    raise PipeError(f"{what} '{branch}', a branch that exists in {git.remote.display} and that "
                    f"flux-bump did not make (its last commit {tip[:12]} has no "
                    f"'{OWNER_TRAILER}: {branch}' line): give the pull request a branch of its "
                    "own, e.g. BRANCH_NAME: flux-bump/{name}-{tag}, or delete that branch if it "
                    "is a leftover")


def pull_request(git: Git, root: Path, target_branch: str, branch: str,
                 result: engine.Result, message: str, client: BitbucketClient,
                 workspace: str, slug: str, reviewers: Sequence[str] = (),
                 close_source_branch: bool = True, existing: PullRequest | None = None,
                 named: bool = False) -> Delivered:
    """Commit onto ``branch``, a branch of our own, and open its pull request, or update
    ``existing``, the open one (looked up before anything was pushed).  An existing branch must
    be ours (:func:`check_owned`: ``named`` when BRANCH_NAME gave it) and is moved forward,
    never forced: the new commit has the old tip as a parent (see :meth:`Git.onto_branch`).
    When the pull request cannot be opened, a branch this run created is deleted again, only
    while it still holds what this run pushed (a lease): nothing is left half done."""
    log = get_logger()
    title, body = pr_title(message), message.partition("\n")[2].strip()
    tip = git.remote_tip(branch)
    if tip is not None:
        check_owned(git, branch, tip, named)
    engine.write(root, result)
    commit = git.commit([c.path for c in result.changes], marked(message, branch))
    pushed: str | None = commit
    if tip is not None:
        pushed = git.onto_branch(commit, branch, tip)
    if pushed is None:
        assert tip is not None
        log.info("The pull-request branch %s already holds this change at %s.", branch, tip[:12])
        commit = tip
    else:
        ok, _, text = git.push(pushed, branch)
        if not ok:
            raise git.explain(text, target_branch)
        commit = pushed
        log.info("Pushed %s to the pull-request branch %s.", commit[:12], branch)
    try:
        if existing is not None:
            pr = client.update(workspace, slug, existing.id, title, body, reviewers,
                               close_source_branch)
        else:
            pr = client.create(workspace, slug, branch, target_branch, title, body, reviewers,
                               close_source_branch)
    except PipeError as err:
        if tip is not None:  # the branch was there before this run: not ours to delete
            raise
        if git.delete_branch(branch, commit):
            after = ("the API may have opened the pull request all the same: a re-run finds it "
                     "and updates it" if isinstance(err, Transient) and existing is None
                     else "nothing is left behind")
            raise PipeError(f"{err.message}; the branch {branch} pushed for it was deleted "
                            f"again, {after}", err.exit_code) from None
        raise PipeError(f"{err.message}; the branch {branch} pushed for it was not deleted (it "
                        f"moved since {commit[:12]} was pushed, or the server refused): check it "
                        "and delete it by hand", err.exit_code) from None
    return Delivered(commit, result, 1, pr=pr, branch=branch)
