"""flux-bump with several images: one run bumping 10 images (IMAGES) against one bumping 1, on the
5,000-manifest repository of ``bench.flux_bump`` (same generator, same cache), served over smart
HTTP.  Paired runs, alternating which goes first; bytes the server sent and wall time, medians and
their ratio.  The goal (issue 14): a 10-image bump costs at most 1.5x a 1-image bump in both.
Results go into docs/BENCHMARKS.md under ``## Several images in one flux-bump``.

    .venv/bin/python -m bench.flux_bump_images [--runs 5] [--no-write]
"""
from __future__ import annotations

import argparse
import platform
import shutil
import statistics
import tempfile
from pathlib import Path

from testbed.git_http import Accounts, GitHttpServer
from testbed.pipes import bitbucket_env, run_local

from bench import report
from bench.flux_bump import REGISTRY, TOKEN, cached_repo

HEADING = "## Several images in one flux-bump"
COMMAND = ".venv/bin/python -m bench.flux_bump_images"


def bump(url: str, count: int, tag: str, work: Path) -> float:
    build = Path(tempfile.mkdtemp(prefix="build-", dir=work))
    env = bitbucket_env(build, branch="main")
    images = ", ".join(f"{REGISTRY}/app-{200 + i:03d}={tag}" for i in range(count))
    env.update({"GITOPS_REPO": url, "BITBUCKET_ACCESS_TOKEN": TOKEN, "IMAGES": f"[{images}]"})
    run = run_local("flux-bump", env, build)
    if run.code != 0:
        raise RuntimeError(f"pipe failed:\n{run.output}")
    shutil.rmtree(build, ignore_errors=True)
    return run.seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-write", action="store_true", help="print, do not update BENCHMARKS.md")
    args = parser.parse_args()
    repo = cached_repo(5000, 20000)
    work = Path(tempfile.mkdtemp(prefix="bench-images-"))
    try:
        root = work / "srv"
        shutil.copytree(repo, root / "acme" / "gitops.git")
        seconds: dict[int, list[float]] = {1: [], 10: []}
        sent: dict[int, list[float]] = {1: [], 10: []}
        with GitHttpServer(Accounts(access_tokens={TOKEN}), root=root) as srv:
            url = srv.url("acme/gitops.git")
            for run in range(args.runs):
                for count in (1, 10) if run % 2 == 0 else (10, 1):
                    srv.stats.reset()
                    seconds[count].append(bump(url, count, f"7.{run}.{count}", work))
                    sent[count].append(float(srv.stats.bytes_sent))
                print(f"  run {run + 1}: 1 image {seconds[1][-1]:.2f}s {sent[1][-1] / 1e6:.2f} MB | "
                      f"10 images {seconds[10][-1]:.2f}s {sent[10][-1] / 1e6:.2f} MB", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    med = {k: (statistics.median(seconds[k]), statistics.median(sent[k])) for k in (1, 10)}
    ratio_s, ratio_b = med[10][0] / med[1][0], med[10][1] / med[1][1]
    verdict = "met" if ratio_s <= 1.5 and ratio_b <= 1.5 else "NOT met"
    text = (f"{HEADING}\n\n"
            f"Command: `{COMMAND} --runs {args.runs}` ({platform.machine()}, Python "
            f"{platform.python_version()}; 5,000 manifests, 20,000 commits, plain loopback).\n\n"
            "| bump | wall time (median) | bytes sent (median) |\n|---|---|---|\n"
            f"| 1 image | {med[1][0]:.2f} s | {med[1][1] / 1e6:.2f} MB |\n"
            f"| 10 images (IMAGES) | {med[10][0]:.2f} s | {med[10][1] / 1e6:.2f} MB |\n"
            f"| ratio | {ratio_s:.2f}x | {ratio_b:.2f}x |\n\n"
            f"Goal: a 10-image bump at most 1.5x a 1-image bump in wall time and bytes: {verdict}. "
            "Each file is read and parsed once for all images (a scan cache), with libyaml's "
            "composer when PyYAML has it; the clone is the same one either way.\n")
    print(text)
    if not args.no_write:
        report.write_heading_section(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
