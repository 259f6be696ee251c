from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from pipes_common import log, proc, secrets
from pipes_common.errors import PipeError
from testbed import leaks


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    secrets.clear()
    yield
    secrets.clear()


def test_runs_argument_lists_without_shell() -> None:
    result = proc.run(["echo", "a; rm -rf /", "$HOME"])
    assert result.stdout == "a; rm -rf / $HOME\n"


def test_refuses_a_string() -> None:
    with pytest.raises(TypeError):
        proc.run("echo hi")


def test_failure_raises_with_masked_stderr() -> None:
    secrets.register("s3cret-token-x")
    with pytest.raises(PipeError) as err:
        proc.run(["sh", "-c", "echo 'denied for s3cret-token-x' >&2; exit 4"])
    assert "s3cret-token-x" not in err.value.message
    assert "denied for ********" in err.value.message
    assert "exit code 4" in err.value.message


def test_custom_error_and_ok_codes() -> None:
    assert proc.run(["sh", "-c", "exit 2"], ok_codes=(0, 2)).returncode == 2
    with pytest.raises(PipeError, match=r"^terraform plan failed"):
        proc.run(["sh", "-c", "exit 1"], error="terraform plan failed")
    assert proc.run(["sh", "-c", "exit 1"], check=False).returncode == 1


def test_streaming_lines_and_stderr_capture() -> None:
    seen: list[str] = []
    result = proc.run(["sh", "-c", "echo one; echo two; echo err >&2"], on_line=seen.append)
    assert seen == ["one", "two"]
    assert result.stdout == "one\ntwo\n" and result.stderr == "err\n"


def test_missing_command() -> None:
    with pytest.raises(PipeError, match="Command not found: no-such-cmd-xyz"):
        proc.run(["no-such-cmd-xyz"])


def test_env_replaces_environment() -> None:
    out = proc.run(["sh", "-c", "echo ${FOO:-unset} ${HOME:-nohome}"], env={"FOO": "bar", "PATH": "/usr/bin:/bin"})
    assert out.stdout.strip() == "bar nohome"


def test_debug_argv_masks_values_that_may_be_secret(capsys: pytest.CaptureFixture[str]) -> None:
    """DEBUG printed the command line unmasked: a --build-arg K=V or -var=name=value value that
    may be a secret was shown (issue 20)."""
    canary = "cnry0build0arg0value"
    secrets.register_assigned(["NPM_TOKEN=" + canary, "-var=db_password=" + canary + "2"],
                              public=["c0ffee"])
    log.enable_debug()
    try:
        proc.run(["true", "--build-arg", f"NPM_TOKEN={canary}", f"-var=db_password={canary}2",
                  "--label", "rev=c0ffee"])
    finally:
        log.get_logger().setLevel(logging.INFO)
    out = capsys.readouterr().out
    assert "$ true --build-arg" in out and "rev=c0ffee" in out  # public values stay shown
    leaks.assert_absent(canary, text=out)


def test_register_assigned_takes_every_part_after_an_equals_sign() -> None:
    secrets.register_assigned(["-backend-config=password=hunter22", "ENV=production", "A=b"],
                              public=["production"])
    assert secrets.mask("hunter22 password=hunter22") == f"{secrets.MASK} {secrets.MASK}"
    assert secrets.mask("-backend-config=password=hunter22") == secrets.MASK  # as on argv
    assert secrets.mask("ENV=production") == "ENV=production"  # the step's own: never secret
    assert secrets.mask("b") == "b"  # too short to mask


def test_register_assigned_leaves_configuration_values_readable() -> None:
    """replicas=3, region=nyc3, debug=true: numbers, booleans and values under 8 characters are
    configuration, and masking them would hide every "3", "nyc3" or "true" in the log; the whole
    name=value is still masked."""
    secrets.register_assigned(["region=nyc3", "debug=true", "replicas=12345678", "db_password=s3cr3t-value"])
    assert secrets.mask("endpoint https://nyc3.digitaloceanspaces.com, debug true, 12345678") == \
        "endpoint https://nyc3.digitaloceanspaces.com, debug true, 12345678"
    assert secrets.mask("region=nyc3") == secrets.MASK
    assert secrets.mask("password s3cr3t-value") == f"password {secrets.MASK}"


def test_child_env_is_an_allow_list() -> None:
    source = {"PATH": "/bin", "HOME": "/root", "LANG": "C.UTF-8", "HTTPS_PROXY": "http://p:3128",
              "SSL_CERT_FILE": "/etc/ca.pem", "DIGITALOCEAN_ACCESS_TOKEN": "dop_v1_x",
              "BITBUCKET_ACCESS_TOKEN": "bb", "TF_VAR_password": "x", "TF_LOG": "debug",
              "DOCKER_HOST": "tcp://h:2375", "IMAGE": "web"}
    env = proc.child_env(source=source)
    assert env == {"PATH": "/bin", "HOME": "/root", "LANG": "C.UTF-8",
                   "HTTPS_PROXY": "http://p:3128", "SSL_CERT_FILE": "/etc/ca.pem"}
    env = proc.child_env({"AWS_ACCESS_KEY_ID": "k", "HOME": "/tmp/h"}, ["DOCKER_HOST", "TF_LOG*"],
                         source=source)
    assert env["DOCKER_HOST"] == "tcp://h:2375" and env["TF_LOG"] == "debug"
    assert env["AWS_ACCESS_KEY_ID"] == "k" and env["HOME"] == "/tmp/h"  # extra wins
    assert "TF_VAR_password" not in env and "DIGITALOCEAN_ACCESS_TOKEN" not in env
    assert proc.child_env(source={})["PATH"] == proc.DEFAULT_PATH


def test_child_env_reaches_the_child(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGITALOCEAN_ACCESS_TOKEN", "cnry0child0env")
    out = proc.run(["env"], env=proc.child_env({"EXTRA": "1"})).stdout
    assert "cnry0child0env" not in out and "EXTRA=1" in out
