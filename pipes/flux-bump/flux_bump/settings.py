"""The run's settings: every variable read once, checked together, as one frozen value.

:meth:`Settings.from_values` is the only reader of the raw variables (``values``, checked at the
door from ``schema.VARIABLES``: every grammar, bound and relation between variables is declared
there); everything after it takes typed fields.  Here only what needs the step context (the build
directory, build-push's hand-off) is checked, still before the first clone or API call."""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pipes_common import imageref, registrylogin
from pipes_common.bitbucket import StepContext
from pipes_common.errors import PipeError

from . import auth, promote, signatures
from .gitrepo import Identity
from .receiver import Receiver
from .references import Target
from .registrycheck import RegistryAuth
from .targets import Requested, targets_from


@dataclass(frozen=True)
class GitAuth:
    """The credentials git may use (which one wins is :mod:`auth`'s rule)."""
    access_token: str | None = None   # BITBUCKET_ACCESS_TOKEN
    api_token: str | None = None      # ATLASSIAN_API_TOKEN (with ATLASSIAN_EMAIL)
    username: str | None = None       # GIT_USERNAME
    password: str | None = None       # GIT_PASSWORD
    ssh_key: str | None = None        # SSH_KEY
    known_hosts: str | None = None    # KNOWN_HOSTS


@dataclass(frozen=True)
class ApiAuth:
    """How the Bitbucket REST API is called: an access token (Bearer), or an Atlassian API
    token with its account's email (Basic)."""
    url: str
    token: str
    email: str | None = None


@dataclass(frozen=True)
class PullRequestOptions:
    workspace: str
    slug: str
    branch_name: str | None          # the BRANCH_NAME template; None: the deterministic name
    reviewers: tuple[str, ...]
    close_source_branch: bool


@dataclass(frozen=True)
class Settings:
    remote: auth.Remote
    branch: str
    mode: str                        # as given: push, pull-request, dry-run, promote
    delivery: str                    # push, pull-request or dry-run (promote pushes)
    promoting: bool
    paths: tuple[str, ...] | None
    from_paths: tuple[str, ...] | None
    targets: tuple[Target, ...]      # empty when promoting: read from FROM_PATHS after the clone
    names: tuple[str, ...]           # the image names searched for
    helm_keys: tuple[str, ...]
    pin_digest: bool
    chart_app_version: bool
    allow_downgrade: bool            # ALLOW_DOWNGRADE: a lower semantic version may be written
    receiver: Receiver | None        # FLUX_RECEIVER_URL (+ FLUX_RECEIVER_TOKEN): told after a push
    commit_message: str | None
    pull_request: PullRequestOptions | None
    api: ApiAuth | None
    registry: RegistryAuth | None    # set: every tag and digest is checked in the registry first
    verify: signatures.Gate | None   # VERIFY_KEYS: each digest must be signed by one of the keys
    git_auth: GitAuth
    signing_key: str | None
    identity: Identity
    retries: int
    clone_dir: Path | None
    ctx: StepContext

    @classmethod
    def from_values(cls, values: dict[str, Any], ctx: StepContext) -> Settings:
        remote = auth.parse_remote(str(values["GITOPS_REPO"]))
        mode = str(values["MODE"])
        paths = _globs(values.get("PATHS"))
        from_paths = _globs(values.get("FROM_PATHS"))
        promoting = mode == "promote" or from_paths is not None
        delivery = "push" if mode == "promote" else mode
        helm_keys = _listed(values.get("HELM_KEYS"))
        pin = bool(values.get("PIN_DIGEST"))
        req = Requested(
            images=tuple(str(i) for i in values.get("IMAGES") or [] if str(i).strip()),
            image=_text(values.get("IMAGE")), tag=_text(values.get("TAG")),
            digest=_text(values.get("DIGEST")),
            policies=tuple(p.strip() for p in values.get("POLICY") or [] if p.strip()), pin=pin)
        targets: tuple[Target, ...] = ()
        if promoting:  # (FROM_PATHS and PATHS set, no POLICY: schema.py)
            names = tuple(promote.names_from(req))
        else:
            targets = tuple(replace(t, helm_keys=helm_keys) for t in targets_from(req, ctx))
            names = tuple(t.image for t in targets)
        api = _api_auth(values)
        commit_message = _text(values.get("COMMIT_MESSAGE"))
        branch_name = _text(values.get("BRANCH_NAME"))
        reviewers = tuple(dict.fromkeys(_listed(values.get("REVIEWERS"))))
        clone_dir = Path(values["CLONE_DIR"]).resolve() if values.get("CLONE_DIR") else None
        build_dir = ctx.clone_dir.resolve()
        if clone_dir is not None and (clone_dir == build_dir or build_dir in clone_dir.parents):
            # symbolic links resolved: the GitOps repository's files would land among the
            # application's, where later steps and pipes read .do-pipes/ and artifacts
            raise PipeError(f"CLONE_DIR {clone_dir} is inside the build directory {build_dir}: "
                            "give a folder outside it (e.g. /tmp/gitops), or drop CLONE_DIR")
        if clone_dir is not None and clone_dir.exists() and any(clone_dir.iterdir()):
            raise PipeError(f"CLONE_DIR {clone_dir} is not empty: give an empty or missing folder")
        git_auth = GitAuth(
            access_token=_text(values.get("BITBUCKET_ACCESS_TOKEN")),
            api_token=_text(values.get("ATLASSIAN_API_TOKEN")),
            username=_text(values.get("GIT_USERNAME")), password=_text(values.get("GIT_PASSWORD")),
            ssh_key=_text(values.get("SSH_KEY")), known_hosts=_text(values.get("KNOWN_HOSTS")))
        pull_request = None
        if delivery == "pull-request":
            workspace, slug = _repo_path(remote)
            pull_request = PullRequestOptions(
                workspace, slug, branch_name, reviewers,
                bool(values["CLOSE_SOURCE_BRANCH"]))
        registry = _registry_auth(values, _named_hosts(req))
        return cls(
            remote=remote, branch=str(values["BRANCH"]), mode=mode, delivery=delivery,
            promoting=promoting, paths=paths, from_paths=from_paths, targets=targets, names=names,
            helm_keys=helm_keys, pin_digest=pin, chart_app_version=bool(values.get("CHART_APP_VERSION")),
            allow_downgrade=bool(values.get("ALLOW_DOWNGRADE")),
            receiver=Receiver(str(values["FLUX_RECEIVER_URL"]), _text(values.get("FLUX_RECEIVER_TOKEN")))
            if values.get("FLUX_RECEIVER_URL") else None,
            commit_message=commit_message, pull_request=pull_request, api=api, registry=registry,
            verify=signatures.Gate(signatures.load_keys(str(values["VERIFY_KEYS"])),
                                   bool(values.get("VERIFY_ATTESTATION")))
            if values.get("VERIFY_KEYS") else None,
            git_auth=git_auth,
            signing_key=_text(values.get("SIGNING_KEY")),
            identity=Identity(str(values["GIT_AUTHOR_NAME"]), str(values["GIT_AUTHOR_EMAIL"])),
            retries=int(values["RETRIES"]), clone_dir=clone_dir, ctx=ctx)


def _text(value: Any) -> str | None:
    return str(value) if value else None


def _globs(items: Any) -> tuple[str, ...] | None:
    globs = tuple(str(p) for p in items or [] if str(p).strip())
    return globs or None


def _api_auth(values: dict[str, Any]) -> ApiAuth | None:
    """Which Bitbucket credential: an access token, or an Atlassian API token with its email
    (one of them, and the email with the API token: schema.py)."""
    token, email = _text(values.get("BITBUCKET_ACCESS_TOKEN")), _text(values.get("ATLASSIAN_EMAIL"))
    api_token = _text(values.get("ATLASSIAN_API_TOKEN"))
    url = str(values["BITBUCKET_API_URL"])
    if api_token:
        return ApiAuth(url, api_token, email)
    return ApiAuth(url, token) if token else None


def _named_hosts(req: Requested) -> tuple[str, ...]:
    """The registry hosts of the images the user named (IMAGE, IMAGES), not of a hand-off (the
    registries DIGITALOCEAN_ACCESS_TOKEN may go to, with DOCR's and REGISTRY_HOST)."""
    names = [req.image or "", *(item.strip().partition("=")[0] for item in req.images)]
    found = [imageref.split_domain(name) for name in names if name]
    return tuple(sorted({where[0] for where in found if where is not None}))


def _registry_auth(values: dict[str, Any], hosts: tuple[str, ...]) -> RegistryAuth | None:
    """The registry credentials that turn the check of tags and digests on (as build-push's;
    what goes only with the token, and not when promoting: schema.py)."""
    token = _text(values.get("DIGITALOCEAN_ACCESS_TOKEN"))
    if not token:
        return None
    registry_host = _text(values.get("REGISTRY_HOST"))
    if registry_host:  # as build-push takes it
        hosts = tuple(sorted({*hosts, registrylogin.registry_host(registry_host)}))
    return RegistryAuth(token, str(values["DIGITALOCEAN_API_URL"]),
                        username=_text(values.get("REGISTRY_USERNAME")), hosts=hosts)


def _listed(items: Any) -> tuple[str, ...]:
    """A list variable's items, stripped, without empty ones."""
    return tuple(str(k).strip() for k in items or [] if str(k).strip())


def _repo_path(remote: auth.Remote) -> tuple[str, str]:
    parts = [p for p in remote.path.strip("/").split("/") if p]
    if len(parts) < 2:
        raise PipeError(f"GITOPS_REPO {remote.display} does not end in <workspace>/<repository>: "
                        "pull requests need a Bitbucket Cloud repository URL")
    slug = parts[-1].removesuffix(".git")
    return parts[-2], slug
