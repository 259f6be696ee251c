"""The pipe variables, one declaration each (public interface: names, types and defaults are
versioned by semver; pipe.yml and the README's Variables and YAML Definition are generated from
here by ``./dev docs``)."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

from pipes_common import imageref, sshkey, validate
from pipes_common.bitbucket import DEFAULT_API_URL
from pipes_common.docr import DEFAULT_API_URL as DO_API_URL
from pipes_common.errors import PipeError
from pipes_common.variables import Var, Variables

from . import message, signatures

MODES = ("push", "pull-request", "dry-run", "promote")
BRANCH_FIELDS = ("name", "image", "tag", "short_digest", "commit", "short_commit")  # of BRANCH_NAME
BRANCH_RE = r"(?!/|.*([/.]\.|//|@\{|\\|\.lock$|[/.]$))[^\x00-\x20~^:?*\[\x7f]+"
POLICY = r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?:[a-z0-9]([-a-z0-9.]*[a-z0-9])?"  # Flux: <namespace>:<policy>
EMAIL_RE = r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+"
KEY_PATH = r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*"  # a dotted key path of HELM_KEYS
REVIEWER = r"\{[0-9a-fA-F-]{36}\}|[A-Za-z0-9][A-Za-z0-9:_-]{0,127}"  # an account id or {uuid}

Condition = tuple[Callable[[Mapping[str, Any]], bool], str]


def _https(values: Mapping[str, Any]) -> bool:
    return str(values.get("GITOPS_REPO") or "").startswith(("https://", "http://"))


def _promoting(values: Mapping[str, Any]) -> bool:
    return values.get("MODE") == "promote" or bool(values.get("FROM_PATHS"))


def _only_https(name: str) -> Condition:
    return _https, (f"is only used with an https GITOPS_REPO (an SSH remote authenticates with SSH_KEY): "
                    f"use an https URL or drop {name}")


_only_pull_request: Condition = (lambda v: v.get("MODE") == "pull-request",
                                 "is only used with MODE pull-request: drop it, or set MODE pull-request")


def _with_token(name: str, default: str | None = None) -> Condition:
    """``name`` (other than its default) only goes with DIGITALOCEAN_ACCESS_TOKEN."""
    return (lambda v: bool(v.get("DIGITALOCEAN_ACCESS_TOKEN")) or v.get(name) == default,
            "is set but DIGITALOCEAN_ACCESS_TOKEN is not: it only goes with the token (the registry "
            f"check); set the token or drop {name}")


def _pull_request_repo(values: Mapping[str, Any]) -> str | None:
    """A pull request needs <workspace>/<repository> at the end of GITOPS_REPO (the REST API's)."""
    if values.get("MODE") != "pull-request":
        return None
    url = str(values.get("GITOPS_REPO") or "")
    path = urlsplit(url).path if "://" in url else url.partition(":")[2]
    if len([p for p in path.split("/") if p]) < 2:
        return ("GITOPS_REPO does not end in <workspace>/<repository>: pull requests need a "
                "Bitbucket Cloud repository URL, e.g. https://bitbucket.org/acme/gitops.git")
    return None


def _remote_option(values: Mapping[str, Any]) -> str | None:
    """A user or host of GITOPS_REPO that ssh would read as an option (``-oProxyCommand=...``)."""
    url = str(values.get("GITOPS_REPO") or "")
    if "://" in url:
        try:
            parts = urlsplit(url)
        except ValueError:
            return None  # the URL rule says what is wrong
        user, host = unquote(parts.username or ""), parts.hostname or ""
    else:
        user, _, rest = url.partition("@")
        host = rest.partition(":")[0]
    if user.startswith("-") or host.startswith("-"):
        return ("GITOPS_REPO has a user or host starting with '-', which ssh would take as an "
                "option: give the clone URL as Bitbucket shows it, e.g. "
                "git@bitbucket.org:acme/gitops.git")
    return None


def _images_alone(values: Mapping[str, Any]) -> str | None:
    if not any(str(i).strip() for i in values.get("IMAGES") or []):
        return None
    clash = [n for n in ("IMAGE", "TAG", "DIGEST") if values.get(n)]
    if any(str(p).strip() for p in values.get("POLICY") or []):
        clash.append("POLICY")
    if clash:
        return (f"IMAGES and {', '.join(clash)} are both set: give every image in "
                "IMAGES (image=tag[@digest]), or one image with IMAGE and TAG (POLICY goes with IMAGE)")
    return None


def _from_paths_with_promote(values: Mapping[str, Any]) -> str | None:
    if values.get("MODE") == "promote" and not any(str(p).strip() for p in values.get("FROM_PATHS") or []):
        return ("FROM_PATHS is required with MODE promote: give the files of the environment to copy "
                "from, e.g. ['clusters/staging/**']")
    return None


def _paths_when_promoting(values: Mapping[str, Any]) -> str | None:
    if _promoting(values) and not any(str(p).strip() for p in values.get("PATHS") or []):
        return ("PATHS is required when promoting: give the files of the environment to write, e.g. "
                "['clusters/production/**'] (FROM_PATHS is read only)")
    return None


def _helm_keys_count(values: Mapping[str, Any]) -> str | None:
    keys = [str(k).strip() for k in values.get("HELM_KEYS") or [] if str(k).strip()]
    if keys and (len(keys) not in (2, 3) or len(set(keys)) != len(keys)):
        return ("HELM_KEYS must be 2 or 3 different dotted key paths, the repository, the tag and "
                "optionally the digest: e.g. ['app.image.repository', 'app.image.tag', 'app.image.digest']")
    return None


def _pull_request_credentials(values: Mapping[str, Any]) -> str | None:
    if values.get("MODE") == "pull-request" and not (
            values.get("BITBUCKET_ACCESS_TOKEN") or values.get("ATLASSIAN_API_TOKEN")):
        return ("MODE pull-request needs BITBUCKET_ACCESS_TOKEN (pullrequest:write) or "
                "ATLASSIAN_EMAIL and ATLASSIAN_API_TOKEN (write:pullrequest:bitbucket) "
                "to open the pull request through the Bitbucket API")
    return None


def _one_bitbucket_token(values: Mapping[str, Any]) -> str | None:
    if values.get("ATLASSIAN_API_TOKEN") and values.get("BITBUCKET_ACCESS_TOKEN"):
        return ("BITBUCKET_ACCESS_TOKEN and ATLASSIAN_API_TOKEN are both set: give one "
                "(an access token of the repository, project or workspace, or an "
                "Atlassian API token with ATLASSIAN_EMAIL)")
    return None


def _template(name: str, fields: tuple[str, ...]) -> validate.Check:
    """``name`` is a template of plain ``{field}`` names among ``fields`` (:mod:`message`)."""
    def check(values: Mapping[str, Any]) -> str | None:
        if not values.get(name):
            return None
        try:
            message.check_template(str(values[name]), name, fields)
        except PipeError as err:
            return err.message
        return None
    return check


VARIABLES = Variables((
    Var('GITOPS_REPO',
        doc=('Clone URL of the GitOps repository: `https://host/workspace/repo.git`, '
             '`git@host:workspace/repo.git` or `ssh://git@host[:port]/workspace/repo.git`. Credentials do '
             'not belong in the URL: a URL with `user:password@` is refused (pass '
             '`BITBUCKET_ACCESS_TOKEN`, or `GIT_USERNAME`/`GIT_PASSWORD`). Plain `http://` only to a '
             'loopback host.'),
        required=True,
        rule=validate.GitUrl(echo=False),
        hint="give the GitOps repository's clone URL, e.g. "
             "https://bitbucket.org/acme/gitops.git or git@bitbucket.org:acme/gitops.git",
        checks=(_remote_option, _pull_request_repo)),
    Var('BRANCH',
        doc='Branch to update. Default: `main`.',
        default="main",
        rule=validate.Pattern(max_len=255, regex="(?!-)" + BRANCH_RE,
                               what="is not a git branch name"),
        hint="give a git branch name, e.g. main"),
    Var('IMAGE',
        doc=('Image repository as the manifests spell it, without tag, e.g. '
             '`registry.digitalocean.com/acme/web`. Default: the `image` output of the `build-push` pipe '
             'earlier in the same step (read from its folder in the pipe shared storage, see Details), or '
             'else of the `build-push` of an earlier step that passed `.do-pipes/**` as `artifacts:` (its '
             '`.do-pipes/build-push.env`); required otherwise.'),
        rule=validate.Pattern(max_len=imageref.MAX_NAME, regex=imageref.NAME,
                              what="is not an image repository name"),
        hint="give it without tag or digest, lowercase path components (e.g. registry.digitalocean.com/acme/web)",
        note='Optional when build-push ran earlier in the step'),
    Var('TAG',
        doc=('New tag. Default: the tag `build-push` pushed in the same step, or in an earlier step that '
             'passed `.do-pipes/**` as `artifacts:`: on a version-tag build (`BITBUCKET_TAG`) the version '
             'it pushed for that git tag (`v1.4.2` -> `1.4.2`), otherwise its commit tag (`sha-<commit>`); '
             'required otherwise. A `TAG` of `v1.4.2` when `build-push` handed the image over as `1.4.2` '
             '(or, with `DIGITALOCEAN_ACCESS_TOKEN`, when only `1.4.2` is in the registry) writes `1.4.2`.'),
        rule=validate.Pattern(max_len=128, regex=imageref.TAG, what="is not a valid image tag"),
        hint="letters, digits, '_', '.' and '-', at most 128, not starting with '.' or '-'",
        note='Optional when build-push ran earlier in the step'),
    Var('DIGEST',
        doc=('Image digest `sha256:…`. Default: the `build-push` digest when `IMAGE` is not given. Used '
             'for `:digest` markers, `digest:` fields, references that already pin a digest, and with '
             '`PIN_DIGEST`.'),
        rule=validate.Pattern(max_len=135, regex=imageref.DIGEST, what="is not a valid digest"),
        hint="give it as sha256:<64 lowercase hex digits>"),
    Var('IMAGES',
        doc=('List of `image=tag[@digest]` (at most 50, each at most 400 characters), e.g. '
             "`['registry.digitalocean.com/acme/web=1.4.2', "
             "'registry.digitalocean.com/acme/api=1.4.2@sha256:…']`: every image bumped in one commit (or "
             'one pull request) whose message lists each. Excludes `IMAGE`, `TAG`, `DIGEST` and `POLICY`. '
             'If any image has no reference or cannot be edited exactly, nothing changes. Default: when '
             'neither `IMAGE` nor `TAG` is set and `build-push` ran more than once in the step for '
             'different images, every image it handed over (the last run of each, its first tag and '
             'digest).'),
        type='list',
        rule=validate.Text(max_len=400, max_items=50),
        hint="give at most 50 items image=tag[@digest], e.g. "
             "['registry.digitalocean.com/acme/web=1.4.2']",
        note='Optional: several images, image=tag[@digest]',
        checks=(_images_alone,)),
    Var('POLICY',
        doc=('List of Flux image policies `<namespace>:<policy>`. When given, only setter markers of these'
             ' policies are updated, whatever their current value, and nothing else changes (as Flux '
             'does).'),
        type='list',
        rule=validate.Pattern(max_len=253, max_items=50, regex=POLICY,
                               what="is not <namespace>:<policy>"),
        only_if=(lambda v: not _promoting(v), "cannot be set when promoting: the image is found by IMAGE in "
                 "FROM_PATHS and PATHS; drop POLICY")),
    Var('PATHS',
        doc=('List of globs (`apps/**`, `clusters/*/apps.yaml`, `clusters/[ab]*/**`, or a folder) limiting the '
             'files searched, relative to the repository root (no leading `/` or `..`): `**` crosses '
             'folders, `*`, `?` and `[...]` do not. Default: the whole repository.'),
        type='list',
        rule=validate.RelativeGlob(max_items=50),
        checks=(_paths_when_promoting,)),
    Var('FROM_PATHS',
        doc=('Promotion: list of globs (at most 50, like `PATHS`) of the environment to copy from, e.g. '
             "`['clusters/staging/**']`. The reference of `IMAGE` (or of each name in `IMAGES`, names "
             'only) deployed there is read, tag and digest, and written into the files of `PATHS` '
             '(required then, and not overlapping `FROM_PATHS`); a source that pins a digest makes the '
             'target pin it too. `TAG`, `DIGEST` and `POLICY` cannot be set. A registry is asked only '
             'with `DIGITALOCEAN_ACCESS_TOKEN` (the reference must be there) and `VERIFY_KEYS` (and '
             'signed). With `MODE: pull-request` or `dry-run` the promotion is a pull request or a diff.'),
        type='list',
        rule=validate.RelativeGlob(max_items=50),
        hint="give at most 50 globs of the environment to copy from, e.g. "
             "['clusters/staging/**']",
        note='Optional: promote from these files',
        checks=(_from_paths_with_promote,)),
    Var('PIN_DIGEST',
        doc=('Write `name:tag@digest` in full markers and plain references, and add `digest:` to kustomize'
             ' and HelmRelease entries. Default: `false`.'),
        type='boolean',
        default=False),
    Var('HELM_KEYS',
        doc=('Helm values (files and HelmRelease `spec.values`) of another layout: 2 or 3 dotted key paths'
             " from the values' root, the repository, the tag and optionally the digest (each at most 200 "
             "characters), e.g. `['app.image.repo', 'app.image.version', 'app.image.sha']`. Where the "
             'repository path holds `IMAGE`, the tag (and digest, when pinned or already there) paths are '
             'set. Default: `image` maps with `repository`/`tag`/`digest` keys at any depth.'),
        type='list',
        rule=validate.Pattern(max_len=200, max_items=3, regex=KEY_PATH, what="is not a dotted key path"),
        hint="give 2 or 3 dotted key paths: repository, tag and optionally "
             "digest, e.g. ['app.image.repository', 'app.image.tag']",
        checks=(_helm_keys_count,)),
    Var('CHART_APP_VERSION',
        doc=('Also set `appVersion` in the `Chart.yaml` beside each Helm values file (`values.yaml`, '
             '`values-*.yaml`) whose image tag was bumped, to that tag (added when missing; left alone '
             "with a warning when the chart's values got several different tags). Default: `false`."),
        type='boolean',
        default=False),
    Var('ALLOW_DOWNGRADE',
        doc=('Allow a `TAG` that is a lower semantic version than every reference it replaces (`6.14.1` -> '
             "`6.9.9`), a rollback on purpose; Flux's image policies never make one, so without it such a "
             'bump is refused and nothing changes. A tag of another style than the one replaced (`6.14.1` -> '
             '`v6.14.2`, a version -> `sha-…`) is never refused, only warned about. Default: `false`.'),
        type='boolean',
        default=False),
    Var('FLUX_RECEIVER_URL',
        doc=('The webhook URL of a Flux notification-controller `Receiver` (`https://<host>/hook/<digest>`, '
             "the Receiver's `status.webhookPath` on the host that exposes it; plain `http://` only to a "
             'loopback host; at most 2048 characters): after the commit lands on `BRANCH` (`MODE` `push` or '
             '`promote`), the pipe calls it so Flux reconciles the GitRepository at once instead of at its '
             'next poll (see Details, Deployed in seconds). A failed call is a warning, never a failure: the '
             'commit is pushed. The URL is secret (anyone who has it can make Flux reconcile): pass it as a '
             'secured variable; only its host is ever shown. Default: none (Flux polls).'),
        secret=True,  # a generic Receiver's URL path is its credential
        rule=validate.Url(),
        only_if=(lambda v: v.get("MODE") in ("push", "promote", None),
                 "is only called after a push to BRANCH (MODE push or promote): drop it "
                 "with MODE pull-request or dry-run")),
    Var('FLUX_RECEIVER_TOKEN',
        doc=('With `FLUX_RECEIVER_URL`, the token of a `generic-hmac` Receiver (the `token` of its secret): '
             'the request body is signed with HMAC-SHA256 and sent as `X-Signature: sha256=<hex>`; the token '
             'itself is never sent. Without it, the URL alone calls a `generic` Receiver. Pass it as a '
             'secured variable.'),
        secret=True,
        rule=validate.Token(),
        only_if=(lambda v: bool(v.get("FLUX_RECEIVER_URL")),
                 "is set but FLUX_RECEIVER_URL is not: set the Receiver's URL, or drop it")),
    Var('MODE',
        doc=('`push` (commit onto `BRANCH`), `pull-request` (commit onto a branch of our own and open or '
             'update a pull request), `dry-run` (print the unified diff, change nothing), or `promote` (a '
             'push of a promotion: needs `FROM_PATHS` and `PATHS`). Default: `push`.'),
        default="push",
        choices=MODES,
        note='Optional: push, pull-request, dry-run or promote',
        checks=(_pull_request_credentials,)),
    Var('BITBUCKET_ACCESS_TOKEN',
        doc=('Repository access token of the GitOps repository (the recommended credential; project and '
             'workspace access tokens need Bitbucket Premium): git over HTTPS as `x-token-auth`, and the '
             'Bitbucket API for pull requests as `Authorization: Bearer` (scopes Repositories: Read and '
             'Write, `repository` and `repository:write`; for pull requests also Pull requests: Read and '
             'Write, `pullrequest` and `pullrequest:write`). Pass it as a secured variable.'),
        secret=True,
        rule=validate.Token(),
        hint="pass a repository access token of the GitOps repository "
             "as a secured variable"),
    Var('ATLASSIAN_EMAIL',
        doc=('An Atlassian API token with scopes (`read:repository:bitbucket` and '
             '`write:repository:bitbucket`; for pull requests also `read:pullrequest:bitbucket` and '
             '`write:pullrequest:bitbucket`: a write scope does not include its read scope, and the pipe '
             'clones and looks up its open pull request before it writes) and the email of its account (at'
             ' most 254 characters): git over HTTPS as `x-bitbucket-api-token-auth` and the token, the '
             'Bitbucket API as HTTP Basic with the email and the token (the API takes the email, not the '
             'username). Both or neither; not with `BITBUCKET_ACCESS_TOKEN`. `ATLASSIAN_API_TOKEN` (at '
             'most 1024 characters) is secret.'),
        rule=validate.Pattern(max_len=254, regex=EMAIL_RE, what="is not an email"),
        hint="give the email of the Atlassian account the API token "
             "belongs to, e.g. ci-bot@example.com",
        checks=(validate.needs("ATLASSIAN_EMAIL", "ATLASSIAN_API_TOKEN", "pass the API token as a secured variable"),)),
    Var('ATLASSIAN_API_TOKEN',
        doc='',
        secret=True,
        rule=validate.Token(max_len=1024),
        hint="pass an Atlassian API token with scopes (at most 1024 "
             "characters) as a secured variable",
        checks=(_one_bitbucket_token, validate.needs(
            "ATLASSIAN_API_TOKEN", "ATLASSIAN_EMAIL",
            "give the email of the Atlassian account the token belongs to (the REST API takes it)"))),
    Var('GIT_USERNAME',
        doc=("Other HTTPS credentials (another git host's user and token). `GIT_PASSWORD` is secret. "
             'Bitbucket app passwords no longer work: use `BITBUCKET_ACCESS_TOKEN` or '
             '`ATLASSIAN_EMAIL`/`ATLASSIAN_API_TOKEN`. When given with a token, git uses these and the API'
             ' the token.'),
        rule=validate.Pattern(regex=r"[^\s:]+", what="holds a space or ':'"),
        only_if=_only_https("GIT_USERNAME"), checks=(validate.needs(
            "GIT_USERNAME", "GIT_PASSWORD",
            "pass the password or token as GIT_PASSWORD (a secured variable), or use BITBUCKET_ACCESS_TOKEN"),)),
    Var('GIT_PASSWORD',
        doc='',
        secret=True,
        rule=validate.Token(),
        hint="pass it as a secured variable",
        only_if=_only_https("GIT_PASSWORD")),
    *sshkey.variables(
        ('Base64 of a private key (`base64 -w0 < id_ed25519`), for SSH URLs, whose public key is an '
         "SSH key of a Bitbucket account that may write to the GitOps repository (a repository's "
         'access keys only read: flux-bump could clone but not push). Default: the SSH key configured '
         "in the repository's Pipelines settings."),
        ('known_hosts lines of the git host (plain or base64). Default: the known hosts configured in '
         "the repository's Pipelines settings. Host keys are always checked."),
        only_if=(lambda v: not _https(v), "is only used with an SSH GITOPS_REPO (git@host:path or ssh://): "
                 "use an SSH URL or drop ")),
    Var('DIGITALOCEAN_ACCESS_TOKEN',
        doc=('Registry credentials, as `build-push` takes them: when set, every tag (and digest) is looked'
             ' up in the registry the image name starts with before anything is cloned, and a tag that is '
             'not there, or that points at another digest than `DIGEST`, is refused (nothing is written). '
             'For `registry.digitalocean.com` (or with `DIGITALOCEAN_API_URL`) the token buys short-lived '
             'read-only registry credentials from the DigitalOcean API (scope: registry read); other '
             'registries take `REGISTRY_USERNAME` and the token as password. The token (or the credentials'
             ' it buys) goes only to `registry.digitalocean.com`, to `REGISTRY_HOST` or to the registry of'
             " an `IMAGE`/`IMAGES` you set, never to a registry that only build-push's outputs name: for "
             'an image handed over on another registry, set `REGISTRY_HOST` (as for build-push). With a '
             'promotion, the reference read under `FROM_PATHS` is looked up after the clone and before '
             'anything is written: the digest it pins (else its tag) must be in the registry. Pass it as a '
             'secured variable. Default: no registry check.'),
        secret=True,
        hint="pass a DigitalOcean API token with registry read scope "
             "as a secured variable",
        rule=validate.Text(max_len=1024)),
    Var('REGISTRY_HOST',
        doc=('With `DIGITALOCEAN_ACCESS_TOKEN`, a registry other than DOCR that may get the token '
             "(`host[:port]`, as build-push's `REGISTRY_HOST`): needed when the image comes from "
             "build-push's outputs and is not on `registry.digitalocean.com`. Default: only DOCR and the "
             'registries of `IMAGE`/`IMAGES`.'),
        rule=validate.Host(max_len=260),
        hint="give the registry host[:port] build-push pushes to, e.g. "
             "registry.digitalocean.com",
        only_if=_with_token("REGISTRY_HOST")),
    Var('REGISTRY_USERNAME',
        doc=('With `DIGITALOCEAN_ACCESS_TOKEN`, the registry user for a registry other than DOCR. Default:'
             ' the token.'),
        hint="leave it unset for DOCR (the token is the username)",
        only_if=_with_token("REGISTRY_USERNAME")),
    Var('DIGITALOCEAN_API_URL',
        doc=('With `DIGITALOCEAN_ACCESS_TOKEN`, the DigitalOcean API to ask for the read-only registry '
             'credentials (`https://api.digitalocean.com` for `registry.digitalocean.com` images when '
             'unset): `https://` (plain `http://` only to a loopback host: `localhost`, 127.0.0.0/8 or '
             '::1), since the token goes there.'),
        rule=validate.Url(max_len=1024),
        hint="give the API base URL, e.g. https://api.digitalocean.com",
        default=DO_API_URL,
        only_if=_with_token("DIGITALOCEAN_API_URL", DO_API_URL)),
    Var('VERIFY_KEYS',
        doc=('The signature gate: one or more ECDSA P-256 public keys (PEM `PUBLIC KEY` blocks, as '
             '`cosign.pub`, one after the other, or the base64 of them; at most 20). With it, before '
             'anything is cloned, the digest each tag resolves to in the registry (for a multi-platform '
             "image, the index's) must carry a valid cosign signature by one of the keys (the "
             '`sha256-<hex>.sig` tag or OCI 1.1 referrers; every signature is read), or nothing is '
             'written (see Details, Signed images). With a promotion, the digest read under `FROM_PATHS` '
             '(else the one its tag resolves to) must be signed, checked after the clone and before '
             'anything is written. Needs `DIGITALOCEAN_ACCESS_TOKEN` (the registry is read with its '
             'credentials). Default: no signature is required.'),
        rule=signatures.PublicKeys(multiline=True, echo=False),
        hint="give the PEM public key(s) of the signing key(s) (cosign.pub), or their base64",
        note='Optional: cosign public key(s)',
        only_if=(lambda v: bool(v.get("DIGITALOCEAN_ACCESS_TOKEN")),
                 "needs DIGITALOCEAN_ACCESS_TOKEN (the signatures are read from the registry with "
                 "it): set the token, or drop VERIFY_KEYS")),
    Var('VERIFY_ATTESTATION',
        doc=('With `VERIFY_KEYS`, also require a signed SBOM: an in-toto attestation of predicate type '
             'SPDX JSON (`https://spdx.dev/Document`) about the same digest, signed by one of the keys '
             '(`sha256-<hex>.att` or referrers, as `cosign attest --type spdxjson` writes it). Default: '
             '`false`.'),
        type='boolean',
        default=False,
        only_if=(lambda v: bool(v.get("VERIFY_KEYS")) or not v.get("VERIFY_ATTESTATION"),
                 "is only used with VERIFY_KEYS: set the public key(s), or drop VERIFY_ATTESTATION")),
    Var('COMMIT_MESSAGE',
        doc=('Template (at most 10000 characters) with `{image}`, `{tag}`, `{digest}`, `{short_digest}` '
             '(`sha256:` and 12 hex digits), `{images}` (every `image:tag[@digest]`), `{old}`, `{files}`, '
             '`{commit}` (the source commit), `{build_url}` (plain fields only: a format spec or '
             'conversion such as `{tag:>20}` or `{tag!r}` is refused; write `{{`/`}}` for braces); with '
             'several images, `{image}`, `{tag}`, `{digest}` and `{short_digest}` list each, '
             "comma-separated. The first line is the pull request's title, the rest its description. "
             'Default: `Bump <image> to <tag>` (`Bump <n> images`, `Promote …`) and one line per changed '
             'value, the source commit and the build link.'),
        rule=validate.Text(max_len=10_000, multiline=True),
        hint="give a template of at most 10000 characters, e.g. "
             "'Bump {image} to {tag}'",
        checks=(_template("COMMIT_MESSAGE", message.FIELDS),)),
    Var('BRANCH_NAME',
        doc=("Pull-request mode: template of the pull request's branch (at most 200 characters) with "
             "`{name}` (the image's last path component; `<n>-images` for several), `{image}`, `{tag}`, "
             '`{short_digest}` (12 hex digits), `{commit}`, `{short_commit}`; plain fields only (no format'
             ' spec or conversion); characters a branch cannot hold become `-`, and the result must be a '
             'valid branch name other than `BRANCH`. An existing branch of that name is used only when the'
             ' pipe made it (see Details, Delivery): a branch someone else owns (`production`) is refused.'
             ' A template without the tag (`flux-bump/{name}`) keeps one pull request per image, updated '
             'by each run. Default: `flux-bump/<image>-<tag>-<hash>` (`flux-bump/<n>-images-<hash>`).'),
        rule=validate.Pattern(max_len=200, regex=r"[^\s~^:?*\[\\]+",
                                    what="holds characters a branch name cannot have"),
        hint="give a branch name template of at most 200 characters, "
             "e.g. flux-bump/{name}-{tag}",
        note='Optional: pull-request mode',
        only_if=_only_pull_request, checks=(_template("BRANCH_NAME", BRANCH_FIELDS),)),
    Var('REVIEWERS',
        doc=('Pull-request mode: list of at most 20 reviewers, each an Atlassian account id (`557058:…` or'
             ' 24 hex digits; `GET /2.0/workspaces/{workspace}/members` lists them) or a `{uuid}`. Set on '
             'a new pull request; on an open one, the list replaces its reviewers. Default: none.'),
        type='list',
        rule=validate.Pattern(max_len=128, max_items=20, regex=REVIEWER, what="is not an Atlassian account id"),
        hint="give the account id (e.g. 557058:0b7c0a34-…, from the user's profile URL or "
             "GET /2.0/workspaces/{workspace}/members) or the {uuid}",
        note='Optional: pull-request mode',
        only_if=_only_pull_request),
    Var('CLOSE_SOURCE_BRANCH',
        doc="Pull-request mode: delete the pull request's branch when it is merged. Default: `true`.",
        type='boolean',
        default=True),
    Var('SIGNING_KEY',
        doc=("SSH private key (unencrypted, e.g. `ssh-keygen -t ed25519 -N ''`), plain or base64, at most "
             '16384 characters: every commit the pipe makes is signed with it (`gpg.format ssh`), '
             "including one re-applied after a race and a pull request's. Pass it as a secured variable. "
             'Verify with an allowed-signers file holding `GIT_AUTHOR_EMAIL` and the public key (see '
             'Details). Default: commits are not signed.'),
        secret=True,
        # an RSA-4096 OpenSSH key is about 3,400 characters, 4,600 in base64
        rule=validate.Text(max_len=16384, multiline=True),
        hint="give an unencrypted SSH private key, plain or "
             "base64, as a secured variable"),
    Var('GIT_AUTHOR_NAME',
        doc=('Commit identity. Default: `flux-bump` and `flux-bump@noreply.bitbucket.org` (shown as '
             '`flux-bump <flux-bump@noreply.bitbucket.org>`).'),
        default="flux-bump",
        rule=validate.Pattern(regex=r"[^<>]+", what="holds '<' or '>'")),
    Var('GIT_AUTHOR_EMAIL',
        doc='',
        default="flux-bump@noreply.bitbucket.org",
        rule=validate.Pattern(max_len=254, regex=EMAIL_RE, what="is not an email")),
    Var('RETRIES',
        doc=('How many times a push rejected because the branch moved is retried (each retry fetches only '
             'the new tip and replays the commit onto it; no clone). Default: `10` (sixteen concurrent '
             'bumps of one branch all land with it).'),
        type='integer',
        default=10,
        hint="give a whole number of push retries between 0 and 50",
        minimum=0, maximum=50),
    Var('BITBUCKET_API_URL',
        doc=('Bitbucket API base URL, `https://` (plain `http://` only to a loopback host). Default: '
             '`https://api.bitbucket.org`.'),
        default=DEFAULT_API_URL,
        rule=validate.Url()),
    Var('CLONE_DIR',
        doc=('Where to clone (kept afterwards, for inspection), outside the build directory '
             "(`BITBUCKET_CLONE_DIR`; symbolic links are followed to tell): the GitOps repository's files "
             "never land among the application's. Default: a temporary folder, removed at the end."),
        rule=validate.NewFolder()),
    Var('DEBUG',
        doc='Verbose logs (commands run; secrets stay masked). Default: `false`.',
        type='boolean',
        default=False),
))
