"""The write-back forms of Argo CD Image Updater and plain Helm values files (issue 14 §4), byte
for byte: only the values change.  The inputs follow the documented shapes: Argo CD's
``.argocd-source-<app>.yaml`` parameter overrides (``kustomize.images``, ``helm.parameters`` with
``forcestring``) as Image Updater's git write-back writes them, and the ``image`` block of the
``values.yaml`` that ``helm create`` generates."""
from __future__ import annotations

from pathlib import Path

import pytest
from flux_bump import engine
from flux_bump.references import Target

IMAGE = "ghcr.io/acme/web"
DIGEST = "sha256:" + "ab" * 32
HELM_PARAMS = (
    "helm:\n"
    "  parameters:\n"
    "  - name: image.name\n"
    f"    value: {IMAGE}\n"
    "    forcestring: true\n"
    "  - name: image.tag\n"
    "    value: 1.0.0\n"
    "    forcestring: true\n"
)
VALUES = (
    "# Default values for web.\n"
    "replicaCount: 1\n\n"
    "image:\n"
    f"  repository: {IMAGE}\n"
    "  pullPolicy: IfNotPresent\n"
    "  # Overrides the image tag whose default is the chart appVersion.\n"
    '  tag: ""\n\n'
    "sidecar:\n"
    "  image:\n"
    "    repository: ghcr.io/acme/web-sidecar\n"
    "    tag: 1.0.0\n"
)

CASES = [
    # (file name, before, target, after)
    (".argocd-source-web.yaml", f"kustomize:\n  images:\n  - {IMAGE}:1.0.0\n",
     Target(IMAGE, "2.0.0"), f"kustomize:\n  images:\n  - {IMAGE}:2.0.0\n"),
    (".argocd-source-web.yaml", f"kustomize:\n  images:\n  - web={IMAGE}:1.0.0\n  - other:1\n",
     Target(IMAGE, "2.0.0"), f"kustomize:\n  images:\n  - web={IMAGE}:2.0.0\n  - other:1\n"),
    (".argocd-source.yaml", f"kustomize:\n  images:\n  - {IMAGE}@sha256:{'00' * 32}\n",
     Target(IMAGE, "2.0.0", DIGEST), f"kustomize:\n  images:\n  - {IMAGE}:2.0.0@{DIGEST}\n"),
    (".argocd-source-web.yaml", HELM_PARAMS, Target(IMAGE, "2.0.0"),
     HELM_PARAMS.replace("value: 1.0.0", "value: 2.0.0")),
    (".argocd-source-web.yaml", HELM_PARAMS, Target(IMAGE, "1.10"),  # stays a string
     HELM_PARAMS.replace("value: 1.0.0", 'value: "1.10"')),
    (".argocd-source-web.yaml",
     HELM_PARAMS + "  - name: image.digest\n    value: sha256:" + "00" * 32 + "\n",
     Target(IMAGE, "2.0.0", DIGEST),
     HELM_PARAMS.replace("value: 1.0.0", "value: 2.0.0")
     + f"  - name: image.digest\n    value: {DIGEST}\n"),
    (".argocd-source-web.yaml", f"helm:\n  parameters:\n  - name: web.image.spec\n    value: {IMAGE}:1\n",
     Target(IMAGE, "2"), f"helm:\n  parameters:\n  - name: web.image.spec\n    value: {IMAGE}:2\n"),
    ("values.yaml", VALUES, Target(IMAGE, "2.0.0"), VALUES.replace('tag: ""', 'tag: "2.0.0"')),
    ("values-prod.yaml", "image:\n  registry: ghcr.io\n  repository: acme/web\n  tag: 1.0.0\n",
     Target(IMAGE, "2.0.0", DIGEST, pin=True),
     f"image:\n  registry: ghcr.io\n  repository: acme/web\n  tag: 2.0.0\n  digest: {DIGEST}\n"),
]


@pytest.mark.parametrize(("name", "before", "target", "after"), CASES)
def test_write_back_form_byte_exact(tmp_path: Path, name: str, before: str, target: Target,
                                   after: str) -> None:
    (tmp_path / name).write_bytes(before.encode())
    result = engine.scan(tmp_path, target)
    assert [c.after for c in result.changes] == [after]


@pytest.mark.parametrize(("name", "text"), [
    # another image's parameters, and a name/tag pair of another prefix
    (".argocd-source-web.yaml", HELM_PARAMS.replace(f"value: {IMAGE}\n", "value: ghcr.io/x/y\n")),
    # not a write-back file: helm.parameters elsewhere are not read
    ("app.yaml", HELM_PARAMS),
    # a Kubernetes object is not a values file
    ("cm.yaml", f"apiVersion: v1\nkind: ConfigMap\ndata:\n  image:\n    repository: {IMAGE}\n"
                "    tag: 1.0.0\n"),
])
def test_not_a_write_back_reference(tmp_path: Path, name: str, text: str) -> None:
    (tmp_path / name).write_bytes(text.encode())
    assert engine.scan(tmp_path, Target(IMAGE, "2.0.0")).changes == []


KEYED = (
    "app:\n"
    "  image:\n"
    f"    repo: {IMAGE}  # the image\n"
    "    version: '1.0.0'\n"
    "    sha: sha256:" + "00" * 32 + "\n"
    "other:\n"
    "  image:\n"
    f"    repository: {IMAGE}\n"
    "    tag: 1.0.0\n"
)


def test_helm_keys_choose_the_paths(tmp_path: Path) -> None:
    (tmp_path / "values.yaml").write_bytes(KEYED.encode())
    target = Target(IMAGE, "2.0.0", DIGEST, helm_keys=("app.image.repo", "app.image.version",
                                                       "app.image.sha"))
    [change] = engine.scan(tmp_path, target).changes
    # only the configured paths: the default image map under other: is left alone
    assert change.after == KEYED.replace("'1.0.0'", "'2.0.0'").replace("00" * 32, "ab" * 32)


def test_helm_keys_of_another_image_change_nothing(tmp_path: Path) -> None:
    (tmp_path / "values.yaml").write_bytes(KEYED.encode())
    target = Target("ghcr.io/acme/api", "2.0.0", helm_keys=("app.image.repo", "app.image.version"))
    assert engine.scan(tmp_path, target).changes == []
