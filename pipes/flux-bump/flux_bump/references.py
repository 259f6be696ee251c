"""The four kinds of image references and the edits that bump them.

1. Flux setter markers (see :mod:`markers`);
2. kustomize ``images:`` entries (a kustomize ``Kustomization``, or ``spec.images`` of a Flux one)
   whose ``name`` or ``newName`` is the image: ``newTag`` (and ``digest``);
3. HelmRelease ``spec.values`` ``image`` maps whose ``repository`` (or ``registry/repository``) is
   the image: ``tag`` (and ``digest``);
4. plain ``image: <image>:<tag>[@digest]`` scalars anywhere;
5. Argo CD Image Updater's write-back files ``.argocd-source[-<app>].yaml``: ``kustomize.images``
   entries (``[alias=]<image>[:tag][@digest]``) and ``helm.parameters`` pairs (``<p>.name`` or
   ``<p>.repository`` naming the image: ``<p>.tag``, ``<p>.digest``; a ``<p>.spec`` full reference);
6. plain Helm values files (a document without ``apiVersion`` and ``kind``): ``image`` maps whose
   ``repository`` (or ``registry/repository``) is the image, as in HelmRelease values.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from pipes_common import imageref
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from . import markers
from .yamldoc import Insert, Plan, Replace, head_comment, line_comment, mapping_get, scalar_str, walk

KUSTOMIZE_API = "kustomize.config.k8s.io/"
FLUX_KUSTOMIZE_API = "kustomize.toolkit.fluxcd.io/"
HELM_API = "helm.toolkit.fluxcd.io/"
KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
ARGOCD_SOURCE = re.compile(r"^\.argocd-source(?:-[^/]+)?\.ya?ml$")


@dataclass(frozen=True)
class Target:
    image: str
    tag: str
    digest: str | None = None
    pin: bool = False
    policies: tuple[str, ...] = ()
    # HELM_KEYS: dotted paths of the repository, the tag and optionally the digest in Helm values
    # (instead of ``image`` maps at any depth)
    helm_keys: tuple[str, ...] = ()

    def full(self, old: str | None = None) -> str:
        """``image:tag``, with ``@digest`` when pinning, or when ``old`` pinned one and it is known;
        the image spelled as ``old`` spells it (``docker.io/redis`` stays so)."""
        had_digest = old is not None and "@" in old
        with_digest = self.digest and (self.pin or had_digest)
        return f"{self.spelled(old)}:{self.tag}" + (f"@{self.digest}" if with_digest else "")

    def names(self, name: str | None) -> bool:
        """Whether ``name`` is this image in any spelling (``redis``, ``docker.io/library/redis``)."""
        return name is not None and imageref.same_image(name, self.image)

    def spelled(self, old: str | None) -> str:
        """The image name as ``old`` (a name or a reference) spells it, when it is this image."""
        ref = imageref.parse(old) if old else None
        return ref.name if ref is not None and self.names(ref.name) else self.image


@dataclass(frozen=True)
class Found:
    kind: str  # one of KINDS
    line: int  # 1-based
    field: str  # what was matched, e.g. 'marker flux-system:web:tag', 'newTag', 'image'
    old: str | None
    new: str

    @property
    def changed(self) -> bool:
        return self.old != self.new

    def describe(self, path: str) -> str:
        """One reference in the words of the log, FLUX_BUMP_CHANGES and the commit message:
        ``deploy/cache.yaml:18 image: docker.io/redis:7.2.4 -> docker.io/redis:7.4.1``."""
        state = (f"{self.old or '(none)'} -> {self.new}" if self.changed else
                 f"{self.old} (unchanged)")
        return f"{path}:{self.line} {self.field}: {state}"


@dataclass
class DocScan:
    """The markers of one document, collected before policies are resolved."""
    root: Node
    marked: list[tuple[ScalarNode, markers.Marker, bool]] = field(default_factory=list)
    # the image a ``:tag``/``:digest`` marker's mapping names (kustomize entry, Helm image map)
    context: dict[int, set[str]] = field(default_factory=dict)


def _names_in(mapping: Node) -> set[str]:
    """The image names a mapping spells: kustomize ``name``/``newName``, Helm ``repository``
    (alone or after ``registry``)."""
    found = {scalar_str(mapping_get(mapping, k)) for k in ("name", "newName", "repository", "image")}
    registry = scalar_str(mapping_get(mapping, "registry"))
    repository = scalar_str(mapping_get(mapping, "repository"))
    if registry and repository:
        found.add(f"{registry}/{repository}")
    return {n for n in found if n}


def _own_line_scalars(root: Node) -> set[int]:
    """The scalars that can carry a head comment of their own in go-yaml v3: block sequence
    items, and mapping values on a later line than their key (a comment above ``key: value``
    is the key's, which kyaml does not read)."""
    found: set[int] = set()
    for node, flow in walk(root):
        if flow:
            continue
        if isinstance(node, SequenceNode) and not node.flow_style:
            found |= {id(item) for item in node.value if isinstance(item, ScalarNode)}
        elif isinstance(node, MappingNode) and not node.flow_style:
            found |= {id(v) for k, v in node.value if isinstance(v, ScalarNode)
                      and v.start_mark.line > k.end_mark.line}
    return found


def collect_markers(text: str, root: Node) -> DocScan:
    """The marked scalars of one document.  As kyaml's ``FieldMeta.Read``: the line comment is
    read first, and when it is not a marker, the head comment (the line above)."""
    scan = DocScan(root)
    own_line = _own_line_scalars(root)
    for node, flow in walk(root):
        if isinstance(node, ScalarNode):
            comment = line_comment(text, node)
            marker = markers.parse(comment) if comment else None
            if marker is None and id(node) in own_line:
                head = head_comment(text, node)
                marker = markers.parse(head) if head else None
            if marker is not None:
                scan.marked.append((node, marker, flow))
        elif isinstance(node, MappingNode):
            for _, value in node.value:
                if isinstance(value, ScalarNode):
                    scan.context[id(value)] = _names_in(node)
    return scan


def policies_naming(scans: list[DocScan], image: str) -> set[str]:
    """The policies whose full or ``:name`` markers currently name ``image``, and those whose
    ``:tag``/``:digest`` markers sit in a kustomize entry or Helm image map naming it."""
    found: set[str] = set()
    for scan in scans:
        for node, marker, _ in scan.marked:
            value = str(node.value)
            if marker.part is None:
                ref = imageref.parse(value)
                if ref is not None and imageref.same_image(ref.name, image):
                    found.add(marker.policy)
            else:
                context = scan.context.get(id(node), set())
                if (marker.part == "name" and imageref.same_image(value, image)) or any(
                        imageref.same_image(name, image) for name in context):
                    found.add(marker.policy)
    return found


class _Planner:
    def __init__(self, target: Target, warnings: list[str], where: str) -> None:
        self.t = target
        self.plan = Plan()
        self.found: list[Found] = []
        self.warnings = warnings
        self.where = where
        self.claimed: set[int] = set()

    def set_scalar(self, node: ScalarNode, new: str, kind: str, what: str, flow: bool) -> None:
        if id(node) in self.claimed:
            return
        self.claimed.add(id(node))
        old = str(node.value)
        self.found.append(Found(kind, node.start_mark.line + 1, what, old, new))
        if old != new:
            self.plan.replaces.append(Replace(node, new, flow))

    def set_key(self, mapping: MappingNode, key: str, new: str, kind: str, flow: bool) -> None:
        node = mapping_get(mapping, key)
        if node is None:
            self.found.append(Found(kind, mapping.start_mark.line + 1, f"{key} (added)", None, new))
            self.plan.inserts.append(Insert(mapping, key, new))
        elif isinstance(node, ScalarNode):
            self.set_scalar(node, new, kind, key, flow)
        else:
            self.warnings.append(f"{self.where}:{node.start_mark.line + 1}: {key} is not a scalar; "
                                 "left alone")

    def digest_field(self, mapping: MappingNode, kind: str, flow: bool) -> None:
        existing = mapping_get(mapping, "digest")
        if isinstance(existing, ScalarNode) and not existing.value:  # Bitnami's digest: "": none
            if self.t.digest and self.t.pin:
                self.set_key(mapping, "digest", self.t.digest, kind, flow)
            return
        if self.t.digest and (self.t.pin or existing is not None):
            self.set_key(mapping, "digest", self.t.digest, kind, flow)
        elif existing is not None and id(existing) not in self.claimed:
            self.warnings.append(f"{self.where}:{existing.start_mark.line + 1}: a digest is pinned "
                                 "here and no DIGEST is known: it still wins over the new tag "
                                 "(set DIGEST to update it)")

    # -- 1. markers --------------------------------------------------------------------------
    def markers(self, scan: DocScan, policies: set[str]) -> None:
        for node, _, _ in scan.marked:
            self.claimed.add(id(node))  # a marked value is managed by its marker only
        for node, marker, flow in scan.marked:
            if marker.policy not in policies:
                continue
            what = f"marker {marker.setter}"
            new = {None: self.t.full(str(node.value)), "tag": self.t.tag,
                   "name": self.t.spelled(str(node.value)),
                   "digest": self.t.digest}[marker.part]
            if new is not None:
                self.claimed.discard(id(node))
                self.set_scalar(node, new, "marker", what, flow)
            else:
                self.warnings.append(f"{self.where}:{node.start_mark.line + 1}: {what} needs a "
                                     "digest; set DIGEST to update it")

    # -- 2. kustomize ------------------------------------------------------------------------
    def kustomize(self, root: Node, filename: str) -> None:
        api = scalar_str(mapping_get(root, "apiVersion")) or ""
        kind = scalar_str(mapping_get(root, "kind")) or ""
        images: Node | None = None
        if kind == "Kustomization" and api.startswith(FLUX_KUSTOMIZE_API):
            spec = mapping_get(root, "spec")
            images = mapping_get(spec, "images") if spec is not None else None
        elif (kind == "Kustomization" and api.startswith(KUSTOMIZE_API)) or (
                not api and not kind and filename in KUSTOMIZATION_FILES):
            images = mapping_get(root, "images")
        if not isinstance(images, SequenceNode):
            return
        for entry in images.value:
            if not isinstance(entry, MappingNode):
                continue
            names = {scalar_str(mapping_get(entry, "name")), scalar_str(mapping_get(entry, "newName"))}
            if not any(self.t.names(n) for n in names):
                continue
            flow = bool(entry.flow_style)
            self.set_key(entry, "newTag", self.t.tag, "kustomize", flow)
            self.digest_field(entry, "kustomize", flow)

    # -- 3. HelmRelease, and 6. plain Helm values files -------------------------------------
    def helmrelease(self, root: Node) -> None:
        api = scalar_str(mapping_get(root, "apiVersion")) or ""
        kind = scalar_str(mapping_get(root, "kind"))
        if kind is None and not api and isinstance(root, MappingNode):
            self.image_maps(root, "helmvalues")  # a values file: no Kubernetes object
            return
        if kind != "HelmRelease" or not api.startswith(HELM_API):
            return
        spec = mapping_get(root, "spec")
        values = mapping_get(spec, "values") if spec is not None else None
        if values is None:
            return
        self.image_maps(values, "helmrelease")

    def image_maps(self, values: Node, kind: str) -> None:
        """The chart value layouts: ``<x>.repository`` + ``<x>.tag`` (a ``tag`` is added to an
        ``image`` map without one), ``<x>.registry`` + ``<x>.repository`` + ``<x>.tag`` (Bitnami),
        ``<x>.image`` (a bare name) + ``<x>.tag``; with ``<x>.digest`` beside them."""
        if self.t.helm_keys:
            self.keyed_values(values, kind)
            return
        done: set[int] = set()
        for node, flow in walk(values):
            if not isinstance(node, MappingNode) or id(node) in done:
                continue
            image = mapping_get(node, "image")
            if isinstance(image, MappingNode) and self._names_repository(image):
                done.add(id(image))
                inner = flow or bool(image.flow_style)
                self.set_key(image, "tag", self.t.tag, kind, inner)
                self.digest_field(image, kind, inner)
            if not isinstance(mapping_get(node, "tag"), ScalarNode):
                continue
            bare = imageref.parse(scalar_str(image) or "") if isinstance(image, ScalarNode) else None
            if self._names_repository(node) or (
                    bare is not None and not (bare.tag or bare.digest) and self.t.names(bare.name)):
                inner = flow or bool(node.flow_style)
                self.set_key(node, "tag", self.t.tag, kind, inner)
                self.digest_field(node, kind, inner)

    def _names_repository(self, mapping: MappingNode) -> bool:
        """A ``repository`` (after a ``registry``, or alone) that is the image in any spelling."""
        repo = scalar_str(mapping_get(mapping, "repository"))
        registry = scalar_str(mapping_get(mapping, "registry"))
        return repo is not None and (self.t.names(repo) or bool(
            registry and self.t.names(f"{registry}/{repo}")))

    def keyed_values(self, values: Node, kind: str) -> None:
        """HELM_KEYS: the repository at its path names the image: the tag (and digest) at theirs."""
        def at(path: str) -> Node | None:
            node: Node | None = values
            for part in path.split("."):
                node = mapping_get(node, part) if node is not None else None
            return node

        repo_path, tag_path, *rest = self.t.helm_keys
        if not self.t.names(scalar_str(at(repo_path))):
            return
        for path, new in ((tag_path, self.t.tag), *((p, self.t.digest) for p in rest)):
            parent_path, _, key = path.rpartition(".")
            parent = at(parent_path) if parent_path else values
            if not isinstance(parent, MappingNode):
                continue
            if path != tag_path:  # the digest: as for digest fields
                existing = mapping_get(parent, key)
                if not new or not (self.t.pin or existing is not None):
                    continue
            assert new is not None
            self.set_key(parent, key, new, kind, bool(parent.flow_style))

    # -- 5. Argo CD Image Updater write-back files --------------------------------------------
    def argocd_source(self, root: Node, filename: str) -> None:
        if not ARGOCD_SOURCE.match(filename):
            return
        kustomize = mapping_get(root, "kustomize")
        images = mapping_get(kustomize, "images") if kustomize is not None else None
        if isinstance(images, SequenceNode):
            flow = bool(images.flow_style)
            for entry in images.value:
                text = scalar_str(entry)
                if text is None:
                    continue
                alias, eq, spec = text.rpartition("=")
                ref = imageref.parse(spec)
                if ref is None or not self.t.names(ref.name):
                    continue
                assert isinstance(entry, ScalarNode)
                new = f"{alias}{eq}{self.t.full(spec)}"
                self.set_scalar(entry, new, "argocd", "kustomize.images", flow)
        helm = mapping_get(root, "helm")
        params = mapping_get(helm, "parameters") if helm is not None else None
        if not isinstance(params, SequenceNode):
            return
        by_name: dict[str, MappingNode] = {}
        for item in params.value:
            name = scalar_str(mapping_get(item, "name")) if isinstance(item, MappingNode) else None
            if name is not None and isinstance(item, MappingNode):
                by_name[name] = item
        for name, item in by_name.items():
            value = scalar_str(mapping_get(item, "value"))
            prefix, _, leaf = name.rpartition(".")
            flow = bool(params.flow_style or item.flow_style)
            if leaf == "spec" and value and (ref := imageref.parse(value)) is not None \
                    and self.t.names(ref.name):
                self._param(item, self.t.full(value), name, flow)
            if leaf not in ("name", "repository") or not self.t.names(value):
                continue
            tag_item = by_name.get(f"{prefix}.tag" if prefix else "tag")
            if tag_item is not None:
                self._param(tag_item, self.t.tag, f"{prefix}.tag", flow)
            digest_item = by_name.get(f"{prefix}.digest" if prefix else "digest")
            if digest_item is not None and self.t.digest:
                self._param(digest_item, self.t.digest, f"{prefix}.digest", flow)

    def _param(self, item: MappingNode, new: str, name: str, flow: bool) -> None:
        node = mapping_get(item, "value")
        if isinstance(node, ScalarNode):
            self.set_scalar(node, new, "argocd", f"helm.parameters {name}", flow)

    # -- 4. plain image: scalars -------------------------------------------------------------
    def plain(self, root: Node) -> None:
        for node, flow in walk(root):
            if not isinstance(node, MappingNode):
                continue
            inner = flow or bool(node.flow_style)
            for key, value in node.value:
                if not (isinstance(key, ScalarNode) and key.value == "image"):
                    continue
                text = scalar_str(value)
                ref = imageref.parse(text) if text else None
                if ref is None or not self.t.names(ref.name) or not (ref.tag or ref.digest):
                    continue
                assert isinstance(value, ScalarNode)
                if ref.digest and not self.t.digest:
                    self.warnings.append(f"{self.where}:{value.start_mark.line + 1}: the old "
                                         "digest is dropped (no DIGEST is known)")
                self.set_scalar(value, self.t.full(text), "image", "image", inner)


def plan_document(scan: DocScan, target: Target, policies: set[str], filename: str,
                  where: str, warnings: list[str]) -> tuple[Plan, list[Found]]:
    """The edits of one document and every reference found in it (changed or not)."""
    planner = _Planner(target, warnings, where)
    planner.markers(scan, policies)
    if not target.policies:
        planner.argocd_source(scan.root, filename)
        planner.kustomize(scan.root, filename)
        planner.helmrelease(scan.root)
        planner.plain(scan.root)
    return planner.plan, planner.found
