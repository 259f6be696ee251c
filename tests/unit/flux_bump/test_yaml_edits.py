"""Byte-exact scalar edits, insertions and the verification after editing."""
from __future__ import annotations

from pathlib import Path

import pytest
from flux_bump import engine, markers, yamldoc
from flux_bump.deliver import pr_branch
from flux_bump.references import Target
from pipes_common import imageref
from yaml.nodes import ScalarNode


def bump(tmp_path: Path, name: str, text: str, target: Target) -> tuple[str, engine.Result]:
    (tmp_path / name).write_bytes(text.encode())
    result = engine.scan(tmp_path, target)
    engine.write(tmp_path, result)
    return (tmp_path / name).read_bytes().decode(), result


@pytest.mark.parametrize(("comment", "setter"), [
    ('# {"$imagepolicy": "flux-system:web"}', "flux-system:web"),
    ('#{"$imagepolicy":"flux-system:web:tag"}', "flux-system:web:tag"),
    ('### {"$imagepolicy": "ns:p:name"}  ', "ns:p:name"),
    ('# {"$imagepolicy": "ns:p:digest", "note": "x"}', "ns:p:digest"),
    ('# {"$imagepolicy": "ns:p"} trailing text', None),
    ('# {"$imagepolicy": ""}', None),
    ('# {"$imagepolicy": "ns:p", "n": 1}', None),
    ('# {"$imagepolicy": null}', None),
    ("# $imagepolicy: ns:p", None),
    ('# ["$imagepolicy", "ns:p"]', None),
    ('# {"imagepolicy": "ns:p"}', None),
])
def test_marker_grammar(comment: str, setter: str | None) -> None:
    assert markers.setter_name(comment) == setter


def test_marker_parts() -> None:
    m = markers.parse('# {"$imagepolicy": "ns:p:tag"}')
    assert m is not None and (m.policy, m.part) == ("ns:p", "tag")
    assert markers.parse('# {"$imagepolicy": "ns:p:foo"}') is None
    assert markers.parse('# {"$imagepolicy": "justone"}') is None


@pytest.mark.parametrize(("value", "ref"), [
    ("ghcr.io/acme/web:1.0", ("ghcr.io/acme/web", "1.0", None)),
    ("localhost:5000/web", ("localhost:5000/web", None, None)),
    ("localhost:5000/web:2@sha256:" + "a" * 64, ("localhost:5000/web", "2", "sha256:" + "a" * 64)),
    ("nginx", ("nginx", None, None)),
])
def test_image_refs(value: str, ref: tuple[str, str | None, str | None]) -> None:
    parsed = imageref.parse(value)
    assert parsed is not None and (parsed.name, parsed.tag, parsed.digest) == ref
    assert str(parsed) == value


@pytest.mark.parametrize("value", ["Upper/Case:1", "web:", "web:-x", "a b", "web@sha256:12"])
def test_not_image_refs(value: str) -> None:
    assert imageref.parse(value) is None


def test_float_looking_tag_is_quoted_to_stay_a_string(tmp_path: Path) -> None:
    text = "images:\n  - name: web\n    newTag: 1.9 # old\n"
    out, _ = bump(tmp_path, "kustomization.yaml", text, Target("web", "1.10"))
    assert out == 'images:\n  - name: web\n    newTag: "1.10" # old\n'


def test_insert_into_file_without_final_newline(tmp_path: Path) -> None:
    text = "images:\n- name: web\n  newName: reg.io/web"
    out, _ = bump(tmp_path, "kustomization.yaml", text, Target("reg.io/web", "3"))
    assert out == 'images:\n- name: web\n  newName: reg.io/web\n  newTag: "3"'


def test_anchor_and_tag_properties_kept(tmp_path: Path) -> None:
    text = "a:\n  image: &x !!str 'reg.io/web:1'\nb:\n  image: *x\n"
    out, result = bump(tmp_path, "x.yaml", text, Target("reg.io/web", "2"))
    assert out == "a:\n  image: &x !!str 'reg.io/web:2'\nb:\n  image: *x\n"
    assert len(result.found) == 1


def test_bom_and_document_markers(tmp_path: Path) -> None:
    text = "\ufeff%YAML 1.1\n---\nimage: reg.io/web:1\n...\n---\nimage: reg.io/web:1 # c\n...\n"
    out, _ = bump(tmp_path, "x.yaml", text, Target("reg.io/web", "2"))
    assert out == text.replace("reg.io/web:1", "reg.io/web:2")


def test_verification_refuses_a_wrong_edit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "x.yaml").write_text("a: 1\nimage: reg.io/web:1\n")
    original = yamldoc.render_scalar

    def broken(text: str, node: ScalarNode, new: str, flow: bool) -> tuple[int, int, str]:
        start, end, _ = original(text, node, new, flow)
        return start - 3, end, "reg.io/web:2"  # also eats part of the key

    monkeypatch.setattr(yamldoc, "render_scalar", broken)
    with pytest.raises(engine.BumpError, match=r"x\.yaml"):
        engine.scan(tmp_path, Target("reg.io/web", "2"))
    assert (tmp_path / "x.yaml").read_text() == "a: 1\nimage: reg.io/web:1\n"


def test_multiline_block_scalar_refused(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").write_text("image: |\n  reg.io/web:1\n  more\n")
    result = engine.scan(tmp_path, Target("reg.io/web", "2"))
    assert not result.found  # a two-line value is no image reference


@pytest.mark.parametrize(("pattern", "path", "hit"), [
    ("apps/**", "apps/a/b.yaml", True), ("apps/*.yaml", "apps/a/b.yaml", False),
    ("**/prod/*.yaml", "clusters/prod/x.yaml", True), ("apps", "apps/x.yml", True),
    ("./apps/", "apps/x.yml", True), ("apps", "apps2/x.yml", False),
    ("*.yaml", "x.yaml", True), ("*.yaml", "apps/x.yaml", False), ("apps/?.yaml", "apps/ab.yaml", False),
    ("apps/**", "apps/.hidden/x.yaml", True), (".", "apps/x.yaml", True),
    # a character class is a glob's, as the README promises (it was taken literally)
    ("apps/[ab].yaml", "apps/a.yaml", True), ("apps/[ab].yaml", "apps/b.yaml", True),
    ("apps/[ab].yaml", "apps/c.yaml", False), ("apps/[!a].yaml", "apps/b.yaml", True),
    ("clusters/[a-z]*/apps.yaml", "clusters/prod/apps.yaml", True),
    # a hidden folder named with its leading dot
    (".flux/apps", ".flux/apps/x.yaml", True),
])
def test_paths_globs(pattern: str, path: str, hit: bool) -> None:
    assert engine.selector([pattern])(path) is hit


def test_pr_branch_is_deterministic_and_valid() -> None:
    a = pr_branch("registry.digitalocean.com/acme/web", "1.2.3")
    assert a == pr_branch("registry.digitalocean.com/acme/web", "1.2.3")
    assert a != pr_branch("registry.digitalocean.com/acme/web", "1.2.4")
    assert a.startswith("flux-bump/web-1.2.3-") and ":" not in a and ".." not in a


def test_insert_after_nested_block_values(tmp_path: Path) -> None:
    text = ("spec:\n  values:\n    image:\n      repository: reg.io/web\n      extra:\n"
            "        - a\n        - b: |\n            text\n    # next\n    other: 1\n")
    out, _ = bump(tmp_path, "hr.yaml", "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\n"
                  + text, Target("reg.io/web", "2"))
    assert out.endswith("            text\n      tag: \"2\"\n    # next\n    other: 1\n")


def test_tag_marker_in_an_entry_naming_the_image(tmp_path: Path) -> None:
    """A ``:tag`` marker on a kustomize entry of the image: its policy tracks the image."""
    text = ("images:\n- name: reg.io/web\n  newTag: 1.0.0 # {\"$imagepolicy\": \"flux-system:web:tag\"}\n"
            "- name: reg.io/api\n  newTag: 1.0.0 # {\"$imagepolicy\": \"flux-system:api:tag\"}\n")
    out, result = bump(tmp_path, "kustomization.yaml", text, Target("reg.io/web", "2.0.0"))
    assert out == text.replace("newTag: 1.0.0 # {\"$imagepolicy\": \"flux-system:web:tag\"}",
                               "newTag: 2.0.0 # {\"$imagepolicy\": \"flux-system:web:tag\"}")
    assert result.policies == {"flux-system:web"}
    assert [f.field for _, f in result.found] == ["marker flux-system:web:tag"]
