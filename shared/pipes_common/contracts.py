"""The contracts between the pipes: what each pipe hands over to the pipes after it.

One frozen dataclass per pipe names its outputs, field by field; the writer builds it and the
reader gets it back, decoded and type-checked by msgspec (:func:`decode`), so the two sides cannot
disagree on a key or a type.  How the outputs travel (the hand-off file of the step, the dotenv
file an earlier step passes on as artifacts) and whether they can be trusted is :mod:`handoff`'s
and :mod:`artifacts`' business.

A field added here takes a default, so that the outputs of an older release of the writing pipe
still decode (the reader then says what it does without it), and an older reader ignores it.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

import msgspec


@dataclass(frozen=True)
class BuildPushOutputs:
    """What build-push hands over: the image, every tag it pushed and the role of each, the digest.

    flux-bump writes ``version`` on a git tag build (also for a ``TAG`` that is ``git_tag``) and
    ``commit_tag`` otherwise (``tags[0]`` from build-push 0.2.0, which handed over neither
    ``commit_tag`` nor ``git_tag``); it never derives a tag itself."""
    PIPE: ClassVar[str] = "build-push"
    image: str                 # registry host / registry / repository, no tag
    tags: tuple[str, ...]      # every tag pushed (or built), the commit tag first when known
    digest: str                # manifest digest; "" when not pushed (PUSH false)
    ref: str                   # image@digest, or image:first-tag when not pushed
    skipped: bool              # the commit was already in the registry: no build
    image_id: str = ""         # the local image id; "" when nothing was built
    version: str = ""          # the version tag pushed for the git tag (v1.4.2 -> 1.4.2), else ""
    build_number: str = ""     # the pipeline run that wrote them (BITBUCKET_BUILD_NUMBER) ...
    source_commit: str = ""    # ... and its commit (BITBUCKET_COMMIT): see handoff.check_bound
    commit_tag: str = ""       # the tag of this commit's build (sha-1234567), "" when none (0.2.0)
    git_tag: str = ""          # the git tag built (BITBUCKET_TAG), which ``version`` stands for
    floating: tuple[str, ...] = ()  # the tags that move with releases it pushed (latest, 1, 1.4)
    signatures: tuple[str, ...] = ()    # cosign signature refs (image:sha256-<hex>.sig), SIGNING_KEY
    attestations: tuple[str, ...] = ()  # cosign SBOM attestation refs (image:sha256-<hex>.att)

    def values(self) -> dict[str, Any]:
        out: dict[str, Any] = {"image": self.image, "tags": list(self.tags), "digest": self.digest,
                               "ref": self.ref, "skipped": self.skipped}
        if self.image_id:
            out["image_id"] = self.image_id
        out["version"] = self.version
        out["build_number"] = self.build_number
        out["source_commit"] = self.source_commit
        out["commit_tag"] = self.commit_tag
        out["git_tag"] = self.git_tag
        out["floating"] = list(self.floating)
        out["signatures"] = list(self.signatures)
        out["attestations"] = list(self.attestations)
        return out


@dataclass(frozen=True)
class TfApplyOutputs:
    """What tf-apply hands over: the run, its plan counts and the non-sensitive outputs."""
    PIPE: ClassVar[str] = "tf-apply"
    mode: str
    workspace: str
    state_key: str
    plan_id: str = ""
    has_changes: bool | None = None             # None when no plan or apply ran (MODE output)
    counts: dict[str, int] = field(default_factory=dict)  # create, update, replace, delete
    outputs: dict[str, Any] | None = None       # non-sensitive Terraform outputs (apply, output)
    sensitive_outputs: tuple[str, ...] = ()     # names only, never values
    applied: bool | None = None                 # MODE apply: whether it applied
    refused: str = ""                           # why it refused: plan-changed, no-reviewed-plan
    reviewed_pr: int | None = None              # the pull request whose plan it applied or compared
    reviewed_commit: str = ""                   # that pull request's planned commit
    # many roots (WORKING_DIRS): the roots that ran, those skipped (CHANGED_ONLY), and per root
    # its status, state key, plan counts and non-sensitive outputs (out_<name>)
    roots: tuple[str, ...] = ()
    skipped_roots: tuple[str, ...] = ()
    root_values: dict[str, dict[str, Any]] = field(default_factory=dict)

    def values(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mode": self.mode, "workspace": self.workspace,
                               "state_key": self.state_key}
        if self.roots or self.skipped_roots:
            out["roots"] = list(self.roots)
            out["skipped_roots"] = list(self.skipped_roots)
        for root, values in self.root_values.items():
            out.update({f"{root}/{key}": value for key, value in values.items()})
        if self.applied is not None:
            out["applied"] = self.applied
        if self.refused:
            out["refused"] = self.refused
        if self.reviewed_pr is not None:
            out["reviewed_pr"] = self.reviewed_pr
            out["reviewed_commit"] = self.reviewed_commit
        if self.plan_id:
            out["plan_id"] = self.plan_id
        if self.has_changes is not None:
            out["has_changes"] = self.has_changes
            out.update(self.counts)
        if self.outputs is not None:
            out["sensitive_outputs"] = list(self.sensitive_outputs)
            out.update({f"out_{name}": value for name, value in self.outputs.items()})
        return out


@dataclass(frozen=True)
class FluxBumpOutputs:
    """What flux-bump hands over: the GitOps commit or pull request it made."""
    PIPE: ClassVar[str] = "flux-bump"
    commit: str                # "" when nothing was committed
    branch: str                # the branch written (the pull request's source branch in that mode)
    mode: str
    files: tuple[str, ...]
    changes: tuple[str, ...]   # "path:line field: old -> new"
    pr_url: str = ""
    pr_id: int | None = None
    changed: bool = False

    def values(self) -> dict[str, Any]:
        return {"commit": self.commit, "branch": self.branch, "mode": self.mode,
                "files": list(self.files), "changes": list(self.changes), "pr_url": self.pr_url,
                "pr_id": "" if self.pr_id is None else self.pr_id, "changed": self.changed}


Outputs = BuildPushOutputs | TfApplyOutputs | FluxBumpOutputs
T = TypeVar("T", BuildPushOutputs, TfApplyOutputs, FluxBumpOutputs)


def encode(outputs: Outputs) -> dict[str, Any]:
    """``outputs`` as a JSON object (lists for tuples)."""
    doc: dict[str, Any] = msgspec.to_builtins(outputs)
    return doc


def decode(cls: type[T], doc: Mapping[str, Any], key: Callable[[str], str] = "key '{}'".format,
           strict: bool = True) -> T:
    """The outputs of ``cls`` from their JSON object (``strict``: types as JSON has them; else
    also from strings, as a dotenv file has them); ValueError naming the first bad key, spelled
    by ``key`` (unknown keys are ignored: a newer writer's)."""
    try:
        return msgspec.convert(doc, cls, strict=strict)
    except msgspec.ValidationError as err:
        text = str(err)
        missing = re.fullmatch(r"Object missing required field `(\w+)`", text)
        if missing:
            raise ValueError(f"{key(missing[1])} is missing") from None
        at = re.fullmatch(r"(.*) - at `\$\.(\w+)([^`]*)`", text)  # [1] of a list: kept
        if at:
            raise ValueError(f"{key(at[2])}{at[3]}: {at[1]}") from None
        raise ValueError(text) from None


def decode_text(cls: type[T], text: Mapping[str, str], key: Callable[[str], str]) -> T:
    """The outputs of ``cls`` from their values as text, each under the name ``key`` gives its
    field (a dotenv file: ``true``/``false``, numbers, lists as words, null as nothing)."""
    info = msgspec.inspect.type_info(cls)
    assert isinstance(info, msgspec.inspect.DataclassType)
    doc: dict[str, Any] = {}
    for f in info.fields:
        if key(f.name) not in text:
            continue
        value: Any = text[key(f.name)]
        if isinstance(f.type, msgspec.inspect.VarTupleType):
            value = value.split()
        elif value == "" and isinstance(f.type, msgspec.inspect.UnionType) and f.type.includes_none:
            value = None
        elif isinstance(f.type, msgspec.inspect.BoolType) and value not in ("true", "false"):
            raise ValueError(f"{key(f.name)}: '{value[:20]}' is not true or false")
        doc[f.name] = value
    return decode(cls, doc, key, strict=False)
