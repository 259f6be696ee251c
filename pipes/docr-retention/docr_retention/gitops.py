"""What runs: the image tags and digests a GitOps repository names, on each branch it is told.

The clone is read-only and partial: an empty repository fetches each branch tip at depth 1 without
blobs (``--filter=blob:none``), then only the blobs of the YAML files in one request, and reads
them from the object store (nothing is checked out, nothing is ever pushed).  A server without
partial clone sends the tip whole, which works the same.  The access token goes to git in its
environment, as an ``http.<GITOPS_REPO>.extraHeader`` (so only to that URL), never on its command line.

Every reference to ``registry.digitalocean.com/<registry>/<repository>`` (or the same path on any
other host: a mirror or proxy name) is read: ``:tag`` and
``@digest`` in a text (plain ``image:`` fields, Flux setter markers), and the ``tag``/``newTag``/
``digest`` beside a ``name``/``newName``/``repository`` naming the image (kustomize ``images:``,
Helm values).  Any ``sha256:`` digest anywhere counts too: keeping too much is safe.
"""
from __future__ import annotations

import base64
import functools
import re
import tempfile
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pipes_common import gitblobs, proc, secrets
from pipes_common.docr import DOCR_HOST
from pipes_common.errors import PipeError
from pipes_common.imageref import DIGEST, DOMAIN, PATH, TAG

from .settings import GitOps

YAML_FILE = re.compile(r"(?:.*/)?(?:[^/]+\.ya?ml|[Kk]ustomization)")
MAX_PARSED = 1 << 20  # bytes: a bigger file is read as text only
ANY_DIGEST = re.compile(r"sha256:[a-f0-9]{64}")
TAG_KEYS = ("tag", "newTag")
NAME_KEYS = ("name", "newName", "repository", "image")


@dataclass
class References:
    """The tags (per repository) and the digests the GitOps repository names."""
    tags: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    digests: set[str] = field(default_factory=set)
    files: int = 0

    def of(self, repository: str) -> frozenset[str]:
        return frozenset(self.tags.get(repository, ()))


def read(gitops: GitOps, registry: str) -> References:
    refs = References()
    with tempfile.TemporaryDirectory(prefix="docr-retention-gitops-") as tmp:
        git = _Git(Path(tmp), gitops)
        for branch in gitops.branches:
            for text in git.yaml_texts(branch):
                refs.files += 1
                scan(text, registry, refs)
    return refs


def scan(text: str, registry: str, refs: References) -> None:
    """Add what ``text`` names of ``registry`` to ``refs``."""
    # registry.digitalocean.com, or any host the registry may be reached by (a mirror, a proxy): a
    # reference of another registry's same path keeps a tag too many, never one too few
    prefix = rf"(?<![\w.-])(?:{re.escape(DOCR_HOST)}|{DOMAIN})/{re.escape(registry)}/"
    for match in re.finditer(rf"{prefix}(?P<repo>{PATH})(?::(?P<tag>{TAG}))?(?:@(?P<digest>{DIGEST}))?", text):
        if match["tag"]:
            refs.tags[match["repo"]].add(match["tag"])
    refs.digests.update(ANY_DIGEST.findall(text))
    if len(text) > MAX_PARSED:
        return
    try:
        documents = list(yaml.safe_load_all(text))
    except (yaml.YAMLError, RecursionError):  # not YAML, or nested past the parser's depth: text only
        return
    name = re.compile(rf"{prefix}(?P<repo>{PATH})")
    for node in documents:
        for mapping in _mappings(node):
            for key in NAME_KEYS:
                value = mapping.get(key)
                found = name.fullmatch(value) if isinstance(value, str) else None
                if found:
                    for tag_key in TAG_KEYS:
                        tag = mapping.get(tag_key)
                        if isinstance(tag, str | int | float) and not isinstance(tag, bool):
                            refs.tags[found["repo"]].add(str(tag))


def _mappings(node: Any, depth: int = 0, seen: set[int] | None = None) -> Iterator[dict[Any, Any]]:
    """Every mapping below ``node``, each once (YAML aliases share nodes: a "billion laughs" file
    is as many nodes as it has lines, not as many as it expands to)."""
    seen = set() if seen is None else seen
    if depth > 64 or id(node) in seen or not isinstance(node, dict | list):
        return
    seen.add(id(node))
    if isinstance(node, dict):
        yield node
    for value in node.values() if isinstance(node, dict) else node:
        yield from _mappings(value, depth + 1, seen)


class _Git:
    def __init__(self, root: Path, gitops: GitOps) -> None:
        self.root = root
        self.url = gitops.url
        extra = {"HOME": str(root), "LANG": "C", "LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0",
                 "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null"}
        if gitops.token:
            basic = base64.b64encode(f"x-token-auth:{gitops.token}".encode()).decode()
            secrets.register(basic)
            extra.update({"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": f"http.{self.url}.extraHeader",
                          "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}"})
        self.env = proc.child_env(extra, ("GIT_SSL_CAINFO",))
        self.git("init", "--quiet", "--bare", str(root / "repo.git"), cwd=root)
        self.dir = root / "repo.git"
        self.git("remote", "add", "origin", self.url)

    def git(self, *args: str, cwd: Path | None = None, input: str | None = None,
            error: str | None = None, check: bool = True) -> proc.Result:
        # lossless: file names and contents are repository content, any bytes
        return proc.run(["git", *args], cwd=cwd or self.dir, env=self.env, input=input, timeout=900,
                        error=error, check=check, lossless=True)

    def yaml_texts(self, branch: str) -> Iterator[str]:
        ref = f"refs/remotes/origin/{branch}"
        res = proc.run(["git", "fetch", "--quiet", "--depth", "1", "--no-tags", "--filter=blob:none",
                        "origin", f"+refs/heads/{branch}:{ref}"], cwd=self.dir, env=self.env,
                       timeout=900, check=False, lossless=True)
        if not res.ok:
            raise PipeError(self.explain(res.stderr, branch))
        listing = self.git("ls-tree", "-r", "-z", ref).stdout
        oids = []
        for entry in listing.split("\0"):
            meta, _, path = entry.partition("\t")
            parts = meta.split()
            if len(parts) == 3 and parts[1] == "blob" and YAML_FILE.fullmatch(path):
                oids.append(parts[2])
        if not oids:
            return
        gitblobs.fetch_missing(
            functools.partial(self.git, error=f"GITOPS_REPO: fetching the YAML files of {branch} failed"),
            oids, check=True)
        out = self.git("cat-file", "--batch", input="\n".join(oids) + "\n").stdout
        yield from _batch(out)

    def explain(self, stderr: str, branch: str) -> str:
        text = secrets.mask(stderr)
        if re.search(r"couldn't find remote ref|Remote branch .* not found", text):
            return (f"GITOPS_BRANCHES: the branch '{branch}' does not exist in {self.url}: list existing "
                    "branches of GITOPS_REPO")
        if re.search(r"Authentication failed|could not read Username|returned error: 40[13]|HTTP 40[13]",
                     text, re.I):
            return (f"GITOPS_REPO: {self.url} refused the credentials: give GITOPS_ACCESS_TOKEN, an access "
                    "token of the GitOps repository with read:repository:bitbucket (Repositories Read)")
        if re.search(r"not found|does not exist|returned error: 404", text, re.I):
            return f"GITOPS_REPO: {self.url} was not found: check the URL and that GITOPS_ACCESS_TOKEN may read it"
        tail = text.strip().splitlines()[-1][:300] if text.strip() else "no output"
        return f"GITOPS_REPO: reading {branch} of {self.url} failed: {tail}"


def _batch(out: str) -> Iterator[str]:
    """The contents of ``git cat-file --batch`` output (decoded losslessly: sizes are in bytes)."""
    data = out.encode("utf-8", "surrogateescape")
    pos = 0
    while pos < len(data):
        end = data.index(b"\n", pos)
        header = data[pos:end].split()
        if len(header) != 3:
            return
        size = int(header[2])
        yield data[end + 1:end + 1 + size].decode("utf-8", "replace")  # an image name is ASCII
        pos = end + 1 + size + 1
