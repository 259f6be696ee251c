"""flux-bump benchmark: the pipe's bump against a naive ``git clone`` + ``sed -i`` + commit + push.

A generated GitOps repository (5,000 manifests, 20,000 commits, made with ``git fast-import`` and
packed with bitmaps as a hosted server keeps it) is served over smart HTTP with token auth
(``tests/testbed/git_http.py``).  For each of >= 5 paired runs, the pipe (``python -m flux_bump``,
push mode) and the naive script bump one image to a new tag, alternately, measured three ways:
bytes the server sent, wall time on plain loopback, and wall time through a throttling loopback
proxy at 20 Mbit/s.  Then ten concurrent pipe runs bump ten different images into the same branch.
Results (medians and ratios) are written into docs/BENCHMARKS.md under ``## flux-bump``.

    .venv/bin/python -m bench.flux_bump [--runs 5] [--manifests 5000] [--commits 20000]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from flux_bump.schema import VARIABLES
from testbed.git_http import Accounts, GitHttpServer, git
from testbed.pipes import bitbucket_env, run_local
from testbed.throttle import ThrottlingProxy

from bench import report

ROOT = Path(__file__).resolve().parents[1]

CACHE = Path(os.environ.get("DO_PIPES_BENCH_CACHE", Path.home() / ".cache" / "do-pipes-bench"))
DOC = ROOT / "docs" / "BENCHMARKS.md"
TOKEN = "bench-token-0123456789abcdef"
REGISTRY = "registry.example.com/acme"
APPS_FILES = 20  # manifests per app folder
RATE_BITS = 20e6
COMMAND = ".venv/bin/python -m bench.flux_bump"


# -- the repository ---------------------------------------------------------------------------
def deployment(app: int, tag: str) -> str:
    name = f"app-{app:03d}"
    return f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: apps
  labels:
    app.kubernetes.io/name: {name}
    app.kubernetes.io/part-of: shop
spec:
  replicas: 2
  selector:
    matchLabels:
      app.kubernetes.io/name: {name}
  template:
    metadata:
      labels:
        app.kubernetes.io/name: {name}
    spec:
      containers:
        - name: {name}
          image: {REGISTRY}/{name}:{tag}
          ports:
            - containerPort: 8080
          resources:
            requests: {{cpu: 100m, memory: 128Mi}}
            limits: {{cpu: 500m, memory: 256Mi}}
          readinessProbe:
            httpGet: {{path: /healthz, port: 8080}}
"""


def kustomization(app: int, tag: str) -> str:
    return ("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n"
            + "".join(f"  - config-{i:02d}.yaml\n" for i in range(APPS_FILES - 2))
            + f"  - deployment.yaml\nimages:\n  - name: {REGISTRY}/app-{app:03d}\n    newTag: \"{tag}\"\n")


def configmap(app: int, index: int, revision: int) -> str:
    return (f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-{app:03d}-config-{index:02d}\n"
            f"  namespace: apps\ndata:\n  revision: \"{revision}\"\n  LOG_LEVEL: info\n"
            f"  FEATURE_FLAGS: \"search,checkout,recommendations\"\n"
            f"  CACHE_TTL: \"{300 + index}\"\n  UPSTREAM_URL: http://upstream-{index}.apps.svc:8080\n")


def files_of(apps: int) -> dict[str, str]:
    files: dict[str, str] = {}
    for app in range(apps):
        base = f"apps/app-{app:03d}"
        files[f"{base}/deployment.yaml"] = deployment(app, "1.0.0")
        files[f"{base}/kustomization.yaml"] = kustomization(app, "1.0.0")
        for i in range(APPS_FILES - 2):
            files[f"{base}/config-{i:02d}.yaml"] = configmap(app, i, 0)
    return files


def generate(path: Path, manifests: int, commits: int) -> None:
    """A bare repository with ``manifests`` files and ``commits`` commits, via git fast-import."""
    apps = manifests // APPS_FILES
    rng = random.Random(42)
    git("init", "-q", "--bare", "-b", "main", str(path))
    started = time.monotonic()
    proc = subprocess.Popen(["git", "fast-import", "--quiet"], cwd=path, stdin=subprocess.PIPE,
                            env={**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null"})
    assert proc.stdin is not None
    out = proc.stdin
    when = 1_700_000_000

    def commit(message: str, changes: dict[str, str], first: bool) -> None:
        nonlocal when
        when += 600
        msg = message.encode()
        out.write(b"commit refs/heads/main\n")
        out.write(f"committer Dev <dev@example.com> {when} +0000\n".encode())
        out.write(b"data %d\n%s\n" % (len(msg), msg))
        if first:
            out.write(b"deleteall\n")
        for name, text in changes.items():
            data = text.encode()
            out.write(f"M 100644 inline {name}\n".encode())
            out.write(b"data %d\n%s\n" % (len(data), data))

    commit("initial import", files_of(apps), True)
    tags = {app: 0 for app in range(apps)}
    revisions = {(app, i): 0 for app in range(apps) for i in range(APPS_FILES - 2)}
    for _n in range(1, commits):
        app = rng.randrange(apps)
        if rng.random() < 0.5:
            tags[app] += 1
            tag = f"1.0.{tags[app]}"
            commit(f"Bump app-{app:03d} to {tag}", {
                f"apps/app-{app:03d}/deployment.yaml": deployment(app, tag),
                f"apps/app-{app:03d}/kustomization.yaml": kustomization(app, tag)}, False)
        else:
            i = rng.randrange(APPS_FILES - 2)
            revisions[(app, i)] += 1
            commit(f"Tune app-{app:03d} config {i}", {
                f"apps/app-{app:03d}/config-{i:02d}.yaml": configmap(app, i, revisions[(app, i)])}, False)
    out.close()
    if proc.wait() != 0:
        raise RuntimeError("git fast-import failed")
    # as a hosted server keeps it: one pack with bitmaps, so full clones reuse it
    git("repack", "-a", "-d", "-b", "-q", "--window=50", "--depth=50", cwd=path)
    for key, value in (("uploadpack.allowFilter", "true"), ("uploadpack.allowAnySHA1InWant", "true")):
        git("config", key, value, cwd=path)
    print(f"generated {manifests} manifests, {commits} commits in {time.monotonic() - started:.1f}s",
          flush=True)


def cached_repo(manifests: int, commits: int) -> Path:
    key = hashlib.sha256(repr((manifests, commits, APPS_FILES, deployment(0, "x"), kustomization(0, "x"),
                               configmap(0, 0, 0), 2)).encode()).hexdigest()[:12]
    path = CACHE / f"gitops-{manifests}-{commits}-{key}.git"
    if not path.is_dir():
        CACHE.mkdir(parents=True, exist_ok=True)
        tmp = CACHE / f"tmp-{os.getpid()}.git"
        shutil.rmtree(tmp, ignore_errors=True)
        generate(tmp, manifests, commits)
        tmp.rename(path)
    return path


# -- the two contenders -----------------------------------------------------------------------
def run_pipe(url: str, image: str, tag: str, work: Path) -> float:
    build = Path(tempfile.mkdtemp(prefix="build-", dir=work))
    env = bitbucket_env(build, branch="main")
    env.update({"GITOPS_REPO": url, "BITBUCKET_ACCESS_TOKEN": TOKEN, "IMAGE": image, "TAG": tag})
    run = run_local("flux-bump", env, build)
    if run.code != 0:
        raise RuntimeError(f"pipe failed:\n{run.output}")
    shutil.rmtree(build, ignore_errors=True)
    return run.seconds


def run_naive(url: str, image: str, tag: str, work: Path) -> float:
    """What a hand-written step does: full clone, grep + sed -i, commit, push."""
    clone = Path(tempfile.mkdtemp(prefix="naive-", dir=work))
    auth_url = url.replace("http://", f"http://x-token-auth:{TOKEN}@")
    script = f"""set -e
git clone -q {auth_url} {clone}/repo
cd {clone}/repo
files=$(grep -rlF --include='*.yaml' --include='*.yml' '{image}' .)
sed -i -E 's#({image}):[A-Za-z0-9_.-]+#\\1:{tag}#; s#(newTag: *)"?[A-Za-z0-9_.-]+"?#\\1"{tag}"#' $files
git -c user.name=ci -c user.email=ci@example.com commit -q -am "Bump {image} to {tag}"
git push -q origin HEAD:main
"""
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null",
           "GIT_TERMINAL_PROMPT": "0"}
    started = time.monotonic()
    subprocess.run(["bash", "-c", script], check=True, env=env, capture_output=True)
    seconds = time.monotonic() - started
    shutil.rmtree(clone, ignore_errors=True)
    return seconds


def paired(server: GitHttpServer, url: str, runs: int, work: Path, label: str,
           counter: list[int]) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {"pipe_s": [], "naive_s": [], "pipe_bytes": [], "naive_bytes": []}
    for i in range(runs):
        order = [("pipe", run_pipe), ("naive", run_naive)]
        if i % 2:
            order.reverse()  # alternate who goes first
        for name, fn in order:
            counter[0] += 1
            tag = f"2.0.{counter[0]}"
            server.stats.reset()
            seconds = fn(url, f"{REGISTRY}/app-042", tag, work)
            results[f"{name}_s"].append(seconds)
            results[f"{name}_bytes"].append(float(server.stats.bytes_sent))
        print(f"  {label} run {i + 1}: pipe {results['pipe_s'][-1]:.2f}s "
              f"{results['pipe_bytes'][-1] / 1e6:.2f} MB | naive {results['naive_s'][-1]:.2f}s "
              f"{results['naive_bytes'][-1] / 1e6:.2f} MB", flush=True)
    return results


def concurrent(url: str, work: Path, counter: list[int], writers: int = 10) -> tuple[float, int]:
    """``writers`` pipe runs at once, each bumping another image into ``main`` (default RETRIES):
    the seconds until all are done, and the writers."""
    counter[0] += 1
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=writers) as pool:
        list(pool.map(lambda i: run_pipe(url, f"{REGISTRY}/app-{100 + i:03d}", f"3.0.{counter[0]}", work),
                      range(writers)))
    return time.monotonic() - started, writers


# -- report -----------------------------------------------------------------------------------
def median(values: list[float]) -> float:
    return float(statistics.median(values))


def section(args: argparse.Namespace, loop: dict[str, list[float]], slow: dict[str, list[float]],
            conc: float, conc16: float, full_bytes: float, commits_before: int) -> str:
    def ratio(a: float, b: float) -> str:
        return f"{a / b:.3f}x" if b else "n/a"

    mb = 1e6
    rows = [
        ("Bytes fetched (loopback)", f"{median(loop['pipe_bytes']) / mb:.2f} MB",
         f"{median(loop['naive_bytes']) / mb:.2f} MB",
         ratio(median(loop["pipe_bytes"]), median(loop["naive_bytes"])), "<= 0.10x"),
        ("Wall time, plain loopback", f"{median(loop['pipe_s']):.2f} s", f"{median(loop['naive_s']):.2f} s",
         ratio(median(loop["pipe_s"]), median(loop["naive_s"])), "<= 1.0x"),
        ("Wall time, 20 Mbit/s proxy", f"{median(slow['pipe_s']):.2f} s", f"{median(slow['naive_s']):.2f} s",
         ratio(median(slow["pipe_s"]), median(slow["naive_s"])), "<= 0.5x"),
    ]
    lines = [
        "## flux-bump", "",
        f"Command (from the repository root): `{COMMAND} --runs {args.runs} --manifests "
        f"{args.manifests} --commits {args.commits}`", "",
        f"Repository: {args.manifests} manifests in {args.manifests // APPS_FILES} app folders, "
        f"{args.commits} commits (git fast-import, repacked with bitmaps; {commits_before} commits "
        f"when the runs started), served by `git http-backend` over smart HTTP with token auth on "
        f"loopback; full clone pack {full_bytes / mb:.1f} MB. "
        "Each run bumps `registry.example.com/acme/app-042` (a Deployment and its kustomization) to "
        "a new tag and pushes. Pipe: `python -m flux_bump` (push mode: shallow, single-branch, "
        "`blob:none` clone; the YAML blobs fetched in one request; `git grep` picks the files "
        "that can hold a reference and only those are checked out, parsed and edited). Naive: "
        "`git clone` + `grep -rl` + `sed -i` + `git commit -am` + `git push`. Bytes are what the "
        "server sent (all requests of the run, push included).", "",
        f"Median of {args.runs} paired runs (order alternated). Machine: {platform.machine()}, "
        f"{os.cpu_count()} CPUs, git {git('--version').split()[-1]}, Python {platform.python_version()}, "
        f"measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.", "",
        "| Measure | flux-bump | naive | ratio | goal |", "|---|---|---|---|---|",
        *[f"| {a} | {b} | {c} | {d} | {e} |" for a, b, c, d, e in rows], "",
        f"Ten concurrent bumps of ten different images into `main` (plain loopback, default "
        f"RETRIES={VARIABLES['RETRIES'].default}): all ten commits landed, history linear, total {conc:.2f} s. "
        f"Sixteen at once: all sixteen landed, total {conc16:.2f} s.", "",
        "Raw runs (seconds / bytes):", "", "```",
        json.dumps({"loopback": loop, "throttled_20mbit": slow}, indent=None), "```", "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--manifests", type=int, default=5000)
    parser.add_argument("--commits", type=int, default=20000)
    parser.add_argument("--no-write", action="store_true", help="print, do not update BENCHMARKS.md")
    args = parser.parse_args()
    if args.runs < 5:
        parser.error("--runs must be at least 5 (median of >= 5 paired runs)")
    source = cached_repo(args.manifests, args.commits)
    work = Path(tempfile.mkdtemp(prefix="bench-flux-"))
    try:
        root = work / "srv"
        shutil.copytree(source, root / "acme" / "gitops.git", symlinks=True)
        counter = [0]
        with GitHttpServer(Accounts(access_tokens={TOKEN}), root=root) as server, \
                ThrottlingProxy(server.port, rate_bits=RATE_BITS) as proxy:
            url = server.url("acme/gitops.git")
            slow_url = server.url("acme/gitops.git", port=proxy.port)
            repo = root / "acme" / "gitops.git"
            commits_before = int(git("rev-list", "--count", "main", cwd=repo))
            # warm the server's page cache once, unmeasured
            run_naive(url, f"{REGISTRY}/app-001", "0.0.1", work)
            server.stats.reset()
            full_probe = Path(tempfile.mkdtemp(dir=work))
            git("clone", "-q", "--bare", url.replace("http://", f"http://x-token-auth:{TOKEN}@"),
                str(full_probe / "r"))
            full_bytes = float(server.stats.bytes_sent)
            print(f"full clone: {full_bytes / 1e6:.1f} MB", flush=True)
            print("plain loopback:", flush=True)
            loop = paired(server, url, args.runs, work, "loopback", counter)
            print(f"throttled to {RATE_BITS / 1e6:.0f} Mbit/s:", flush=True)
            slow = paired(server, slow_url, args.runs, work, "throttled", counter)
            conc, _ = concurrent(url, work, counter)
            print(f"ten concurrent bumps: {conc:.2f}s", flush=True)
            conc16, _ = concurrent(url, work, counter, 16)
            print(f"sixteen concurrent bumps: {conc16:.2f}s", flush=True)
            merges = git("rev-list", "--merges", "--count", "main", cwd=repo).strip()
            after = int(git("rev-list", "--count", "main", cwd=repo))
            expected = commits_before + 1 + 4 * args.runs + 10 + 16
            if merges != "0" or after != expected:
                raise RuntimeError(f"history check failed: {after} commits (expected {expected}), "
                                   f"{merges} merges")
        text = section(args, loop, slow, conc, conc16, full_bytes, commits_before)
        print(text)
        if not args.no_write:
            report.write_heading_section(text)
            print(f"written to {DOC.relative_to(ROOT)}")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
