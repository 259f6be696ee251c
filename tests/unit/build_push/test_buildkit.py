"""The BuildKit builder's pure parts: the command line (no secret value on it, private files
removed), the condensed progress, SECRETS parsing and the choice of builder."""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from build_push import buildkit, buildsecrets, pipe, strategy, tags
from build_push.request import BuildRequest
from build_push.schema import VARIABLES
from build_push.settings import Settings
from pipes_common import log, proc, secrets
from pipes_common.bitbucket import StepContext
from pipes_common.errors import PipeError
from testbed import leaks

PLAIN_OK = """#1 [internal] load build definition from Dockerfile
#1 sha256:aaaa
#1 transferring dockerfile: 120B done
#1 DONE 0.0s

#5 [stage-0 2/3] RUN echo hi
#5 sha256:bbbb
#5 0.311 hi
#5 DONE 0.4s

#6 [stage-0 3/3] COPY app.py /app.py
#6 CACHED
"""

PLAIN_FAIL = """#5 [stage-0 2/2] RUN echo first && echo last && exit 3
#5 0.2 first
#5 0.2 last
#5 ERROR: executor failed running [/bin/sh -c echo first && echo last && exit 3]: exit code: 3
------
 > [stage-0 2/2] RUN echo first && echo last && exit 3:
------
error: failed to solve: executor failed running [/bin/sh -c ...]: exit code: 3
"""


def _feed(text: str) -> buildkit.Progress:
    progress = buildkit.Progress()
    for line in text.splitlines():
        progress.line(line)
    return progress


def _lines(capsys: pytest.CaptureFixture[str], level: str) -> list[str]:
    out = capsys.readouterr().out
    plain = re.sub(r"\x1b\[[0-9;]*m", "", out)
    return [line.removeprefix(f"{level}: ") for line in plain.splitlines() if line.startswith(f"{level}: ")]


def test_one_line_per_step_with_time_or_cached(capsys: pytest.CaptureFixture[str]) -> None:
    _feed(PLAIN_OK)
    assert _lines(capsys, "INFO") == ["[stage-0 2/3] RUN echo hi (0.4s)",
                                      "[stage-0 3/3] COPY app.py /app.py (cached)"]


def test_failure_names_the_step_and_its_last_lines(capsys: pytest.CaptureFixture[str]) -> None:
    error = _feed(PLAIN_FAIL).failure(1)
    assert str(error).startswith("Build failed at [stage-0 2/2] RUN echo first && echo last && "
                                 "exit 3: executor failed running")
    assert _lines(capsys, "ERROR") == [
        "Build failed at [stage-0 2/2] RUN echo first && echo last && exit 3", "  first", "  last"]


def test_command_has_no_secret_value_and_private_files(tmp_path: Path) -> None:
    cli = buildkit.Cli(Path("/usr/bin/docker"), "20.10.24", buildx=False)
    req = BuildRequest(context=tmp_path, dockerfile=tmp_path / "Dockerfile", tag="r/i:t",
                           labels={"team": "web"}, cache_from=["r/i:main"], network="host",
                           secrets={"npmrc": "s3cret-value"}, ssh_key="KEY")
    with buildkit.private_folder() as folder:
        args = buildkit.command(cli, req, folder)
        assert "s3cret-value" not in " ".join(args) and "KEY" not in " ".join(args)
        secret_arg = args[args.index("--secret") + 1]
        path = Path(secret_arg.split("src=", 1)[1])
        assert secret_arg.startswith("id=npmrc,") and path.read_text() == "s3cret-value"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        assert args[args.index("--label"):args.index("--label") + 2] == ["--label", "team=web"]
        assert args[args.index("--build-arg"):args.index("--build-arg") + 2] == \
            ["--build-arg", "BUILDKIT_INLINE_CACHE=1"]
        assert args[:2] == ["/usr/bin/docker", "build"] and args[-1] == str(tmp_path)
    assert not folder.exists()


@pytest.mark.parametrize(("entries", "env", "message"), [
    (["npmrc"], {}, "SECRETS: entry 1 is not id=VARIABLE"),
    (["a=B", "dop_v1_abc"], {"B": "x"}, "SECRETS: entry 2 is not id=VARIABLE"),
    (["npmrc=NPM_TOKEN"], {}, "SECRETS: npmrc=NPM_TOKEN names the variable NPM_TOKEN, which is not set"),
    (["a=B", "a=C"], {"B": "x", "C": "y"}, "SECRETS: the id 'a' is given twice"),
])
def test_bad_secrets(entries: list[str], env: dict[str, str], message: str) -> None:
    with pytest.raises(PipeError) as err:
        buildsecrets.parse(entries, env)
    assert str(err.value).startswith(message)
    assert "dop_v1_abc" not in str(err.value)


def test_secrets_read_from_the_named_variables() -> None:
    assert buildsecrets.parse(["npmrc=NPM_TOKEN"], {"NPM_TOKEN": "v"}) == {"npmrc": "v"}


def test_a_cli_from_23_needs_buildx(tmp_path: Path) -> None:
    fake = tmp_path / "docker"
    fake.write_text("#!/bin/sh\nif [ \"$1\" = version ]; then echo '28.0.1|linux|1.48'; exit 0; fi\nexit 1\n")
    fake.chmod(0o755)
    found = buildkit.probe({"PATH": "/usr/bin:/bin"}, (fake,))
    assert found.cli is None and "has no buildx plugin" in found.reason
    old = tmp_path / "old-docker"
    old.write_text(fake.read_text().replace("28.0.1", "20.10.24"))
    old.chmod(0o755)
    found = buildkit.probe({"PATH": "/usr/bin:/bin"}, (fake, old))
    assert found.cli == buildkit.Cli(old, "20.10.24", buildx=False)


def _settings(**changes: object) -> Settings:
    base = Settings(
        token="t", registry_name="acme", image_name="web", host="r.example", username=None,
        api_url="https://api.example", preflight=False,
        tag_plan=tags.TagPlan(tags=["main"], commit_tag=None, branch_tag="main"),
        commit=None, dockerfile=Path("Dockerfile"), context=Path("."), target=None, build_args={},
        labels={}, inputs="sha256:unit", cache_from=None, network=None, skip_if_exists=True,
        push=True, builder="auto")
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def _probe(probe: buildkit.Probe) -> Callable[[], buildkit.Probe]:
    return lambda: probe


def test_auto_falls_back_to_classic_with_one_warning(capsys: pytest.CaptureFixture[str]) -> None:
    ports = _probe(buildkit.Probe(None, "no docker CLI in the pipe"))
    assert pipe.choose_builder(_settings(), ports)[0] is None
    assert _lines(capsys, "WARNING") == [
        "BuildKit is not available (no docker CLI in the pipe): building with the classic builder."]
    with pytest.raises(PipeError, match=r"^BUILDER needs BuildKit, which is not available"):
        pipe.choose_builder(_settings(builder="buildkit"), ports)
    with pytest.raises(PipeError, match=r"^SECRETS needs BuildKit, which is not available"):
        pipe.choose_builder(_settings(secrets={"npmrc": "v"}), ports)


def test_classic_refuses_what_only_buildkit_does() -> None:
    ports = _probe(buildkit.Probe(None, "unused"))
    with pytest.raises(PipeError, match=r"^CACHE_TO needs BuildKit but BUILDER is classic"):
        pipe.choose_builder(_settings(builder="classic", cache_to="type=registry,ref=r/x:c"), ports)
    assert pipe.choose_builder(_settings(builder="classic"), ports)[0] is None


def test_registry_credentials_reach_the_cli_as_a_private_config(tmp_path: Path) -> None:
    usual = tmp_path / "home" / ".docker"
    (usual / "cli-plugins").mkdir(parents=True)
    folder = tmp_path / "private"
    folder.mkdir()
    config = buildkit.docker_config(folder, {"r.example:5000": ("user", "pa:ss")},
                                    {"HOME": str(tmp_path / "home")})
    path = config / "config.json"
    assert json.loads(path.read_text()) == {"auths": {"r.example:5000": {"auth": "dXNlcjpwYTpzcw=="}}}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and config.parent == folder
    assert (config / "cli-plugins").resolve() == (usual / "cli-plugins").resolve()  # buildx stays


def test_the_build_gets_the_credentials_and_leaves_no_file_behind(tmp_path: Path) -> None:
    """A fake docker CLI records what it was given: the credentials only in DOCKER_CONFIG's file
    (never on its command line), and that folder is gone when the build returns."""
    record = tmp_path / "record"
    cli_path = tmp_path / "docker"
    cli_path.write_text(f"""#!/bin/sh
echo "$@" > {record}.args
echo "$DOCKER_CONFIG" > {record}.config
cat "$DOCKER_CONFIG/config.json" > {record}.json
while [ $# -gt 0 ]; do
  if [ "$1" = --iidfile ]; then echo sha256:built > "$2"; fi
  shift
done
""")
    cli_path.chmod(0o755)
    req = BuildRequest(context=tmp_path, dockerfile=tmp_path / "Dockerfile", tag="r.example/a/web:x",
                       cache_from=["r.example/a/web:main"], registry_auth={"r.example": ("u", "s3cret")})
    cli = buildkit.Cli(cli_path, "20.10.24", buildx=False)
    assert buildkit.build(cli, req, {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}) == "sha256:built"
    assert "s3cret" not in (tmp_path / "record.args").read_text()
    assert "--cache-from r.example/a/web:main" in (tmp_path / "record.args").read_text()
    config = Path((tmp_path / "record.config").read_text().strip())
    assert json.loads((tmp_path / "record.json").read_text())["auths"]["r.example"]["auth"] == "dTpzM2NyZXQ="
    assert not config.exists() and not config.parent.exists()


FAKE_BUILDX = """#!/bin/sh
if [ "$1" = docker-cli-plugin-metadata ]; then
  echo '{"SchemaVersion":"0.1.0","Vendor":"unit test","Version":"v0.0.0","ShortDescription":"fake"}'
  exit 0
fi
echo "$@" >> "$(dirname "$0")/argv"
echo "github.com/docker/buildx v0.0.0 fake"
"""


def _docker_config_with_fake_buildx(tmp_path: Path) -> Path:
    """A DOCKER_CONFIG whose cli-plugins folder holds a fake ``docker-buildx`` that records its
    argv: only the detection and the command line are tested with it, never a real buildx build."""
    plugins = tmp_path / "docker-config" / "cli-plugins"
    plugins.mkdir(parents=True)
    (plugins / "docker-buildx").write_text(FAKE_BUILDX)
    (plugins / "docker-buildx").chmod(0o755)
    return plugins.parent


@pytest.mark.skipif(not Path("/usr/bin/docker").is_file(), reason="needs the docker CLI")
def test_buildx_is_found_among_the_plugins_docker_info_lists(tmp_path: Path) -> None:
    """The real CLI's plugin listing (it lists its plugins even when no engine answers), read the
    way the probe reads it: no buildx in an empty config, the fake one in a config holding it."""
    docker = Path("/usr/bin/docker")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "DOCKER_HOST": "tcp://127.0.0.1:9"}

    def listed(config: Path) -> str | None:
        out = subprocess.run([str(docker), "info", "--format", "{{json .ClientInfo.Plugins}}"],
                             env={**env, "DOCKER_CONFIG": str(config)}, capture_output=True,
                             text=True, timeout=60, check=False).stdout
        return buildkit.buildx_in(out.strip())

    assert listed(tmp_path / "empty") is None
    assert listed(_docker_config_with_fake_buildx(tmp_path)) == "0.0.0"


@pytest.mark.parametrize(("plugins", "found"), [
    # Debian 13's CLI 26.1.5 with its docker-buildx package
    ('[{"SchemaVersion":"0.1.0","Vendor":"Docker Inc.","Version":"0.13.1+ds1",'
     '"ShortDescription":"Docker Buildx","Name":"buildx","Path":"/usr/libexec/docker/cli-plugins/'
     'docker-buildx"}]', "0.13.1"),
    ('[{"Name":"compose","Version":"v2.30.3"},{"Name":"buildx","Version":"v0.18.0-desktop.2"}]',
     "0.18.0"),
    ('[{"Name":"buildx","Version":"dev"}]', ""),
    ('[{"Name":"buildx","Err":"failed to fetch metadata: fork/exec: exec format error"}]', None),
    ('[{"Name":"compose","Version":"v2.30.3"}]', None),
    ("[]", None), ("null", None), ("", None), ("<no value>", None),
])
def test_the_buildx_version_is_read_from_the_plugin_list(plugins: str, found: str | None) -> None:
    assert buildkit.buildx_in(plugins) == found


def test_buildx_builds_for_platforms_and_pushes_every_tag(tmp_path: Path) -> None:
    cli = buildkit.Cli(Path("/usr/bin/docker"), "27.3.1", buildx=True)
    req = BuildRequest(context=tmp_path, dockerfile=tmp_path / "Dockerfile", tag="r/i:main",
                       build_args={"V": "1"}, labels={"team": "web"}, cache_from=["r/i:main"],
                       cache_to="r/i:buildcache", secrets={"npmrc": "s3cret-value"}, ssh_key="KEY",
                       platforms=("linux/amd64", "linux/arm64"), push_tags=["r/i:main", "r/i:sha-1"])
    with buildkit.private_folder() as folder:
        args = buildkit.command(cli, req, folder)
        assert args[:4] == ["/usr/bin/docker", "buildx", "build", "--push"]
        assert args[4] == "--metadata-file" and args[6:8] == ["--platform", "linux/amd64,linux/arm64"]
        assert "--load" not in args and "s3cret-value" not in " ".join(args)
        assert [args[i + 1] for i, a in enumerate(args) if a == "--tag"] == ["r/i:main", "r/i:sha-1"]
        assert args[args.index("--cache-to") + 1] == "type=registry,ref=r/i:buildcache,mode=max"
        for option, value in (("--label", "team=web"), ("--build-arg", "V=1"),
                              ("--cache-from", "r/i:main")):
            assert [args[i + 1] for i, a in enumerate(args) if a == option].count(value) == 1
        assert args[args.index("--secret") + 1].startswith("id=npmrc,src=")
        assert args[args.index("--ssh") + 1].startswith("default=")
        (folder / "metadata.json").write_text('{"containerimage.digest": "sha256:' + "a" * 64 + '"}')
        assert buildkit.pushed_digest(folder) == "sha256:" + "a" * 64


def test_buildx_without_platforms_loads_into_the_engine(tmp_path: Path) -> None:
    cli = buildkit.Cli(Path("/usr/bin/docker"), "27.3.1", buildx=True)
    req = BuildRequest(context=tmp_path, dockerfile=tmp_path / "Dockerfile", tag="r/i:main",
                       cache_to="type=registry,ref=r/i:c,mode=min")
    with buildkit.private_folder() as folder:
        args = buildkit.command(cli, req, folder)
    assert args[:4] == ["/usr/bin/docker", "buildx", "build", "--load"]
    assert "--platform" not in args and "--push" not in args
    assert args[args.index("--cache-to") + 1] == "type=registry,ref=r/i:c,mode=min"  # as given


def test_the_build_of_a_cli_without_buildx_refuses_platforms_and_cache_to(tmp_path: Path) -> None:
    cli = buildkit.Cli(Path("/usr/bin/docker"), "20.10.24", buildx=False)
    for change, variable in (({"platforms": ("linux/arm64",), "push_tags": ["r/i:x"]}, "PLATFORMS"),
                             ({"cache_to": "r/i:c"}, "CACHE_TO")):
        req = BuildRequest(context=tmp_path, dockerfile=tmp_path / "Dockerfile", tag="r/i:x",
                           **change)
        with buildkit.private_folder() as folder, \
                pytest.raises(PipeError, match=rf"^{variable} needs docker buildx, which the docker CLI"):
            buildkit.command(cli, req, folder)


@pytest.mark.parametrize("raw", ["linux", "linux/amd64,", "linux/amd64,windows/amd64/v1/x", "Linux/AMD64"])
def test_platforms_are_os_arch_entries(raw: str) -> None:
    if raw == "linux/amd64,":
        assert buildkit.platforms(raw) == ("linux/amd64",)
        return
    with pytest.raises(PipeError, match=r"^PLATFORMS: '.*' is not a platform: give os/arch"):
        buildkit.platforms(raw)


OVERLAY2 = buildkit.EngineInfo("20.10.24+dfsg1", "overlay2", containerd_store=False)
CONTAINERD = buildkit.EngineInfo("26.1.5+dfsg1", "overlayfs", containerd_store=True)


def test_platforms_are_refused_where_the_engine_cannot_with_what_to_change() -> None:
    s = _settings(platforms=("linux/amd64", "linux/arm64"))
    old = buildkit.Cli(Path("/usr/bin/docker"), "20.10.24", buildx=False)
    new = buildkit.Cli(Path("/usr/local/bin/docker"), "26.1.5", buildx=True, buildx_version="0.13.1")
    with pytest.raises(PipeError, match=r"^PLATFORMS needs docker buildx and an engine with the "
                                        r"containerd image store \(Docker 20.10.24\+dfsg1, overlay2 "
                                        r"store\): in bitbucket-pipelines.yml .*runtime 3.*docker:dind"
                                        r".*memory.*remove PLATFORMS"):
        pipe.choose_builder(s, _probe(buildkit.Probe(old, "", OVERLAY2)))
    with pytest.raises(PipeError, match=r"^PLATFORMS needs an engine with the containerd image "
                                        r"store \(Docker 20.10.24\+dfsg1, overlay2 store\)"):
        pipe.choose_builder(s, _probe(buildkit.Probe(new, "", OVERLAY2)))
    with pytest.raises(PipeError, match=r"^PLATFORMS needs docker buildx: "):
        pipe.choose_builder(s, _probe(buildkit.Probe(old, "", CONTAINERD)))
    with pytest.raises(PipeError, match=r"^PLATFORMS needs BuildKit but BUILDER is classic"):
        pipe.choose_builder(dataclasses.replace(s, builder="classic"), _probe(buildkit.Probe(new, "")))
    assert s.needs_buildkit == "PLATFORMS"


def test_the_strategy_follows_the_engine(capsys: pytest.CaptureFixture[str]) -> None:
    """Pull the cache sources first where the engine drops cache records (20.10, or 26 on
    overlay2), the buildx registry cache on the containerd store; PLATFORMS only there."""
    new = buildkit.Cli(Path("/usr/local/bin/docker"), "26.1.5", buildx=True, buildx_version="0.13.1")
    s = _settings(platforms=("linux/amd64", "linux/arm64"))
    cli, plan = pipe.choose_builder(s, _probe(buildkit.Probe(new, "", CONTAINERD)))
    assert cli == new and plan.registry_cache and not plan.pull_cache
    assert plan.line() == ("Build strategy: BuildKit through buildx, registry cache per branch "
                           "(Docker 26.1.5+dfsg1, containerd image store, buildx 0.13.1: every "
                           "cache record is kept and exported).")
    _, plan = pipe.choose_builder(_settings(), _probe(buildkit.Probe(new, "", OVERLAY2)))
    assert plan.pull_cache and not plan.registry_cache
    assert "inline cache, cache sources pulled first" in plan.line()
    with pytest.raises(PipeError, match=r"^CACHE_TO needs an engine with the containerd image store"):
        pipe.choose_builder(_settings(cache_to="r/x:c"), _probe(buildkit.Probe(new, "", OVERLAY2)))


def test_registry_cache_per_branch_falls_back_to_main() -> None:
    plan = strategy.choose(buildkit.Cli(Path("/usr/bin/docker"), "26.1.5", True, "0.13.1"), CONTAINERD)
    s = _settings(tag_plan=tags.TagPlan(["sha-0123456", "feature-x"], "sha-0123456", "feature-x"))
    assert pipe.cache_refs(s) == ["buildcache-feature-x", "buildcache-main", "buildcache-master"]
    assert pipe.cache_export(s, plan) == "type=registry,ref=r.example/acme/web:buildcache-feature-x,mode=min"
    assert pipe.cache_export(dataclasses.replace(s, cache_to="type=local,dest=/c"), plan) == "type=local,dest=/c"
    classic = strategy.choose(None, buildkit.EngineInfo())
    assert pipe.cache_export(s, classic) is None


DIGEST = "sha256:" + "d" * 64
# a docker CLI whose buildx push fails as a registry does under load, N times, then succeeds
FLAKY_PUSH = """#!/bin/sh
count=$(cat "$(dirname "$0")/count" 2>/dev/null || echo 0)
echo $((count + 1)) > "$(dirname "$0")/count"
cat >&2 <<OUT
#1 [1/1] COPY app.py /app.py
#1 DONE 0.1s
#2 exporting to image
OUT
if [ "$count" -lt FAILS ]; then
  echo "#2 ERROR: unexpected status from HEAD request to http://r/v2/a/web/manifests/x: ANSWER" >&2
  echo "ERROR: failed to solve: unexpected status: ANSWER" >&2
  exit 1
fi
echo "#2 pushing manifest for r/a/web:x@DIGEST 0.1s done" >&2
echo "#2 DONE 0.3s" >&2
CACHE
while [ $# -gt 0 ]; do
  if [ "$1" = --metadata-file ]; then echo '{"containerimage.digest": "DIGEST"}' > "$2"; fi
  shift
done
"""
CACHE_FAILS = """echo "#3 exporting cache to registry" >&2
echo "#3 ERROR: failed to push r/a/web:buildcache-main: 503 Service Unavailable" >&2
exit 1"""


def _flaky_cli(tmp_path: Path, fails: int, answer: str = "503 Service Unavailable",
               cache: str = "") -> buildkit.Cli:
    path = tmp_path / "docker"
    path.write_text(FLAKY_PUSH.replace("FAILS", str(fails)).replace("ANSWER", answer)
                    .replace("DIGEST", DIGEST).replace("CACHE", cache))
    path.chmod(0o755)
    return buildkit.Cli(path, "26.1.5", buildx=True, buildx_version="0.13.1")


def _push_request(tmp_path: Path) -> BuildRequest:
    return BuildRequest(context=tmp_path, dockerfile=tmp_path / "Dockerfile", tag="r/a/web:x",
                        push_tags=["r/a/web:x"], cache_to="type=registry,ref=r/a/web:c,mode=max")


@pytest.mark.parametrize("answer", ["503 Service Unavailable", "429 Too Many Requests",
                                    "write: connection reset by peer"])
def test_a_registry_failing_for_a_moment_gets_the_push_again(tmp_path: Path, answer: str) -> None:
    waits: list[float] = []
    cli = _flaky_cli(tmp_path, fails=2, answer=answer)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    assert buildkit.build(cli, _push_request(tmp_path), env, sleep=waits.append) == DIGEST
    assert waits == [2.0, 4.0] and (tmp_path / "count").read_text().strip() == "3"


def test_the_retries_end_with_one_line(tmp_path: Path) -> None:
    waits: list[float] = []
    cli = _flaky_cli(tmp_path, fails=9)
    with pytest.raises(PipeError, match="503 Service Unavailable"):
        buildkit.build(cli, _push_request(tmp_path), {"PATH": "/usr/bin:/bin"}, sleep=waits.append)
    assert waits == list(buildkit.RETRY_WAITS)


def test_a_failing_dockerfile_step_is_not_retried(tmp_path: Path) -> None:
    path = tmp_path / "docker"
    path.write_text('#!/bin/sh\necho "#1 [2/2] RUN exit 3" >&2\n'
                    'echo "#1 ERROR: process did not complete successfully: exit code: 503" >&2\nexit 1\n')
    path.chmod(0o755)
    waits: list[float] = []
    with pytest.raises(PipeError, match=r"^Build failed at \[2/2\] RUN exit 3"):
        buildkit.build(buildkit.Cli(path, "26.1.5", True), _push_request(tmp_path),
                       {"PATH": "/usr/bin:/bin"}, sleep=waits.append)
    assert waits == []


def test_a_cache_export_failing_after_the_push_is_a_success_with_a_warning(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    waits: list[float] = []
    cli = _flaky_cli(tmp_path, fails=0, cache=CACHE_FAILS)
    assert buildkit.build(cli, _push_request(tmp_path), {"PATH": "/usr/bin:/bin"},
                          sleep=waits.append) == DIGEST
    assert waits == []
    warnings = _lines(capsys, "WARNING")
    assert len(warnings) == 1 and warnings[0].startswith("The cache export failed after the image "
                                                         "was pushed")


# Docker 26.1.5, containerd image store, a registry cache hit (recorded on the test bed): the step
# is shown as its layer fetched and extracted, never as CACHED
PLAIN_CONTAINERD_HIT = """#4 [1/4] FROM docker.io/do-pipes-testbed/base:0979a7343c380686@sha256:ea99
#4 DONE 0.0s
#8 [2/4] RUN sleep 3 && echo one > /one
#8 sha256:3cd955775db4092d89a024c5c47db682eb9dcbd8aa20b1a9e718c98caa9b7465 104B / 104B done
#8 extracting sha256:3cd955775db4092d89a024c5c47db682eb9dcbd8aa20b1a9e718c98caa9b7465 done
#8 DONE 0.0s
#9 [3/4] COPY f /f
#9 DONE 0.1s
#10 [4/4] RUN echo two > /two
#10 0.105 two
#10 DONE 0.2s
"""


def test_a_step_fetched_from_the_registry_cache_counts_as_cached(
        capsys: pytest.CaptureFixture[str]) -> None:
    progress = _feed(PLAIN_CONTAINERD_HIT)
    assert _lines(capsys, "INFO") == [
        "[1/4] FROM docker.io/do-pipes-testbed/base:0979a7343c380686@sha256:ea99 (0.0s)",
        "[2/4] RUN sleep 3 && echo one > /one (cached: layer fetched from the cache)",
        "[3/4] COPY f /f (0.1s)", "[4/4] RUN echo two > /two (0.2s)"]
    assert progress.reuse() == "Cache: 1 of 3 Dockerfile steps reused."


def test_sbom_and_provenance_reach_buildx(tmp_path: Path) -> None:
    cli = buildkit.Cli(Path("/usr/bin/docker"), "26.1.5", buildx=True, buildx_version="0.13.1")
    req = BuildRequest(context=tmp_path, dockerfile=tmp_path / "Dockerfile", tag="r/i:main",
                       push_tags=["r/i:main"], provenance="max", sbom="r/scanner:1")
    with buildkit.private_folder() as folder:
        args = buildkit.command(cli, req, folder)
    assert args[args.index("--provenance") + 1] == "mode=max"
    assert args[args.index("--attest") + 1] == "type=sbom,generator=r/scanner:1"
    off = dataclasses.replace(req, provenance="off", sbom="")
    with buildkit.private_folder() as folder:
        args = buildkit.command(cli, off, folder)
    assert args[args.index("--provenance") + 1] == "false"
    assert args[args.index("--attest") + 1] == "type=sbom"


def test_debug_build_line_masks_build_arg_values(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """DEBUG printed ``--build-arg K=V`` unmasked (issue 20): the settings register every
    BUILD_ARGS value; the commit, a public value, stays shown."""
    canary, commit = "cnry0build0arg0secret", "0123456789abcdef0123456789abcdef01234567"
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    env = {"DIGITALOCEAN_ACCESS_TOKEN": "t0ken-unit", "REGISTRY_NAME": "acme", "IMAGE": "web",
           "BUILD_ARGS_COUNT": "2", "BUILD_ARGS_0": f"NPM_TOKEN={canary}",
           "BUILD_ARGS_1": f"COMMIT={commit}"}
    ctx = StepContext.from_env({"BITBUCKET_CLONE_DIR": str(tmp_path), "BITBUCKET_COMMIT": commit})
    cli_path = tmp_path / "docker"
    cli_path.write_text('#!/bin/sh\nwhile [ $# -gt 0 ]; do\n  if [ "$1" = --iidfile ]; then '
                        'echo sha256:built > "$2"; fi\n  shift\ndone\n')
    cli_path.chmod(0o755)
    log.enable_debug()
    try:
        s = Settings.from_values(VARIABLES.load(env), ctx, env)
        req = BuildRequest(context=tmp_path, dockerfile=tmp_path / "Dockerfile", tag="r/a/web:x",
                           build_args=dict(s.build_args))
        buildkit.build(buildkit.Cli(cli_path, "20.10.24", buildx=False), req, {"PATH": "/usr/bin:/bin"})
    finally:
        log.get_logger().setLevel(logging.INFO)
        secrets.clear()
    out = capsys.readouterr().out
    assert "--build-arg" in out and f"COMMIT={commit}" in out
    leaks.assert_absent(canary, text=out)


DUMP_ENV = """#!/bin/sh
env > "{out}.$$"
if [ "$1" = version ]; then echo '20.10.24|linux|1.41'; exit 0; fi
while [ $# -gt 0 ]; do
  if [ "$1" = --iidfile ]; then echo sha256:built > "$2"; fi
  shift
done
"""


def test_docker_cli_child_never_sees_the_token_or_a_pipe_variable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The docker CLI was given the pipe's whole environment (issue 20): the DigitalOcean token,
    every pipe variable, the variables SECRETS names.  Now an allow-list: a fake ``docker`` first
    on PATH dumps what it gets, for the probe and for the build, through the engine's real path."""
    from build_push.engine import DockerEngine

    canary = "cnry0docker0env"
    fake = tmp_path / "bin" / "docker"
    fake.parent.mkdir()
    fake.write_text(DUMP_ENV.format(out=tmp_path / "env"))
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:/usr/bin:/bin")
    for name in ("DIGITALOCEAN_ACCESS_TOKEN", "REGISTRY_USERNAME", "BUILD_ARGS_0", "SECRETS_0",
                 "NPM_TOKEN", "SSH_KEY", "BITBUCKET_ACCESS_TOKEN", "AWS_SECRET_ACCESS_KEY",
                 "IMAGE", "REGISTRY_NAME"):
        monkeypatch.setenv(name, f"{canary}-{name}")
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.2:2375")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    found = buildkit.probe(os.environ, (fake,))
    assert found.cli is not None
    req = BuildRequest(context=tmp_path, dockerfile=tmp_path / "Dockerfile", tag="r/a/web:x",
                       secrets={"npmrc": "file-not-env"}, registry_auth={"r": ("u", "p4ss")})
    assert DockerEngine(None).build(req, found.cli) == "sha256:built"
    dumps = sorted(tmp_path.glob("env.*"))
    assert len(dumps) >= 2
    allowed = {*proc.BASE_ENV, *buildkit.DOCKER_ENV, "DOCKER_BUILDKIT", "BUILDKIT_PROGRESS",
               "PWD", "SHLVL", "_"}  # (the last three: the shell running the fake sets them)
    for dump in dumps:
        env = dict(line.split("=", 1) for line in dump.read_text().splitlines() if "=" in line)
        assert canary not in dump.read_text(), dump.read_text()
        assert set(env) <= allowed, set(env) - allowed
        assert env["DOCKER_HOST"] == "tcp://127.0.0.2:2375"
        assert env["HTTPS_PROXY"] == "http://proxy.internal:3128"
