"""The pipe variables (public interface: names, types and defaults are versioned by semver)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pipes_common import imageref, sshkey, validate
from pipes_common.docr import DEFAULT_API_URL, DOCR_HOST
from pipes_common.imageref import PATH_PATTERN
from pipes_common.variables import Schema

SCHEMA: Schema = {
    "DIGITALOCEAN_ACCESS_TOKEN": {
        "type": "string", "required": True, "empty": False,
        "meta": {"secret": True,
                 "hint": "add a DigitalOcean API token as a secured repository variable and pass "
                         "it as DIGITALOCEAN_ACCESS_TOKEN: $DIGITALOCEAN_ACCESS_TOKEN"}},
    "REGISTRY_NAME": {
        "type": "string", "required": True, "empty": False, "regex": r"^[a-z0-9-]{1,63}$",
        "meta": {"hint": "use the registry's name as DigitalOcean shows it: lowercase letters, "
                         "digits and '-', at most 63 characters (e.g. acme)"}},
    "IMAGE": {
        "type": "string", "required": True, "empty": False, "regex": PATH_PATTERN,
        "meta": {"hint": "use a repository name of lowercase letters, digits and separators "
                         "(. _ - /), without registry host or tag (e.g. web)"}},
    "REGISTRY_HOST": {"type": "string", "default": DOCR_HOST, "empty": False,
                      "meta": {"hint": "give a host[:port] such as registry.digitalocean.com"}},
    "REGISTRY_USERNAME": {"type": "string", "empty": False,
                          "meta": {"hint": "leave it unset for DOCR (the token is the username)"}},
    "DIGITALOCEAN_API_URL": {"type": "string", "default": DEFAULT_API_URL, "empty": False,
                             "meta": {"hint": "give the API base URL, "
                                              "e.g. https://api.digitalocean.com"}},
    "TAGS": {"type": "list", "schema": {"type": "string"}},
    "DOCKERFILE": {"type": "string", "default": "Dockerfile"},
    "CONTEXT": {"type": "string", "default": "."},
    "TARGET": {"type": "string"},
    "BUILD_ARGS": {"type": "list", "schema": {"type": "string"}},
    "LABELS": {"type": "list", "schema": {"type": "string"}},
    "CACHE_FROM": {"type": "list", "schema": {"type": "string"}},
    "NETWORK": {"type": "string", "empty": False,
                "meta": {"hint": "give a Docker network mode for RUN steps, e.g. host"}},
    "BUILDER": {"type": "string", "default": "auto", "allowed": ["auto", "buildkit", "classic"]},
    "SECRETS": {"type": "list", "schema": {"type": "string"}},
    "SSH": {"type": "boolean", "default": False},
    **sshkey.SCHEMA,
    "CACHE_TO": {"type": "string", "empty": False,
                 "meta": {"hint": "give a buildx cache export, e.g. "
                                  "type=registry,ref=<image>:buildcache,mode=max"}},
    "PLATFORMS": {"type": "string"},
    "PROVENANCE": {"type": "string", "default": "min", "allowed": ["min", "max", "off"]},
    "SBOM": {"type": "boolean", "default": False},
    "SBOM_GENERATOR": {"type": "string", "empty": False,
                       "meta": {"hint": "give the image of an SBOM generator following BuildKit's "
                                        "scanner protocol, e.g. docker/buildkit-syft-scanner"}},
    "SKIP_IF_EXISTS": {"type": "boolean", "default": True},
    "PUSH": {"type": "boolean", "default": True},
    "DEBUG": {"type": "boolean", "default": False},
}

# Checked at the door (pipes_common.validate), before any work: bounds and grammars.


def _name_length(values: Mapping[str, Any]) -> str | None:
    """The whole image name, registry host included, within what Docker accepts."""
    host = str(values.get("REGISTRY_HOST") or DOCR_HOST).removeprefix("https://").rstrip("/")
    name = f"{host}/{values.get('REGISTRY_NAME')}/{values.get('IMAGE')}"
    if len(name) <= imageref.MAX_NAME:
        return None
    return (f"IMAGE makes the image name {len(name)} characters long, more than "
            f"{imageref.MAX_NAME}: shorten IMAGE (or REGISTRY_NAME)")


REF_RE = rf"{imageref.NAME}(?::{imageref.TAG})?(?:@{imageref.DIGEST})?"
RULES = validate.Rules(variables={
    "DIGITALOCEAN_ACCESS_TOKEN": validate.Token(),
    "REGISTRY_NAME": validate.Pattern(max_len=63, regex=r"[a-z0-9-]{1,63}",
                                      what="is not a registry name"),
    "IMAGE": validate.Pattern(max_len=imageref.MAX_NAME, regex=imageref.PATH,
                              what="is not an image repository name"),
    "REGISTRY_HOST": validate.Host(max_len=260),
    "REGISTRY_USERNAME": validate.Pattern(regex=r"[^\s:]+", what="holds a space or ':'"),
    "DIGITALOCEAN_API_URL": validate.Url(),
    "TAGS": validate.Pattern(max_len=128, max_items=50, regex=imageref.TAG,
                             what="is not a valid Docker tag",
                             hint="use letters, digits, '_', '.' and '-', not starting with '.' "
                                  "or '-', at most 128 characters"),
    "DOCKERFILE": validate.InsideDir(),
    "CONTEXT": validate.InsideDir(),
    "TARGET": validate.Pattern(max_len=128, regex=r"[A-Za-z0-9][A-Za-z0-9_.-]*",
                               what="is not a build stage name"),
    "BUILD_ARGS": validate.Text(max_len=8192, echo=False),
    "LABELS": validate.Text(max_len=4096),
    "CACHE_FROM": validate.Pattern(max_len=512, max_items=20, regex=REF_RE,
                                   what="is not an image reference"),
    "NETWORK": validate.Pattern(max_len=64, regex=r"[A-Za-z0-9][A-Za-z0-9_.:-]*",
                                what="is not a Docker network name"),
    "SECRETS": validate.Text(max_len=512, max_items=50, echo=False),
    **sshkey.RULES,
    "CACHE_TO": validate.Pattern(max_len=1024, regex=r"[^\s]+", what="holds a space"),
    "PLATFORMS": validate.Text(max_len=256),
    "SBOM_GENERATOR": validate.Pattern(max_len=512, regex=REF_RE, what="is not an image reference"),
}, checks=[
    _name_length,
    *(validate.unused_unless(name, lambda v: bool(v.get("SSH")),
                             "is only used with SSH: 'true' (forwarding the key to RUN "
                             "--mount=type=ssh): set SSH: 'true' or drop " + name)
      for name in ("SSH_KEY", "KNOWN_HOSTS")),
    validate.unused_unless("SBOM_GENERATOR", lambda v: bool(v.get("SBOM")),
                           "is only used with SBOM: 'true': set SBOM: 'true' or drop SBOM_GENERATOR"),
])
