"""The last guard of an edit: the edited file is parsed again and must hold exactly the intended
change.  Each wrong edit here still parses (a wrong edit that does not parse is caught earlier, by
the parser), so only the comparison of every value can refuse it."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from flux_bump import engine, yamldoc
from flux_bump.references import Target
from yaml.nodes import ScalarNode

Render = Callable[[str, ScalarNode, str, bool], tuple[int, int, str]]


def _renderer(wrong: Callable[[str, int, int, str], tuple[int, int, str]]) -> Render:
    original = yamldoc.render_scalar

    def render(text: str, node: ScalarNode, new: str, flow: bool) -> tuple[int, int, str]:
        start, end, rendered = original(text, node, new, flow)
        return wrong(text, start, end, rendered)

    return render


WRONG_EDITS = {
    # another value than the intended one
    "wrong value": ("image: reg.io/web:1\n", lambda t, s, e, r: (s, e, "reg.io/web:3")),
    # the intended value, but the key before it renamed too
    "key renamed": ("a: 1\nimage: reg.io/web:1\n", lambda t, s, e, r: (s - 7, e, "other: " + r)),
    # the intended characters, but no longer a string (quotes dropped: 1.10 reads as a float)
    "type changed": ('images:\n- name: reg.io/web\n  newTag: "1.0"\n',
                     lambda t, s, e, r: (s, e, r.strip("'\""))),
    # the intended value, and a value elsewhere in the file changed as well
    "neighbour changed": ("replicas: 1\nimage: reg.io/web:1\n",
                          lambda t, s, e, r: (0, e, "replicas: 2\nimage: " + r)),
}


@pytest.mark.parametrize("case", sorted(WRONG_EDITS))
def test_a_wrong_edit_that_parses_is_refused(case: str, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    text, wrong = WRONG_EDITS[case]
    name = "kustomization.yaml" if text.startswith("images:") else "x.yaml"
    (tmp_path / name).write_text(text)
    monkeypatch.setattr(yamldoc, "render_scalar", _renderer(wrong))
    with pytest.raises(engine.BumpError, match=rf"{name}: parsing the edited file did not give "
                                               r"exactly the intended change"):
        engine.scan(tmp_path, Target("reg.io/web", "1.10"))
    assert (tmp_path / name).read_text() == text


def test_the_right_edit_passes(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text('images:\n- name: reg.io/web\n  newTag: "1.0"\n')
    result = engine.scan(tmp_path, Target("reg.io/web", "1.10"))
    assert [c.after for c in result.changes] == ['images:\n- name: reg.io/web\n  newTag: "1.10"\n']
