"""Every URL variable of every pipe has the URL rule (https, or http to loopback only), and the
hostile corpus holds for each one a plain-http URL to another host and an ftp:// URL (issue 20:
flux-bump's DIGITALOCEAN_API_URL had no rule, and took http://evil.example.com and ftp://x/y)."""
from __future__ import annotations

import importlib
import re
from typing import Any
from urllib.parse import urlsplit

import pytest
from pipes_common import validate
from testbed.pipes import PACKAGES

from .test_corpus import CASES

PIPES: dict[str, Any] = {pipe: importlib.import_module(f"{package}.schema") for pipe, package in PACKAGES.items()}
URL_NAME = re.compile(r".*(_URL|_ENDPOINT|_PROXY|_REPO)$")
URL_RULES = (validate.Url, validate.GitUrl)


def _url_variables() -> list[tuple[str, str]]:
    return [(pipe, var.name) for pipe, module in PIPES.items() for var in module.VARIABLES
            if URL_NAME.fullmatch(var.name) or isinstance(var.rule, URL_RULES)]


def test_the_url_variables_are_found() -> None:
    found = _url_variables()
    assert ("flux-bump", "DIGITALOCEAN_API_URL") in found
    assert len(found) >= 7


@pytest.mark.parametrize(("pipe", "name"), _url_variables())
def test_every_url_variable_has_the_url_rule(pipe: str, name: str) -> None:
    rule = PIPES[pipe].VARIABLES[name].rule
    assert isinstance(rule, URL_RULES), f"{pipe} {name} has no URL rule (validate.Url)"


def _cases(pipe: str, name: str, scheme: str) -> list[str]:
    found = []
    for case in CASES:
        value = str((case.get("set") or {}).get(name, ""))
        if case["pipe"] != pipe or case["blames"] != name or not value.startswith(f"{scheme}://"):
            continue
        host = urlsplit(value).hostname or ""
        if scheme == "http" and (host in ("localhost", "host.docker.internal")
                                 or host.startswith("127.") or "{" in value):
            continue
        found.append(case["id"])
    return found


@pytest.mark.parametrize(("pipe", "name"), _url_variables())
def test_every_url_variable_has_a_plain_http_and_an_ftp_case(pipe: str, name: str) -> None:
    assert _cases(pipe, name, "http"), f"no case of {pipe} {name} as http:// to another host"
    assert _cases(pipe, name, "ftp"), f"no case of {pipe} {name} as ftp://"
