"""The reviewed-plan lookup (``GET .../commit/{commit}/pullrequests``) of a MODE apply run when
Bitbucket rate-limits it: once, then answered (the ``Retry-After`` honoured, the run goes on), and
throughout (one line, nothing applied).  The pipe runs in this process, so the waits its HTTP client
computed are recorded, never slept (``testbed.pipes.run_in_process``)."""
from __future__ import annotations

import secrets as pysecrets
from collections.abc import Iterator

import pytest
from testbed.bitbucket_comments import open_pull_request
from testbed.bitbucket_stub import BitbucketState, BitbucketStub
from testbed.fixtures import canary
from testbed.pipes import InProcessRun

from .conftest import Stack, assert_failed_cleanly


@pytest.fixture()
def token() -> str:
    return canary("bbtoken-")


@pytest.fixture()
def api(token: str) -> Iterator[BitbucketStub]:
    with BitbucketStub(BitbucketState(tokens={token})) as stub:
        open_pull_request(stub.state.pullrequests, "acme/web", 9)  # the repository has pull requests
        yield stub


def _apply(stack: Stack, api: BitbucketStub, token: str, **more: str) -> InProcessRun:
    return stack.run_in_process(MODE="apply", BITBUCKET_ACCESS_TOKEN=token, BITBUCKET_API_URL=api.url,
                                BITBUCKET_COMMIT=pysecrets.token_hex(20), **more)


def test_rate_limited_once_the_lookup_waits_as_told_and_goes_on(stack: Stack, api: BitbucketStub,
                                                                token: str) -> None:
    api.state.commit_links.faults.append((429, {"Retry-After": "3"}))
    run = _apply(stack, api, token, REQUIRE_REVIEWED_PLAN="true")
    # answered after the retry: the commit is no merge of a pull request, which is refused
    assert_failed_cleanly(run, "REQUIRE_REVIEWED_PLAN", "not the merge of a pull request")
    assert run.waits == [3.0]
    assert len(api.state.commit_links.requests) == 2
    assert stack.state_etag() is None


def test_rate_limited_throughout_is_one_line_and_nothing_applied(stack: Stack, api: BitbucketStub,
                                                                 token: str) -> None:
    api.state.commit_links.faults += [(429, {"Retry-After": "1"})] * 6
    run = _apply(stack, api, token)
    assert_failed_cleanly(run, "could not look up", "429", "run the step again")
    assert run.waits == [1.0] * 5  # every retry waited as told, then the client gave up
    assert len(api.state.commit_links.requests) == 6
    assert stack.state_etag() is None
    stack.assert_no_leaks()
