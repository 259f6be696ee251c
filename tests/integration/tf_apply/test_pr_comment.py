"""The plan as one pull request comment: created, then updated; one per working directory and
workspace; every API failure one clear line and no token anywhere."""
from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from testbed.bitbucket_comments import open_pull_request
from testbed.bitbucket_stub import BitbucketState, BitbucketStub
from testbed.fixtures import canary
from testbed.leaks import assert_absent
from testbed.pipes import InProcessRun, PipeRun

from .conftest import CONFIGS, Stack, assert_failed_cleanly

PR = 7
MARK = "[//]: # (tf-apply plan infra default)"


@pytest.fixture()
def token() -> str:
    return canary("bbtoken-")


@pytest.fixture()
def api(token: str) -> Iterator[BitbucketStub]:
    with BitbucketStub(BitbucketState(tokens={token})) as stub:
        open_pull_request(stub.state.pullrequests, "acme/web", PR)
        yield stub


def _plan(stack: Stack, api: BitbucketStub, token: str, **more: str) -> PipeRun:
    variables = {"MODE": "plan", "BITBUCKET_PR_ID": str(PR), "BITBUCKET_ACCESS_TOKEN": token,
                 "BITBUCKET_API_URL": api.url}
    variables.update(more)
    return stack.run(**variables)


def _raws(api: BitbucketStub) -> list[str]:
    return [c["content"]["raw"] for c in api.state.comments.on("acme", "web", PR)]


def _no_token(stack: Stack, token: str) -> None:
    assert_absent(token, text="\n".join(r.output for r in stack.runs), paths=[stack.build])
    stack.assert_no_leaks()


def test_comment_created_then_updated_not_duplicated(stack: Stack, api: BitbucketStub,
                                                     token: str) -> None:
    # other people's comments fill more than one page of the listing first
    for n in range(120):
        api.state.comments.add("acme", "web", PR, f"looks good {n}", api.url, author="reviewer")
    first = _plan(stack, api, token)
    assert first.code == 0, first.output
    assert "plan comment 121 created" in first.output, first.output
    ours = [r for r in _raws(api) if MARK in r.splitlines()]
    assert len(ours) == 1
    text = ours[0]
    assert "**Plan:** 2 to create, 0 to update, 0 to replace, 0 to delete" in text
    assert "| `+` create |" in text and "Terraform will perform the following actions" in text
    assert "`db_password` (create)" in text  # the output is named, its value never shown
    assert stack.canaries.db_password not in text
    assert text.splitlines()[-1] == MARK

    second = _plan(stack, api, token, VARS="size=3")
    assert second.code == 0, second.output
    assert "plan comment 121 updated" in second.output, second.output
    ours = [r for r in _raws(api) if MARK in r.splitlines()]
    assert len(ours) == 1 and len(_raws(api)) == 121
    assert ours[0] != text  # the new commit's plan replaced the old one
    methods = [m for m, _, _ in api.state.comments.requests]
    # the new comment signed as the token's right after the POST, then updated once
    assert methods.count("POST") == 1 and methods.count("PUT") == 2
    assert any("page=2" in path for m, path, _ in api.state.comments.requests if m == "GET")
    _no_token(stack, token)


def test_two_working_directories_keep_two_comments(stack: Stack, api: BitbucketStub,
                                                   token: str) -> None:
    shutil.copytree(CONFIGS / "basic", stack.build / "infra2")
    for _ in range(2):
        assert _plan(stack, api, token).code == 0
        assert _plan(stack, api, token, WORKING_DIR="infra2",
                     STATE_KEY="web/infra2/terraform.tfstate").code == 0
    raws = _raws(api)
    assert len(raws) == 2
    assert [r.splitlines()[-1] for r in raws] == [MARK, "[//]: # (tf-apply plan infra2 default)"]
    _no_token(stack, token)


def test_no_token_one_warning_and_plan_succeeds(stack: Stack, api: BitbucketStub,
                                                token: str) -> None:
    run = _plan(stack, api, token, BITBUCKET_ACCESS_TOKEN="<unset>")
    assert run.code == 0, run.output
    warnings = [line for line in run.output.splitlines() if "BITBUCKET_ACCESS_TOKEN" in line]
    assert len(warnings) == 1 and "skipped" in warnings[0], run.output
    assert api.state.comments.requests == []
    off = _plan(stack, api, token, COMMENT="false")
    assert off.code == 0 and "comment" not in off.output.lower(), off.output
    assert api.state.comments.requests == []


def test_not_a_pull_request_pipeline_posts_nothing(stack: Stack, api: BitbucketStub,
                                                   token: str) -> None:
    run = _plan(stack, api, token, BITBUCKET_PR_ID="<unset>")
    assert run.code == 0, run.output
    assert api.state.comments.requests == []


@pytest.mark.parametrize(("case", "status", "needle"), [
    ("bad-token", 401, "invalid or expired"),
    ("no-scope", 403, "pull request write scope"),
    ("no-such-pr", 404, "not found"),
])
def test_refused_fails_with_one_line(stack: Stack, api: BitbucketStub, token: str, case: str,
                                     status: int, needle: str) -> None:
    used = token
    if case == "bad-token":
        used = canary("bbwrong-")
    elif case == "no-scope":
        used = canary("bbread-")
        api.state.tokens.add(used)
        api.state.no_write.add(used)
    extra = {"BITBUCKET_PR_ID": "99"} if case == "no-such-pr" else {}
    run = _plan(stack, api, used, **extra)
    assert_failed_cleanly(run, "BITBUCKET_ACCESS_TOKEN", f"({status})", needle)
    assert _raws(api) == []
    assert stack.shared()["plan_id"]  # the plan itself was saved and handed over
    _no_token(stack, used)


def _plan_in_process(stack: Stack, api: BitbucketStub, token: str, **more: str) -> InProcessRun:
    """:func:`_plan` in this process, the HTTP client's waits recorded instead of slept."""
    return stack.run_in_process(**{"MODE": "plan", "BITBUCKET_PR_ID": str(PR), "BITBUCKET_ACCESS_TOKEN": token,
                                   "BITBUCKET_API_URL": api.url, **more})


def test_rate_limited_then_posted(stack: Stack, api: BitbucketStub, token: str) -> None:
    api.state.comments.faults += [(429, {"Retry-After": "1"})] * 2
    run = _plan_in_process(stack, api, token, DEBUG="true")  # the retries logged, the token masked
    assert run.code == 0, run.output
    assert run.waits == [1.0, 1.0]  # each Retry-After, honoured
    assert len(_raws(api)) == 1 and "created" in run.output
    assert [m for m, _, _ in api.state.comments.requests][:3] == ["GET", "GET", "GET"]
    _no_token(stack, token)


def test_rate_limited_throughout_is_one_warning(stack: Stack, api: BitbucketStub,
                                                token: str) -> None:
    api.state.comments.faults += [(429, {"Retry-After": "1"})] * 6
    run = _plan_in_process(stack, api, token)
    assert run.code == 0, run.output
    assert run.waits == [1.0] * 5  # every retry waited as told, then the client gave up
    warnings = [line for line in run.output.splitlines() if "comment not posted" in line]
    assert len(warnings) == 1 and "429" in warnings[0], run.output
    assert _raws(api) == []
    _no_token(stack, token)


def test_a_users_comment_holding_the_marker_is_not_edited(stack: Stack, api: BitbucketStub,
                                                         token: str) -> None:
    """Anyone can write the marker into a comment, or copy the pipe's whole comment: the pipe
    edits only the comment its own token's account wrote (Bitbucket refuses, 403, an edit of
    someone else's comment, which would fail the step)."""
    users = api.state.comments.add("acme", "web", PR, f"what is this line?\n{MARK}", api.url,
                                   author="reviewer")
    first = _plan(stack, api, token)
    assert first.code == 0, first.output
    assert "plan comment 2 created" in first.output, first.output
    ours = api.state.comments.on("acme", "web", PR)[1]
    copied = ours["content"]["raw"]
    copy = api.state.comments.add("acme", "web", PR, copied, api.url, author="mallory")
    second = _plan(stack, api, token, VARS="size=3")
    assert second.code == 0, second.output
    assert "plan comment 2 updated" in second.output, second.output
    assert users["content"]["raw"] == f"what is this line?\n{MARK}"
    assert copy["content"]["raw"] == copied and ours["content"]["raw"] != copied
    puts = [path for m, path, _ in api.state.comments.requests if m == "PUT"]
    assert puts and all(path.endswith("/comments/2") for path in puts), puts
    assert len(_raws(api)) == 3
    _no_token(stack, token)


def test_a_pipe_secret_in_the_plan_text_is_masked_in_the_comment(stack: Stack,
                                                                 api: BitbucketStub,
                                                                 token: str) -> None:
    """The comment body goes through the masking logger's mask() before it is sent: a value of
    a secret of the pipe that reaches the plan text (here through a plain variable) is masked."""
    run = _plan(stack, api, token, VARS=f"name={stack.canaries.do_token}")
    assert run.code == 0, run.output
    (raw,) = _raws(api)
    assert "terraform_data.app" in raw
    assert_absent(stack.canaries.do_token, text=raw)
