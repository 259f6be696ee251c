"""docr-retention's plan for a whole registry: 50 repositories of 200 tags each (build-push's commit and
branch tags of three live branches and a deleted one, `<branch>-<build>` tags, releases and their
floating tags, cosign signatures), on the DO API stub (in-memory catalogue) and the Bitbucket
branches stub, the pipe run as a local process with ``DRY_RUN`` true.  Wall time of the whole run
(start-up included; median of ``--runs``) and the API calls it made, at three registry sizes to show
the calls grow with the tags, not faster.  The goal (issue 27): the plan in at most 10 s, calls
linear in tags.  Results go into docs/BENCHMARKS.md under ``## docr-retention``.

    .venv/bin/python -m bench.docr_retention [--runs 3] [--no-write]
"""
from __future__ import annotations

import argparse
import hashlib
import shutil
import statistics
import tempfile
from pathlib import Path

from testbed.bitbucket_stub import BitbucketState, BitbucketStub
from testbed.do_stub import DOApiStub, StubState, TagRow
from testbed.pipes import bitbucket_env, run_local

from bench import report

HEADING = "## docr-retention"
COMMAND = ".venv/bin/python -m bench.docr_retention"
TOKEN = "bench-do-token"
BB_TOKEN = "bench-bb-token"
SIZES = ((25, 200), (50, 200), (50, 400))


def digest(*parts: object) -> str:
    return "sha256:" + hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()


def catalogue(repos: int, tags: int) -> dict[str, dict[str, TagRow]]:
    """``repos`` repositories of ``tags`` tags each, in the shapes build-push and cosign leave."""
    out: dict[str, dict[str, TagRow]] = {}
    for r in range(repos):
        rows: dict[str, TagRow] = {}
        n = 0
        while len(rows) < tags:
            branch = ("main", "dev", "feature-login", "feature-gone")[n % 4]
            image = digest(r, n)
            when = f"2026-{1 + n // 400 % 9:02d}-{1 + n // 16 % 28:02d}T{n % 24:02d}:00:00Z"
            rows[f"sha-{hashlib.sha1(f'{r}/{n}'.encode()).hexdigest()[:7]}"] = TagRow(image, 40_000_000, when)
            if n % 3 == 0:
                rows[f"{branch}-{n}"] = TagRow(image, 40_000_000, when)
            if n % 25 == 0:
                rows[f"1.{n // 25}.0"] = TagRow(image, 40_000_000, when)
            if n % 5 == 0:
                rows[f"sha256-{image[7:]}.sig"] = TagRow(digest(r, n, "sig"), 1_000, when)
            n += 1
        for branch in ("main", "dev", "feature-login", "feature-gone"):
            rows[branch] = next(iter(rows.values()))
        rows["latest"] = rows["1.0.0"]
        out[f"app-{r:03d}"] = dict(list(rows.items())[:tags])
    return out


def plan_once(api: DOApiStub, bb: BitbucketStub, repos: int, tags: int, work: Path) -> tuple[float, int, int]:
    """One dry run: seconds, API calls, tags listed."""
    api.state.reset()
    api.state.catalog.update(catalogue(repos, tags))
    listed = sum(len(rows) for rows in api.state.catalog.values())
    bb.state.requests.clear()
    build = Path(tempfile.mkdtemp(prefix="build-", dir=work))
    env = bitbucket_env(build, branch="main", repo="acme/app")
    env.update({"DIGITALOCEAN_ACCESS_TOKEN": TOKEN, "REGISTRY_NAME": "acme", "DIGITALOCEAN_API_URL": api.url,
                "BITBUCKET_ACCESS_TOKEN": BB_TOKEN, "BITBUCKET_API_URL": bb.url})
    run = run_local("docr-retention", env, build)
    shutil.rmtree(build, ignore_errors=True)
    if run.code != 0:
        raise RuntimeError(f"pipe failed:\n{run.output[-3000:]}")
    return run.seconds, len(api.state.requests) + len(bb.state.requests), listed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    state = StubState(registry_name="acme", registry_host="registry.digitalocean.com", tokens={TOKEN},
                      push_user="u", push_password="p")
    bb_state = BitbucketState(tokens={BB_TOKEN}, branches={"acme/app": ["main", "dev", "feature/login"]})
    rows = []
    with DOApiStub(state) as api, BitbucketStub(bb_state) as bb, \
            tempfile.TemporaryDirectory(prefix="bench-docr-") as tmp:
        for repos, tags in SIZES:
            runs = [plan_once(api, bb, repos, tags, Path(tmp)) for _ in range(args.runs)]
            seconds = statistics.median(r[0] for r in runs)
            calls, listed = runs[0][1], runs[0][2]
            rows.append((repos, tags, listed, calls, seconds, [r[0] for r in runs]))
            report.say(f"{repos} x {tags}: {listed} tags, {calls} API calls, plan {seconds:.2f} s")
    table = report.markdown_table(
        ["Repositories x tags", "Tags listed", "API calls", "Calls per 1000 tags", "Plan (median)"],
        [[f"{r} x {t}", str(n), str(c), f"{1000 * c / n:.1f}", f"{s:.2f} s"] for r, t, n, c, s, _ in rows])
    runs_text = "\n".join(f"- A {r} x {t}: " + ", ".join(f"{x:.2f}" for x in xs) for r, t, _, _, _, xs in rows)
    main_row = rows[1]
    body = f"""Goal (issue 27): on a registry of 50 repositories of 200 tags, the plan (a dry run) in at most
10 s against the DO API stub, and API calls linear in tags. Measured: **{main_row[4]:.2f} s** for 50 x 200
({main_row[2]} tags), **{main_row[3]} API calls**.

Each run is the pipe as a local process (start-up included) with `DRY_RUN` true, on the DO API stub with an
in-memory catalogue and the Bitbucket branches stub: per repository build-push's commit tags, the branch tags
of `main`, `dev`, `feature-login` and a deleted `feature-gone`, `<branch>-<build>` tags, releases, `latest` and
cosign signatures. The calls: the registry, its garbage collection, the repositories (200 per page), the tags of
each repository (200 per page) and the branches: one call per repository per 200 tags, plus a constant.

{table}

Raw seconds per run:
{runs_text}

{report.Machine.here().describe()}; load average {report.load_average()}; {report.now_utc()};
`{COMMAND} --runs {args.runs}`.
"""
    if args.no_write:
        report.say(body)
        return 0
    report.write_heading_section(f"{HEADING}\n\n{body}")
    report.say("written to docs/BENCHMARKS.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
