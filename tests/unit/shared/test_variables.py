from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from bitbucket_pipes_toolkit import ArrayVariable
from pipes_common import secrets, validate, variables
from pipes_common.errors import PipeError

SCHEMA = variables.Variables((
    variables.Var("TOKEN", "", required=True, secret=True, hint="pass TOKEN: $TOKEN"),
    variables.Var("TAG", "", default="latest"),
    variables.Var("VERSION", ""),
    variables.Var("MODE", "", choices=("plan", "apply"), default="apply"),
    variables.Var("PUSH", "", type="boolean", default=True),
    variables.Var("COUNT", "", type="integer", default=3),
    variables.Var("TAGS", "", type="list"),
    variables.Var("NAME", "", rule=validate.Pattern(regex=r"[a-z]+", what="is not lowercase"),
                  hint="lowercase letters only"),
))


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    secrets.clear()
    yield
    secrets.clear()


def test_defaults_types_and_versions_kept_as_strings() -> None:
    values = SCHEMA.load({"TOKEN": "t0ken-xyz", "VERSION": "1.10", "PUSH": "false", "COUNT": "7"})
    assert values["VERSION"] == "1.10"
    assert values["PUSH"] is False and values["COUNT"] == 7
    assert values["TAG"] == "latest" and values["MODE"] == "apply" and values["TAGS"] is None


def test_secret_is_registered() -> None:
    SCHEMA.load({"TOKEN": "t0ken-xyz"})
    assert secrets.mask("t0ken-xyz") == secrets.MASK


def test_list_forms() -> None:
    env = {"TOKEN": "t0ken-xyz", "TAGS_COUNT": "2", "TAGS_0": "a", "TAGS_1": "1.10"}
    assert SCHEMA.load(env)["TAGS"] == ["a", "1.10"]
    assert SCHEMA.load({"TOKEN": "t0ken-xyz", "TAGS": "[x, y]"})["TAGS"] == ["x", "y"]
    assert SCHEMA.load({"TOKEN": "t0ken-xyz", "TAGS": "x\ny\n"})["TAGS"] == ["x", "y"]


@pytest.mark.parametrize("env", [
    {},
    {"TAGS_COUNT": "0"},
    {"TAGS_COUNT": "3", "TAGS_0": "a", "TAGS_1": "", "TAGS_2": "  b c "},
    {"TAGS_COUNT": "2", "TAGS_0": "a"},  # one missing: None, as the toolkit has it
    {"TAGS_COUNT": "1", "TAGS_0": "x", "TAGS_1": "beyond the count", "TAGS": "ignored"},
    {"TAGS_COUNT": "02", "TAGS_0": "x", "TAGS_1": "y", "TAGS_00": "not an item"},
])
def test_list_items_are_read_as_the_toolkit_reads_them(env: dict[str, str]) -> None:
    """The pipes read NAME_COUNT lists without the toolkit (their images do not ship it): the
    same items, None included, as its ArrayVariable."""
    assert variables.array_items("TAGS", env) == list(ArrayVariable("TAGS", dict(env)))


@pytest.mark.parametrize(("env", "expected"), [
    ({}, "TOKEN is required: pass TOKEN: $TOKEN"),
    ({"TOKEN": ""}, "TOKEN is empty"),
    ({"TOKEN": "  "}, "TOKEN starts or ends with a space"),
    ({"TOKEN": "t0ken-xyz", "MODE": "yolo"}, "MODE must be one of: plan, apply"),
    ({"TOKEN": "t0ken-xyz", "PUSH": "maybe"}, "PUSH must be true or false"),
    ({"TOKEN": "t0ken-xyz", "TAGS_COUNT": "2", "TAGS_0": "a"}, "TAGS_COUNT is 2 but TAGS_1 is not set"),
    ({"TOKEN": "t0ken-xyz", "TAGS_COUNT": "x"}, "TAGS_COUNT must be a whole number"),
])
def test_errors_name_the_variable_and_the_fix(env: dict[str, str], expected: str) -> None:
    with pytest.raises(PipeError) as err:
        SCHEMA.load(env)
    assert expected in err.value.message
    assert "\n" not in err.value.message


def test_errors_never_echo_values() -> None:
    with pytest.raises(PipeError) as err:
        SCHEMA.load({"TOKEN": "t0ken-xyz", "MODE": "s3cr3t-value"})
    assert "s3cr3t-value" not in err.value.message


def test_several_errors_in_one_line() -> None:
    with pytest.raises(PipeError) as err:
        SCHEMA.load({"MODE": "x"})
    assert "TOKEN is required" in err.value.message and "MODE must be one of" in err.value.message


@pytest.mark.parametrize(("raw", "expected"), [
    ("yes", True), ("Off", False), ("7", 7), ("1.10", 1.1), ("latest", "latest"),
    ("null", None), ("{a", "{a"), ("*alias", "*alias"), ("a: b", {"a": "b"}),
])
def test_a_typed_value_is_read_as_yaml_and_invalid_yaml_stays_text(raw: str, expected: object) -> None:
    got = variables.yaml_scalar(raw)
    assert got == expected and type(got) is type(expected)


def test_a_grammar_is_checked_after_the_types(tmp_path: Path) -> None:
    values = SCHEMA.load({"TOKEN": "t0ken-xyz", "NAME": "Bad1"})
    with pytest.raises(PipeError) as err:
        SCHEMA.check(values, tmp_path)
    assert err.value.message == "NAME 'Bad1' is not lowercase: lowercase letters only"
