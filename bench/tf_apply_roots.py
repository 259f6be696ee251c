"""tf-apply over many roots (WORKING_DIRS): parallel roots, and the change detection.

Run from the repository root:  ./dev bench tf_apply_roots [--runs N]

- A "parallel": eight roots whose plans each wait 1 s on a provider (a ``terraform_remote_state``
  data source read over HTTP from a loopback server that answers after 1 s: a data source waiting
  on its API, read at plan time by Terraform's built-in provider), state in moto's S3 on loopback.
  One step of the pipe with ``WORKING_DIRS`` and ``PARALLELISM: 4`` against the same eight roots
  planned one after another by eight runs of the pipe (``WORKING_DIR`` each).  Both sides run the
  pipe as a process (``python -m tf_apply``, as ``./dev pipe`` does without the container, whose
  start would only add to the eight runs).  Goal: parallel <= 0.35x the eight runs' wall time.
- B "change detection": a git repository of 200 roots (each using one of 20 shared local modules)
  and 5,000 commits; the pull request's last commit changes one shared module.  Timed: finding the
  roots and their modules (every .tf file read), the files the pull request changed (read from
  ``.git`` with dulwich, from where it left main) and the decision
  for every root, as the pipe does them before any Terraform runs.  Goal: <= 1 s.
Results go to docs/BENCHMARKS.md (section "## tf-apply over many roots").
"""
from __future__ import annotations

import argparse
import http.server
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from testbed.pipes import PASS_THROUGH, bitbucket_env
from testbed.s3 import MotoS3

from bench import report

ROOTS = 8
WAIT = 1.0  # seconds each root's plan waits on its data source
GOAL_RATIO = 0.35
GOAL_DETECT = 1.0
DETECT_ROOTS, DETECT_MODULES, DETECT_COMMITS = 200, 20, 5000
SLOW_ROOT = """terraform {{
  backend "s3" {{}}
}}

data "terraform_remote_state" "slow" {{
  backend = "http"
  config = {{
    address = "{url}/state/{name}"
  }}
}}

resource "terraform_data" "main" {{
  input = "{name}"
}}

output "name" {{
  value = terraform_data.main.output
}}
"""
EMPTY_STATE = (b'{"version": 4, "terraform_version": "1.11.4", "serial": 1, '
               b'"lineage": "bench", "outputs": {}, "resources": []}')


class _Slow(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        time.sleep(WAIT)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(EMPTY_STATE)))
        self.end_headers()
        self.wfile.write(EMPTY_STATE)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def slow_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def checkout(work: Path, url: str) -> Path:
    build = work / f"build-{secrets.token_hex(4)}"
    for n in range(ROOTS):
        folder = build / "infra" / f"r{n}"
        folder.mkdir(parents=True)
        (folder / "main.tf").write_text(SLOW_ROOT.format(url=url, name=f"r{n}"))
    return build


def pipe(build: Path, s3: MotoS3, bucket: str, **variables: str) -> float:
    env = {k: os.environ[k] for k in PASS_THROUGH if k in os.environ}
    env.update(bitbucket_env(build, commit=secrets.token_hex(20), branch="main", pipe="tf-apply"))
    env.update({"SPACES_ACCESS_KEY_ID": "BENCHKEY", "SPACES_SECRET_ACCESS_KEY": "bench-secret-x",
                "SPACES_BUCKET": bucket, "SPACES_ENDPOINT": s3.url, "MODE": "plan",
                "CODE_INSIGHTS": "false"})
    env.update(variables)
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "tf_apply"], cwd=build, env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
    took = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"the pipe failed:\n{done.stdout[-3000:]}")
    return took


def parallel_pair(work: Path, s3: MotoS3, url: str, first: str) -> tuple[float, float]:
    """(eight runs one after another, one run of eight roots with PARALLELISM 4), each from a
    fresh checkout and bucket."""
    def eight() -> float:
        build, bucket = checkout(work, url), s3.create_bucket(f"b-{secrets.token_hex(5)}")
        return sum(pipe(build, s3, bucket, WORKING_DIR=f"infra/r{n}") for n in range(ROOTS))

    def together() -> float:
        build, bucket = checkout(work, url), s3.create_bucket(f"b-{secrets.token_hex(5)}")
        return pipe(build, s3, bucket, WORKING_DIRS="[infra/*]", PARALLELISM="4")

    if first == "eight":
        a = eight()
        return a, together()
    b = together()
    return eight(), b


def detection_repo(work: Path) -> tuple[Path, str]:
    """200 roots, 20 shared modules, 5,000 commits (git fast-import); the last commit, on its own
    branch, changes module m7.  Returns the clone and the destination commit."""
    repo = work / "detect"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    lines: list[str] = []

    def blob(text: str) -> str:
        data = text.encode()
        return f"M 100644 inline {{path}}\ndata {len(data)}\n{text}\n"

    files: dict[str, str] = {}
    for m in range(DETECT_MODULES):
        files[f"modules/m{m}/main.tf"] = f'resource "terraform_data" "m" {{\n  input = "{m}"\n}}\n'
    for r in range(DETECT_ROOTS):
        files[f"roots/r{r:03d}/main.tf"] = (
            f'terraform {{\n  backend "s3" {{}}\n}}\n\nmodule "shared" {{\n  source = '
            f'"../../modules/m{r % DETECT_MODULES}"\n}}\n')
    for n in range(DETECT_COMMITS):
        mark = n + 1
        if n == 0:
            changes = files
        else:
            path = f"roots/r{n % DETECT_ROOTS:03d}/notes.md"
            changes = {path: f"change {n}\n"}
        body = "".join(blob(text).replace("{path}", path) for path, text in changes.items())
        message = f"commit {n}"
        lines.append(f"commit refs/heads/main\nmark :{mark}\n"
                     f"committer bench <b@example.com> {1_700_000_000 + n} +0000\n"
                     f"data {len(message)}\n{message}\n" + (f"from :{mark - 1}\n" if n else "")
                     + body + "\n")
    subprocess.run(["git", "-C", str(repo), "fast-import", "--quiet"], input="".join(lines),
                   text=True, check=True)
    subprocess.run(["git", "-C", str(repo), "checkout", "-q", "-f", "main"], check=True)
    base = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], check=True, text=True,
                          capture_output=True).stdout.strip()
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@example.com",
           "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@example.com"}
    subprocess.run(["git", "-C", str(repo), "checkout", "-q", "-b", "feature"], check=True)
    (repo / "modules/m7/main.tf").write_text('resource "terraform_data" "m" {\n  input = "7b"\n}\n')
    subprocess.run(["git", "-C", str(repo), "commit", "-qam", "change m7"], check=True, env=env)
    return repo, base


def detect_once(repo: Path, base: str) -> tuple[float, int]:
    from tf_apply import affected, roots

    started = time.monotonic()
    found = roots.with_state_keys(roots.discover(repo, ["roots/*", "modules/*"]),
                                  "{root}/terraform.tfstate", None)
    files = affected.changed_files(repo, base, "HEAD", merge_base=True)
    chosen = [d for d in (affected.decide(r, files, [], "in pull request #1") for r in found)
              if d.runs]
    took = time.monotonic() - started
    if len(found) != DETECT_ROOTS or len(chosen) != DETECT_ROOTS // DETECT_MODULES:
        raise SystemExit(f"detection found {len(found)} roots and chose {len(chosen)}")
    return took, len(chosen)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    if shutil.which("terraform") is None:
        report.warn("terraform is not on PATH: no benchmark")
        return 1
    work = Path(tempfile.mkdtemp(prefix="bench-roots-"))
    try:
        rows, ratios = [], []
        with MotoS3() as s3, slow_server() as url:
            for run in range(args.runs):
                eight, together = parallel_pair(work, s3, url, "eight" if run % 2 == 0 else "together")
                ratios.append(together / eight)
                report.say(f"run {run + 1}: eight runs {eight:.2f} s, one run of eight roots "
                           f"{together:.2f} s, ratio {together / eight:.3f}")
                rows.append((eight, together))
        repo, base = detection_repo(work)
        detect = [detect_once(repo, base)[0] for _ in range(max(args.runs, 3))]
        report.say(f"change detection: {', '.join(f'{d:.3f}' for d in detect)} s")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    eight_med = statistics.median(r[0] for r in rows)
    together_med = statistics.median(r[1] for r in rows)
    ratio = statistics.median(ratios)
    detect_med = statistics.median(detect)
    machine = report.Machine.here()
    body = (
        f"Command (from the repository root): `{report.command_line('bench.tf_apply_roots', sys.argv[1:])}`"
        f" ({machine.describe()}; load average {report.load_average()} at the start; "
        f"{report.now_utc()}).\n\n"
        + report.markdown_table(
            ["", "wall time (median)"],
            [[f"A eight roots planned by eight runs of the pipe (WORKING_DIR), each plan waiting "
              f"{WAIT:g} s on its data source", f"{eight_med:.2f} s"],
             ["A the same eight roots, one run with WORKING_DIRS and PARALLELISM 4",
              f"{together_med:.2f} s"],
             ["A ratio (median of each pair's ratio)", f"{ratio:.3f}x"],
             [f"B change detection, {DETECT_ROOTS} roots x {DETECT_COMMITS:,} commits (roots, "
              "modules, changed files read from .git with dulwich, decisions)", f"{detect_med:.3f} s"]])
        + f"\n\nEach pair's ratio: {', '.join(f'{r:.3f}' for r in ratios)}."
        + f"\n\nGoals: A <= {GOAL_RATIO}x: {'met' if ratio <= GOAL_RATIO else 'NOT met'}; "
          f"B <= {GOAL_DETECT:g} s: {'met' if detect_med <= GOAL_DETECT else 'NOT met'}. "
          "Both sides of A run the pipe as a process (`python -m tf_apply`), not as its image: "
          "the container start each of the eight runs would add is left out, which favours the "
          "eight runs. The roots' `terraform init` take turns (the shared plugin cache); their "
          "plans overlap.\n")
    if not args.no_write:
        report.write_section("tf-apply over many roots", body)
    report.say(body)
    return 0 if ratio <= GOAL_RATIO and detect_med <= GOAL_DETECT else 1


if __name__ == "__main__":
    sys.exit(main())
