"""The image name's length (Docker's limit of 255 characters) counts REGISTRY_HOST as the pipe
uses it: without the scheme, as the registry login takes it (pipes_common.registrylogin)."""
from __future__ import annotations

import pytest
from build_push.schema import _name_length
from pipes_common import imageref


@pytest.mark.parametrize("host", ["127.0.0.1:5000", "http://127.0.0.1:5000", "https://127.0.0.1:5000/"])
def test_a_name_of_255_characters_on_a_host_given_with_a_scheme_is_accepted(host: str) -> None:
    image = "w" * (imageref.MAX_NAME - len("127.0.0.1:5000/acme/"))
    assert _name_length({"REGISTRY_HOST": host, "REGISTRY_NAME": "acme", "IMAGE": image}) is None
    longer = {"REGISTRY_HOST": host, "REGISTRY_NAME": "acme", "IMAGE": image + "w"}
    assert "more than 255" in (_name_length(longer) or "")
