"""The pipe variables (names and defaults are the public interface; see README.md)."""
from __future__ import annotations

from pipes_common import validate
from pipes_common.bitbucket import DEFAULT_API_URL
from pipes_common.variables import Schema

MODES = ("plan", "apply", "destroy", "validate", "output", "drift")
LOCKING_MODES = ("auto", "lockfile", "off")

SCHEMA: Schema = {
    "SPACES_ACCESS_KEY_ID": {
        "type": "string", "required": True, "empty": False,
        "meta": {"secret": True,
                 "hint": "create a Spaces access key (Spaces Object Storage > Access Keys), store it as a secured "
                         "repository variable and pass SPACES_ACCESS_KEY_ID: $SPACES_ACCESS_KEY_ID"}},
    "SPACES_SECRET_ACCESS_KEY": {
        "type": "string", "required": True, "empty": False,
        "meta": {"secret": True,
                 "hint": "pass the secret of the Spaces access key as a secured variable: "
                         "SPACES_SECRET_ACCESS_KEY: $SPACES_SECRET_ACCESS_KEY"}},
    "SPACES_BUCKET": {
        "type": "string", "required": True, "empty": False, "regex": r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
        "meta": {"hint": "give the name of the Space (bucket) that holds the state: 3-63 lowercase "
                         "letters, digits, '.' and '-'"}},
    "SPACES_REGION": {
        "type": "string", "default": "nyc3", "empty": False, "regex": r"^[a-z]{3}[0-9]$",
        "meta": {"hint": "give the Spaces region, e.g. nyc3, ams3, fra1, sgp1"}},
    "SPACES_ENDPOINT": {
        "type": "string", "empty": False, "regex": r"^https?://[^\s/]+/?$",
        "meta": {"hint": "give the S3 endpoint URL, e.g. https://nyc3.digitaloceanspaces.com "
                         "(leave it unset for Spaces)"}},
    "STATE_KEY": {
        "type": "string", "empty": False, "regex": r"^[A-Za-z0-9!_.*'()/=+-]{1,512}$",
        "meta": {"hint": "give the object key of the state, e.g. web/prod/terraform.tfstate "
                         "(letters, digits, / and -_.!*'()=+)"}},
    "WORKING_DIR": {"type": "string", "default": ".", "empty": False,
                    "meta": {"hint": "give the folder of the Terraform configuration, relative to "
                                     "the repository root"}},
    "MODE": {"type": "string", "default": "apply", "allowed": list(MODES)},
    "PLAN_ID": {
        "type": "string", "empty": False, "regex": r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$",
        "meta": {"hint": "use letters, digits, '.', '_' and '-' (at most 128), e.g. the commit "
                         "$BITBUCKET_COMMIT printed by the plan step"}},
    "WORKSPACE": {
        "type": "string", "default": "default", "empty": False, "regex": r"^[A-Za-z0-9][A-Za-z0-9_-]{0,89}$",
        "meta": {"hint": "use letters, digits, '_' and '-', e.g. staging"}},
    "VAR_FILES": {"type": "list", "schema": {"type": "string"}},
    "VARS": {"type": "list", "schema": {"type": "string"}},
    "TARGETS": {"type": "list", "schema": {"type": "string"}},
    "LOCKING": {"type": "string", "default": "auto", "allowed": list(LOCKING_MODES)},
    "LOCK_TIMEOUT": {"type": "string", "default": "300s", "empty": False,
                     "meta": {"hint": "give a duration such as 300s, 5m or 90 (seconds)"}},
    "DIGITALOCEAN_ACCESS_TOKEN": {
        "type": "string", "empty": False,
        "meta": {"secret": True,
                 "hint": "pass a DigitalOcean API token as a secured variable, or leave it unset "
                         "when the configuration uses no DigitalOcean provider"}},
    "EXTRA_ARGS": {"type": "list", "schema": {"type": "string"}},
    "CODE_INSIGHTS": {"type": "boolean", "default": True},
    "REFRESH_ONLY": {"type": "boolean", "default": False},
    "FAIL_ON_DRIFT": {"type": "boolean", "default": True},
    "COMMENT": {"type": "boolean", "default": True},
    "REQUIRE_REVIEWED_PLAN": {"type": "boolean", "default": False},
    "PLAN_SIGNING_KEY": {
        "type": "string", "empty": False,
        "meta": {"secret": True,
                 "hint": "pass a random key of at least 32 characters (openssl rand -hex 32) as a "
                         "secured deployment variable that only the plan and apply steps of your "
                         "deployments hold, or leave it unset"}},
    "BITBUCKET_ACCESS_TOKEN": {
        "type": "string", "empty": False,
        "meta": {"secret": True,
                 "hint": "pass a repository, project or workspace access token with the pull "
                         "request write scope as a secured variable, or leave it unset"}},
    "BITBUCKET_API_URL": {
        "type": "string", "default": DEFAULT_API_URL, "empty": False,
        "regex": r"^https?://[^\s]+$",
        "meta": {"hint": "give the Bitbucket API base URL (default https://api.bitbucket.org)"}},
    "BITBUCKET_API_PROXY": {  # where a pipe reaches the Pipelines proxy: the step's Docker host
        "type": "string", "empty": False, "regex": r"^https?://[^\s/]+/?$",
        "default": "http://host.docker.internal:29418",
        "meta": {"hint": "give the Pipelines API proxy as http://host:port (default "
                         "http://host.docker.internal:29418, leave it unset in Bitbucket)"}},
    "DEBUG": {"type": "boolean", "default": False},
}

# Checked at the door (pipes_common.validate), before any work: bounds and grammars.
RULES = validate.Rules(variables={
    "SPACES_ACCESS_KEY_ID": validate.Token(max_len=256),
    "SPACES_SECRET_ACCESS_KEY": validate.Token(max_len=256),
    "SPACES_BUCKET": validate.Pattern(
        max_len=63, regex=r"(?!.*(\.\.|\.-|-\.))[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]",
        what="is not a bucket name"),
    "SPACES_REGION": validate.Pattern(max_len=16, regex=r"[a-z]{3}[0-9]", what="is not a region"),
    "SPACES_ENDPOINT": validate.Url(path=False),
    "STATE_KEY": validate.ObjectKey(max_len=512),
    "WORKING_DIR": validate.InsideDir(),
    "PLAN_ID": validate.Pattern(max_len=128, regex=r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}",
                                what="is not a plan id"),
    "WORKSPACE": validate.Pattern(max_len=90, regex=r"[A-Za-z0-9][A-Za-z0-9_-]{0,89}",
                                  what="is not a workspace name"),
    "VAR_FILES": validate.InsideDir(base="WORKING_DIR", max_items=50),
    "VARS": validate.Text(max_len=65536, max_items=200, echo=False),
    "TARGETS": validate.Pattern(max_len=1024, max_items=200, regex=r"[A-Za-z_].*",
                                what="is not a resource address (e.g. module.web or aws_instance.x)"),
    "LOCK_TIMEOUT": validate.Pattern(max_len=32, regex=r"[0-9]+|(?:[0-9]+(?:\.[0-9]+)?(?:ms|s|m|h))+",
                                     what="is not a duration"),
    "DIGITALOCEAN_ACCESS_TOKEN": validate.Token(),
    "EXTRA_ARGS": validate.Pattern(max_len=4096, max_items=50, echo=False, regex=r"-.*",
                                   what="is not an option: each item starts with '-', e.g. "
                                        "-parallelism=2"),
    "PLAN_SIGNING_KEY": validate.Token(),
    "BITBUCKET_ACCESS_TOKEN": validate.Token(),
    "BITBUCKET_API_URL": validate.Url(),
    "BITBUCKET_API_PROXY": validate.Url(path=False, insecure_hosts=("host.docker.internal",)),
})
