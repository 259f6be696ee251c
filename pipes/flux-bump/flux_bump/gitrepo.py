"""Git operations through ``pipes_common.proc``: a minimal clone, commit, push and refresh.

The clone is shallow (depth 1), of one branch, without tags and with a ``blob:none`` filter: it
brings the tip commit and its trees.  Then the blobs of the YAML files only are fetched in one
request, ``git grep`` finds the few that can hold a reference, and a sparse checkout writes just
those to disk.  A large repository thus costs its tip's YAML blobs and little else, and no time
goes into writing thousands of files.  Servers without partial clone support ignore the filter
(git says so) and send the shallow tip in full.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipes_common import gitblobs, proc, secrets
from pipes_common.errors import PipeError
from pipes_common.log import get_logger

from .auth import Credentials, Remote

GREP_PATHSPECS = ("**/*.yaml", "**/*.yml", "**/Kustomization")
# what of the pipe's environment git gets besides the system's, proxies and CA files (proc.BASE_ENV)
GIT_ALLOW = ("GIT_SSL_CAINFO",)
_RETRYABLE = re.compile(r"non-fast-forward|fetch first|rejected|cannot lock ref|failed to update "
                        r"ref|stale info|incorrect old value|remote unpack failed", re.I)


def sparse_pattern(path: str) -> str:
    """A sparse-checkout (gitignore syntax) pattern matching exactly ``path``."""
    escaped = re.sub(r"([\\*?\[\]!#])", r"\\\1", path)
    if escaped.endswith(" "):
        escaped = escaped[:-1] + "\\ "
    return "/" + escaped


def refused(kind: str, url: str, forbidden: bool) -> str:
    """Why ``url`` likely rejected credentials of ``kind`` (401, or 403 when ``forbidden``), and
    the fix."""
    head = f"{url} rejected the credentials ({'403' if forbidden else '401'}): "
    if kind == "token":
        return head + ("BITBUCKET_ACCESS_TOKEN may not write to the repository: give the access "
                       "token the repository:write scope (and pullrequest:write for pull "
                       "requests), on this repository, its project or workspace" if forbidden else
                       "BITBUCKET_ACCESS_TOKEN is expired, revoked or mistyped: create a "
                       "repository, project or workspace access token and pass it as a secured "
                       "variable")
    if kind == "api-token":
        return head + ("ATLASSIAN_API_TOKEN may not write to the repository: create the API "
                       "token with the read:repository:bitbucket and write:repository:bitbucket "
                       "scopes (and read:pullrequest:bitbucket and write:pullrequest:bitbucket "
                       "for pull requests; a write scope does not include its read scope), for "
                       "an account with write access" if forbidden else
                       "ATLASSIAN_API_TOKEN is expired, revoked, mistyped, or an API token "
                       "without scopes: create an API token with scopes (Atlassian account > "
                       "Security > API tokens) and pass it as a secured variable")
    if kind == "password":
        return head + ("check that GIT_USERNAME/GIT_PASSWORD may write to the repository" if
                       forbidden else "GIT_USERNAME/GIT_PASSWORD was refused") + (
            "; if GIT_PASSWORD is a Bitbucket app password: app passwords no longer work, use "
            "an access token (BITBUCKET_ACCESS_TOKEN) or an Atlassian API token "
            "(ATLASSIAN_EMAIL and ATLASSIAN_API_TOKEN)")
    return head + ("set BITBUCKET_ACCESS_TOKEN (a repository, project or workspace access "
                   "token), or ATLASSIAN_EMAIL and ATLASSIAN_API_TOKEN, or use an SSH URL with "
                   "SSH_KEY")


@dataclass(frozen=True)
class Identity:
    name: str
    email: str


class Git:
    """One working clone of the GitOps repository."""

    def __init__(self, root: Path, remote: Remote, creds: Credentials, identity: Identity,
                 home: Path, extra_env: Mapping[str, str] | None = None,
                 signed: bool = False) -> None:
        self.root = root
        self.signed = signed  # commit-tree ignores commit.gpgSign: it is told with -S
        self.remote = remote
        self.creds = creds
        self.env = proc.child_env({
            "HOME": str(home), "LANG": "C", "LC_ALL": "C",
            "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null",
            "GIT_AUTHOR_NAME": identity.name, "GIT_AUTHOR_EMAIL": identity.email,
            "GIT_COMMITTER_NAME": identity.name, "GIT_COMMITTER_EMAIL": identity.email,
            **creds.env,
            **(extra_env or {}),  # e.g. the commit signing configuration (signing.Signing.env)
        }, GIT_ALLOW)

    def git(self, *args: str, check: bool = True, error: str | None = None,
            cwd: Path | None = None, input: str | None = None,
            env: Mapping[str, str] | None = None) -> proc.Result:
        """``git args`` in the clone; ``input`` goes to its stdin, ``env`` adds to the clone's."""
        return proc.run(["git", *args], cwd=cwd or self.root,
                        env={**self.env, **env} if env else self.env, check=check, error=error,
                        input=input, timeout=1800)

    # -- errors --------------------------------------------------------------------------------
    def explain(self, stderr: str, branch: str) -> PipeError:
        """A one-line message naming the variable to fix, from git's stderr."""
        text = secrets.mask(stderr)
        url = self.remote.display
        if re.search(r"Remote branch .* not found|couldn't find remote ref", text):
            return PipeError(f"BRANCH: the branch '{branch}' does not exist in {url}: set BRANCH "
                             "to an existing branch (default main)")
        if "Host key verification failed" in text:
            return PipeError(f"The host key of {self.remote.host} is not in the known hosts: set "
                             "KNOWN_HOSTS to its known_hosts line (ssh-keyscan, fingerprint checked)")
        if re.search(r"Permission denied \(publickey|Permission denied, please", text):
            return PipeError(f"{self.remote.host} refused the SSH key: check that SSH_KEY (or the "
                             "pipelines SSH key) is the SSH key of an account that may write to "
                             "GITOPS_REPO (a repository access key only reads)")
        if re.search(r"Authentication failed|could not read Username|could not read Password|"
                     r"returned error: 40[13]|HTTP 40[13]|invalid credentials|access denied", text, re.I):
            forbidden = bool(re.search(r"returned error: 403|HTTP 403|access denied|cannot write",
                                       text, re.I))
            return PipeError(refused(self.creds.kind, url, forbidden))
        if re.search(r"not found|does not appear to be a git repository|returned error: 404|"
                     r"No such file or directory", text, re.I):
            return PipeError(f"GITOPS_REPO: no repository at {url}: check the URL")
        if re.search(r"Could not resolve host|Connection refused|Failed to connect|timed out|"
                     r"Connection reset|Could not read from remote|unable to access", text, re.I):
            return PipeError(f"GITOPS_REPO: {url} is unreachable: check the URL and that the step "
                             "can reach the host")
        last = [ln for ln in text.strip().splitlines() if ln.strip()][-1:] or ["no output"]
        return PipeError(f"git failed on {url}: {last[0].strip()}")

    # -- clone ---------------------------------------------------------------------------------
    def clone(self, branch: str, selected: Callable[[str], bool], needles: Sequence[str]) -> list[str]:
        """Clone ``branch`` minimally into ``root`` and check out only the files that may hold a
        reference; return every file searched (see :meth:`materialize`)."""
        log = get_logger()
        res = self.git("clone", "--quiet", "--no-checkout", "--depth", "1", "--single-branch",
                       "--branch", branch, "--no-tags", "--filter=blob:none", "--",
                       self.remote.url, str(self.root), check=False, cwd=self.root.parent)
        if not res.ok:
            raise self.explain(res.stderr, branch)
        if "filtering not recognized" in res.stderr:
            log.info("The server does not support partial clone: fetched the shallow tip in full.")
        return self.materialize(branch, selected, needles)

    def materialize(self, branch: str, selected: Callable[[str], bool],
                    needles: Sequence[str]) -> list[str]:
        """Fetch the blobs of the selected files at HEAD (one request, only those missing), find
        with ``git grep`` the ones that contain a needle, and check out just those (sparse).
        Returns the selected files: all of them were searched."""
        out = self.git("ls-tree", "-r", "-z", "HEAD").stdout
        entries: dict[str, str] = {}
        for entry in out.split("\0"):
            meta, _, path = entry.partition("\t")
            parts = meta.split()
            if len(parts) == 3 and parts[1] == "blob" and parts[0] in ("100644", "100755") \
                    and selected(path):
                entries[path] = parts[2]
        self._fetch_blobs(entries.values(), branch)
        matched: list[str] = []
        if entries:
            for path in self._grep(needles, "HEAD", [f":(glob){p}" for p in GREP_PATHSPECS]):
                if path in entries:
                    matched.append(path)
        patterns = [sparse_pattern(p) for p in matched] or ["/.flux-bump-matches-nothing"]
        res = self.git("sparse-checkout", "set", "--no-cone", "--stdin",
                       input="\n".join(patterns) + "\n", check=False)
        if not res.ok:
            raise PipeError(f"git sparse-checkout failed: {secrets.mask(res.stderr.strip()[-300:])}")
        res = self.git("checkout", "--quiet", branch, check=False)
        if not res.ok:
            raise self.explain(res.stderr, branch)
        return sorted(entries)

    def _fetch_blobs(self, oids: Iterable[str], branch: str, new: bool = False) -> None:
        """Fetch those of ``oids`` not here yet, in one request (``new``: all of them, known to
        be new here, without listing the objects present)."""
        res = gitblobs.fetch_missing(self.git, oids, known_new=new)
        if res is not None and not res.ok:
            raise self.explain(res.stderr, branch)

    def _grep(self, needles: Sequence[str], tree: str, pathspecs: Sequence[str]) -> list[str]:
        """The paths under ``pathspecs`` in ``tree`` that contain one of ``needles``."""
        args = ["grep", "-l", "-z", "-F", "--no-color"]
        for needle in needles:
            args += ["-e", needle]
        res = self.git(*args, tree, "--", *pathspecs, check=False)
        if res.returncode not in (0, 1):
            raise PipeError(f"git grep failed: {secrets.mask(res.stderr.strip()[-300:])}")
        return [item.partition(":")[2] for item in res.stdout.split("\0") if item]

    def head(self) -> str:
        return self.git("rev-parse", "HEAD").stdout.strip()

    def fetch_tip(self, branch: str) -> str:
        """Fetch the branch's current tip (shallow, trees only); return it."""
        res = self.git("fetch", "--quiet", "--depth", "1", "--no-tags", "--filter=blob:none",
                       "origin", f"+refs/heads/{branch}:refs/remotes/origin/{branch}", check=False)
        if not res.ok:
            raise self.explain(res.stderr, branch)
        return self.git("rev-parse", f"refs/remotes/origin/{branch}").stdout.strip()

    def refresh(self, branch: str, selected: Callable[[str], bool],
                needles: Sequence[str]) -> list[str]:
        """Reset onto the fetched tip (our unpushed commit is dropped) and check out the files
        to search again; return every file searched."""
        self.git("reset", "--quiet", "--hard", f"refs/remotes/origin/{branch}")
        return self.materialize(branch, selected, needles)

    def _entries(self, tree: str, paths: Sequence[str]) -> list[str]:
        out = self.git("--literal-pathspecs", "ls-tree", "-z", tree, "--", *paths).stdout
        return sorted(e for e in out.split("\0") if e)

    def _changed(self, old: str, new: str) -> list[str]:
        out = self.git("diff-tree", "-r", "-z", "--name-only", "--no-commit-id", old, new).stdout
        return [p for p in out.split("\0") if p]

    def reapply(self, base: str, ours: str, tip: str, branch: str, selected: Callable[[str], bool],
                needles: Sequence[str]) -> str | None:
        """Our commit ``ours`` (made on ``base``) replayed onto ``tip`` without a checkout, when a
        scan of ``tip`` would make the same edit and find nothing more: none of the files it
        changes differ between ``base`` and ``tip``, and no other searched file (``selected``)
        that changed upstream holds a needle (a file added meanwhile with the old tag, say).
        None otherwise: the caller scans the new tip again.  Trees are compared; only the blobs
        of searched files that changed upstream are fetched (one request)."""
        paths = self._changed(base, ours)
        upstream = self._changed(base, tip)
        if not paths or set(paths) & set(upstream):
            return None
        moved = [p for p in upstream if selected(p)]
        if moved:
            # a file deleted upstream is not in the tip: nothing can be found in it
            found = [entry.partition("\t") for entry in self._entries(tip, moved)]
            # files changed upstream: their blobs at the tip are new here (one request, no listing)
            self._fetch_blobs((meta.split()[2] for meta, _, _ in found), branch, new=True)
            if found and self._grep(needles, tip, [f":(literal){path}" for _, _, path in found]):
                return None
        index = self.root / ".git" / "flux-bump-reapply.index"
        env = {"GIT_INDEX_FILE": str(index)}
        try:
            self.git("read-tree", tip, env=env)
            infos = []
            for entry in self._entries(ours, paths):
                meta, _, path = entry.partition("\t")
                mode, _, oid = meta.split()
                infos.append(f"{mode} {oid}\t{path}")
            self.git("update-index", "--index-info", env=env, input="\n".join(infos) + "\n")
            tree = self.git("write-tree", "--missing-ok", env=env).stdout.strip()
        finally:
            index.unlink(missing_ok=True)
        message = self.git("log", "-1", "--format=%B", ours).stdout
        sign = ["-S"] if self.signed else []
        res = self.git("commit-tree", *sign, tree, "-p", tip, "-F", "-", input=message)
        return res.stdout.strip()

    def remote_tip(self, branch: str) -> str | None:
        """The commit ``branch`` points at on the server, or None when it does not exist."""
        res = self.git("ls-remote", "--heads", "origin", f"refs/heads/{branch}", check=False)
        if not res.ok:
            raise self.explain(res.stderr, branch)
        for line in res.stdout.splitlines():
            sha, _, ref = line.partition("\t")
            if ref == f"refs/heads/{branch}":
                return sha
        return None

    def fetch_branch(self, branch: str) -> None:
        """Fetch the tip commit of ``branch`` (shallow, trees only) as ``origin/<branch>``."""
        self.git("fetch", "--quiet", "--depth", "1", "--no-tags", "--filter=blob:none", "origin",
                 f"+refs/heads/{branch}:refs/remotes/origin/{branch}")

    def trailer(self, commit: str, key: str) -> list[str]:
        """The values of the ``key:`` trailer lines of ``commit``'s message (fetched already)."""
        out = self.git("log", "-1", f"--format=%(trailers:key={key},valueonly,separator=%x00)",
                       commit).stdout
        return [v.strip() for v in out.strip("\n").split("\0") if v.strip()]

    def onto_branch(self, commit: str, branch: str, tip: str) -> str | None:
        """``commit`` (made on the target branch) as a fast-forward of ``branch`` at ``tip``, so
        that updating the branch needs no force: a commit with the tree of ``commit`` and the
        parents ``tip`` and ``commit``'s parent.  Its merge base with the target branch is that
        parent, so the pull request shows exactly the edit.  None when ``tip`` already has that
        tree (nothing to push)."""
        self.fetch_branch(branch)
        tree = self.git("rev-parse", f"{commit}^{{tree}}").stdout.strip()
        if self.git("rev-parse", f"{tip}^{{tree}}").stdout.strip() == tree:
            return None
        parent = self.git("rev-parse", f"{commit}^").stdout.strip()
        message = self.git("log", "-1", "--format=%B", commit).stdout
        sign = ["-S"] if self.signed else []
        res = self.git("commit-tree", *sign, tree, "-p", tip, "-p", parent, "-F", "-",
                       input=message)
        return res.stdout.strip()

    # -- commit and push -----------------------------------------------------------------------
    def commit(self, files: list[str], message: str) -> str:
        self.git("add", "--sparse", "--", *files)
        res = self.git("commit", "--quiet", "--no-verify", "--file=-", input=message, check=False)
        if not res.ok:
            raise PipeError(f"git commit failed: {secrets.mask(res.stderr.strip()[-300:])}")
        return self.head()

    def delete_branch(self, branch: str, pushed: str) -> bool:
        """Delete ``branch`` on the server only while it still points at ``pushed``, the commit
        this run created it with (a lease: if anyone moved it since, it is left alone; never a
        forced update).  Whether it is gone."""
        ref = f"refs/heads/{branch}"
        res = self.git("push", "--porcelain", "--no-verify", f"--force-with-lease={ref}:{pushed}",
                       "origin", f":{ref}", check=False)
        return res.ok

    def push(self, local: str, branch: str, force: bool = False) -> tuple[bool, bool, str]:
        """Push ``local`` to ``branch``: ``(ok, retryable, stderr)``.  ``force`` only for our own
        pull-request branches, never for the target branch."""
        refspec = f"{'+' if force else ''}{local}:refs/heads/{branch}"
        res = self.git("push", "--porcelain", "--no-verify", "origin", refspec, check=False)
        if res.ok:
            return True, False, res.stderr
        text = res.stdout + "\n" + res.stderr
        retry = bool(_RETRYABLE.search(text)) and "hook declined" not in text
        return False, retry, text
