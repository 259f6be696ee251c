"""Finding and bumping references across a checked-out repository.

Only ``*.yaml``, ``*.yml`` and ``Kustomization`` files are read, optionally limited by ``PATHS``
globs.  A file that cannot hold a reference (neither ``$imagepolicy`` nor the image's last name
component appears in it) is not parsed at all, which keeps large repositories fast.
"""
from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pipes_common import imageref
from pipes_common.fsutil import atomic_write
from wcmatch import glob
from yaml.nodes import MappingNode, ScalarNode

from . import markers
from .references import DocScan, Found, Target, collect_markers, plan_document, policies_naming
from .yamldoc import AliasBomb, EditError, Insert, Plan, Replace, TooDeep, apply, compose, mapping_get

SUFFIXES = (".yaml", ".yml")
NAMES = ("Kustomization",)


class BumpError(Exception):
    """A file holds a reference that cannot be edited exactly."""


@dataclass
class FileChange:
    path: str  # relative, POSIX
    before: str
    after: str
    found: list[Found]

    def diff(self) -> str:
        return "".join(difflib.unified_diff(
            self.before.splitlines(keepends=True), self.after.splitlines(keepends=True),
            fromfile=f"a/{self.path}", tofile=f"b/{self.path}"))


@dataclass
class Result:
    searched: list[str] = field(default_factory=list)  # files considered
    parsed: list[str] = field(default_factory=list)  # files that could hold a reference
    found: list[tuple[str, Found]] = field(default_factory=list)  # every reference, changed or not
    changes: list[FileChange] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # 'path: reason'
    templated: list[str] = field(default_factory=list)  # Go/Helm templates ('{{'), not YAML: skipped
    warnings: list[str] = field(default_factory=list)
    policies: set[str] = field(default_factory=set)
    # the files holding the markers of each policy that names the image (found without POLICY)
    policy_files: dict[str, list[str]] = field(default_factory=dict)

    @property
    def changed(self) -> list[tuple[str, Found]]:
        return [(p, f) for p, f in self.found if f.changed]


# PATHS globs: ``**`` crosses folders, ``*``, ``?`` and ``[...]`` do not; hidden files match like
# any other; case-sensitive on every system
GLOB_FLAGS = glob.GLOBSTAR | glob.DOTGLOB | glob.FORCEUNIX


def glob_pattern(pattern: str) -> str:
    """A (non-blank) ``PATHS`` item as a glob from the repository root: ``.`` is everything, a
    leading ``./`` and a trailing ``/`` are dropped, and a folder (no wildcard, no YAML suffix)
    means everything below it."""
    pat = pattern.strip()
    while pat.startswith("./"):
        pat = pat[2:]
    pat = pat.rstrip("/")
    if pat in ("", "."):
        return "**"
    if not any(c in pat for c in "*?[") and not pat.endswith(SUFFIXES) and pat not in NAMES:
        pat = f"{pat}/**"
    return pat


def selector(paths: Sequence[str] | None) -> Callable[[str], bool]:
    """Whether a relative POSIX path is searched: a YAML or Kustomization file matching PATHS."""
    # a blank item matches nothing
    matcher = glob.compile([glob_pattern(p) for p in paths if p.strip()], flags=GLOB_FLAGS) if paths else None

    def selected(rel: str) -> bool:
        name = rel.rsplit("/", 1)[-1]
        if not (name.endswith(SUFFIXES) or name in NAMES):
            return False
        return matcher is None or matcher.match(rel)

    return selected


def needles(target: Target) -> list[str]:
    """Strings one of which every file holding a reference contains (files without any are not
    parsed): the marker key, and unless POLICY is given the image's last name component."""
    found = [markers.KEY]
    if not target.policies:
        found.append(imageref.short_name(target.image))
    return found


def candidate_files(root: Path, paths: Sequence[str] | None) -> list[str]:
    """Relative POSIX paths of the YAML and Kustomization files below ``root`` (``.git`` skipped)."""
    selected = selector(paths)
    found: list[str] = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != ".git")
        for name in sorted(files):
            rel = Path(folder, name).relative_to(root).as_posix()
            if selected(rel):
                found.append(rel)
    return sorted(found)


@dataclass
class _Parsed:
    path: str
    text: str
    scans: list[DocScan]


@dataclass
class Cache:
    """What :func:`scan_all` reads once for all its images: each file's bytes (None: not on
    disk) and each parsed text (a list of document scans, or the reason it was skipped)."""
    raw: dict[str, bytes | None] = field(default_factory=dict)
    parsed: dict[str, tuple[str, list[DocScan] | str]] = field(default_factory=dict)


def _raw(root: Path, rel: str, cache: Cache | None) -> bytes | None:
    if cache is not None and rel in cache.raw:
        return cache.raw[rel]
    full = root / rel
    raw = None if full.is_symlink() or not full.is_file() else full.read_bytes()
    if cache is not None:
        cache.raw[rel] = raw
    return raw


def _parse(rel: str, text: str) -> list[DocScan] | str:
    """The document scans of ``text``, or why it is skipped."""
    try:
        docs = compose(text)
    except (AliasBomb, TooDeep) as err:
        return f"{rel}: not read: {err}"
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or err.__class__.__name__
        return f"{rel}: not valid YAML{where} ({problem})"
    return [collect_markers(text, d) for d in docs]


def _load(root: Path, rel: str, needles: Sequence[bytes], result: Result,
          overlay: Mapping[str, str], cache: Cache | None = None) -> _Parsed | None:
    if rel in overlay:  # already edited for another image of the same change
        raw: bytes | None = overlay[rel].encode("utf-8")
    else:
        raw = _raw(root, rel, cache)
    if raw is None or not any(n in raw for n in needles):
        return None
    result.parsed.append(rel)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        result.skipped.append(f"{rel}: not UTF-8 text")
        return None
    known = cache.parsed.get(rel) if cache is not None else None
    if known is not None and known[0] == text:
        scans = known[1]
    else:
        scans = _parse(rel, text)
        if cache is not None:
            cache.parsed[rel] = (text, scans)
    if isinstance(scans, str):
        if "{{" in text and scans.startswith(f"{rel}: not valid YAML"):
            result.templated.append(rel)  # a Helm chart's template: skipped quietly
        else:
            result.skipped.append(scans)
        return None
    return _Parsed(rel, text, scans)


def scan(root: Path, target: Target, paths: Sequence[str] | None = None,
         searched: Sequence[str] | None = None, overlay: Mapping[str, str] | None = None,
         cache: Cache | None = None) -> Result:
    """Find every reference to ``target`` below ``root`` and compute the edited files (not written).

    ``searched`` lists the files considered when only some of them are on disk (a sparse checkout
    of the files that contain a needle); by default the files below ``root`` are walked.
    ``overlay`` holds texts that replace the files on disk (edits already planned for other
    images of the same change); ``cache`` keeps what was read and parsed for the next image."""
    result = Result()
    result.searched = sorted(searched) if searched is not None else candidate_files(root, paths)
    wanted = [n.encode() for n in needles(target)]
    parsed = [p for p in (_load(root, rel, wanted, result, overlay or {}, cache)
                          for rel in result.searched) if p]
    if target.policies:
        result.policies = set(target.policies)
    else:
        for item in parsed:
            for policy in sorted(policies_naming(item.scans, target.image)):
                result.policy_files.setdefault(policy, []).append(item.path)
        result.policies = set(result.policy_files)
    for item in parsed:
        plan = Plan()
        found: list[Found] = []
        for doc in item.scans:
            name = item.path.rsplit("/", 1)[-1]
            p, f = plan_document(doc, target, result.policies, name, item.path, result.warnings)
            plan.replaces += p.replaces
            plan.inserts += p.inserts
            found += f
        result.found += [(item.path, f) for f in found]
        if not plan:
            continue
        try:
            after = apply(item.text, [d.root for d in item.scans], plan)
        except EditError as err:
            raise BumpError(f"{item.path}: {err}") from None
        if after != item.text:
            result.changes.append(FileChange(item.path, item.text, after, found))
    return result


@dataclass
class Multi(Result):
    """The change of several images at once: the union of their results, each file edited for
    every image in turn (``per_target`` keeps each image's own result, in order)."""
    per_target: list[tuple[Target, Result]] = field(default_factory=list)

    @property
    def missing(self) -> list[Target]:
        """The images with no reference at all (then nothing may change)."""
        return [t for t, r in self.per_target if not r.found]


def several_policies(multi: Multi, paths: Sequence[str] | None = None) -> str | None:
    """Why the bump is ambiguous when markers of more than one Flux image policy name one image
    (a staging and a production policy, say) and neither POLICY nor PATHS narrowed it to one;
    None when it is not."""
    for target, res in multi.per_target:
        if target.policies or len(res.policy_files) < 2:
            continue
        listed = "; ".join(f"{policy} ({', '.join(files[:3])}{' …' if len(files) > 3 else ''})"
                           for policy, files in sorted(res.policy_files.items()))
        first = min(res.policy_files)
        held = f" (PATHS {', '.join(paths)} holds them all)" if paths else ""
        return (f"{target.image} is managed by {len(res.policy_files)} Flux image policies: "
                f"{listed}. Choose one: set POLICY (e.g. POLICY: ['{first}']) or PATHS to the "
                f"files of the environment to bump{held} (e.g. PATHS: "
                f"['{res.policy_files[first][0]}']); nothing was changed")
    return None


def scan_all(root: Path, targets: Sequence[Target], paths: Sequence[str] | None = None,
             searched: Sequence[str] | None = None, chart_app_version: bool = False) -> Multi:
    """:func:`scan` for each of ``targets`` in turn, each seeing the edits of those before it;
    one combined result.  With ``chart_app_version``, the ``Chart.yaml`` beside each Helm values
    file bumped gets that image's tag as ``appVersion``.  Raises :class:`BumpError` when any file
    cannot be edited exactly."""
    multi = Multi()
    texts: dict[str, str] = {}
    before: dict[str, str] = {}
    found: dict[str, list[Found]] = {}
    cache = Cache()
    for target in targets:
        res = scan(root, target, paths, searched, overlay=texts, cache=cache)
        multi.per_target.append((target, res))
        multi.searched = res.searched
        multi.parsed = sorted(set(multi.parsed) | set(res.parsed))
        multi.found += res.found
        multi.skipped += [s for s in res.skipped if s not in multi.skipped]
        multi.templated += [t for t in res.templated if t not in multi.templated]
        multi.warnings += [w for w in res.warnings if w not in multi.warnings]
        multi.policies |= res.policies
        for change in res.changes:
            before.setdefault(change.path, change.before)
            texts[change.path] = change.after
            found.setdefault(change.path, []).extend(change.found)
    if chart_app_version:
        _chart_versions(root, multi, before, texts, found)
    multi.changes = [FileChange(p, before[p], texts[p], found[p]) for p in sorted(texts)
                     if texts[p] != before[p]]
    return multi


VALUES_FILE = re.compile(r"^values(?:[-.][^/]*)?\.ya?ml$")


def _chart_versions(root: Path, multi: Multi, before: dict[str, str], texts: dict[str, str],
                    found: dict[str, list[Found]]) -> None:
    """``appVersion`` of the chart whose values file a target's tag went into."""
    tags: dict[str, set[str]] = {}
    for target, res in multi.per_target:
        for path, f in res.found:
            folder, _, name = path.rpartition("/")
            if f.kind == "helmvalues" and f.new == target.tag and VALUES_FILE.match(name):
                tags.setdefault(f"{folder}/Chart.yaml" if folder else "Chart.yaml", set()).add(
                    target.tag)
    for chart, wanted in sorted(tags.items()):
        full = root / chart
        if chart not in texts and (full.is_symlink() or not full.is_file()):
            multi.warnings.append(f"{chart}: no Chart.yaml beside the values file: appVersion "
                                  "left alone")
            continue
        if len(wanted) > 1:
            multi.warnings.append(f"{chart}: its values hold several new tags "
                                  f"({', '.join(sorted(wanted))}): appVersion left alone")
            continue
        text = texts.get(chart) or full.read_text(encoding="utf-8")
        try:
            docs = compose(text)
        except yaml.YAMLError:
            multi.skipped.append(f"{chart}: not valid YAML (appVersion left alone)")
            continue
        if len(docs) != 1 or not isinstance(docs[0], MappingNode):
            continue
        tag = next(iter(wanted))
        node = mapping_get(docs[0], "appVersion")
        plan = Plan()
        if node is None:
            plan.inserts.append(Insert(docs[0], "appVersion", tag))
            f = Found("chart", docs[0].start_mark.line + 1, "appVersion (added)", None, tag)
        elif isinstance(node, ScalarNode):
            f = Found("chart", node.start_mark.line + 1, "appVersion", str(node.value), tag)
            if str(node.value) != tag:
                plan.replaces.append(Replace(node, tag))
        else:
            continue
        multi.found.append((chart, f))
        if not plan:
            continue
        try:
            after = apply(text, docs, plan)
        except EditError as err:
            raise BumpError(f"{chart}: {err}") from None
        before.setdefault(chart, text)
        texts[chart] = after
        found.setdefault(chart, []).append(f)


def write(root: Path, result: Result) -> None:
    """Write the edited files atomically, keeping each file's mode."""
    for change in result.changes:
        path = root / change.path
        mode = path.stat().st_mode & 0o777
        atomic_write(path, change.after.encode("utf-8"), mode=mode)
