"""registrylogin: which credentials a registry host gets, the login, and the one line a failure
of the DigitalOcean API or of a registry becomes in a pipe's wording."""
from __future__ import annotations

import ast
import dataclasses
import importlib
import string

import pytest
from pipes_common import registrylogin, secrets
from pipes_common.docr import DEFAULT_API_URL, DOCR_HOST, DOApiError, DockerCredentials
from pipes_common.registry import RegistryError
from testbed.pipes import PACKAGES, REPO_ROOT

WORDING = registrylogin.Wording(
    unreachable="no answer from {host}", rejected="{host} refused ({status})",
    denied="{host} denied {image}", failed="{host} failed: {err}",
    denied_write="{host} denied the write")


@pytest.mark.parametrize(("host", "api_url", "expected"), [
    (DOCR_HOST, DEFAULT_API_URL, True),
    ("registry.example.com", DEFAULT_API_URL, False),
    ("127.0.0.1:5000", "http://127.0.0.1:8080", True),  # another API: asked for any host
])
def test_the_api_buys_credentials_for_docr_or_for_any_host_of_another_api(
        host: str, api_url: str, expected: bool) -> None:
    assert registrylogin.through_api(host, api_url) is expected


@pytest.mark.parametrize("value", ["registry.example.com:5000", " https://registry.example.com:5000/",
                                   "http://registry.example.com:5000"])
def test_registry_host_tolerates_a_scheme_and_a_final_slash(value: str) -> None:
    assert registrylogin.registry_host(value) == "registry.example.com:5000"


def test_other_registries_take_the_username_or_else_the_token() -> None:
    assert registrylogin.basic(None, "tok") == registrylogin.Credentials("tok", "tok")
    assert registrylogin.basic("robot", "tok") == registrylogin.Credentials("robot", "tok")


class FakeApi:
    def __init__(self) -> None:
        self.asked: list[tuple[str, str, int, bool]] = []

    def docker_credentials(self, name: str, host: str, expiry_seconds: int,
                           read_write: bool = True) -> DockerCredentials:
        self.asked.append((name, host, expiry_seconds, read_write))
        return DockerCredentials("short", "short-lived-password-canary")


def test_short_lived_credentials_are_masked_and_asked_as_told() -> None:
    api = FakeApi()
    creds = registrylogin.short_lived(api, "acme", DOCR_HOST, 300, read_write=False)
    assert creds == registrylogin.Credentials("short", "short-lived-password-canary")
    assert api.asked == [("acme", DOCR_HOST, 300, False)]
    assert "short-lived-password-canary" not in secrets.mask("x short-lived-password-canary x")


class FakeRegistry:
    def __init__(self, host: str, username: str, password: str) -> None:
        self.args = (host, username, password)
        self.pinged = False

    def ping(self) -> None:
        self.pinged = True


@pytest.mark.parametrize("check", [True, False])
def test_login_connects_with_the_credentials_and_pings_when_asked(check: bool) -> None:
    client = registrylogin.login(FakeRegistry, "r.example", registrylogin.Credentials("u", "pw-canary-1"),
                                 check=check)
    assert client.args == ("r.example", "u", "pw-canary-1") and client.pinged is check
    assert "pw-canary-1" not in secrets.mask("pw-canary-1")


@pytest.mark.parametrize(("err", "line"), [
    (DOApiError("DigitalOcean API unreachable", None), "no answer from h"),
    (DOApiError("answered 401", 401), "h refused (401)"),
    (DOApiError("answered 403", 403), "h denied web"),
    (DOApiError("answered 500", 500), "h failed: answered 500"),
    (RegistryError("gone", "unreachable"), "no answer from h"),
    (RegistryError("bad creds", "auth", 401), "h refused (401)"),
    (RegistryError("no", "denied", 403), "h denied web"),
    (RegistryError("no", "denied", 403, write=True), "h denied the write"),
    (RegistryError("odd", "protocol", 400), "h failed: odd"),
])
def test_a_failure_is_the_pipes_line_for_how_it_failed(err: DOApiError | RegistryError,
                                                       line: str) -> None:
    assert str(registrylogin.failure(err, WORDING, host="h", image="web")) == line


def test_a_failure_without_a_line_of_the_pipe_is_the_errors_own_message() -> None:
    wording = registrylogin.Wording(unreachable=None, rejected="r", denied="d", failed=None)
    assert str(registrylogin.failure(DOApiError("API unreachable: DIGITALOCEAN_API_URL", None),
                                     wording)) == "API unreachable: DIGITALOCEAN_API_URL"
    assert str(registrylogin.failure(RegistryError("x", "denied", 403, write=True),
                                     wording)) == "d"


def test_a_value_from_a_server_is_not_read_as_a_template() -> None:
    err = RegistryError("answered {host} {0}", "protocol", 400)
    assert str(registrylogin.failure(err, WORDING, host="h")) == "h failed: answered {host} {0}"


def _calls() -> list[tuple[str, str, set[str]]]:
    """``(module, wording name, fields passed)`` of every ``registrylogin.failure`` call of the
    pipes."""
    found = []
    for pipe, package in PACKAGES.items():
        for path in sorted((REPO_ROOT / "pipes" / pipe / package).glob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                        and node.func.attr == "failure" and len(node.args) == 2
                        and isinstance(node.args[1], ast.Name)):
                    found.append((f"{package}.{path.stem}", node.args[1].id,
                                  {k.arg for k in node.keywords if k.arg}))
    return found


def test_every_line_of_a_pipes_wording_has_the_fields_its_call_gives() -> None:
    """A template naming a field its call does not pass would fail with a traceback, not a line."""
    calls = _calls()
    assert {wording for _, wording, _ in calls} >= {"API_WORDING", "PUSH_WORDING",
                                                    "REGISTRY_WORDING", "CHECK_WORDING"}
    for module, name, given in calls:
        wording = getattr(importlib.import_module(module), name)
        for template in dataclasses.astuple(wording):
            fields = {f for _, f, _, _ in string.Formatter().parse(template or "") if f}
            assert fields <= given | {"err", "status"}, (module, name, template)
