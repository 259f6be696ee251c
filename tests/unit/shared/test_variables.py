from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
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
    """The pipes read NAME_COUNT lists without importing the toolkit (start-up time): the same
    items, None included, as its ArrayVariable."""
    from bitbucket_pipes_toolkit import ArrayVariable

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


# values a user may write for a boolean or integer variable, plus the YAML 1.1 corner cases the
# fast path must hand over to PyYAML unchanged (null, floats, octal, hex, sexagesimal, dates, tags)
YAML_SAMPLES = [
    "true", "True", "TRUE", "false", "False", "FALSE", "yes", "Yes", "YES", "no", "No", "NO",
    "on", "On", "ON", "off", "Off", "OFF", "y", "Y", "n", "N", "tRue", "nO", "oN", "trUE",
    "0", "7", "-3", "+12", "-0", "012", "0x1F", "0b101", "1_000", "1:20", "1.10", "1e3", ".5",
    "null", "Null", "NULL", "~", "nan", ".nan", "inf", ".inf", "-.inf", "2026-11-26",
    "latest", "main", "v1.2.3", "my-app/web", "a_b", "_x", "x.y", "x-", "!!str 5", "[a, b]",
    "{a: 1}", "a: b", "a #c", "'quoted'", "\"dq\"", "*alias", "&anchor x", "%x", "@x", "`x`",
    "- item", "? k", "a\nb", " padded ", "é", "3 apples", "<<",
]


@pytest.mark.parametrize("raw", YAML_SAMPLES)
def test_scalar_fast_path_agrees_with_pyyaml(raw: str) -> None:
    import yaml

    try:
        expected = yaml.safe_load(raw)
    except yaml.YAMLError:
        expected = raw
    got = variables.yaml_scalar(raw)
    assert repr(got) == repr(expected) and type(got) is type(expected)


def test_scalar_fast_path_agrees_with_pyyaml_on_generated_words() -> None:
    import random

    import yaml

    rng = random.Random(1234)
    alphabet = "aeyntrufosl01_-./ATRUEON"
    for _ in range(3000):
        raw = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 6)))
        try:
            expected = yaml.safe_load(raw)
        except yaml.YAMLError:
            expected = raw
        got = variables.yaml_scalar(raw)
        assert repr(got) == repr(expected) and type(got) is type(expected), raw


def test_a_grammar_is_checked_after_the_types(tmp_path: Path) -> None:
    values = SCHEMA.load({"TOKEN": "t0ken-xyz", "NAME": "Bad1"})
    with pytest.raises(PipeError) as err:
        SCHEMA.check(values, tmp_path)
    assert err.value.message == "NAME 'Bad1' is not lowercase: lowercase letters only"
