"""The rules a pipe variable's value is checked with: its bound (length, items, one line or
several) and its grammar (names and tags, URLs by scheme, hosts by syntax, paths kept inside the
build directory, object keys), and the helpers of the checks :mod:`variables` makes from a pipe's
declarations:

1. :func:`raw_problem` - a value as the step gave it (list items too): valid UTF-8, no control
   characters (a trailing line break is named as such), no space at either end, and a length
   bound, before anything parses it.
2. :meth:`Rule.problem` - the parsed value against its grammar; then the cross-checks
   (:data:`Check`).

Every message names the variable first, says what is wrong and how to fix it, shows the value at
most shortened, and never shows the value of a secret.
"""
from __future__ import annotations

import ipaddress
import os
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar
from urllib.parse import urlsplit

from .errors import PipeError

MAX_TEXT = 256  # a one-line value without a rule of its own
MAX_SECRET = 4096  # a token (multi-line secrets declare their own bound)
MAX_ITEMS = 100  # items of a list variable without a rule of its own
SHOWN = 40  # characters of a bad value shown in a message
LOOPBACK_NAMES = frozenset({"localhost"})


def shown(value: str, limit: int = SHOWN) -> str:
    """``value`` quoted for a message: control and undecodable characters escaped, at most
    ``limit`` characters of it (then ``…``)."""
    out = []
    for ch in value[:limit]:
        if 0xD800 <= ord(ch) <= 0xDFFF:  # a byte that was not UTF-8 (surrogateescape)
            out.append(f"\\x{ord(ch) & 0xFF:02x}")
        elif ch.isprintable():
            out.append(ch)
        else:
            out.append(ch.encode("unicode_escape").decode("ascii"))
    return "'" + "".join(out) + ("…'" if len(value) > limit else "'")


# ----------------------------------------------------------------------------------------------
# rules


@dataclass(kw_only=True)
class Rule:
    """A variable's bound and shape.  ``max_len``: characters (each list item for a list; 0 for
    the rule's ``default_max``);
    ``multiline``: line breaks and tabs allowed (keys, known_hosts lines, templates);
    ``max_items``: for a list; ``echo``: False for a value that may hold a secret though the
    variable is not one (a build secret's entry, a URL with credentials), never shown.
    (How to fix a bad value is the variable's ``hint``, :class:`variables.Var`.)
    Subclasses add a grammar in :meth:`problem`."""

    default_max: ClassVar[int] = MAX_TEXT
    max_len: int = 0
    multiline: bool = False
    max_items: int = MAX_ITEMS
    echo: bool = True

    def __post_init__(self) -> None:
        self.max_len = self.max_len or self.default_max

    def problem(self, name: str, value: str, ctx: Context) -> str | None:
        """What is wrong with one (raw-checked) value, as '<what>: <fix>', or None."""
        return None


class Text(Rule):
    """Free text within the bounds (the default for a variable without a rule)."""


class Token(Rule):
    """A token or key pasted as one word (no spaces inside either)."""

    default_max: ClassVar[int] = MAX_SECRET

    def problem(self, name: str, value: str, ctx: Context) -> str | None:
        if any(c.isspace() for c in value) or not value.isprintable():
            return "contains spaces or line breaks: paste the token alone, as a secured variable"
        return None


@dataclass(kw_only=True)
class Pattern(Rule):
    """A value of a grammar: ``regex`` must match the whole value; ``what`` says what it is."""

    regex: str | re.Pattern[str]
    what: str = "is not of the expected form"

    def problem(self, name: str, value: str, ctx: Context) -> str | None:
        if re.fullmatch(self.regex, value):
            return None
        return self.what


def _loopback(host: str) -> bool:
    """``localhost``, 127.0.0.0/8 or ::1 (also as ``::ffff:127.x.y.z``)."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


_LABEL = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
HOSTNAME_RE = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?")


def host_problem(host: str) -> str | None:
    """None when ``host`` is a DNS name or an IP address."""
    if not host or len(host) > 253:
        return "has no valid host name"
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        pass
    if HOSTNAME_RE.fullmatch(host):
        return None
    return "has no valid host name (letters, digits, '-' and '.', or an IP address)"


@dataclass(kw_only=True)
class Url(Rule):
    """An API or storage URL: ``https://host[:port][/path]``, or ``http://`` to a loopback host
    (``localhost``, 127.0.0.0/8, ::1) only, or to ``insecure_hosts`` (the Pipelines proxy on the
    step's Docker host, which gets no credential).  No credentials, query or fragment, no '.' or
    '..' segment (percent-encoded either): the pipe sends tokens there.  Every variable of a pipe
    that is a URL has this rule (tests/unit/hostile/test_url_rules.py)."""

    default_max: ClassVar[int] = 2048
    insecure_hosts: tuple[str, ...] = ()
    path: bool = True

    def problem(self, name: str, value: str, ctx: Context) -> str | None:
        if any(c.isspace() for c in value):
            return "holds a space: give the URL without spaces, e.g. https://host[:port]"
        try:
            parts = urlsplit(value)
            port = parts.port
        except ValueError:
            return "is not a URL: give it as https://host[:port]"
        host = parts.hostname or ""
        if parts.scheme not in ("https", "http") or not parts.netloc:
            return "is not an http(s) URL: give it as https://host[:port]"
        if port == 0:
            return "has port 0: give a port between 1 and 65535, or none"
        if parts.username is not None or parts.password is not None:
            return ("holds credentials (user:password@): remove them; the pipe sends its token "
                    "from the token variable")
        bad_host = host_problem(host)
        if bad_host:
            return bad_host
        if parts.query or parts.fragment or "#" in value or "?" in value:
            return "has a query or fragment: give the base URL only"
        if not self.path and parts.path not in ("", "/"):
            return "has a path: give https://host[:port] only"
        if any(seg.lower().replace("%2e", ".") in (".", "..") for seg in parts.path.split("/")):
            return "has '.' or '..' in its path: give the base URL as it is"
        if parts.scheme == "http" and not (_loopback(host) or host in self.insecure_hosts):
            return (f"uses plain http to {host}, which would send the token in clear text: use "
                    "https (http is accepted for loopback hosts only)")
        return None


class Host(Rule):
    """A host name with an optional port (``registry.digitalocean.com``, ``127.0.0.1:5000``);
    an ``https://`` prefix and a trailing ``/`` are tolerated, nothing else."""

    def problem(self, name: str, value: str, ctx: Context) -> str | None:
        text = value
        if text.startswith("http://") and not _loopback(_host_of(text[7:]) or ""):
            return "uses plain http: give host[:port] (the registry is reached over https)"
        text = text.removeprefix("https://").removeprefix("http://").removesuffix("/")
        host = _host_of(text)
        if host is None:
            if "@" in text:
                return ("holds credentials (user:password@): give host[:port] only; the pipe "
                        "logs in with its token")
            return "is not host[:port]: give e.g. registry.digitalocean.com"
        return host_problem(host)


def _host_of(text: str) -> str | None:
    """The host of ``host[:port]`` (``[v6]:port`` too), None when it is not of that form."""
    text = text.removesuffix("/")
    match = re.fullmatch(r"(\[[0-9A-Fa-f:.]+\]|[^:/\[\]@]+)(?::([0-9]{1,5}))?", text)
    if not match or (match.group(2) and not 0 < int(match.group(2)) < 65536):
        return None
    return match.group(1).strip("[]")


@dataclass(kw_only=True)
class InsideDir(Rule):
    """A path that must stay inside the build directory (``BITBUCKET_CLONE_DIR``) once resolved,
    symbolic links included; relative to it, or to the folder another variable names (``base``,
    e.g. VAR_FILES relative to WORKING_DIR)."""

    default_max: ClassVar[int] = 1024
    base: str | None = None

    def problem(self, name: str, value: str, ctx: Context) -> str | None:
        root = ctx.clone_dir.resolve()
        start = root
        if self.base:
            base_value = ctx.values.get(self.base)
            if base_value:
                start = (root / str(base_value)).resolve()
        target = (start / value).resolve()
        if target == root or root in target.parents:
            return None
        where = f" (from {self.base})" if self.base else ""
        return (f"leads outside the build directory{where}: give a path inside the repository, "
                "relative to its root, without '..' or a symbolic link out of it")


class NewFolder(Rule):
    """A folder the pipe creates or fills (absolute, or relative to the working directory): its
    nearest existing ancestor must be a folder the pipe can write in."""

    default_max: ClassVar[int] = 1024

    def problem(self, name: str, value: str, ctx: Context) -> str | None:
        path = Path(value).resolve()
        ancestor = path
        while not ancestor.exists() and ancestor != ancestor.parent:
            ancestor = ancestor.parent
        if path.exists() and not path.is_dir():
            return "is a file, not a folder: give an empty or missing folder"
        if not ancestor.is_dir() or not os.access(ancestor, os.W_OK | os.X_OK):
            return (f"cannot be created ({ancestor} is not a folder the pipe can write in): give "
                    "an empty or missing folder the pipe can create")
        return None


class RelativeGlob(Rule):
    """A path or glob inside a repository the pipe clones: relative, no '..' segment."""

    default_max: ClassVar[int] = 1024

    def problem(self, name: str, value: str, ctx: Context) -> str | None:
        if value.startswith("/") or ".." in PurePosixPath(value).parts or "\\" in value:
            return ("must be relative to the repository root, without '..' or '\\': e.g. "
                    "clusters/production/**")
        return None


OBJECT_KEY_CHARS = re.compile(r"[A-Za-z0-9!_.*'()/=+-]+")


class ObjectKey(Rule):
    """An object key (or prefix) in a bucket: sent as given and never normalised, so it may not
    hold '.' or '..' segments, a leading '/', empty segments or a trailing '/'."""

    default_max: ClassVar[int] = 512

    def problem(self, name: str, value: str, ctx: Context) -> str | None:
        if not OBJECT_KEY_CHARS.fullmatch(value):
            return "holds characters other than letters, digits, / and -_.!*'()=+"
        if value.startswith("/"):
            return "starts with '/': give the key without it, e.g. web/prod/terraform.tfstate"
        segments = value.split("/")
        if any(seg in (".", "..") for seg in segments):
            return ("has a '.' or '..' segment, which some stores resolve into another key or "
                    "bucket: give the key plainly, e.g. web/prod/terraform.tfstate")
        if any(not seg for seg in segments):
            return "has an empty segment ('//' or a trailing '/'): give e.g. web/prod/terraform.tfstate"
        return None


GIT_URL_FORMS = ("must be a git URL: https://host/workspace/repo.git, git@host:workspace/repo.git or "
                 "ssh://git@host[:port]/workspace/repo.git")


class GitUrl(Rule):
    """A git remote: ``https://host/path``, ``ssh://[user@]host[:port]/path`` or
    ``user@host:path``; ``http://`` only to loopback; no password in it."""

    default_max: ClassVar[int] = 2048

    def problem(self, name: str, value: str, ctx: Context) -> str | None:
        if "://" not in value:
            if re.fullmatch(r"[A-Za-z0-9._][A-Za-z0-9._-]*@[A-Za-z0-9.-]+:[^\s:-][^\s]*", value):
                return host_problem(value.split("@", 1)[1].split(":", 1)[0])
            return GIT_URL_FORMS
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - raises on a bad port
        except ValueError:
            return "is not a git URL: its host or port is not valid"
        if parts.scheme not in ("https", "http", "ssh"):
            return GIT_URL_FORMS
        if parts.password is not None or (parts.username is not None and parts.scheme != "ssh"):
            return ("holds credentials (user:password@): remove them from the URL and pass the "
                    "token as BITBUCKET_ACCESS_TOKEN (or GIT_USERNAME and GIT_PASSWORD), secured")
        host = parts.hostname or ""
        bad = host_problem(host)
        if bad:
            return bad
        if parts.query or parts.fragment or "?" in value or "#" in value:
            return "has a query or fragment: give the clone URL only"
        if not parts.path.strip("/") or any(s in (".", "..") for s in parts.path.split("/")):
            return "has no repository path (or '.'/'..' in it): e.g. https://host/workspace/repo.git"
        if parts.scheme == "http" and not _loopback(host):
            return (f"uses plain http to {host}, which would send the credentials in clear text: "
                    "use https or ssh")
        return None


# ----------------------------------------------------------------------------------------------
# cross-checks


@dataclass(frozen=True)
class Context:
    """What a rule can look at: the build directory and every parsed value."""

    clone_dir: Path
    values: Mapping[str, Any] = field(default_factory=dict)


Check = Callable[[Mapping[str, Any]], str | None]
"""A cross-check over the parsed values: the whole message (naming the variable), or None."""


def is_set(values: Mapping[str, Any], name: str) -> bool:
    """``name`` has a value other than nothing, an empty text or list, or false."""
    value = values.get(name)
    return value not in (None, "", [], False)


def assignments(name: str, key: str, form: str) -> Check:
    """Each item of the list ``name`` is ``<key>=<value>``, its key matching ``key`` (spaces
    around it allowed); a bad item is named by its index, never shown (a value may be a secret)."""
    def check(values: Mapping[str, Any]) -> str | None:
        for index, entry in enumerate(values.get(name) or []):
            left, sep, _ = str(entry).partition("=")
            if not sep or not re.fullmatch(key, left.strip()):
                return f"{name}: entry {index} (counting from 0) is not of the form {form}"
        return None
    return check


def needs(name: str, other: str, fix: str) -> Check:
    """``name`` goes only with ``other``: ``NAME is set but OTHER is not: <fix>``."""
    def check(values: Mapping[str, Any]) -> str | None:
        if is_set(values, name) and not is_set(values, other):
            return f"{name} is set but {other} is not: {fix}"
        return None
    return check


# ----------------------------------------------------------------------------------------------
# the check of a raw value


_WHOLE = re.compile(r"[0-9]{1,16}")


def whole_number(text: str) -> int | None:
    """``text`` (spaces around it ignored) as a whole number of ASCII digits, else None.

    (``str.isdigit`` also accepts '²' or '٣', which ``int`` then refuses or reads as a digit.)"""
    text = text.strip()
    return int(text) if _WHOLE.fullmatch(text) else None


def raw_values(name: str, is_list: bool, env: Mapping[str, str]) -> list[tuple[str, str]]:
    """(variable as named in the step, raw value) for ``name``: a list's ``NAME``, ``NAME_COUNT``
    and ``NAME_<n>`` items."""
    found = []
    if name in env:
        found.append((name, env[name]))
    if is_list:
        count_name = f"{name}_COUNT"
        if count_name in env:
            found.append((count_name, env[count_name]))
            count = whole_number(env[count_name])
            if count is not None and count <= 10_000:
                found += [(f"{name}_{i}", env[f"{name}_{i}"]) for i in range(count)
                          if f"{name}_{i}" in env]
    return found


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_CONTROL_MULTILINE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def is_utf8(value: str) -> bool:
    """False for a value holding bytes that were not UTF-8 (Python reads them as surrogates)."""
    return not any(0xD800 <= ord(c) <= 0xDFFF for c in value)


def raw_problem(value: str, rule: Rule, secret: bool) -> str | None:
    """What is wrong with a raw value whatever its grammar: encoding, control characters,
    surrounding spaces, length."""
    if not is_utf8(value):
        return "is not valid UTF-8 text: give it as UTF-8 (check how the variable was saved)"
    limit = rule.max_len
    if len(value) > limit:
        return f"is longer than {limit} characters ({len(value)}): shorten it"
    if not rule.multiline:
        if value.endswith(("\n", "\r")):
            return ("ends with a line break: remove it (a secured variable pasted with its "
                    "newline, or a YAML block scalar '|' instead of a plain value)")
        if _CONTROL.search(value):
            return "holds a control character or line break: give a value of one line"
        if value != value.strip():
            return "starts or ends with a space: remove it"
    elif _CONTROL_MULTILINE.search(value):
        return "holds a control character: give plain text"
    if not secret and not rule.multiline and any(
            unicodedata.category(c) in ("Cf", "Zl", "Zp") for c in value):
        return "holds an invisible formatting character: retype the value"
    return None


_CREDENTIALS = re.compile(r"[^/@\s]*:[^/@\s]*@")  # user:password@ in a URL or host: never shown


def fail(name: str, what: str, value: str | None, secret: bool, hint: str = "") -> PipeError:
    """``NAME 'value' <what>: <fix>``; the value shortened, and never a secret's."""
    head = f"{name} {what}"
    if value is not None and not secret and "longer than" not in what and not _CREDENTIALS.search(value):
        head = f"{name} {shown(value)} {what}"
    if hint and ":" not in what:
        head += f": {hint}"
    return PipeError(head)
