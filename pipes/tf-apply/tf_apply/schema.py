"""The pipe variables, one declaration each (names and defaults are the public interface;
pipe.yml and the README's Variables and YAML Definition are generated from here by ``./dev docs``)."""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

from pipes_common import validate
from pipes_common.bitbucket import DEFAULT_API_URL
from pipes_common.validate import Check
from pipes_common.variables import Var, Variables

MODES = ("plan", "apply", "destroy", "validate", "output", "drift")
LOCKING_MODES = ("auto", "lockfile", "off")
MIN_SIGNING_KEY = 32
VAR_NAME = r"[A-Za-z_][A-Za-z0-9_-]*"  # of a VARS entry

# options of terraform that would get around a variable of the pipe (and the guard behind it):
# refused in EXTRA_ARGS, naming the variable to use instead
_OWN_OPTIONS = {
    "lock": "LOCKING", "lock-timeout": "LOCK_TIMEOUT", "var-file": "VAR_FILES",
    "target": "TARGETS", "chdir": "WORKING_DIR", "state": "STATE_KEY", "state-out": "STATE_KEY",
    "backup": "STATE_KEY", "backend": "STATE_KEY", "backend-config": "STATE_KEY",
    "reconfigure": "STATE_KEY", "migrate-state": "STATE_KEY", "force-copy": "STATE_KEY",
    "out": "PLAN_ID", "destroy": "MODE (destroy)", "refresh-only": "REFRESH_ONLY (MODE drift)",
    "input": "nothing (the pipe runs Terraform with -input=false)",
    "json": "nothing (the pipe reads Terraform's -json output itself)",
    "plugin-dir": "nothing (providers come from terraform init and the plugin cache)",
}


def _relative_working_dir(values: Mapping[str, Any]) -> str | None:
    raw = str(values.get("WORKING_DIR") or ".")
    rel = PurePosixPath(raw.strip())
    if rel.is_absolute() or ".." in rel.parts:
        return (f"WORKING_DIR: '{raw}' must be a folder inside the repository, relative "
                "to its root (e.g. infra/prod)")
    return None


def _only_in_modes(name: str, *modes: str) -> Check:
    """``name`` is refused with another MODE (it would be silently ignored)."""
    def check(values: Mapping[str, Any]) -> str | None:
        mode = values.get("MODE")
        if values.get(name) and mode not in modes:
            return f"{name}: only used with MODE {' or '.join(modes)}, not {mode}: remove {name}"
        return None
    return check


def _own_options(values: Mapping[str, Any]) -> str | None:
    """``EXTRA_ARGS`` may not hold an option the pipe sets itself or that a variable stands for
    (``-lock=false`` would get around LOCKING, ``-var-file=/abs`` VAR_FILES, ...)."""
    for index, item in enumerate(values.get("EXTRA_ARGS") or []):
        name = str(item).split("=", 1)[0].lstrip("-").lower()
        instead = _OWN_OPTIONS.get(name)
        if instead is not None and str(item).startswith("-"):
            return (f"EXTRA_ARGS: item {index} (counting from 0) is -{name}, which the pipe "
                    f"decides itself: remove it from EXTRA_ARGS and use {instead}")
    return None


def _many_roots(values: Mapping[str, Any]) -> str | None:
    """``WORKING_DIRS`` replaces ``WORKING_DIR`` and ``STATE_KEY``, and never destroys."""
    if not values.get("WORKING_DIRS"):
        return None
    if str(values.get("WORKING_DIR") or ".").strip() not in (".", "./"):
        return "WORKING_DIRS: set either WORKING_DIR (one root) or WORKING_DIRS (many), not both"
    if values.get("STATE_KEY"):
        return ("WORKING_DIRS: STATE_KEY names one state: with WORKING_DIRS use STATE_KEY_TEMPLATE "
                "(e.g. {repo_slug}/{root}/terraform.tfstate) and remove STATE_KEY")
    if values.get("MODE") == "destroy":
        return ("WORKING_DIRS: MODE destroy runs on one root at a time: set WORKING_DIR to the root "
                "to destroy instead of WORKING_DIRS")
    return None


def _signing_key_length(values: Mapping[str, Any]) -> str | None:
    key = values.get("PLAN_SIGNING_KEY")
    if key and len(str(key)) < MIN_SIGNING_KEY:
        return (f"PLAN_SIGNING_KEY: it is {len(str(key))} characters long, too short to sign "
                f"saved plans: use a random key of at least {MIN_SIGNING_KEY} characters "
                "(openssl rand -hex 32)")
    return None


VARIABLES = Variables((
    Var('SPACES_ACCESS_KEY_ID',
        doc=('Spaces access key. Given to Terraform only as `AWS_ACCESS_KEY_ID` in its environment, never '
             'as `-backend-config` (which Terraform writes into `.terraform/` and plan files). Use a '
             'secured variable.'),
        required=True,
        secret=True,
        rule=validate.Token(max_len=256),
        hint="create a Spaces access key (Spaces Object Storage > Access Keys), store it as a secured "
             "repository variable and pass SPACES_ACCESS_KEY_ID: $SPACES_ACCESS_KEY_ID"),
    Var('SPACES_SECRET_ACCESS_KEY',
        doc=('Secret of the Spaces key, given to Terraform only as `AWS_SECRET_ACCESS_KEY`. Use a secured '
             'variable.'),
        required=True,
        secret=True,
        rule=validate.Token(max_len=256),
        hint="pass the secret of the Spaces access key as a secured variable: "
             "SPACES_SECRET_ACCESS_KEY: $SPACES_SECRET_ACCESS_KEY"),
    Var('SPACES_BUCKET',
        doc='The Space (bucket) holding the state, the lock file and the saved plans.',
        required=True,
        rule=validate.Pattern(
        max_len=63, regex=r"(?!.*(\.\.|\.-|-\.))[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]",
        what="is not a bucket name"),
        hint="give the name of the Space (bucket) that holds the state: 3-63 lowercase "
             "letters, digits, '.' and '-'"),
    Var('SPACES_REGION',
        doc=('Spaces region: the region of `SPACES_BUCKET`. Set it whenever the Space is not in `nyc3` '
             '(elsewhere the pipe finds no such Space). Default: `nyc3`. The endpoint is '
             '`https://<region>.digitaloceanspaces.com`.'),
        default="nyc3",
        rule=validate.Pattern(max_len=16, regex=r"[a-z]{3}[0-9]", what="is not a region"),
        hint="give the Spaces region, e.g. nyc3, ams3, fra1, sgp1"),
    Var('SPACES_ENDPOINT',
        doc=('Another S3 endpoint (a test server, another S3-compatible store): `https://host[:port]` '
             'without a path (plain `http://` only to a loopback host). Default: none. An endpoint that '
             'refuses the connection or does not resolve stops the pipe at once, before `terraform init`. '
             'IP addresses and `localhost` use path-style addressing.'),
        rule=validate.Url(path=False),
        hint="give the S3 endpoint URL, e.g. https://nyc3.digitaloceanspaces.com "
             "(leave it unset for Spaces)"),
    Var('STATE_KEY',
        doc=('Object key of the state (at most 512 characters; no `.` or `..` segment, leading `/` or '
             'empty segment: keys are sent as given, never normalised). Default: `<repository '
             'slug>/<WORKING_DIR>/terraform.tfstate` (`<repository slug>/terraform.tfstate` for `.`). '
             'Other workspaces than `default` are kept by Terraform at `env:/<WORKSPACE>/<STATE_KEY>`.'),
        rule=validate.ObjectKey(max_len=512),
        hint="give the object key of the state, e.g. web/prod/terraform.tfstate "
             "(letters, digits, / and -_.!*'()=+)",
        note='Optional, default <repo slug>/<working dir>/terraform.tfstate'),
    Var('WORKING_DIR',
        doc=('Folder of the Terraform configuration, relative to the repository root, inside the build '
             'directory (`..` and symbolic links resolved). Default: `.`'),
        default=".",
        rule=validate.InsideDir(),
        hint="give the folder of the Terraform configuration, relative to "
             "the repository root",
        checks=(_relative_working_dir,)),
    Var('WORKING_DIRS',
        doc=('List of globs of folders, relative to the repository root (`infra/*`, `envs/**`, '
             '`apps/*/infra`): every folder matched whose `.tf` files have a `terraform` block and '
             'that no matched folder calls as a local module is a root, run by this one step (see '
             '[Many roots](#many-roots)). Instead of `WORKING_DIR` and `STATE_KEY`; not with '
             '`MODE: destroy`. Default: none (one root, `WORKING_DIR`).'),
        type='list',
        rule=validate.RelativeGlob(max_items=100),
        example="['infra/*', 'apps/*/infra']",
        checks=(_many_roots,)),
    Var('STATE_KEY_TEMPLATE',
        doc=('With `WORKING_DIRS`: the state key of each root, `{root}` standing for its folder and '
             '`{repo_slug}` for the repository. Two roots with one key are refused before anything '
             'runs. Default: `{repo_slug}/{root}/terraform.tfstate`, the key `STATE_KEY` defaults to '
             'for `WORKING_DIR`.'),
        rule=validate.Pattern(max_len=512, regex=r"[A-Za-z0-9!_.*'()/=+{}-]+",
                              what="is not an object key template"),
        hint="give an object key with {root}, e.g. {repo_slug}/{root}/terraform.tfstate",
        only_if=(lambda v: bool(v.get("WORKING_DIRS")), "is only used with WORKING_DIRS: remove it "
                 "or set WORKING_DIRS")),
    Var('CHANGED_ONLY',
        doc=('With `WORKING_DIRS`: run only the roots whose files, local modules (followed through '
             '`source = "../…"`) or `VAR_FILES` changed: in a pull request between its destination '
             'and its last commit, elsewhere since the last successful apply of that root (recorded '
             'beside its state). Default: `true` in pull-request pipelines, `false` elsewhere.'),
        type='boolean',
        only_if=(lambda v: bool(v.get("WORKING_DIRS")), "is only used with WORKING_DIRS: remove it "
                 "or set WORKING_DIRS")),
    Var('PARALLELISM',
        doc='With `WORKING_DIRS`: how many roots run at once (1-16). Default: `4`.',
        type='integer',
        default=4,
        minimum=1,
        maximum=16,
        hint="give a whole number from 1 to 16"),
    Var('FAIL_FAST',
        doc=('With `WORKING_DIRS`: the first root that fails stops the roots not started yet (those '
             'running finish). Default: `false` (every root runs; the step fails if any failed).'),
        type='boolean',
        default=False),
    Var('MODE',
        doc='`plan`, `apply`, `destroy`, `validate`, `output` or `drift`. Default: `apply`.',
        default="apply",
        choices=MODES,
        note='Optional: plan, apply (default), destroy, validate, output, drift'),
    Var('PLAN_ID',
        doc=('With `plan`: the name under which the plan is saved (default: the commit, '
             '`$BITBUCKET_COMMIT`). With `apply`: apply exactly that saved plan, only in a step of the '
             'commit, branch and pull request (or none) that made it (see [Who may apply a saved '
             'plan](#who-may-apply-a-saved-plan)).'),
        rule=validate.Pattern(max_len=128, regex=r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}",
                                what="is not a plan id"),
        hint="use letters, digits, '.', '_' and '-' (at most 128), e.g. the commit "
             "$BITBUCKET_COMMIT printed by the plan step",
        checks=(_only_in_modes("PLAN_ID", "plan", "apply"),)),
    Var('WORKSPACE',
        doc='Terraform workspace; created by `plan`/`apply` when missing. Default: `default`.',
        default="default",
        rule=validate.Pattern(max_len=90, regex=r"[A-Za-z0-9][A-Za-z0-9_-]{0,89}",
                                  what="is not a workspace name"),
        hint="use letters, digits, '_' and '-', e.g. staging"),
    Var('VAR_FILES',
        doc='List of `.tfvars` files, relative to `WORKING_DIR`, inside the build directory.',
        type='list',
        rule=validate.InsideDir(base="WORKING_DIR", max_items=50)),
    Var('VARS',
        doc=('List of `name=value`, passed as `TF_VAR_name` (so a `VAR_FILES` file wins over them, as in '
             'Terraform). The values may be secrets: each `name=value`, and each value of 8 characters or '
             "more that is not a number or `true`/`false`, is masked in the pipe's log and summaries (the "
             "step's own commit, branch or tag excepted); give values you want to read in plans in a "
             '`VAR_FILES` file.'),
        type='list',
        rule=validate.Text(max_len=65536, max_items=200, echo=False),
        example="['<name>=<value>']",
        checks=(validate.assignments(
            "VARS", VAR_NAME, "name=value with a Terraform variable name (letters, digits, '_' and '-', not "
                              "starting with a digit): write it as region=nyc3"),)),
    Var('TARGETS',
        doc='List of resource addresses for `-target`.',
        type='list',
        rule=validate.Pattern(max_len=1024, max_items=200, regex=r"[A-Za-z_].*",
                                what="is not a resource address (e.g. module.web or aws_instance.x)")),
    Var('LOCKING',
        doc=("`auto`: probe the store, then lock with Terraform's lock file (`use_lockfile`). `lockfile`: "
             'lock without probing (applying a saved plan still probes, for its claim). `off`: no locking '
             'at all (warns loudly). Default: `auto`.'),
        default="auto",
        choices=LOCKING_MODES,
        note='Optional: auto (default), lockfile, off'),
    Var('LOCK_TIMEOUT',
        doc='How long to wait for a held lock: `300s`, `5m`, `1m30s` or seconds. Default: `300s`.',
        default="300s",
        rule=validate.Pattern(max_len=32, regex=r"[0-9]+|(?:[0-9]+(?:\.[0-9]+)?(?:ms|s|m|h))+",
                                     what="is not a duration"),
        hint="give a duration such as 300s, 5m or 90 (seconds)"),
    Var('DIGITALOCEAN_ACCESS_TOKEN',
        doc='DigitalOcean API token, given to providers as `DIGITALOCEAN_TOKEN`. Use a secured variable.',
        secret=True,
        rule=validate.Token(),
        hint="pass a DigitalOcean API token as a secured variable, or leave it unset "
             "when the configuration uses no DigitalOcean provider"),
    Var('EXTRA_ARGS',
        doc=('List of extra arguments for `terraform plan`/`apply` (e.g. `-parallelism=4`). An option that'
             ' a variable stands for or that the pipe sets itself is refused, naming what to use instead: '
             '`-lock` and `-lock-timeout` (`LOCKING`, `LOCK_TIMEOUT`), `-var-file` (`VAR_FILES`), '
             '`-target` (`TARGETS`), `-chdir` (`WORKING_DIR`), `-state`, `-state-out`, `-backup`, '
             '`-backend`, `-backend-config`, `-reconfigure`, `-migrate-state`, `-force-copy` '
             '(`STATE_KEY`), `-out` (`PLAN_ID`), `-destroy` (`MODE`), `-refresh-only` (`REFRESH_ONLY`), '
             "`-input`, `-json`, `-plugin-dir`. What follows an `=` in them is masked in the pipe's log "
             'like a secret.'),
        type='list',
        rule=validate.Pattern(max_len=4096, max_items=50, echo=False, regex=r"-.*",
                                   what="is not an option: each item starts with '-', e.g. "
                                        "-parallelism=2"),
        checks=(_own_options,)),
    Var('CODE_INSIGHTS',
        doc='Post the plan summary as a Code Insights report on the commit. Default: `true`.',
        type='boolean',
        default=True),
    Var('REFRESH_ONLY',
        doc=('With `drift`: plan with `-refresh-only`, so only changes made outside Terraform count, not '
             'changes of the configuration. Default: `false`.'),
        type='boolean',
        default=False,
        checks=(_only_in_modes("REFRESH_ONLY", "drift"),)),
    Var('FAIL_ON_DRIFT',
        doc=('With `drift`: fail the step when drift is found (`false`: report it, one warning, exit 0). '
             'Default: `true`.'),
        type='boolean',
        default=True),
    Var('COMMENT',
        doc=('In a pull-request pipeline (`BITBUCKET_PR_ID` set), `MODE: plan` posts the plan as one pull '
             'request comment and updates it on later pushes (see [The plan in the pull '
             'request](#the-plan-in-the-pull-request)). Default: `true`.'),
        type='boolean',
        default=True),
    Var('REQUIRE_REVIEWED_PLAN',
        doc=('With `apply` (no `PLAN_ID`): refuse to apply when no plan reviewed in the merged pull '
             'request is found (see [How apply-what-was-reviewed '
             'works](#how-apply-what-was-reviewed-works)). `false`: apply as it is and say so. Default: '
             '`false`.'),
        type='boolean',
        default=False),
    Var('PLAN_SIGNING_KEY',
        doc=('A random key of at least 32 characters (`openssl rand -hex 32`). With `plan`: the saved '
             "plan's record is signed with it (HMAC-SHA256 over the record, the plan file's sha256 "
             'included). With `apply` and `PLAN_ID`: a record that is not signed with it is refused. Give '
             'it only to deployment steps (a secured deployment variable), never to pull-request pipelines'
             ' (see [Who may apply a saved plan](#who-may-apply-a-saved-plan)). Default: none.'),
        secret=True,
        rule=validate.Token(),
        hint="pass a random key of at least 32 characters (openssl rand -hex 32) as a "
             "secured deployment variable that only the plan and apply steps of your "
             "deployments hold, or leave it unset",
        checks=(_signing_key_length,)),
    Var('BITBUCKET_ACCESS_TOKEN',
        doc=('A repository access token (project and workspace access tokens need Bitbucket Premium) with '
             'the pull request read and write scopes: for the pull request comment, and after a merge to '
             'find the reviewed plan and say in the pull request when its apply was refused. Without it '
             'the comment is skipped with one warning. Use a secured variable.'),
        secret=True,
        rule=validate.Token(),
        hint="pass a repository, project or workspace access token with the pull "
             "request write scope as a secured variable, or leave it unset",
        example='$PR_ACCESS_TOKEN'),
    Var('BITBUCKET_API_URL',
        doc=('The Bitbucket REST API base, `https://` (plain `http://` only to a loopback host). Default: '
             '`https://api.bitbucket.org`.'),
        default=DEFAULT_API_URL,
        rule=validate.Url(),
        hint="give the Bitbucket API base URL (default https://api.bitbucket.org)"),
    Var('BITBUCKET_API_PROXY',
        doc=('The Pipelines API proxy the report goes through (it gets no credential from the pipe): '
             '`https://`, or plain `http://` to a loopback host or to `host.docker.internal`, without a '
             'path. Default: `http://host.docker.internal:29418`, where a pipe reaches it in Bitbucket; '
             'leave it unset there.'),
        default="http://host.docker.internal:29418",
        rule=validate.Url(path=False, insecure_hosts=("host.docker.internal",)),
        hint="give the Pipelines API proxy as http://host:port (default "
             "http://host.docker.internal:29418, leave it unset in Bitbucket)"),
    Var('DEBUG',
        doc='Verbose logs (the commands run); secrets stay masked. Default: `false`.',
        type='boolean',
        default=False),
))
