"""tf-apply overhead: the pipe vs raw Terraform on the same configuration and S3 backend.

Run from the repository root:  .venv/bin/python -m bench.tf_apply [--runs N]

Each paired run starts from no state (a fresh state key in moto's S3 on loopback) and a fresh
checkout (no .terraform/):
- A "apply": the pipe with MODE apply (locking probe, init, plan + apply, summary, outputs)
  vs raw `terraform init` + `terraform apply -auto-approve`.  Goal: a fixed overhead of at most
  0.5 s over raw Terraform (median of pipe - raw over every A run).  Three sizes against S3 on
  loopback, the small one again with S3 behind a proxy that adds a round-trip time (Spaces is
  over a network: Terraform's state and lock calls each pay it), and a configuration whose apply
  waits (WAITING_CONFIG here, a local-exec sleep, as a real one waits on its providers' API
  calls).
- B "saved plan": the pipe's MODE plan then MODE apply with PLAN_ID (two pipe runs, plan stored in
  and fetched from Spaces, state re-checked) vs raw `terraform init` + `plan -out` + `apply <plan>`
  in one checkout.  Reported for information (it does strictly more work).
The order inside each pair alternates.
- the image: the tf-apply image built on the test bed's base image, its size over that base
  (goal: <= 150 MB, Terraform included); with ``--compare-image REV`` the image of another
  revision too, built on the same base.
Results go to docs/BENCHMARKS.md (section "## tf-apply").
"""
from __future__ import annotations

import argparse
import os
import platform
import resource
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

import docker
from testbed import base_image, images, terraform_image
from testbed.docker_engine import DockerEngine
from testbed.pipes import PASS_THROUGH, PipeRun, bitbucket_env
from testbed.s3 import MotoS3
from testbed.throttle import ThrottlingProxy

from bench import report

ROOT = Path(__file__).resolve().parents[1]

GOAL = 0.5  # seconds: the most the pipe may add to raw Terraform (median of pipe - raw, A runs)
IMAGE_GOAL = 150.0  # MB of image over its base, Terraform included
MB = 1_000_000  # docker's own unit for image sizes
SMALL, LARGE, HUGE = 25, 400, 1500  # terraform_data resources (plus one summary resource)
WAIT = 1  # seconds the slow configuration's apply waits
RTT = 0.010  # the "away" row: S3 behind a proxy adding this round-trip time, as Spaces is over a network
CONFIG = """terraform {{
  backend "s3" {{}}
}}

variable "name" {{
  type    = string
  default = "bench"
}}

resource "terraform_data" "item" {{
  count = {count}
  input = {{ name = "${{var.name}}-${{count.index}}", index = count.index }}
}}

resource "terraform_data" "summary" {{
  input = [for i in terraform_data.item : i.output.name]
}}

output "names" {{
  value = terraform_data.summary.output
}}
"""
WAITING_CONFIG = """terraform {
  backend "s3" {}
}

variable "seconds" {
  type = number
}

resource "terraform_data" "wait" {
  input            = var.seconds
  triggers_replace = var.seconds
  provisioner "local-exec" {
    command = "sleep ${var.seconds}"
  }
}
"""
KEYS = ("BENCHACCESSKEY000000", "bench-secret-key-not-real")


@dataclass(frozen=True)
class Config:
    """The Terraform configuration of a scenario: its main.tf and the variables it is given."""
    main_tf: str
    tf_vars: tuple[tuple[str, str], ...] = ()


def resources(count: int) -> Config:
    return Config(CONFIG.format(count=count))


def waiting(seconds: int) -> Config:
    return Config(WAITING_CONFIG, (("seconds", str(seconds)),))


Runner = Callable[[Path, str, str, Config], float]  # (work dir, S3 endpoint, bucket, config) -> s


def backend_file(path: Path, endpoint: str, bucket: str, key: str) -> Path:
    path.write_text(
        f'bucket = "{bucket}"\nkey = "{key}"\nregion = "us-east-1"\n'
        f'endpoints = {{ s3 = "{endpoint}" }}\n'
        "skip_credentials_validation = true\nskip_requesting_account_id = true\n"
        "skip_metadata_api_check = true\nskip_region_validation = true\n"
        "skip_s3_checksum = true\nuse_path_style = true\nuse_lockfile = true\n")
    return path


def raw_env(config: Config | None = None) -> dict[str, str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/root"),
           "AWS_ACCESS_KEY_ID": KEYS[0], "AWS_SECRET_ACCESS_KEY": KEYS[1],
           "AWS_REQUEST_CHECKSUM_CALCULATION": "when_required",
           "AWS_RESPONSE_CHECKSUM_VALIDATION": "when_required",
           "TF_IN_AUTOMATION": "1", "TF_INPUT": "0", "CHECKPOINT_DISABLE": "1"}
    env.update({f"TF_VAR_{name}": value for name, value in (config.tf_vars if config else ())})
    return env


def checkout(work: Path, config: Config) -> Path:
    build = work / f"build-{secrets.token_hex(4)}"
    (build / "infra").mkdir(parents=True)
    (build / "infra" / "main.tf").write_text(config.main_tf)
    return build


def terraform(args: list[str], cwd: Path, config: Config) -> None:
    # output captured through a pipe, as a CI runner reads it (the pipe's output is read the same way)
    subprocess.run(["terraform", *args], cwd=cwd, env=raw_env(config), check=True,
                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _raw(work: Path, endpoint: str, bucket: str, config: Config, *steps: list[str]) -> float:
    """Seconds for ``terraform init`` then each of ``steps`` in a fresh checkout and state key."""
    build = checkout(work, config)
    cfg = backend_file(work / f"backend-{secrets.token_hex(4)}.hcl", endpoint, bucket,
                       f"raw/{secrets.token_hex(6)}/terraform.tfstate")
    started = time.perf_counter()
    terraform(["init", "-input=false", f"-backend-config={cfg}"], build / "infra", config)
    for step in steps:
        terraform(step, build / "infra", config)
    return time.perf_counter() - started


def raw_apply(work: Path, endpoint: str, bucket: str, config: Config) -> float:
    return _raw(work, endpoint, bucket, config, ["apply", "-input=false", "-auto-approve"])


def raw_saved_plan(work: Path, endpoint: str, bucket: str, config: Config) -> float:
    return _raw(work, endpoint, bucket, config, ["plan", "-input=false", "-out=plan.tfplan"],
                ["apply", "-input=false", "plan.tfplan"])


def shipped_python(work: Path) -> Path:
    """A virtualenv installed exactly as the image installs the pipe: the image's build stage
    script (``shared/image/install-pipe.sh``: the pinned requirements with --no-deps, the shared
    library and the pipe as regular packages, pip, setuptools and their start-up hooks removed).
    The development .venv carries editable installs and test tools whose start-up hooks would be
    counted against the pipe otherwise."""
    src = work / "src"  # a copy, as in the image's build stage: building in place leaves build/
    ignore = shutil.ignore_patterns("*.egg-info", "build", "__pycache__")
    shutil.copytree(ROOT / "shared", src / "shared", ignore=ignore)
    shutil.copytree(ROOT / "pipes" / "tf-apply", src / "pipes" / "tf-apply", ignore=ignore)
    venv = work / "pipe-venv"
    installed = subprocess.run(["sh", str(src / "shared" / "image" / "install-pipe.sh"),
                                str(src / "pipes" / "tf-apply"), str(venv)],
                               env={**os.environ, "PYTHON": sys.executable},
                               capture_output=True, text=True, check=False)
    if installed.returncode:  # its output only then: pip may warn about a machine's find-links
        raise RuntimeError(f"installing the pipe failed:\n{installed.stdout}{installed.stderr}")
    return venv / "bin" / "python"


PIPE_PYTHON: list[Path] = []  # set by main(): the shipped_python() of this run


def run_pipe(env: dict[str, str], cwd: Path) -> PipeRun:
    """``python -m tf_apply`` as the image's entry point runs it (its ENV, the installed pipe)."""
    full = {k: os.environ[k] for k in PASS_THROUGH if k in os.environ}
    full.update(env)
    full.update({"PYTHONUNBUFFERED": "1", "CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1"})
    started = time.monotonic()
    proc = subprocess.run([str(PIPE_PYTHON[0]), "-m", "tf_apply"], cwd=cwd, env=full,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    return PipeRun(proc.returncode, proc.stdout, time.monotonic() - started)


def pipe_env(build: Path, endpoint: str, bucket: str, key: str, config: Config,
             **extra: str) -> dict[str, str]:
    env = bitbucket_env(build, commit=secrets.token_hex(20), branch="main")
    env.update({"SPACES_ACCESS_KEY_ID": KEYS[0], "SPACES_SECRET_ACCESS_KEY": KEYS[1],
                "SPACES_BUCKET": bucket, "SPACES_ENDPOINT": endpoint, "WORKING_DIR": "infra",
                "STATE_KEY": key, "CODE_INSIGHTS": "false"})
    if config.tf_vars:
        env["VARS_COUNT"] = str(len(config.tf_vars))
        env.update({f"VARS_{i}": f"{name}={value}" for i, (name, value) in enumerate(config.tf_vars)})
    env.update(extra)
    return env


def pipe_apply(work: Path, endpoint: str, bucket: str, config: Config) -> float:
    build = checkout(work, config)
    env = pipe_env(build, endpoint, bucket, f"pipe/{secrets.token_hex(6)}/terraform.tfstate", config)
    started = time.perf_counter()
    run = run_pipe(env, build)
    elapsed = time.perf_counter() - started
    if run.code != 0:
        raise RuntimeError(run.output)
    return elapsed


def pipe_saved_plan(work: Path, endpoint: str, bucket: str, config: Config) -> float:
    build = checkout(work, config)
    key = f"pipe/{secrets.token_hex(6)}/terraform.tfstate"
    commit = secrets.token_hex(20)  # plan and apply in one pipeline: a saved plan is its commit's
    started = time.perf_counter()
    plan = run_pipe(pipe_env(build, endpoint, bucket, key, config, MODE="plan", PLAN_ID="bench",
                             BITBUCKET_COMMIT=commit), build)
    apply = run_pipe(pipe_env(build, endpoint, bucket, key, config, MODE="apply", PLAN_ID="bench",
                              BITBUCKET_COMMIT=commit), build)
    elapsed = time.perf_counter() - started
    if plan.code != 0 or apply.code != 0:
        raise RuntimeError(plan.output + apply.output)
    return elapsed


@dataclass
class Pairs:
    """Wall seconds of each side, and the CPU seconds (user + system) of its processes."""
    pipe: list[float]
    raw: list[float]
    pipe_cpu: list[float]
    raw_cpu: list[float]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # every finished, waited-for descendant
    return usage.ru_utime + usage.ru_stime


def _with_cpu(run: Callable[[], float]) -> tuple[float, float]:
    before = _children_cpu()
    wall = run()
    return wall, _children_cpu() - before


def paired(runs: int, pipe: Callable[[], float], raw: Callable[[], float]) -> Pairs:
    pipe(), raw()  # warm-up (page cache, Python imports), not counted
    out = Pairs([], [], [], [])
    for i in range(runs):
        for side in ((pipe, raw) if i % 2 == 0 else (raw, pipe)):
            wall, cpu = _with_cpu(side)
            if side is pipe:
                out.pipe.append(wall)
                out.pipe_cpu.append(cpu)
            else:
                out.raw.append(wall)
                out.raw_cpu.append(cpu)
    return out


def pipe_startup(work: Path) -> float:
    """The pipe's fixed cost: start Python, import, read the variables, fail on a bad MODE."""
    build = checkout(work, resources(1))
    env = {"MODE": "none", "BITBUCKET_CLONE_DIR": str(build)}
    started = time.perf_counter()
    run = run_pipe(env, build)
    elapsed = time.perf_counter() - started
    assert run.code == 1, run.output
    return elapsed


@dataclass(frozen=True)
class ImageSize:
    what: str
    size: float  # bytes, as docker reports them
    over_base: float
    layers: tuple[tuple[str, float], ...]  # (the step that made it, bytes) above the base


def _step(created_by: str) -> str:
    """A layer named by what it holds: ``COPY <digest> in /opt/pipe`` -> ``/opt/pipe``."""
    text = " ".join(created_by.split())
    return text.rsplit(" in ", 1)[1] if " in " in text else text[-60:]


def image_size(client: docker.DockerClient, tag: str, base: str, what: str) -> ImageSize:
    api = client.api
    base_layers = len(api.history(base))
    history = api.history(tag)  # newest first
    above = history[: len(history) - base_layers]
    layers = tuple((_step(str(h.get("CreatedBy", ""))), float(h.get("Size") or 0))
                   for h in reversed(above) if h.get("Size"))
    size = float(api.inspect_image(tag)["Size"])
    return ImageSize(what, size, size - float(api.inspect_image(base)["Size"]), layers)


def measure_images(work: Path, compare: str | None) -> tuple[str, float, list[ImageSize]]:
    """The tf-apply image of this tree (and of revision ``compare``) on the test bed's base."""
    found: list[ImageSize] = []
    with DockerEngine(workdir=work) as engine:
        client = engine.client()
        try:
            base = images.pick_base(client, lambda: base_image.ensure(client))
            terraform_image.ensure(client)
            trees: list[tuple[str, Path]] = []
            if compare:
                tree = work / "compare-src"
                tree.mkdir()
                archive = subprocess.run(["git", "-C", str(ROOT), "archive", compare],
                                         capture_output=True, check=True).stdout
                subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
                trees.append((f"tf-apply at {compare}", tree))
            trees.append(("tf-apply of this tree", ROOT))
            for i, (what, tree) in enumerate(trees):
                tag = f"do-pipes-bench/tf-apply:size-{i}"
                images.build_pipe(client, "tf-apply", base, tag=tag, root=tree)
                found.append(image_size(client, tag, base, what))
                client.images.remove(tag, force=True)
            base_size = float(client.api.inspect_image(base)["Size"])
        finally:
            client.close()
    return base, base_size, found


def image_lines(base: str, base_size: float, sizes: list[ImageSize], command: str) -> list[str]:
    lines = [f"Image: built with `{command}` (the same run) from `pipes/tf-apply/Dockerfile` on the "
             f"test bed's base image `{base}` ({base_size / MB:.1f} MB; `python:3.12-slim` cannot "
             "be pulled here); sizes as docker reports them (MB = 10^6 bytes).", "",
             "| image | size | over its base | layers above the base | goal |",
             "| --- | --- | --- | --- | --- |"]
    for img in sizes:
        layers = "; ".join(f"`{step}` {size / MB:.1f} MB" for step, size in img.layers)
        goal = f"<= {IMAGE_GOAL:.0f} MB: {'met' if img.over_base / MB <= IMAGE_GOAL else 'NOT met'}"
        lines.append(f"| {img.what} | {img.size / MB:.1f} MB | +{img.over_base / MB:.1f} MB "
                     f"| {layers} | {goal} |")
    if len(sizes) == 2:
        lines += ["", f"Growth of this tree's image over the other: "
                      f"{(sizes[1].size - sizes[0].size) / MB:+.1f} MB."]
    return [*lines, ""]


def section(results: dict[str, Pairs], runs: int, command: str,
            startup: list[float], load: tuple[float, float], image: list[str]) -> str:
    tf_version = subprocess.run(["terraform", "version"], capture_output=True, text=True,
                                env=raw_env()).stdout.splitlines()[0]
    lines = [
        "## tf-apply", "",
        f"Measured {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} on {platform.machine()}, "
        f"{os.cpu_count()} CPUs, {tf_version}, Python {platform.python_version()}, backend: moto S3 "
        "server on loopback with `use_lockfile`; configurations of `terraform_data` resources "
        "created from no state, fresh checkout (no `.terraform/`) each run. The pipe runs from a "
        "virtualenv installed the way its image installs it (pinned requirements, the shared "
        "library as a regular package; the image's container start is not counted).", "",
        f"Command: `{command}`", "",
        *image,
        f"{runs} paired runs, order alternating; medians in seconds. The goal is judged on the "
        "median of pipe - raw over the pairs (each pipe run against the raw run next to it), which "
        f"cancels drift in the machine's load (load average {load[0]:.1f} at the start, "
        f"{load[1]:.1f} at the end, {os.cpu_count()} CPUs shared with other work).", "",
        "| scenario | pipe | raw terraform | pipe - raw | ratio (medians) | median of paired ratios "
        "| pipe - raw <= 0.5 s | CPU s pipe / raw | CPU pipe - raw |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, pairs in results.items():
        pipes, raws = pairs.pipe, pairs.raw
        cpu = statistics.median(p - r for p, r in zip(pairs.pipe_cpu, pairs.raw_cpu, strict=True))
        ratio = statistics.median(pipes) / statistics.median(raws)
        pair = statistics.median(p / r for p, r in zip(pipes, raws, strict=True))
        extra = statistics.median(p - r for p, r in zip(pipes, raws, strict=True))
        met = "met" if extra <= GOAL else "NOT met"
        goal = met if name.startswith("A") else "information (two pipe runs)"
        lines.append(f"| {name} | {statistics.median(pipes):.3f} | {statistics.median(raws):.3f} "
                     f"| {extra:+.3f} | {ratio:.3f}x | {pair:.3f}x | {goal} "
                     f"| {statistics.median(pairs.pipe_cpu):.2f} / "
                     f"{statistics.median(pairs.raw_cpu):.2f} | {cpu:+.2f} |")
    a_rows = [pairs for name, pairs in results.items() if name.startswith("A")]
    extra_a = statistics.median(p - r for pairs in a_rows
                                for p, r in zip(pairs.pipe, pairs.raw, strict=True))
    cpu_a = statistics.median(p - r for pairs in a_rows
                              for p, r in zip(pairs.pipe_cpu, pairs.raw_cpu, strict=True))
    lines += ["",
              f"Fixed overhead of the pipe over raw Terraform: {extra_a:.2f} s of wall time "
              "(median of pipe - raw over every A run; goal: at most "
              f"{GOAL:.1f} s, {'met' if extra_a <= GOAL else 'NOT met'}) and "
              f"{cpu_a:.2f} s of CPU time (the same for user + system seconds of each side's "
              "processes, which the load of other work on the machine changes much less).", "",
              f"Fixed cost of the pipe process (Python start, imports, variables; a run that "
              f"stops at a bad MODE): median {statistics.median(startup):.3f} s.", "",
              "Reading: the overhead is roughly fixed, whatever Terraform does. Part of it is "
              "spent before `terraform init` can start (the line above: the Python interpreter, "
              "every module of the pipe with botocore, and the validation of the variables). "
              "The rest is mostly the locking probe: a thread of the pipe makes the S3 client and "
              "its two conditional writes and deletes the probe object while `terraform init` "
              "works, and Terraform plans only once both are done; an init that takes longer than "
              "the probe (provider plugins to install or check) hides the probe's part. These "
              "configurations use only the built-in provider, so init is short. Reading "
              "Terraform's JSON event stream costs little. Built-in `terraform_data` resources "
              "against a loopback S3 make Terraform unrealistically fast: a real configuration "
              "starts provider plugins and waits on their API calls for seconds, which the row of "
              f"the waiting configuration plays (its apply waits {WAIT} s in a local-exec). The "
              f"row with S3 {RTT * 1000:.0f} ms away puts the same round-trip time on every "
              "request, Terraform's and the probe's.", "",
              "A: pipe `MODE: apply` (locking probe, init, plan + apply with the summary, outputs "
              "written) vs `terraform init` + `terraform apply -auto-approve`.",
              "B: pipe `MODE: plan` then `MODE: apply` with `PLAN_ID` (two pipe runs: plan stored "
              "in Spaces with its JSON and record, state re-checked, plan claimed) vs `terraform "
              "init` + `plan -out` + `apply <plan>` in one checkout.", "",
              "Raw timings per run (pipe / raw):", ""]
    for name, pairs in results.items():
        lines.append(f"- {name}: " + ", ".join(
            f"{p:.2f}/{r:.2f}" for p, r in zip(pairs.pipe, pairs.raw, strict=True)))
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--compare-image", metavar="REV",
                        help="also build the image of git revision REV (same base) to compare sizes")
    parser.add_argument("--no-image", action="store_true", help="measure no image size")
    args = parser.parse_args()
    if args.runs < 5:
        parser.error("--runs must be at least 5")
    command = ".venv/bin/python -m bench.tf_apply" + (f" --runs {args.runs}" if args.runs != 7 else "")
    if args.compare_image:
        command += f" --compare-image {args.compare_image}"
    if args.no_image:
        command += " --no-image"
    work = Path(tempfile.mkdtemp(prefix="bench-tf-apply-"))
    try:
        image: list[str] = []
        if not args.no_image:  # first, and its engine stopped: the timings run without it
            base, base_size, sizes = measure_images(work, args.compare_image)
            image = image_lines(base, base_size, sizes, command)
            print("\n".join(image))
        PIPE_PYTHON.append(shipped_python(work))
        load_start = os.getloadavg()[0]
        with MotoS3(workdir=work) as s3, \
                ThrottlingProxy(urlsplit(s3.url).port or 80, rate_bits=1e9, rtt=RTT) as far:
            bucket = s3.create_bucket(f"bench-{secrets.token_hex(4)}")
            near, remote = s3.url, f"http://127.0.0.1:{far.port}"
            away = f", S3 {RTT * 1000:.0f} ms away"
            # (name, pipe side, raw side, S3 endpoint, configuration)
            scenarios: list[tuple[str, Runner, Runner, str, Config]] = [
                *((f"A apply, {n + 1} resources", pipe_apply, raw_apply, near, resources(n))
                  for n in (SMALL, LARGE, HUGE)),
                (f"A apply, {SMALL + 1} resources{away}", pipe_apply, raw_apply, remote,
                 resources(SMALL)),
                (f"A apply, 1 resource waiting {WAIT} s (fixture slow)", pipe_apply, raw_apply, near,
                 waiting(WAIT)),
                (f"B saved plan, {SMALL + 1} resources", pipe_saved_plan, raw_saved_plan, near,
                 resources(SMALL)),
            ]
            results = {
                name: paired(args.runs, partial(pipe, work, endpoint, bucket, config),
                             partial(raw, work, endpoint, bucket, config))
                for name, pipe, raw, endpoint, config in scenarios
            }
            startup = [pipe_startup(work) for _ in range(args.runs)]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = section(results, args.runs, command, startup, (load_start, os.getloadavg()[0]), image)
    print(text)
    if not args.no_write:
        report.write_heading_section(text)
        print("written to docs/BENCHMARKS.md")


if __name__ == "__main__":
    main()
