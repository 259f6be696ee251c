"""The pipe variables, one declaration each (public interface: names, types and defaults are
versioned by semver; pipe.yml and the README's Variables and YAML Definition are generated from
here by ``./dev docs``)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pipes_common import imageref, registrylogin, sshkey, validate
from pipes_common.docr import DEFAULT_API_URL, DOCR_HOST
from pipes_common.variables import Var, Variables


def _name_length(values: Mapping[str, Any]) -> str | None:
    """The whole image name, registry host included, within what Docker accepts."""
    host = registrylogin.registry_host(str(values.get("REGISTRY_HOST") or DOCR_HOST))
    name = f"{host}/{values.get('REGISTRY_NAME')}/{values.get('IMAGE')}"
    if len(name) <= imageref.MAX_NAME:
        return None
    return (f"IMAGE makes the image name {len(name)} characters long, more than "
            f"{imageref.MAX_NAME}: shorten IMAGE (or REGISTRY_NAME)")


def _generator_without_key(values: Mapping[str, Any]) -> str | None:
    """SBOM_GENERATOR is BuildKit's scanner; with SIGNING_KEY the pipe's syft makes the SBOM."""
    if values.get("SBOM_GENERATOR") and values.get("SIGNING_KEY"):
        return ("SBOM_GENERATOR is BuildKit's scanner, not used with SIGNING_KEY (the pipe then makes "
                "the SBOM itself with syft and signs it): drop SBOM_GENERATOR")
    return None


KEY = r".+"  # of a BUILD_ARGS or LABELS entry: any, not empty
REF_RE = rf"{imageref.NAME}(?::{imageref.TAG})?(?:@{imageref.DIGEST})?"
VARIABLES = Variables((
    Var('DIGITALOCEAN_ACCESS_TOKEN',
        doc=('DigitalOcean API token with the custom scopes `registry:read` and `registry:update` (or full'
             ' access). It authenticates the DigitalOcean API calls and, only when short-lived credentials'
             ' cannot be had, the push. Store it as a secured variable.'),
        required=True,
        secret=True,
        rule=validate.Token(),
        hint="add a DigitalOcean API token as a secured repository variable and pass "
             "it as DIGITALOCEAN_ACCESS_TOKEN: $DIGITALOCEAN_ACCESS_TOKEN"),
    Var('REGISTRY_NAME',
        doc='Name of your DOCR registry, e.g. `acme` (lowercase letters, digits, `-`).',
        required=True,
        rule=validate.Pattern(max_len=63, regex=r"[a-z0-9-]{1,63}",
                                      what="is not a registry name"),
        hint="use the registry's name as DigitalOcean shows it: lowercase letters, "
             "digits and '-', at most 63 characters (e.g. acme)"),
    Var('IMAGE',
        doc=('Repository inside the registry, e.g. `web`. The image is '
             '`<REGISTRY_HOST>/<REGISTRY_NAME>/<IMAGE>`.'),
        required=True,
        rule=validate.Pattern(max_len=imageref.MAX_NAME, regex=imageref.PATH,
                              what="is not an image repository name"),
        hint="use a repository name of lowercase letters, digits and separators "
             "(. _ - /), without registry host or tag (e.g. web)"),
    Var('TAGS',
        doc=('List of tags. Default: the branch name made tag-safe for branch builds (`feature/Login` → '
             '`feature-Login`); for a git tag `vX.Y.Z` or `X.Y.Z`: `X.Y.Z`, `X.Y`, `X` and `latest` (a '
             'pre-release such as `2.0.0-rc.1` gets only its own tag), where `latest`, `X` and `X.Y` move '
             'only forward (see [Release tags](#release-tags)). The commit tag `sha-<7 chars>` is always '
             'added when the commit is known: it identifies the build for `SKIP_IF_EXISTS`.'),
        type='list',
        rule=validate.Pattern(max_len=128, max_items=50, regex=imageref.TAG,
                              what="is not a valid Docker tag"),
        hint="use letters, digits, '_', '.' and '-', not starting with '.' or '-', at most 128 characters"),
    Var('DOCKERFILE',
        doc=('Path of the Dockerfile, relative to the repository root; it must stay inside the build '
             'directory (`..` and symbolic links resolved). Default: `Dockerfile`.'),
        default="Dockerfile",
        rule=validate.InsideDir()),
    Var('CONTEXT',
        doc=('Build context folder, relative to the repository root, inside the build directory (`..` and '
             'symbolic links resolved). Default: `.`.'),
        default=".",
        rule=validate.InsideDir()),
    Var('TARGET',
        doc='Build stage to stop at (`docker build --target`).',
        rule=validate.Pattern(max_len=128, regex=r"[A-Za-z0-9][A-Za-z0-9_.-]*",
                               what="is not a build stage name")),
    Var('BUILD_ARGS',
        doc=('List of `KEY=VALUE` build arguments. Do not pass secrets this way: build arguments are '
             'visible in the image history (use `SECRETS`). As one may hold a secret all the same, each '
             "`KEY=VALUE` is masked in the pipe's log like a secret, and so is each value of 8 characters "
             'or more that is not a number or `true`/`false` (shorter values, numbers and booleans read as'
             " configuration and stay shown), except the step's own commit, branch or tag."),
        type='list',
        rule=validate.Text(max_len=8192, echo=False),
        example="['KEY=VALUE']",
        checks=(validate.assignments("BUILD_ARGS", KEY, "KEY=VALUE: write it as NAME=value"),)),
    Var('LABELS',
        doc=('List of `KEY=VALUE` labels. They override the OCI labels the pipe adds '
             '(`org.opencontainers.image.source`, `.revision` (the full commit), `.created`, `.version`). '
             'Overriding `.revision` turns `SKIP_IF_EXISTS` off in effect: the skip needs the full commit '
             "there. The pipe also adds `do-pipes.build-push.inputs`, the key of the build's inputs the "
             'skip compares.'),
        type='list',
        rule=validate.Text(max_len=4096),
        example="['KEY=VALUE']",
        checks=(validate.assignments("LABELS", KEY, "KEY=VALUE: write it as NAME=value"),)),
    Var('CACHE_FROM',
        doc=("List of images to use as build cache. Default: the image's branch tag and `latest`, when "
             "they exist in the registry; on an engine with the containerd image store, the branch's "
             'registry cache `buildcache-<branch>` (for a new branch, `buildcache-main` or `buildcache-'
             'master`) instead, when one exists. An empty list (`[]`) disables it. Where the engine keeps '
             'images with a graph driver (overlay2) they are pulled before the build; on the containerd '
             'store BuildKit reads them from the registry (see [Cache](#cache)). The registry credentials '
             'go only to `REGISTRY_HOST`: an image on another registry is read without credentials, so it '
             'must be public there (else the build goes on without it, with one warning).'),
        type='list',
        rule=validate.Pattern(max_len=512, max_items=20, regex=REF_RE,
                                   what="is not an image reference"),
        example="['<image:tag>']"),
    Var('BUILDER',
        doc=('`auto`, `buildkit` or `classic`. `auto` builds with BuildKit when a docker CLI and an engine'
             ' with BuildKit are there, else with the classic builder after one warning line; `buildkit` '
             'fails instead of falling back. See [Builder](#builder). Default: `auto`.'),
        default="auto",
        choices=("auto", "buildkit", "classic")),
    Var('SECRETS',
        doc=('List of `id=VARIABLE` build secrets (e.g. `npmrc=NPM_TOKEN`): the value of the pipe variable'
             ' `VARIABLE` is mounted for `RUN --mount=type=secret,id=<id>` and never enters the image. '
             'Pass the variable itself to the pipe too (`NPM_TOKEN: $NPM_TOKEN`). BuildKit only. See '
             '[Build secrets](#build-secrets).'),
        type='list',
        rule=validate.Text(max_len=512, max_items=50, echo=False),
        example="['<id>=<VARIABLE>']"),
    Var('SSH',
        doc=('`true` forwards the SSH key to `RUN --mount=type=ssh` (private git dependencies) and hands '
             'the known hosts to the build as the secret `known_hosts`. BuildKit only. See [SSH](#ssh). '
             'Default: `false`.'),
        type='boolean',
        default=False),
    *sshkey.variables(
        ("Base64 of the private key `SSH` forwards (`base64 -w0 < id_ed25519`), as a secured variable. "
         "Default: the repository's SSH key (Repository settings > Pipelines > SSH keys)."),
        ("Known hosts lines for `SSH` (`ssh-keyscan -t ed25519 <host>`), plain or base64. Default: the "
         "known hosts of Repository settings > Pipelines > SSH keys."),
        only_if=(lambda v: bool(v.get("SSH")), "is only used with SSH: 'true' (forwarding the key to RUN "
                 "--mount=type=ssh): set SSH: 'true' or drop ")),
    Var('CACHE_TO',
        doc=('A buildx cache export: an image reference (`<image>:buildcache`, exported as '
             "`type=registry,ref=<image>:buildcache,mode=max`, every stage's layers) or a full export spec "
             '(`type=registry,ref=…,mode=min`), passed to `docker buildx build --cache-to`. Default, on an '
             'engine with the containerd image store: '
             '`type=registry,ref=<image>:buildcache-<branch>,mode=min` for a branch build (the records '
             "of the image's own layers; give `mode=max` to keep the other stages' layers too). Needs "
             'buildx and '
             'an engine with the containerd image store; elsewhere the pipe stops with one line saying what '
             'to change. See [Cache](#cache).'),
        rule=validate.Pattern(max_len=1024, regex=r"[^\s]+", what="holds a space"),
        hint="give a buildx cache export, e.g. "
             "type=registry,ref=<image>:buildcache,mode=max",
        note='Optional (needs buildx and the containerd image store)'),
    Var('PLATFORMS',
        doc=('Platforms of a multi-platform image, `os/arch[/variant]` entries, comma-separated '
             '(`linux/amd64,linux/arm64`): one OCI index pushed under every tag. Needs buildx and an engine '
             'with the containerd image store (see [Multi-platform images](#multi-platform-images)); '
             'elsewhere the pipe stops with one line saying what to change in `bitbucket-pipelines.yml`. '
             "Default: the engine's platform."),
        rule=validate.Text(max_len=256),
        only_if=(lambda v: v.get("PUSH") is not False,
                 "needs PUSH: a multi-platform image cannot be kept in the Docker engine; set PUSH to "
                 "true or remove PLATFORMS"),
        note='Optional (needs buildx and the containerd image store)'),
    Var('PROVENANCE',
        doc=("`min`, `max` or `off`: the build's provenance attestation (buildx `--provenance`), attached to "
             'the pushed index. Where the engine cannot attach attestations (no buildx or no containerd '
             'image store) none is attached and one info line says so. Default: `min`.'),
        default="min",
        choices=("min", "max", "off")),
    Var('SBOM',
        doc=('`true` attaches an SBOM. With `SIGNING_KEY`: an SPDX JSON SBOM of the pushed image made by the '
             "pipe's own syft, attached as a signed attestation in cosign's format (see [Signed "
             'images](#signed-images)). Without: an SBOM attestation made by BuildKit while it builds (buildx '
             '`--attest type=sbom`) attached to the pushed index; where the engine cannot attach attestations '
             'none is attached and one info line says so. Default: `false`.'),
        type='boolean',
        default=False),
    Var('SBOM_GENERATOR',
        doc=("The image of the SBOM generator BuildKit runs (one following BuildKit's SBOM scanner "
             "protocol). Default: BuildKit's own (`docker/buildkit-syft-scanner`, which the Docker service "
             "pulls). Only with `SBOM: 'true'`."),
        rule=validate.Pattern(max_len=512, regex=REF_RE, what="is not an image reference"),
        hint="give the image of an SBOM generator following BuildKit's scanner protocol, "
             "e.g. docker/buildkit-syft-scanner",
        only_if=(lambda v: bool(v.get("SBOM")),
                 "is only used with SBOM: 'true': set SBOM: 'true' or drop SBOM_GENERATOR"),
        checks=(_generator_without_key,)),
    Var('SIGNING_KEY',
        doc=('Private key that signs every pushed digest (the image; for a multi-platform image the index and '
             "each platform's manifest) in cosign's format, which `cosign verify` checks: an ECDSA P-256 key "
             'as PEM (PKCS#8, plain or encrypted, as `openssl genpkey` writes it) or the `cosign.key` of '
             '`cosign generate-key-pair`, the text or its base64 (`base64 -w0 < cosign.key`), as a secured '
             'variable. See [Signed images](#signed-images).'),
        secret=True,
        rule=validate.Text(max_len=16384, multiline=True),
        hint="give an ECDSA P-256 private key (cosign generate-key-pair's cosign.key, or a PKCS#8 PEM), "
             "or its base64, as a secured variable"),
    Var('SIGNING_KEY_PASSWORD',
        doc=('Password of an encrypted `SIGNING_KEY` (the one `cosign generate-key-pair` asked for), as a '
             'secured variable.'),
        secret=True,
        rule=validate.Text(max_len=1024),
        hint="give the password of SIGNING_KEY as a secured variable",
        only_if=(lambda v: bool(v.get("SIGNING_KEY")),
                 "is only used with SIGNING_KEY: set SIGNING_KEY or drop SIGNING_KEY_PASSWORD")),
    Var('SKIP_IF_EXISTS',
        doc=("When the commit tag is already in the registry, its image's "
             '`org.opencontainers.image.revision` label is this full commit and its '
             '`do-pipes.build-push.inputs` label says it was built from the same inputs (Dockerfile '
             'content, `CONTEXT`, `TARGET`, `BUILD_ARGS`, `LABELS`), do not build: point the other tags at'
             ' the same manifest server-side and finish. Default: `true`.'),
        type='boolean',
        default=True),
    Var('PUSH',
        doc=('`false` builds and tags the image in the Docker engine only; the DigitalOcean API is not '
             'called. Default: `true`.'),
        type='boolean',
        default=True),
    Var('NETWORK',
        doc=("Network mode for `RUN` steps (`docker build --network`). Default: the engine's default; "
             '`host` when the engine has no default bridge network.'),
        rule=validate.Pattern(max_len=64, regex=r"[A-Za-z0-9][A-Za-z0-9_.:-]*",
                                what="is not a Docker network name"),
        hint="give a Docker network mode for RUN steps, e.g. host"),
    Var('REGISTRY_HOST',
        doc=('Registry host, `host[:port]` (no path or credentials). Default: `registry.digitalocean.com`.'
             ' Any other registry works too: with another host and `DIGITALOCEAN_API_URL` left at its '
             'default, the pipe is a plain registry push that never calls the DigitalOcean API.'),
        default=DOCR_HOST,
        rule=validate.Host(max_len=260),
        hint="give a host[:port] such as registry.digitalocean.com"),
    Var('REGISTRY_USERNAME',
        doc=('Username for a non-DOCR registry. Default: the token (DOCR takes the token as username and '
             'password).'),
        rule=validate.Pattern(regex=r"[^\s:]+", what="holds a space or ':'"),
        hint="leave it unset for DOCR (the token is the username)"),
    Var('DIGITALOCEAN_API_URL',
        doc=('DigitalOcean API base URL, `https://` (plain `http://` only to a loopback host). Default: '
             '`https://api.digitalocean.com`. Setting it to another URL turns the DOCR pre-flight on for '
             'any `REGISTRY_HOST`.'),
        default=DEFAULT_API_URL,
        rule=validate.Url(),
        hint="give the API base URL, "
             "e.g. https://api.digitalocean.com"),
    Var('DEBUG',
        doc=('Verbose logs (every build line, the commands and API calls). Secrets stay masked. Default: '
             '`false`.'),
        type='boolean',
        default=False),
), checks=(_name_length,))
