"""pipes_common.validate: the rules one by one (the corpus in tests/unit/hostile runs them through
the pipes)."""
from __future__ import annotations

from pathlib import Path

import pytest
from pipes_common import log, validate, variables
from pipes_common.errors import PipeError
from pipes_common.validate import Context
from pipes_common.variables import Var, Variables


def declared(**rules: validate.Rule) -> Variables:
    """NAME (text), TOKEN (secret), ITEMS (list) and FLAG (boolean), with ``rules`` given."""
    return Variables((Var("NAME", "", rule=rules.get("NAME")), Var("TOKEN", "", secret=True),
                      Var("ITEMS", "", type="list", rule=rules.get("ITEMS")), Var("FLAG", "", type="boolean")))


PLAIN = declared()


def ctx(tmp_path: Path) -> Context:
    return Context(tmp_path)


@pytest.mark.parametrize(("value", "words"), [
    ("web\n", "ends with a line break"), ("web\r", "ends with a line break"),
    ("w\x1beb", "control character"), (" web", "space"), ("web ", "space"),
    ("we\udcffb", "not valid UTF-8"), ("a" * 257, "longer than 256 characters (257)"),
    ("we\u202eb", "control character"), ("we\u200bb", "invisible formatting"),
])
def test_raw_values_refused(value: str, words: str) -> None:
    with pytest.raises(PipeError) as err:
        PLAIN.load({"NAME": value})
    assert err.value.message.startswith("NAME ") and words in err.value.message


def test_a_secret_is_never_shown() -> None:
    with pytest.raises(PipeError) as err:
        PLAIN.load({"TOKEN": "s3cr3t-value\n"})
    assert "s3cr3t" not in err.value.message and err.value.message.startswith("TOKEN ends with")


def test_a_bad_value_is_shown_shortened_and_escaped() -> None:
    with pytest.raises(PipeError) as err:
        PLAIN.load({"NAME": "x" * 50 + "\n"})
    assert "'" + "x" * 40 + "…'" in err.value.message
    assert validate.shown("a\x1bb\udcff") == "'a\\x1bb\\xff'"


def test_multiline_values_keep_their_line_breaks() -> None:
    multiline = declared(NAME=validate.Text(max_len=100, multiline=True))
    multiline.load({"NAME": "line 1\n\tline 2\n"})
    with pytest.raises(PipeError, match="control character"):
        multiline.load({"NAME": "line\x07"})


def test_list_items_and_counts() -> None:
    two = declared(ITEMS=validate.Text(max_items=2))
    with pytest.raises(PipeError, match=r"^ITEMS_COUNT is 3: at most 2 items"):
        two.load({"ITEMS_COUNT": "3"})
    with pytest.raises(PipeError, match=r"^ITEMS_1 'b\\n' ends with a line break"):
        two.load({"ITEMS_COUNT": "2", "ITEMS_0": "a", "ITEMS_1": "b\n"})


def test_a_boolean_with_a_line_break_is_named() -> None:
    with pytest.raises(PipeError, match=r"^FLAG 'true\\n' ends with a line break"):
        PLAIN.load({"FLAG": "true\n"})


@pytest.mark.parametrize(("value", "ok"), [
    ("https://api.digitalocean.com", True), ("https://api.example.com:8443/base", True),
    ("http://127.0.0.1:9000", True), ("http://localhost:9000", True), ("http://[::1]:9", True),
    ("http://api.example.com", False), ("ftp://api.example.com", False), ("api.example.com", False),
    ("https://u:p@api.example.com", False), ("https://api.example.com/?q=1", False),
    ("https://api.example.com/a/../b", False), ("https://bad_host", False),
    ("https://api.example.com:99999", False),
    # issue 20: plain http only to loopback, no encoded dot segment, no port 0
    ("HTTP://evil.example.com", False), ("http://127.0.0.1.evil.example.com", False),
    ("http://2130706433:9000", False), ("http://[::ffff:127.0.0.2]:9", True),
    ("http://[::ffff:10.0.0.1]:9", False), ("https://api.example.com/%2e%2E/x", False),
    ("https://api.example.com/a/%2e/b", False), ("http://127.0.0.1:0", False),
    ("http://127.0.0.2:9000", True),
])
def test_urls(tmp_path: Path, value: str, ok: bool) -> None:
    assert (validate.Url().problem("U", value, ctx(tmp_path)) is None) == ok


def test_an_insecure_host_can_be_allowed(tmp_path: Path) -> None:
    rule = validate.Url(path=False, insecure_hosts=("host.docker.internal",))
    assert rule.problem("P", "http://host.docker.internal:29418", ctx(tmp_path)) is None
    assert rule.problem("P", "http://host.docker.internal:29418/x", ctx(tmp_path)) is not None


@pytest.mark.parametrize(("value", "ok"), [
    ("registry.digitalocean.com", True), ("127.0.0.1:5000", True), ("https://registry.example.com/", True),
    ("http://127.0.0.1:5000", True), ("[::1]:5000", True),
    ("http://registry.example.com", False), ("registry.example.com/path", False),
    ("u:p@registry.example.com", False), ("-x-.example.com", False), ("host:0", False),
])
def test_hosts(tmp_path: Path, value: str, ok: bool) -> None:
    assert (validate.Host().problem("H", value, ctx(tmp_path)) is None) == ok


def test_paths_stay_inside_the_build_directory(tmp_path: Path) -> None:
    (tmp_path / "infra").mkdir()
    (tmp_path / "out").symlink_to("/etc")
    rule = validate.InsideDir()
    c = Context(tmp_path, {"WORKING_DIR": "infra"})
    assert rule.problem("D", "Dockerfile", c) is None
    assert rule.problem("D", "infra/../Dockerfile", c) is None
    for bad in ("/etc/passwd", "../x", "out/passwd", "infra/../../x"):
        assert rule.problem("D", bad, c) is not None, bad
    relative = validate.InsideDir(base="WORKING_DIR")
    assert relative.problem("V", "prod.tfvars", c) is None
    assert relative.problem("V", "../prod.tfvars", c) is None  # still inside
    assert relative.problem("V", "../../prod.tfvars", c) is not None


@pytest.mark.parametrize(("value", "ok"), [
    ("web/prod/terraform.tfstate", True), ("a+b=c!*'()/x.tfstate", True),
    ("../other-bucket/x", False), ("/abs", False), ("a//b", False), ("a/./b", False),
    ("a/", False), ("a/..", False), ("a%2Fb", False), ("a b", False),
])
def test_object_keys(tmp_path: Path, value: str, ok: bool) -> None:
    assert (validate.ObjectKey().problem("K", value, ctx(tmp_path)) is None) == ok


@pytest.mark.parametrize(("value", "ok"), [
    ("https://bitbucket.org/acme/gitops.git", True), ("git@bitbucket.org:acme/gitops.git", True),
    ("ssh://git@bitbucket.org:22/acme/gitops.git", True), ("http://127.0.0.1:8080/acme/g.git", True),
    ("https://u:p@bitbucket.org/acme/gitops.git", False), ("https://u@bitbucket.org/acme/g.git", False),
    ("http://bitbucket.org/acme/gitops.git", False), ("file:///srv/g.git", False),
    ("ext::sh -c x", False), ("/srv/g.git", False), ("git@host:-oProxyCommand=x", False),
    ("https://bitbucket.org/", False), ("https://bitbucket.org/a/../b.git", False),
])
def test_git_urls(tmp_path: Path, value: str, ok: bool) -> None:
    assert (validate.GitUrl().problem("G", value, ctx(tmp_path)) is None) == ok


def test_credentials_in_a_git_url_blame_the_url_and_are_not_shown(tmp_path: Path) -> None:
    repo = Variables((Var("GITOPS_REPO", "", rule=validate.GitUrl(echo=False)),))
    with pytest.raises(PipeError) as err:
        repo.check({"GITOPS_REPO": "https://bot:pw1234@h.org/a/b.git"}, tmp_path)
    assert err.value.message.startswith("GITOPS_REPO holds credentials")
    assert "pw1234" not in err.value.message


def test_only_with(tmp_path: Path) -> None:
    ssh = Variables((Var("SSH", "", type="boolean"),
                     Var("SSH_KEY", "", only_if=(lambda v: bool(v.get("SSH")), "is only used with SSH: 'true'"))))
    ssh.check({"SSH_KEY": "k", "SSH": True}, tmp_path)
    ssh.check({"SSH": False}, tmp_path)
    with pytest.raises(PipeError, match=r"^SSH_KEY is only used with SSH: 'true'$"):
        ssh.check({"SSH_KEY": "k", "SSH": False}, tmp_path)


def test_the_fail_line_is_capped_and_printable(capsys: pytest.CaptureFixture[str]) -> None:
    log.fail_line("X " + "y" * 5000 + "\udcff")
    line = capsys.readouterr().out
    assert line.count("\n") == 1 and len(line) < log.MAX_FAIL_LINE + 20 and line.rstrip().endswith(
        "…\x1b[0m")
    log.fail_line("bad byte \udcff")
    assert "\\udcff" in capsys.readouterr().out


@pytest.mark.parametrize("count", ["²", "٣", "³", "1²", "-1", "1e3", "0x10"])
def test_count_of_unicode_digits_is_one_clear_line(count: str) -> None:
    """str.isdigit accepts '²' (int refuses it: a traceback) and '٣' (int reads it as 3)."""
    env = {"ITEMS_COUNT": count, "ITEMS_0": "a"}
    with pytest.raises(PipeError) as err:
        PLAIN.load(env)
    assert err.value.message.startswith("ITEMS_COUNT must be a whole number")
    with pytest.raises(PipeError) as err:
        variables.array_items("ITEMS", env)
    assert err.value.message.startswith("ITEMS_COUNT must be a whole number")
