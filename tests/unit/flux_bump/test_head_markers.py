"""Flux setter markers in a head comment (issue 14 §4): read as kyaml's ``FieldMeta.Read`` reads
them (line comment first, then the head comment go-yaml v3 gives the value node).

Each case below was checked against gopkg.in/yaml.v3 3.0.1 (Debian's golang-gopkg-yaml.v3-dev),
printing which node holds the comment as its HeadComment: a block sequence item and a mapping
value on the line after its key hold the comment line right above them; a comment above
``key: value`` belongs to the key (kyaml reads the value's, so Flux leaves that value alone);
two comment lines are read joined (not a marker); a blank line ends the head comment."""
from __future__ import annotations

from pathlib import Path

import pytest
from flux_bump import engine
from flux_bump.references import Target

M = '# {"$imagepolicy": "flux-system:web"}'
OLD, NEW = "ghcr.io/acme/web:1.0.0", "ghcr.io/acme/web:2.0.0"
TARGET = Target("ghcr.io/acme/web", "2.0.0", policies=("flux-system:web",))

UPDATED = [
    f"args:\n- x\n{M}\n- {OLD}\n",                         # a later sequence item
    f"args:\n{M}\n- {OLD}\n",                               # the first item, comment at the key's column
    f"args:\n  {M}\n  - {OLD}\n",                           # indented sequence
    f"args:\n- x\n    {M}\n- {OLD}\n",                      # any indentation
    f"image:\n  {M}\n  {OLD}\n",                            # a value on the line after its key
    f"args:\n- x\n# other\n\n{M}\n- {OLD}\n",               # the blank line ends the other comment
    f"args:\n- x\n{M}\n- {OLD} # not a marker\n",           # a line comment that is no marker
    f"args:\n- x\n{M}\n- \"{OLD}\"\n",                      # quoted: the quotes are kept
    f"args:\r\n- x\r\n{M}\r\n- {OLD}\r\n",                  # CRLF
    f"a:\n  images:\n    - x\n    {M}\n    - {OLD}\n  other: 1\n",
]
LEFT_ALONE = [
    f"spec:\n  {M}\n  image: {OLD}\n",                      # the key's head comment
    f"containers:\n{M}\n- image: {OLD}\n",                  # the mapping item's head comment
    f"args:\n- x\n# other\n{M}\n- {OLD}\n",                 # two comment lines
    f"args:\n- x\n{M}\n# other\n- {OLD}\n",
    f"args:\n- x\n{M}\n\n- {OLD}\n",                        # a blank line between
    f"image: {M}\n  {OLD}\n",                               # the key's line comment
    f"args: [x, {OLD}]\n",                                  # flow
]


@pytest.mark.parametrize("text", UPDATED)
def test_head_comment_marker_is_updated_byte_exact(tmp_path: Path, text: str) -> None:
    (tmp_path / "a.yaml").write_bytes(text.encode())
    result = engine.scan(tmp_path, TARGET)
    assert [c.after for c in result.changes] == [text.replace(OLD, NEW)]
    [(_, found)] = result.found
    assert found.kind == "marker" and found.old == OLD and found.new == NEW


@pytest.mark.parametrize("text", LEFT_ALONE)
def test_not_a_head_marker_as_kyaml_reads_it(tmp_path: Path, text: str) -> None:
    (tmp_path / "a.yaml").write_bytes(text.encode())
    result = engine.scan(tmp_path, TARGET)
    assert result.changes == [] and result.found == []


def test_line_comment_marker_wins_over_head(tmp_path: Path) -> None:
    text = f"args:\n- x\n{M}\n- {OLD} " + '# {"$imagepolicy": "flux-system:other:tag"}\n'
    (tmp_path / "a.yaml").write_bytes(text.encode())
    assert engine.scan(tmp_path, TARGET).changes == []


def test_head_tag_marker_in_a_helm_image_map(tmp_path: Path) -> None:
    """A ``:tag`` marker above a value on its own line, found without POLICY through its map."""
    text = ("spec:\n  values:\n    image:\n      repository: ghcr.io/acme/web\n      tag:\n"
            '        # {"$imagepolicy": "flux-system:web:tag"}\n        1.0.0\n')
    (tmp_path / "a.yaml").write_bytes(text.encode())
    result = engine.scan(tmp_path, Target("ghcr.io/acme/web", "2.0.0"))
    assert [c.after for c in result.changes] == [text.replace("        1.0.0", "        2.0.0")]
