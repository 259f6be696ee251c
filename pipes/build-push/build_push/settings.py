"""The pipe's settings: the validated variables and the step context made into one frozen value.

This is the only module that reads raw variables; everything after it takes a :class:`Settings`.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipes_common import registrylogin, secrets
from pipes_common.bitbucket import StepContext
from pipes_common.errors import PipeError

from . import buildkit, buildsecrets, inputs, signkey, sshkeys, tags
from .schema import VARIABLES


@dataclass(frozen=True)
class Settings:
    token: str = field(repr=False)
    registry_name: str
    image_name: str
    host: str
    username: str | None
    api_url: str
    preflight: bool            # DOCR: the DigitalOcean API is asked before anything is built
    tag_plan: tags.TagPlan
    commit: str | None
    dockerfile: Path
    context: Path
    target: str | None
    build_args: Mapping[str, str]
    labels: Mapping[str, str]            # the OCI labels, LABELS and the inputs label
    inputs: str                          # the key of the build's inputs (module inputs)
    cache_from: tuple[str, ...] | None   # None: the defaults (branch tag, latest); () none at all
    network: str | None
    skip_if_exists: bool
    push: bool
    builder: str
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)
    ssh: sshkeys.SshForward | None = field(default=None, repr=False)
    cache_to: str | None = None
    platforms: tuple[str, ...] = ()      # PLATFORMS: buildx on the containerd store (pipe.py)
    provenance: str = VARIABLES["PROVENANCE"].default  # PROVENANCE: min, max or off (attestations)
    sbom: str | None = None              # SBOM: '' BuildKit's default generator, or SBOM_GENERATOR
    signing: signkey.SigningKey | None = field(default=None, repr=False)  # SIGNING_KEY, loaded
    sbom_attestation: bool = False       # SBOM with SIGNING_KEY: syft's SBOM, a signed attestation

    @classmethod
    def from_values(cls, values: Mapping[str, Any], ctx: StepContext,
                    env: Mapping[str, str] | None = None) -> Settings:
        """The settings of one run from the validated ``values`` (defaults applied) and ``ctx``;
        ``env`` (the pipe's environment) holds the variables ``SECRETS`` names."""
        env = os.environ if env is None else env
        host = registrylogin.registry_host(str(values["REGISTRY_HOST"]))
        context = (ctx.clone_dir / str(values["CONTEXT"])).resolve()
        if not context.is_dir():
            raise PipeError(f"CONTEXT: '{values['CONTEXT']}' is not a directory in the build "
                            "directory: set CONTEXT to the folder to build (default '.')")
        dockerfile = (ctx.clone_dir / str(values["DOCKERFILE"])).resolve()
        if not dockerfile.is_file():
            raise PipeError(f"DOCKERFILE: '{values['DOCKERFILE']}' was not found in the build "
                            "directory: set DOCKERFILE to its path, relative to the repository root")
        plan = tags.plan(ctx, values.get("TAGS"))
        target = values.get("TARGET") or None
        build_args = tags.key_values(values.get("BUILD_ARGS"))
        # a build argument may hold a secret (though SECRETS is the way): masked like one
        secrets.register_assigned(values.get("BUILD_ARGS"), (ctx.commit, ctx.branch, ctx.tag))
        user_labels = tags.key_values(values.get("LABELS"))
        key = inputs.key(ctx.clone_dir, dockerfile, context, target, build_args, user_labels)
        labels = {**tags.oci_labels(ctx, plan), **user_labels, inputs.LABEL: key}
        cache_from = values.get("CACHE_FROM")
        settings = cls(
            token=str(values["DIGITALOCEAN_ACCESS_TOKEN"]),
            registry_name=str(values["REGISTRY_NAME"]),
            image_name=str(values["IMAGE"]),
            host=host,
            username=values.get("REGISTRY_USERNAME") or None,
            api_url=str(values["DIGITALOCEAN_API_URL"]),
            # another API URL than DigitalOcean's turns the pre-flight on for any host
            preflight=registrylogin.through_api(host, str(values["DIGITALOCEAN_API_URL"])),
            tag_plan=plan,
            commit=ctx.commit,
            dockerfile=dockerfile,
            context=context,
            target=target,
            build_args=build_args,
            labels=labels,
            inputs=key,
            cache_from=None if cache_from is None else tuple(cache_from),
            network=values.get("NETWORK") or None,
            skip_if_exists=bool(values["SKIP_IF_EXISTS"]),
            push=bool(values["PUSH"]),
            builder=str(values["BUILDER"]),
            secrets=buildsecrets.parse(values.get("SECRETS"), env),
            ssh=sshkeys.forward(values.get("SSH_KEY"), values.get("KNOWN_HOSTS"))
            if values.get("SSH") else None,
            cache_to=values.get("CACHE_TO") or None,
            platforms=buildkit.platforms(values.get("PLATFORMS")),
            provenance=str(values["PROVENANCE"]),
            # with SIGNING_KEY the SBOM is the pipe's own (syft), signed; BuildKit makes none
            sbom=str(values.get("SBOM_GENERATOR") or "")
            if values.get("SBOM") and not values.get("SIGNING_KEY") else None,
            signing=signkey.load(str(values["SIGNING_KEY"]), values.get("SIGNING_KEY_PASSWORD"))
            if values.get("SIGNING_KEY") else None,
            sbom_attestation=bool(values.get("SBOM") and values.get("SIGNING_KEY")),
        )
        sshkeys.check_secret_ids(settings.ssh, set(settings.secrets))
        return settings

    @property
    def needs_buildkit(self) -> str | None:
        """The variable that only BuildKit can honour, if one is set."""
        if self.platforms:
            return "PLATFORMS"
        if self.secrets:
            return "SECRETS"
        if self.ssh is not None:
            return "SSH"
        if self.cache_to:
            return "CACHE_TO"
        return None

    @property
    def repository(self) -> str:
        """The repository path inside the registry: ``<registry>/<image>``."""
        return f"{self.registry_name}/{self.image_name}"

    @property
    def image(self) -> str:
        return f"{self.host}/{self.repository}"
