"""The Terraform roots of a repository (``WORKING_DIRS``): the folders its globs match that hold a
root configuration, the local modules each one calls (followed through ``source = "./…"`` and
``"../…"``, transitively) and the state key of each.

A folder is a root when one of its ``*.tf``/``*.tf.json`` files has a top-level ``terraform``
block and no matched folder calls it as a local module; a root must keep its state with the
``s3`` backend (the one the pipe configures).  Every folder is read once by :mod:`hclscan`, the
walk skips ``.git`` and Terraform's own folders and never follows a symbolic link: the time is
bounded by the size of the repository.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from pipes_common.errors import PipeError

from . import hclscan

SKIPPED = frozenset({".git", ".terraform", ".terraform.d", ".do-pipes"})
MAX_FOLDERS = 20_000  # walked folders: a repository, not a file system
MAX_ROOTS = 500



@dataclass
class Folder:
    rel: str                              # POSIX path from the repository root ("." for it)
    scan: hclscan.Scan
    modules: list[str] = field(default_factory=list)  # rel paths of the local modules it calls


@dataclass(frozen=True)
class Root:
    rel: str
    modules: tuple[str, ...]  # every local module folder it uses, transitively
    complete: bool            # every file of it and of its modules was read to its end
    state_key: str = ""


def glob_regex(pattern: str) -> re.Pattern[str]:
    """A ``WORKING_DIRS`` glob as a regular expression over folder paths: ``**`` is any number
    of folders (none included), ``*`` and ``?`` stay within one, ``[...]`` a class."""
    pat = pattern.strip()
    while pat.startswith("./"):
        pat = pat[2:]
    pat = pat.rstrip("/") or "."
    if pat == ".":
        return re.compile(r"\.")
    out = []
    parts = pat.split("/")
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if part == "**":
            if not last:
                out.append("(?:[^/]+/)*")
            elif out:  # a/** is a and everything below it
                out[-1] = out[-1][:-1]
                out.append("(?:/.*)?")
            else:
                out.append(".*")
            continue
        piece = ""
        i = 0
        while i < len(part):
            c = part[i]
            if c == "*":
                piece += "[^/]*"
            elif c == "?":
                piece += "[^/]"
            elif c == "[":
                end = part.find("]", i + 2)
                if end < 0:
                    piece += re.escape(c)
                else:
                    body = part[i + 1:end]
                    if body.startswith("!"):
                        body = "^" + body[1:]
                    piece += "[" + body.replace("\\", "\\\\") + "]"
                    i = end
            else:
                piece += re.escape(c)
            i += 1
        out.append(piece + ("" if last else "/"))
    return re.compile("".join(out))


def _tf_files(folder: Path) -> list[Path]:
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return []
    return [p for p in entries if p.name.endswith((".tf", ".tf.json")) and p.is_file()
            and not p.is_symlink()]


def read_folder(clone: Path, rel: str) -> Folder | None:
    """The scan of a folder's Terraform files together (None: it has none)."""
    folder = clone / rel
    files = _tf_files(folder)
    if not files:
        return None
    total = hclscan.Scan()
    for path in files:
        one = hclscan.scan_file(path.name, path.read_bytes())
        total.terraform = total.terraform or one.terraform
        total.backend = total.backend if total.backend is not None else one.backend
        total.sources += one.sources
        total.complete = total.complete and one.complete
    modules = []
    for source in total.sources:
        if not source.startswith(("./", "../")):
            continue  # a registry or remote module: not in this repository
        target = os.path.normpath(os.path.join(rel, source))
        if target.startswith("..") or os.path.isabs(target):
            continue  # outside the repository: Terraform reports it, nothing here to follow
        modules.append(PurePosixPath(target).as_posix())
    return Folder(rel, total, modules)


def walk(clone: Path) -> list[str]:
    """Every folder of the repository (relative POSIX paths), links and skipped folders left out."""
    found: list[str] = []
    for current, dirs, _files in os.walk(clone, followlinks=False):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED and not (Path(current) / d).is_symlink())
        rel = Path(current).relative_to(clone).as_posix()
        found.append(rel)
        if len(found) > MAX_FOLDERS:
            raise PipeError(f"WORKING_DIRS: the repository has more than {MAX_FOLDERS} folders: "
                            "give WORKING_DIRS globs of the Terraform folders, or use WORKING_DIR")
    return found


class Repo:
    """The repository's Terraform folders, read once and cached."""

    def __init__(self, clone: Path) -> None:
        self.clone = clone
        self._folders: dict[str, Folder | None] = {}

    def folder(self, rel: str) -> Folder | None:
        if rel not in self._folders:
            self._folders[rel] = read_folder(self.clone, rel)
        return self._folders[rel]

    def closure(self, rel: str) -> tuple[tuple[str, ...], bool]:
        """Every local module folder ``rel`` uses, transitively (a cycle stops), and whether all
        were read to their end."""
        seen: list[str] = []
        complete = True
        todo = [rel]
        while todo:
            current = todo.pop()
            found = self.folder(current)
            if found is None:
                continue
            complete = complete and found.scan.complete
            for module in found.modules:
                if module != rel and module not in seen:
                    seen.append(module)
                    todo.append(module)
        return tuple(sorted(seen)), complete


def discover(clone: Path, globs: list[str]) -> list[Root]:
    """The roots the globs match, in path order; ✖ when none."""
    patterns = [glob_regex(g) for g in globs if g.strip()]
    repo = Repo(clone)
    matched = [rel for rel in walk(clone) if any(p.fullmatch(rel) for p in patterns)]
    candidates = [rel for rel in matched if repo.folder(rel) is not None]
    called = {m for rel in candidates for m in repo.closure(rel)[0]}
    roots: list[Root] = []
    for rel in candidates:
        scan = repo.folder(rel)
        assert scan is not None
        if not scan.scan.terraform or rel in called:
            continue
        if scan.scan.backend not in (None, "s3"):
            raise PipeError(f"WORKING_DIRS: the root {rel} declares backend \"{scan.scan.backend}\": "
                            "tf-apply keeps every state in Spaces with backend \"s3\" {}: change it "
                            "there, or leave the folder out of WORKING_DIRS")
        modules, complete = repo.closure(rel)
        roots.append(Root(rel, modules, complete))
    if not roots:
        raise PipeError(f"WORKING_DIRS: no Terraform root in the folders matched by "
                        f"{', '.join(globs)} (a root is a folder whose .tf files have a terraform "
                        "block and that no other matched folder calls as a module): fix the globs, "
                        "e.g. ['infra/*', 'apps/*/infra']")
    if len(roots) > MAX_ROOTS:
        raise PipeError(f"WORKING_DIRS: {len(roots)} roots matched, at most {MAX_ROOTS}: give "
                        "narrower globs")
    return roots


def state_key(template: str, root: str, repo_slug: str | None) -> str:
    """The state key of ``root`` from ``STATE_KEY_TEMPLATE`` (``{root}``, ``{repo_slug}``)."""
    if "{repo_slug}" in template and not repo_slug:
        raise PipeError("STATE_KEY_TEMPLATE: {repo_slug} needs BITBUCKET_REPO_SLUG (not running in "
                        "Bitbucket Pipelines): write the template without it, e.g. "
                        "{root}/terraform.tfstate")
    key = template.replace("{repo_slug}", repo_slug or "").replace("{root}", root)
    if root == ".":  # as STATE_KEY's default for WORKING_DIR '.': no '.' segment
        key = "/".join(part for part in key.split("/") if part != ".")
    return key


def with_state_keys(roots: list[Root], template: str, repo_slug: str | None) -> list[Root]:
    """Each root with its state key; two roots with one key are refused before anything runs."""
    keyed = [Root(r.rel, r.modules, r.complete, state_key(template, r.rel, repo_slug)) for r in roots]
    owners: dict[str, str] = {}
    for root in keyed:
        other = owners.setdefault(root.state_key, root.rel)
        if other != root.rel:
            raise PipeError(f"STATE_KEY_TEMPLATE: the roots {other} and {root.rel} would share "
                            f"the state key {root.state_key}, and one would overwrite the other's "
                            "state. Nothing was run: put {root} in STATE_KEY_TEMPLATE")
        bad = [p for p in root.state_key.split("/") if p in ("", ".", "..")]
        if bad or len(root.state_key) > 512:
            raise PipeError(f"STATE_KEY_TEMPLATE: the state key of {root.rel}, "
                            f"'{root.state_key[:80]}', has an empty, '.' or '..' segment or is "
                            "longer than 512 characters: fix the template")
    return keyed
