"""The pipe variables (public interface: names, types and defaults are versioned by semver)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

from pipes_common import imageref, sshkey, validate
from pipes_common.bitbucket import DEFAULT_API_URL
from pipes_common.variables import Schema

MODES = ("push", "pull-request", "dry-run", "promote")
BRANCH_FIELDS = ("name", "image", "tag", "short_digest", "commit", "short_commit")  # of BRANCH_NAME
BRANCH_RE = r"^(?!/|.*([/.]\.|//|@\{|\\|\.lock$|[/.]$))[^\x00-\x20~^:?*\[\x7f]+$"

SCHEMA: Schema = {
    "GITOPS_REPO": {
        "type": "string", "required": True, "empty": False,
        "meta": {"hint": "give the GitOps repository's clone URL, e.g. "
                         "https://bitbucket.org/acme/gitops.git or git@bitbucket.org:acme/gitops.git"}},
    "BRANCH": {"type": "string", "default": "main", "empty": False, "regex": BRANCH_RE,
               "meta": {"hint": "give a git branch name, e.g. main"}},
    "IMAGE": {"type": "string", "empty": False,
              "meta": {"hint": "give the image repository as the manifests spell it, without tag "
                               "(e.g. registry.digitalocean.com/acme/web)"}},
    "TAG": {"type": "string", "empty": False,
            "meta": {"hint": "give the new tag, e.g. 1.4.2 (letters, digits, '_', '.', '-', at "
                             "most 128, not starting with '.' or '-')"}},
    "DIGEST": {"type": "string", "empty": False,
               "meta": {"hint": "give the image digest as sha256:<64 hex digits>"}},
    "IMAGES": {"type": "list", "maxlength": 50, "schema": {"type": "string"},
               "meta": {"hint": "give at most 50 items image=tag[@digest], e.g. "
                                "['registry.digitalocean.com/acme/web=1.4.2']"}},
    "POLICY": {"type": "list", "schema": {"type": "string"}},
    "PATHS": {"type": "list", "schema": {"type": "string"}},
    "FROM_PATHS": {"type": "list", "maxlength": 50, "schema": {"type": "string", "maxlength": 1024},
                   "meta": {"hint": "give at most 50 globs of the environment to copy from, e.g. "
                                    "['clusters/staging/**']"}},
    "PIN_DIGEST": {"type": "boolean", "default": False},
    "CHART_APP_VERSION": {"type": "boolean", "default": False},
    "ALLOW_DOWNGRADE": {"type": "boolean", "default": False},
    "FLUX_RECEIVER_URL": {"type": "string", "empty": False, "maxlength": 2048, "meta": {"secret": True}},
    "FLUX_RECEIVER_TOKEN": {"type": "string", "empty": False, "meta": {"secret": True}},
    "HELM_KEYS": {"type": "list", "maxlength": 3, "schema": {"type": "string", "maxlength": 200},
                  "meta": {"hint": "give 2 or 3 dotted key paths: repository, tag and optionally "
                                   "digest, e.g. ['app.image.repository', 'app.image.tag']"}},
    "MODE": {"type": "string", "default": "push", "allowed": list(MODES)},
    "BITBUCKET_ACCESS_TOKEN": {
        "type": "string", "empty": False,
        "meta": {"secret": True, "hint": "pass a repository access token of the GitOps repository "
                                         "as a secured variable"}},
    "ATLASSIAN_EMAIL": {"type": "string", "empty": False, "maxlength": 254,
                        "regex": r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
                        "meta": {"hint": "give the email of the Atlassian account the API token "
                                         "belongs to, e.g. ci-bot@example.com"}},
    "ATLASSIAN_API_TOKEN": {
        "type": "string", "empty": False, "maxlength": 1024,
        "meta": {"secret": True, "hint": "pass an Atlassian API token with scopes (at most 1024 "
                                         "characters) as a secured variable"}},
    "GIT_USERNAME": {"type": "string", "empty": False},
    "GIT_PASSWORD": {"type": "string", "empty": False,
                     "meta": {"secret": True, "hint": "pass it as a secured variable"}},
    **sshkey.SCHEMA,
    "DIGITALOCEAN_ACCESS_TOKEN": {
        "type": "string", "empty": False, "maxlength": 1024,
        "meta": {"secret": True, "hint": "pass a DigitalOcean API token with registry read scope "
                                         "as a secured variable"}},
    "REGISTRY_HOST": {"type": "string", "empty": False, "maxlength": 260,
                      "meta": {"hint": "give the registry host[:port] build-push pushes to, e.g. "
                                       "registry.digitalocean.com"}},
    "REGISTRY_USERNAME": {"type": "string", "empty": False, "maxlength": 256,
                          "meta": {"hint": "leave it unset for DOCR (the token is the username)"}},
    "DIGITALOCEAN_API_URL": {"type": "string", "empty": False, "maxlength": 1024,
                             "meta": {"hint": "give the API base URL, "
                                              "e.g. https://api.digitalocean.com"}},
    "COMMIT_MESSAGE": {"type": "string", "empty": False, "maxlength": 10_000,
                       "meta": {"hint": "give a template of at most 10000 characters, e.g. "
                                        "'Bump {image} to {tag}'"}},
    "BRANCH_NAME": {"type": "string", "empty": False, "maxlength": 200,
                    "meta": {"hint": "give a branch name template of at most 200 characters, "
                                     "e.g. flux-bump/{name}-{tag}"}},
    "REVIEWERS": {"type": "list", "maxlength": 20, "schema": {"type": "string"},
                  "meta": {"hint": "give at most 20 Atlassian account ids (or {uuid}s)"}},
    "CLOSE_SOURCE_BRANCH": {"type": "boolean", "default": True},
    "SIGNING_KEY": {"type": "string", "empty": False,
                    "meta": {"secret": True, "hint": "give an unencrypted SSH private key, plain or "
                                                     "base64, as a secured variable"}},
    "GIT_AUTHOR_NAME": {"type": "string", "default": "flux-bump", "empty": False},
    "GIT_AUTHOR_EMAIL": {"type": "string", "default": "flux-bump@noreply.bitbucket.org",
                         "empty": False},
    "RETRIES": {"type": "integer", "default": 10, "min": 0, "max": 50,
                "meta": {"hint": "give a whole number of push retries between 0 and 50"}},
    "BITBUCKET_API_URL": {"type": "string", "default": DEFAULT_API_URL, "empty": False},
    "CLONE_DIR": {"type": "string", "empty": False},
    "DEBUG": {"type": "boolean", "default": False},
}

# Checked at the door (pipes_common.validate), before any work: bounds and grammars.
POLICY = r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?:[a-z0-9]([-a-z0-9.]*[a-z0-9])?"  # Flux: <namespace>:<policy>
EMAIL_RE = r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+"


def _https(values: Mapping[str, Any]) -> bool:
    return str(values.get("GITOPS_REPO") or "").startswith(("https://", "http://"))


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


RULES = validate.Rules(variables={
    "GITOPS_REPO": validate.GitUrl(echo=False),
    "BRANCH": validate.Pattern(max_len=255, regex="(?!-)" + BRANCH_RE.strip("^$"),
                               what="is not a git branch name"),
    "IMAGE": validate.Pattern(max_len=imageref.MAX_NAME, regex=imageref.NAME, what="is not an image "
                              "repository name",
                              hint="give it without tag or digest, lowercase path components "
                                   "(e.g. registry.digitalocean.com/acme/web)"),
    "TAG": validate.Pattern(max_len=128, regex=imageref.TAG, what="is not a valid image tag",
                            hint="letters, digits, '_', '.' and '-', at most 128, not starting "
                                 "with '.' or '-'"),
    "DIGEST": validate.Pattern(max_len=135, regex=imageref.DIGEST, what="is not a valid digest",
                               hint="give it as sha256:<64 lowercase hex digits>"),
    "IMAGES": validate.Text(max_len=400, max_items=50),
    "POLICY": validate.Pattern(max_len=253, max_items=50, regex=POLICY,
                               what="is not <namespace>:<policy>"),
    "PATHS": validate.RelativeGlob(max_items=50),
    "FROM_PATHS": validate.RelativeGlob(max_items=50),
    "HELM_KEYS": validate.Pattern(max_len=200, max_items=3, regex=r"[A-Za-z0-9_.-]+",
                                  what="is not a dotted key path"),
    "BITBUCKET_ACCESS_TOKEN": validate.Token(),
    "ATLASSIAN_EMAIL": validate.Pattern(max_len=254, regex=EMAIL_RE, what="is not an email"),
    "ATLASSIAN_API_TOKEN": validate.Token(max_len=1024),
    "GIT_USERNAME": validate.Pattern(regex=r"[^\s:]+", what="holds a space or ':'"),
    "GIT_PASSWORD": validate.Token(),
    **sshkey.RULES,
    "REGISTRY_HOST": validate.Host(max_len=260),
    "COMMIT_MESSAGE": validate.Text(max_len=10_000, multiline=True),
    "BRANCH_NAME": validate.Pattern(max_len=200, regex=r"[^\s~^:?*\[\\]+",
                                    what="holds characters a branch name cannot have"),
    "REVIEWERS": validate.Text(max_len=128, max_items=20),
    "SIGNING_KEY": validate.Text(max_len=16384, multiline=True),
    "GIT_AUTHOR_NAME": validate.Pattern(regex=r"[^<>]+", what="holds '<' or '>'"),
    "GIT_AUTHOR_EMAIL": validate.Pattern(max_len=254, regex=EMAIL_RE, what="is not an email"),
    "BITBUCKET_API_URL": validate.Url(),
    "DIGITALOCEAN_API_URL": validate.Url(),
    "FLUX_RECEIVER_URL": validate.Url(),
    "FLUX_RECEIVER_TOKEN": validate.Token(),
    "CLONE_DIR": validate.NewFolder(),
}, checks=[
    *(validate.unused_unless(name, lambda v: not _https(v), "is only used with an SSH GITOPS_REPO "
                             "(git@host:path or ssh://): use an SSH URL or drop " + name)
      for name in ("SSH_KEY", "KNOWN_HOSTS")),
    *(validate.unused_unless(name, _https, "is only used with an https GITOPS_REPO (an SSH remote "
                             "authenticates with SSH_KEY): use an https URL or drop " + name)
      for name in ("GIT_USERNAME", "GIT_PASSWORD")),
    validate.unused_unless("FLUX_RECEIVER_TOKEN", lambda v: bool(v.get("FLUX_RECEIVER_URL")),
                           "is set but FLUX_RECEIVER_URL is not: set the Receiver's URL, or drop it"),
    validate.unused_unless("FLUX_RECEIVER_URL", lambda v: v.get("MODE") in ("push", "promote", None),
                           "is only called after a push to BRANCH (MODE push or promote): drop it "
                           "with MODE pull-request or dry-run"),
    validate.template("BRANCH_NAME", BRANCH_FIELDS),
    _remote_option,
    _pull_request_repo,
])

