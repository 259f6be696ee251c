"""The pipe variables, one declaration each (public interface: names, types and defaults are
versioned by semver; pipe.yml and the README's Variables and YAML Definition are generated from
here by ``./dev docs``)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pipes_common import validate
from pipes_common.bitbucket import DEFAULT_API_URL
from pipes_common.docr import DEFAULT_API_URL as DO_API_URL
from pipes_common.variables import Var, Variables

DURATION = r"[1-9][0-9]{0,5}[mhd]"  # 30m, 12h, 7d
REGISTRY_NAME = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
REPOSITORY = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
GLOB = r"[A-Za-z0-9_.*?\[\]!/:-]{1,255}"  # a tag glob, or repository:tag glob
REPO_SLUG = r"[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}"
BRANCH = r"(?!/|.*([/.]\.|//|@\{|\\|\.lock$|[/.]$))[^\x00-\x20~^:?*\[\x7f]{1,255}"


def _gitops(values: Mapping[str, Any]) -> bool:
    return bool(values.get("GITOPS_REPO"))


def _https_gitops(values: Mapping[str, Any]) -> str | None:
    url = str(values.get("GITOPS_REPO") or "")
    if url and not url.startswith(("https://", "http://")):
        return ("GITOPS_REPO: the pipe clones over https only (with GITOPS_ACCESS_TOKEN): give the "
                "https clone URL, e.g. https://bitbucket.org/acme/gitops.git")
    return None


VARIABLES = Variables((
    Var('DIGITALOCEAN_ACCESS_TOKEN',
        doc=('DigitalOcean API token with the scopes `registry:read`, `registry:delete` and '
             '`registry:create` (starting garbage collection), or a full-access token. `registry:read` '
             'alone is enough while `DRY_RUN` is `true`. Pass it as a secured variable.'),
        required=True,
        secret=True,
        hint="pass a DigitalOcean API token as a secured variable"),
    Var('REGISTRY_NAME',
        doc='The registry (`registry.digitalocean.com/<REGISTRY_NAME>`).',
        required=True,
        rule=validate.Pattern(max_len=63, regex=REGISTRY_NAME,
                              what="is not a registry name (lowercase letters, digits and '-')"),
        hint="give the registry's name, e.g. acme"),
    Var('REPOSITORIES',
        doc='The repositories to clean, e.g. `[web, api]`. Default: every repository of the registry.',
        type='list',
        rule=validate.Pattern(max_len=255, regex=REPOSITORY, what="is not a repository name"),
        hint="give repository names as build-push's IMAGE, e.g. web"),
    Var('KEEP_PER_BRANCH',
        doc=('How many images of each branch to keep, newest first: the tags of a branch family are '
             'the branch tag build-push moves (`main`), `<branch>-<commit>` and `<branch>-<number>` tags, '
             'and commit tags `sha-<commit>` beside them. Default: `5`.'),
        type='integer',
        default=5,
        minimum=0,
        maximum=10000,
        hint="give a whole number, e.g. 5"),
    Var('KEEP_RELEASES',
        doc=('The release tags (`1.4.2`, `v1.4.2`, `2.0.0-rc.1`) to keep: `all`, or the newest N versions. '
             "The floating tags `latest`, `X` and `X.Y` are always kept. Default: `all`."),
        default="all",
        rule=validate.Pattern(max_len=6, regex=r"all|0|[1-9][0-9]{0,4}", what="is neither all nor a number"),
        hint="give all, or a whole number such as 20"),
    Var('MIN_AGE',
        doc='A tag younger than this is kept whatever else applies: minutes, hours or days (`30m`, `12h`, `7d`). '
            'Default: `7d`.',
        default="7d",
        rule=validate.Pattern(max_len=7, regex=DURATION, what="is not a duration"),
        hint="give a number and m, h or d, e.g. 7d"),
    Var('PROTECT',
        doc=('Tags never deleted: globs of a tag (`stable`, `prod-*`) or of `repository:tag` (`web:hotfix-*`). '
             'Default: none.'),
        type='list',
        rule=validate.Pattern(max_len=255, regex=GLOB, what="is not a tag glob"),
        hint="give globs of tags, e.g. prod-*"),
    Var('BITBUCKET_ACCESS_TOKEN',
        doc=('A repository access token of the application repository with `read:repository:bitbucket` '
             '(a repository access token with Repositories Read): with it the pipe asks which branches '
             'exist and deletes the tag families of branches that no longer do. Default: no branch is '
             'taken as deleted. Pass it as a secured variable.'),
        secret=True,
        hint="pass a repository access token with repository read scope"),
    Var('SOURCE_REPOSITORY',
        doc=("With `BITBUCKET_ACCESS_TOKEN`, the application repository whose branches name the tag "
             "families, as `<workspace>/<repository>`. Default: the repository of the step."),
        rule=validate.Pattern(max_len=201, regex=REPO_SLUG, what="is not <workspace>/<repository>"),
        hint="give workspace/repository, e.g. acme/web",
        only_if=(lambda v: bool(v.get("BITBUCKET_ACCESS_TOKEN")),
                 "is only used with BITBUCKET_ACCESS_TOKEN: set the token or drop it")),
    Var('BITBUCKET_API_URL',
        doc=('The Bitbucket REST API (`https://`; plain `http://` only to a loopback host). '
             f'Default: `{DEFAULT_API_URL}`.'),
        default=DEFAULT_API_URL,
        rule=validate.Url(max_len=1024),
        hint="give the API base URL, e.g. https://api.bitbucket.org"),
    Var('GITOPS_REPO',
        doc=('The GitOps repository (https clone URL) whose manifests name the images that run: every tag '
             'and digest of the registry named there, on each branch of `GITOPS_BRANCHES`, is kept. '
             'The pipe clones it read-only and partially (the YAML files of each branch tip only). '
             'Default: none.'),
        rule=validate.GitUrl(max_len=1024),
        hint="give the https clone URL, e.g. https://bitbucket.org/acme/gitops.git",
        checks=(_https_gitops,)),
    Var('GITOPS_BRANCHES',
        doc='The branches of `GITOPS_REPO` to read. Default: `main`.',
        type='list',
        rule=validate.Pattern(max_len=255, regex=BRANCH, what="is not a branch name"),
        hint="give branch names, e.g. [main, production]",
        only_if=(_gitops, "is only used with GITOPS_REPO: set GITOPS_REPO or drop it")),
    Var('GITOPS_ACCESS_TOKEN',
        doc=('An access token of `GITOPS_REPO` with `read:repository:bitbucket` only (Repositories Read). '
             'Default: none (a public repository). Pass it as a secured variable.'),
        secret=True,
        hint="pass an access token of the GitOps repository with repository read scope",
        only_if=(_gitops, "is only used with GITOPS_REPO: set GITOPS_REPO or drop it")),
    Var('DRY_RUN',
        doc=('`true`: print the plan per repository (kept and why, deleted, bytes freed) and change '
             'nothing. `false`: delete the plan, then start garbage collection. Default: `true`.'),
        type='boolean',
        default=True),
    Var('GARBAGE_COLLECTION',
        doc=("After deleting, start garbage collection (untagged manifests and unreferenced blobs, as doctl's "
             '`--include-untagged-manifests`; the registry is read-only while it runs) and wait for it. '
             'Default: `true`.'),
        type='boolean',
        default=True),
    Var('GC_WAIT',
        doc=('How long to wait for the garbage collection to end (`30m`, `1h`); then the pipe reports it as '
             'still running, with its id, and succeeds. Default: `15m`.'),
        default="15m",
        rule=validate.Pattern(max_len=7, regex=DURATION, what="is not a duration"),
        hint="give a number and m, h or d, e.g. 15m"),
    Var('DIGITALOCEAN_API_URL',
        doc=('The DigitalOcean API (`https://`; plain `http://` only to a loopback host). '
             f'Default: `{DO_API_URL}`.'),
        default=DO_API_URL,
        rule=validate.Url(max_len=1024),
        hint="give the API base URL, e.g. https://api.digitalocean.com"),
    Var('DEBUG',
        doc='Verbose logs (the commands run); secrets stay masked. Default: `false`.',
        type='boolean',
        default=False),
))
