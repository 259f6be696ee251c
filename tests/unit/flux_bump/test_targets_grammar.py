"""IMAGE, TAG and DIGEST are checked by the shared image-reference grammar, whole values only."""
from __future__ import annotations

import pytest
from flux_bump import targets
from pipes_common.bitbucket import StepContext
from pipes_common.errors import PipeError

CTX = StepContext.from_env({"BITBUCKET_CLONE_DIR": "/build"})
SHA = "sha256:" + "b" * 64


def test_a_whole_reference_is_taken() -> None:
    t = targets.target_from(targets.Requested(image="registry.example.com/acme/web",
                                              tag="1.2.3", digest=SHA), CTX)
    assert (t.image, t.tag, t.digest) == ("registry.example.com/acme/web", "1.2.3", SHA)


@pytest.mark.parametrize(("values", "variable"), [
    ({"image": "acme/web", "tag": "1.2.3\n"}, "TAG"),
    ({"image": "acme/web\n", "tag": "1.2.3"}, "IMAGE"),
    ({"image": "acme/web", "tag": "1.2.3", "digest": SHA + "\n"}, "DIGEST"),
])
def test_a_trailing_newline_is_refused(values: dict[str, str], variable: str) -> None:
    with pytest.raises(PipeError) as info:
        targets.target_from(targets.Requested(**values), CTX)  # type: ignore[arg-type]
    assert info.value.message.startswith(variable)

