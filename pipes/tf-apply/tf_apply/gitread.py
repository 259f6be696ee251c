"""The files that differ between two commits of the step's clone, read from ``.git`` in Python.

The pipe image has no ``git`` (it would add more to the image than Terraform's providers need),
and ``CHANGED_ONLY`` needs only this: resolve a revision (a full or abbreviated commit, ``HEAD``,
a branch or ``origin/<branch>``), find where a pull request left its destination (a common
ancestor), and compare two trees.  Objects are read loose or from pack files (version 2 index,
deltas by offset and by reference).  A tree shared by both sides is skipped whole, so the cost
follows what changed, not the size of the repository.  Anything unexpected (a missing object, a
shallow history that ends before a common ancestor, an unknown format) is a :class:`GitError`:
the caller then runs every root and says why.
"""
from __future__ import annotations

import heapq
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

MAX_WALK = 200_000  # commits visited looking for a common ancestor


class GitError(Exception):
    pass


@dataclass
class _Pack:
    pack: Path
    fanout: tuple[int, ...]
    names: bytes   # sorted 20-byte object names
    offsets: bytes
    large: bytes


def _read_idx(path: Path) -> _Pack:
    data = path.read_bytes()
    if data[:8] != b"\xfftOc\x00\x00\x00\x02":
        raise GitError(f"{path.name}: not a version 2 pack index")
    fanout = struct.unpack(">256I", data[8:8 + 1024])
    count = fanout[255]
    start = 8 + 1024
    names = data[start:start + 20 * count]
    crc_end = start + 20 * count + 4 * count
    offsets = data[crc_end:crc_end + 4 * count]
    large = data[crc_end + 4 * count:]
    return _Pack(path.with_suffix(".pack"), fanout, names, offsets, large)


class Repo:
    def __init__(self, worktree: Path) -> None:
        git_dir = worktree / ".git"
        if git_dir.is_file():  # a worktree or submodule: "gitdir: <path>"
            text = git_dir.read_text().strip()
            if not text.startswith("gitdir:"):
                raise GitError(".git is a file without gitdir")
            git_dir = (worktree / text.split(":", 1)[1].strip()).resolve()
        if not (git_dir / "objects").is_dir():
            raise GitError(f"no git repository at {worktree}")
        self.git = git_dir
        common = git_dir / "commondir"
        self.common = (git_dir / common.read_text().strip()).resolve() if common.is_file() else git_dir
        self.objects = self.common / "objects"
        self.packs = [_read_idx(p) for p in sorted((self.objects / "pack").glob("*.idx"))]
        self._pack_data: dict[Path, bytes] = {}
        shallow = self.common / "shallow"
        self.shallow = set(shallow.read_text().split()) if shallow.is_file() else set()
        self._cache: dict[str, tuple[str, bytes]] = {}

    # -- objects -------------------------------------------------------------------------------

    def _find_in_pack(self, name: bytes) -> tuple[_Pack, int] | None:
        for pack in self.packs:
            first = name[0]
            lo = pack.fanout[first - 1] if first else 0
            hi = pack.fanout[first]
            while lo < hi:
                mid = (lo + hi) // 2
                here = pack.names[20 * mid:20 * mid + 20]
                if here < name:
                    lo = mid + 1
                elif here > name:
                    hi = mid
                else:
                    offset = struct.unpack(">I", pack.offsets[4 * mid:4 * mid + 4])[0]
                    if offset & 0x80000000:
                        index = offset & 0x7FFFFFFF
                        offset = struct.unpack(">Q", pack.large[8 * index:8 * index + 8])[0]
                    return pack, offset
        return None

    def _data(self, pack: _Pack) -> bytes:
        if pack.pack not in self._pack_data:
            self._pack_data[pack.pack] = pack.pack.read_bytes()
        return self._pack_data[pack.pack]

    def _packed(self, pack: _Pack, offset: int, depth: int = 0) -> tuple[str, bytes]:
        if depth > 100:
            raise GitError("delta chain too long")
        data = self._data(pack)
        byte = data[offset]
        kind = (byte >> 4) & 7
        size = byte & 15
        shift, pos = 4, offset + 1
        while byte & 0x80:
            byte = data[pos]
            size |= (byte & 0x7F) << shift
            shift += 7
            pos += 1
        view = memoryview(data)
        if kind in (1, 2, 3, 4):
            body = _inflate(view[pos:], size)
            return ("commit", "tree", "blob", "tag")[kind - 1], body
        if kind == 6:  # OFS_DELTA
            byte = data[pos]
            pos += 1
            back = byte & 0x7F
            while byte & 0x80:
                byte = data[pos]
                pos += 1
                back = ((back + 1) << 7) | (byte & 0x7F)
            base_kind, base = self._packed(pack, offset - back, depth + 1)
        elif kind == 7:  # REF_DELTA
            base_kind, base = self.read(data[pos:pos + 20].hex())
            pos += 20
        else:
            raise GitError(f"unknown pack object type {kind}")
        return base_kind, _apply_delta(base, _inflate(view[pos:], size))

    def read(self, sha: str) -> tuple[str, bytes]:
        """The type and content of object ``sha`` (40 hex digits)."""
        if sha in self._cache:
            return self._cache[sha]
        loose = self.objects / sha[:2] / sha[2:]
        if loose.is_file():
            raw = zlib.decompress(loose.read_bytes())
            head, _, body = raw.partition(b"\0")
            found = (head.split(b" ")[0].decode(), body)
        else:
            where = self._find_in_pack(bytes.fromhex(sha))
            if where is None:
                raise GitError(f"object {sha[:12]} is not in the clone")
            found = self._packed(*where)
        if found[0] != "blob":
            self._cache[sha] = found
        return found

    # -- revisions -----------------------------------------------------------------------------

    def _ref(self, name: str) -> str | None:
        for base in (self.git, self.common):
            path = base / name
            if path.is_file():
                text = path.read_text().strip()
                if text.startswith("ref: "):
                    return self._ref(text[5:])
                return text
        packed = self.common / "packed-refs"
        if packed.is_file():
            for line in packed.read_text().splitlines():
                parts = line.split()
                if len(parts) == 2 and parts[1] == name:
                    return parts[0]
        return None

    def resolve(self, rev: str) -> str:
        """A commit's full name from ``HEAD``, a branch, ``origin/<branch>`` or a (short) name."""
        candidates = [rev] if rev == "HEAD" else [
            f"refs/heads/{rev}", f"refs/remotes/{rev}", f"refs/tags/{rev}", rev]
        for name in candidates:
            found = self._ref(name)
            if found:
                return self._commit_of(found)
        text = rev.lower()
        if 4 <= len(text) <= 40 and all(c in "0123456789abcdef" for c in text):
            return self._commit_of(self._expand(text))
        raise GitError(f"{rev[:40]} is not a commit, branch or tag of the clone")

    def _commit_of(self, sha: str) -> str:
        kind, body = self.read(sha)
        while kind == "tag":
            sha = body.split(b"\n", 1)[0].split(b" ")[1].decode()
            kind, body = self.read(sha)
        if kind != "commit":
            raise GitError(f"{sha[:12]} is a {kind}, not a commit")
        return sha

    def _expand(self, prefix: str) -> str:
        if len(prefix) == 40:
            return prefix
        found = set()
        folder = self.objects / prefix[:2]
        if folder.is_dir():
            found |= {prefix[:2] + p.name for p in folder.iterdir() if (prefix[:2] + p.name).startswith(prefix)}
        low = bytes.fromhex(prefix.ljust(40, "0"))
        for pack in self.packs:  # names are sorted: from the first one >= the prefix, while it matches
            lo, hi = (pack.fanout[low[0] - 1] if low[0] else 0), pack.fanout[low[0]]
            while lo < hi:
                mid = (lo + hi) // 2
                if pack.names[20 * mid:20 * mid + 20] < low:
                    lo = mid + 1
                else:
                    hi = mid
            while lo < pack.fanout[255] and len(found) < 2:
                name = pack.names[20 * lo:20 * lo + 20].hex()
                if not name.startswith(prefix):
                    break
                found.add(name)
                lo += 1
        if len(found) != 1:
            raise GitError(f"{prefix} names {'no' if not found else 'more than one'} object")
        return found.pop()

    def _commit(self, sha: str) -> tuple[str, list[str], int]:
        """(tree, parents, committer time) of a commit."""
        _, body = self.read(sha)
        tree, parents, when = "", [], 0
        for line in body.split(b"\n"):
            if not line:
                break
            key, _, value = line.partition(b" ")
            if key == b"tree":
                tree = value.decode()
            elif key == b"parent":
                parents.append(value.decode())
            elif key == b"committer":
                try:
                    when = int(value.rsplit(b" ", 2)[-2])
                except (IndexError, ValueError):
                    when = 0
        if sha in self.shallow:
            parents = []
        return tree, parents, when

    def merge_base(self, a: str, b: str) -> str:
        """A common ancestor of ``a`` and ``b``, newest first (by committer time), as ``git diff
        a...b`` compares against."""
        marks: dict[str, int] = {a: 1, b: 2}
        queue = [(-self._commit(a)[2], a), (-self._commit(b)[2], b)]
        seen = 0
        while queue:
            _, sha = heapq.heappop(queue)
            flag = marks[sha]
            if flag == 3:
                return sha
            seen += 1
            if seen > MAX_WALK:
                break
            for parent in self._commit(sha)[1]:
                before = marks.get(parent, 0)
                after = before | flag
                if after != before:
                    marks[parent] = after
                    heapq.heappush(queue, (-self._commit(parent)[2], parent))
        raise GitError("the two commits have no common ancestor in the clone (a shallow clone?)")

    # -- trees ---------------------------------------------------------------------------------

    def _tree(self, sha: str) -> dict[str, tuple[str, str]]:
        kind, body = self.read(sha)
        if kind != "tree":
            raise GitError(f"{sha[:12]} is not a tree")
        entries: dict[str, tuple[str, str]] = {}
        pos = 0
        while pos < len(body):
            space = body.index(b" ", pos)
            nul = body.index(b"\0", space)
            mode = body[pos:space].decode()
            name = body[space + 1:nul].decode("utf-8", "surrogateescape")
            entries[name] = (mode, body[nul + 1:nul + 21].hex())
            pos = nul + 21
        return entries

    def _files(self, sha: str, prefix: str, out: set[str]) -> None:
        for name, (mode, child) in self._tree(sha).items():
            if mode.startswith("4"):
                self._files(child, f"{prefix}{name}/", out)
            else:
                out.add(prefix + name)

    def diff_trees(self, old: str | None, new: str | None, prefix: str, out: set[str]) -> None:
        if old == new:
            return
        a = self._tree(old) if old else {}
        b = self._tree(new) if new else {}
        for name in a.keys() | b.keys():
            ea, eb = a.get(name), b.get(name)
            if ea == eb:
                continue
            dir_a = ea is not None and ea[0].startswith("4")
            dir_b = eb is not None and eb[0].startswith("4")
            if dir_a or dir_b:
                self.diff_trees(ea[1] if dir_a and ea else None, eb[1] if dir_b and eb else None,
                                f"{prefix}{name}/", out)
            if (ea is not None and not dir_a) or (eb is not None and not dir_b):
                out.add(prefix + name)

    def changed(self, old: str, new: str) -> set[str]:
        """The paths of the files that differ between commits ``old`` and ``new``."""
        out: set[str] = set()
        self.diff_trees(self._commit(old)[0], self._commit(new)[0], "", out)
        return out


def _inflate(data: memoryview, size: int) -> bytes:
    """``size`` bytes inflated from the zlib stream at the start of ``data``."""
    if size == 0:
        return b""
    body = zlib.decompressobj().decompress(data, size)
    if len(body) != size:
        raise GitError("a packed object is shorter than its header says")
    return body


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def _apply_delta(base: bytes, delta: bytes) -> bytes:
    size, pos = _varint(delta, 0)
    if size != len(base):
        raise GitError("a delta does not fit its base")
    target, pos = _varint(delta, pos)
    out = bytearray()
    while pos < len(delta):
        op = delta[pos]
        pos += 1
        if op & 0x80:
            offset = length = 0
            for i in range(4):
                if op & (1 << i):
                    offset |= delta[pos] << (8 * i)
                    pos += 1
            for i in range(3):
                if op & (1 << (4 + i)):
                    length |= delta[pos] << (8 * i)
                    pos += 1
            out += base[offset:offset + (length or 0x10000)]
        elif op:
            out += delta[pos:pos + op]
            pos += op
        else:
            raise GitError("a delta holds a reserved instruction")
    if len(out) != target:
        raise GitError("a delta gives the wrong size")
    return bytes(out)


def changed_files(worktree: Path, base: str, head: str = "HEAD", merge_base: bool = False) -> set[str]:
    """The files changed from ``base`` to ``head`` (``merge_base``: from where ``head`` left
    ``base``, as ``git diff base...head``)."""
    repo = Repo(worktree)
    new = repo.resolve(head)
    old = repo.resolve(base)
    if merge_base:
        old = repo.merge_base(old, new)
    return repo.changed(old, new)
