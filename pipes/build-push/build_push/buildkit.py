"""``docker build`` with BuildKit through a docker CLI, with a condensed log.

The CLI is the one Bitbucket mounts into a pipe at ``/usr/local/bin/docker`` (runtime 2) when it
can build with BuildKit, else the one the pipe image ships (``/usr/bin/docker``, Debian's
``docker.io``).  A CLI before 23.0 builds with BuildKit itself given ``DOCKER_BUILDKIT=1``; a later
one needs the buildx plugin (without it, ``docker build`` refuses BuildKit).

Secrets and the SSH key reach the build as files of a private temporary folder (0700, files 0600)
outside the build directory, named by ``--secret id=…,src=…`` and ``--ssh default=…``, and the
folder is removed when the build ends, whatever happens: the docker CLI 20.10 reads secrets from
files only.  Their values never appear on the command line.  The registry credentials go the
same way, as the ``config.json`` of a ``DOCKER_CONFIG`` folder inside it: the CLI hands them to
BuildKit, which reads the cache sources (``--cache-from``) from the registry itself, fetching only
the layers the build reuses instead of the engine pulling each image whole first.
"""
from __future__ import annotations

import base64
import json
import os
import re
import shutil
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pipes_common import proc
from pipes_common.errors import PipeError
from pipes_common.log import get_logger

from . import retries
from .request import BuildRequest

CANDIDATES = (Path("/usr/local/bin/docker"), Path("/usr/bin/docker"))
# what the docker CLI takes from the pipe's environment besides proc.BASE_ENV: where the engine
# is and how to reach it, its own configuration folder (never a pipe variable or a token)
DOCKER_ENV = ("DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_CONFIG",
              "DOCKER_CONTEXT", "DOCKER_API_VERSION", "BUILDX_BUILDER", "BUILDX_CONFIG")


def cli_env(env: Mapping[str, str], extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The docker CLI's environment: the allow-list of :func:`proc.child_env` and DOCKER_ENV."""
    return proc.child_env(extra, DOCKER_ENV, source=env)
VERTEX_RE = re.compile(r"^#(\d+) (.*)$")
TIMED_RE = re.compile(r"^\d+\.\d+ (.*)$")
DONE_RE = re.compile(r"^DONE (\d+(?:\.\d+)?)s$")
STEP_NAME_RE = re.compile(r"^\[[^\]]*\d+/\d+\] ")
PUSHED_RE = re.compile(r"^pushing manifest for \S+@(sha256:[0-9a-f]{64})(?: [\d.]+s)? done$")
CACHE_EXPORT_RE = re.compile(r"^export(?:ing)? (?:build )?cache|^exporting cache", re.IGNORECASE)
RETRY_WAITS = retries.WAITS
FROM_RE = re.compile(r"^\[[^\]]*\d+/\d+\] FROM ")
FETCH_RE = re.compile(r"^(?:extracting )?sha256:[0-9a-f]{64}\b")


@dataclass(frozen=True)
class Cli:
    """A docker CLI that can build with BuildKit: ``path``, its version and whether it has buildx
    (and which)."""

    path: Path
    version: str
    buildx: bool
    buildx_version: str = ""


@dataclass(frozen=True)
class EngineInfo:
    """What the Docker engine said about itself (``docker info``), asked once: its version, its
    storage driver and whether images live in the containerd image store (whose BuildKit keeps
    every cache record, exports caches and holds multi-platform images)."""

    version: str = ""
    driver: str = ""
    containerd_store: bool = False

    def describe(self) -> str:
        store = "containerd image store" if self.containerd_store else f"{self.driver or 'unknown'} store"
        return f"Docker {self.version or 'unknown'}, {store}"


@dataclass(frozen=True)
class Probe:
    """What was found: a BuildKit-capable CLI (or None) and, when none, why; the engine."""

    cli: Cli | None
    reason: str
    engine: EngineInfo = EngineInfo()


def _major(version: str) -> int:
    match = re.match(r"^(\d+)", version)
    return int(match.group(1)) if match else 0


def _api_at_least(version: str, wanted: tuple[int, int]) -> bool:
    parts = re.findall(r"\d+", version)
    return len(parts) >= 2 and (int(parts[0]), int(parts[1])) >= wanted


def probe(env: Mapping[str, str], candidates: tuple[Path, ...] = CANDIDATES) -> Probe:
    """The first candidate CLI that can build with BuildKit against the engine at DOCKER_HOST.

    Each candidate is asked twice at once: ``docker version`` (the CLI's own version, the
    engine's OS and API) and ``docker info`` (the engine's image store, and the CLI's plugins:
    buildx and its version), two processes side by side instead of one after the other."""
    reasons = []
    for path in candidates:
        if not (path.is_file() and os.access(path, os.X_OK)):
            continue
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="docker-probe") as pool:
            asked_info = pool.submit(ask_info, path, env)
            result = proc.run([str(path), "version", "--format",
                               "{{.Client.Version}}|{{.Server.Os}}|{{.Server.APIVersion}}"],
                              env=cli_env(env), check=False, timeout=60)
            engine, buildx_version = asked_info.result()
        fields = result.stdout.strip().split("|")
        if not result.ok or len(fields) != 3:
            reasons.append(f"{path} cannot reach the Docker engine")
            continue
        version, server_os, api = fields
        if server_os != "linux" or not _api_at_least(api, (1, 39)):
            return Probe(None, f"the Docker engine (API {api}, {server_os}) has no BuildKit", engine)
        buildx = buildx_version is not None
        if buildx or _major(version) < 23:
            return Probe(Cli(path, version, buildx, buildx_version or ""), "", engine)
        reasons.append(f"{path} ({version}) has no buildx plugin")
    if not reasons:
        return Probe(None, "no docker CLI in the pipe (" + ", ".join(map(str, candidates)) + ")")
    return Probe(None, "; ".join(reasons))


def ask_info(path: Path, env: Mapping[str, str]) -> tuple[EngineInfo, str | None]:
    """One ``docker info``: the engine's version and image store, and the version of the CLI's
    buildx plugin (``0.13.1``; '' when it names none; None without buildx)."""
    result = proc.run([str(path), "info", "--format",
                       "{{.ServerVersion}}|{{.Driver}}|{{json .DriverStatus}}|"
                       "{{json .ClientInfo.Plugins}}"],
                      env=cli_env(env), check=False, timeout=60)
    if not result.ok:
        return EngineInfo(), None
    version, _, rest = result.stdout.strip().partition("|")
    driver, _, rest = rest.partition("|")
    status, _, plugins = rest.partition("|")
    return EngineInfo(version, driver, "io.containerd.snapshotter" in status), buildx_in(plugins)


def buildx_in(plugins: str) -> str | None:
    """The buildx version among the CLI plugins ``docker info`` lists (JSON), '' when it names
    none, None when buildx is not there or is broken (a plugin the CLI could not run has ``Err``)."""
    try:
        listed = json.loads(plugins or "null")
    except ValueError:
        return None
    for plugin in listed if isinstance(listed, list) else []:
        if isinstance(plugin, dict) and plugin.get("Name") == "buildx" and not plugin.get("Err"):
            match = re.search(r"\bv?(\d+\.\d+\.\d+)", str(plugin.get("Version") or ""))
            return match.group(1) if match else ""
    return None


@contextmanager
def private_folder() -> Iterator[Path]:
    """A 0700 temporary folder of the pipe (never the build directory), removed at the end."""
    folder = Path(tempfile.mkdtemp(prefix="build-push-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def private_file(path: Path, text: str) -> Path:
    """Write ``text`` to a new file readable by its owner only (0600 from its creation)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path


PLATFORM_RE = re.compile(r"^[a-z0-9_]+/[a-z0-9_]+(?:/[a-z0-9_]+)?$")


def platforms(raw: str | None) -> tuple[str, ...]:
    """PLATFORMS (``linux/amd64,linux/arm64``) as a tuple; a malformed entry is one clear line."""
    found = tuple(p.strip() for p in (raw or "").split(",") if p.strip())
    for entry in found:
        if not PLATFORM_RE.match(entry):
            raise PipeError(f"PLATFORMS: '{entry}' is not a platform: give os/arch[/variant] "
                            "entries separated by commas, e.g. linux/amd64,linux/arm64")
    return found


def cache_export(cache_to: str) -> str:
    """CACHE_TO as buildx's ``--cache-to``: a bare image reference becomes a registry cache of
    every stage (``type=registry,ref=…,mode=max``); a full export spec is passed as given."""
    if "=" in cache_to:
        return cache_to
    return f"type=registry,ref={cache_to},mode=max"


def command(cli: Cli, req: BuildRequest, folder: Path) -> list[str]:
    """The build command line (no secret value in it: those are files of ``folder``).

    Without buildx: ``docker build`` (BuildKit through ``DOCKER_BUILDKIT=1``).  With buildx:
    ``docker buildx build``, loading the image into the engine (the pipe pushes it), or, for a
    multi-platform build (``req.platforms``), pushing every tag of ``req.push_tags`` itself, as
    an engine cannot hold a multi-platform image; its digest is then in ``metadata.json``."""
    # the pipe refuses these before it builds (pipe.choose_builder); this keeps the builder honest
    if req.platforms and not cli.buildx:
        raise PipeError(f"PLATFORMS needs docker buildx, which the docker CLI {cli.path} "
                        f"({cli.version}) lacks: remove PLATFORMS, or run with a CLI that has buildx")
    if req.cache_to and not cli.buildx:
        raise PipeError(f"CACHE_TO needs docker buildx, which the docker CLI {cli.path} "
                        f"({cli.version}) lacks: remove CACHE_TO, or run with a CLI that has buildx")
    if not cli.buildx:
        args = [str(cli.path), "build"]
    elif req.push_tags:
        args = [str(cli.path), "buildx", "build", "--push",
                "--metadata-file", str(folder / "metadata.json")]
        if req.platforms:
            args += ["--platform", ",".join(req.platforms)]
    else:
        args = [str(cli.path), "buildx", "build", "--load"]
    if cli.buildx and req.provenance:
        args += ["--provenance", "false" if req.provenance == "off" else f"mode={req.provenance}"]
    if cli.buildx and req.sbom is not None:
        args += ["--attest", "type=sbom" + (f",generator={req.sbom}" if req.sbom else "")]
    args += ["--progress=plain", "--file", str(req.dockerfile)]
    for tag in (req.push_tags or [req.tag]):
        args += ["--tag", tag]
    args += ["--iidfile", str(folder / "iid")]
    if req.target:
        args += ["--target", req.target]
    build_args = dict(req.build_args)
    if req.inline_cache:
        build_args.setdefault("BUILDKIT_INLINE_CACHE", "1")
    for name, value in build_args.items():
        args += ["--build-arg", f"{name}={value}"]
    for name, value in req.labels.items():
        args += ["--label", f"{name}={value}"]
    for ref in req.cache_from:
        args += ["--cache-from", ref]
    if req.cache_to:
        args += ["--cache-to", cache_export(req.cache_to)]
    if req.network:
        args += ["--network", req.network]
    for secret_id, value in req.secrets.items():
        path = private_file(folder / f"secret-{len(args)}", value)
        args += ["--secret", f"id={secret_id},src={path}"]
    if req.ssh_key is not None:
        key = private_file(folder / "ssh-key", req.ssh_key if req.ssh_key.endswith("\n")
                           else req.ssh_key + "\n")
        args += ["--ssh", f"default={key}"]
    args.append(str(req.context))
    return args


def pushed_digest(folder: Path) -> str:
    """The manifest (list) digest a multi-platform ``buildx build --push`` wrote, or ''."""
    path = folder / "metadata.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    digest = data.get("containerimage.digest") if isinstance(data, dict) else None
    return digest if isinstance(digest, str) else ""


class Progress:
    """Condenses BuildKit's plain progress: one line per Dockerfile step with its time or
    ``cached``; every output line at DEBUG; the last lines of each step kept for a failure.

    A step counts as reused from the cache by what BuildKit did, not by its ``CACHED`` word
    alone: on the containerd image store a hit from a registry cache is often shown as the
    step's layer fetched and extracted (``sha256:… done``, ``extracting sha256:…``) with no
    process run, and no ``CACHED``."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.output: dict[str, deque[str]] = {}
        self.failed: str | None = None
        self.error = ""
        self.trailer: list[str] = []
        self.fetched: set[str] = set()   # a cached layer was fetched and extracted
        self.ran: set[str] = set()       # a process wrote output
        self.cached: set[str] = set()    # steps reused from the cache
        self.built: set[str] = set()     # steps run
        self.pushed = ""                 # the digest of a manifest (list) pushed
        self._log = get_logger()

    def line(self, raw: str) -> None:
        text = raw.rstrip()
        match = VERTEX_RE.match(text)
        if not match:
            if text.strip() and text.strip() != "------":
                self.trailer.append(text.strip())
                self._log.debug("  %s", text)
            return
        vertex, rest = match.groups()
        pushed = PUSHED_RE.match(rest)
        if pushed:
            self.pushed = pushed.group(1)
        if vertex not in self.names:
            self.names[vertex] = rest
            self.output[vertex] = deque(maxlen=20)
            return
        name = self.names[vertex]
        if rest == name:
            return
        step = bool(STEP_NAME_RE.match(name))
        done = DONE_RE.match(rest)
        if done:
            if not step or vertex in self.cached:
                return
            if vertex in self.fetched and vertex not in self.ran:
                self.cached.add(vertex)
                self._log.info("%s (cached: layer fetched from the cache)", name)
            else:
                self.built.add(vertex)
                self._log.info("%s (%ss)", name, done.group(1))
        elif rest == "CACHED":
            if step and vertex not in self.cached:
                self.cached.add(vertex)
                self._log.info("%s (cached)", name)
        elif rest.startswith("ERROR"):
            if self.failed is None:
                self.failed = vertex
                self.error = rest.removeprefix("ERROR").lstrip(": ").strip()
        elif FETCH_RE.match(rest):
            self.fetched.add(vertex)
        else:
            timed = TIMED_RE.match(rest)
            out = timed.group(1) if timed else rest
            self.ran.add(vertex)
            self.output[vertex].append(out)
            self._log.debug("  %s", out)

    def transient(self) -> bool:
        """Whether the build failed on a registry answer worth another try (429, 5xx, a dropped
        connection), not on the Dockerfile."""
        if self.failed is not None and STEP_NAME_RE.match(self.names[self.failed]):
            return False
        return retries.transient(" ".join([self.error, *self.trailer[-5:]]))

    def export_failed_after_push(self) -> bool:
        """Whether only the cache export failed, after the image was pushed."""
        return (bool(self.pushed) and self.failed is not None
                and bool(CACHE_EXPORT_RE.search(self.names[self.failed])))

    def reuse(self) -> str:
        """One line: how many Dockerfile steps (``FROM`` lines aside) were reused from the cache."""
        cached, built = ([v for v in found if not FROM_RE.match(self.names[v])]
                         for found in (self.cached, self.built))
        return f"Cache: {len(cached)} of {len(cached) + len(built)} Dockerfile steps reused."

    def failure(self, code: int) -> PipeError:
        """Log the failing step and its last lines; the error for the one ``✖`` line."""
        log = self._log
        if self.failed is not None and self.transient():
            name = self.names[self.failed]
            return PipeError(f"The registry kept failing during {name}: {self.error}. Run the step "
                             "again later (the pipe already tried again with waits)")
        if self.failed is not None:
            name = self.names[self.failed]
            log.error("Build failed at %s", name)
            for out in self.output[self.failed]:
                log.error("  %s", out)
            return PipeError(f"Build failed at {name}: {self.error or f'exit code {code}'}. Fix "
                             "the Dockerfile or the build context and run again")
        detail = next((t for t in reversed(self.trailer) if t.lower().startswith("error")),
                      self.trailer[-1] if self.trailer else f"exit code {code}")
        for out in self.trailer[-10:]:
            log.error("  %s", out)
        return PipeError(f"The BuildKit build failed: {detail}. Fix the Dockerfile or the "
                         "build options and run again")


def docker_config(folder: Path, auth: Mapping[str, tuple[str, str]],
                  env: Mapping[str, str]) -> Path:
    """A ``DOCKER_CONFIG`` folder in ``folder`` whose ``config.json`` (0600) holds ``auth``; the
    CLI plugins of the usual one (buildx) stay reachable through a link."""
    config = folder / "docker-config"
    config.mkdir(mode=0o700)
    auths = {host: {"auth": base64.b64encode(f"{user}:{password}".encode()).decode("ascii")}
             for host, (user, password) in auth.items()}
    private_file(config / "config.json", json.dumps({"auths": auths}))
    usual = Path(env.get("DOCKER_CONFIG") or Path(env.get("HOME") or "/root") / ".docker")
    if (usual / "cli-plugins").is_dir():
        (config / "cli-plugins").symlink_to(usual / "cli-plugins")
    return config


def build(cli: Cli, req: BuildRequest, env: Mapping[str, str],
          sleep: Callable[[float], None] = time.sleep) -> str:
    """Build ``req`` with BuildKit and return the image id (for a build that pushes itself, the
    pushed digest); a failure raises naming the step.

    A registry that answers 429 or 5xx, or drops the connection, while the cache is read, the
    image pushed or the cache exported, gets the whole command again after a wait (``RETRY_WAITS``:
    BuildKit holds what it built, so a retry only redoes the transfers).  A cache export that
    fails after the image was pushed is a success with one warning line."""
    log = get_logger()
    full = cli_env(env, {"DOCKER_BUILDKIT": "1", "BUILDKIT_PROGRESS": "plain"})
    waits = list(RETRY_WAITS)
    with private_folder() as folder:
        if req.registry_auth:
            full["DOCKER_CONFIG"] = str(docker_config(folder, req.registry_auth, env))
        args = command(cli, req, folder)
        while True:
            progress = Progress()
            result = proc.run(args, env=full, check=False, on_line=progress.line,
                              merge_stderr=True)
            if result.ok:
                break
            if progress.export_failed_after_push():
                log.warning("The cache export failed after the image was pushed (%s): the next "
                            "build may not find this build's cache.", progress.error or "no detail")
                return progress.pushed
            if progress.transient() and retries.wait(
                    "the build", progress.error or "connection lost", waits, sleep):
                continue
            raise progress.failure(result.returncode)
        log.info("%s", progress.reuse())
        iid = (folder / "iid").read_text(encoding="utf-8").strip() if (folder / "iid").is_file() else ""
        if req.push_tags and cli.buildx:
            iid = pushed_digest(folder) or progress.pushed
    if not iid:
        raise PipeError("The BuildKit build ended without an image id: run again with DEBUG: true "
                        "and report the log")
    return iid
