"""Deployed in seconds: after the push, Flux's Receiver is called (the loopback stub checks the
signature as Flux's generic-hmac Receiver does); a failed call warns and never fails the bump."""
from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from testbed.flux_receiver import FluxReceiverStub, ReceiverState
from testbed.net import free_port
from testbed.pipes import run_in_process, run_local

from .conftest import GitopsRepo, expected_tree

TOKEN = "receiver-token-canary-7f3a91c2"


@pytest.fixture()
def receiver() -> Iterator[FluxReceiverStub]:
    with FluxReceiverStub(ReceiverState(token=TOKEN)) as stub:
        yield stub


def _run(make_repo: Callable[..., GitopsRepo], flux_env: Callable[..., dict[str, str]],
         build_dir: Path, **variables: str) -> tuple[GitopsRepo, str, int]:
    repo = make_repo()
    run = run_local("flux-bump", flux_env(repo.http_url, **variables), build_dir)
    return repo, run.output, run.code


@pytest.mark.parametrize("debug", ["false", "true"])
def test_generic_hmac_receiver_is_called_after_the_push_with_a_valid_signature(
        receiver: FluxReceiverStub, make_repo: Callable[..., GitopsRepo],
        flux_env: Callable[..., dict[str, str]], build_dir: Path, debug: str) -> None:
    url = receiver.url + receiver.state.hook
    repo, output, code = _run(make_repo, flux_env, build_dir, FLUX_RECEIVER_URL=url,
                              FLUX_RECEIVER_TOKEN=TOKEN, DEBUG=debug)
    assert code == 0, output
    assert receiver.state.reconciles == 1 and receiver.state.refused == []
    path, headers, body = receiver.state.calls[0]
    assert path == receiver.state.hook
    assert json.loads(body) == {"source": "flux-bump", "repository": repo.http_url,
                                "branch": "main", "commit": repo.head()}
    assert headers["X-Signature"] == "sha256=" + hmac.new(TOKEN.encode(), body,
                                                          hashlib.sha256).hexdigest()
    assert TOKEN not in json.dumps(headers) + body.decode()  # signed with, never sent
    assert TOKEN not in output and receiver.state.hook not in output  # both secret
    assert "Flux's receiver at" in output and "reconciles now" in output
    for path_, content in expected_tree("auto").items():
        assert repo.show(path_) == content, path_


def test_generic_receiver_is_called_with_the_secret_url_alone(
        make_repo: Callable[..., GitopsRepo], flux_env: Callable[..., dict[str, str]],
        build_dir: Path) -> None:
    with FluxReceiverStub(ReceiverState(token=None)) as stub:
        _, output, code = _run(make_repo, flux_env, build_dir,
                               FLUX_RECEIVER_URL=stub.url + stub.state.hook)
        assert code == 0, output
        assert stub.state.reconciles == 1
        assert "X-Signature" not in stub.state.calls[0][1]


@pytest.mark.parametrize(("case", "state", "token", "warning"), [
    ("wrong token", ReceiverState(token=TOKEN), "another-token-value", "answered 400"),
    ("hmac receiver without token", ReceiverState(token=TOKEN), None, "answered 400"),
    ("wrong path", ReceiverState(token=TOKEN, hook="/hook/other"), TOKEN, "answered 404"),
])
def test_a_failed_notification_warns_and_the_bump_still_succeeds(
        case: str, state: ReceiverState, token: str | None, warning: str,
        make_repo: Callable[..., GitopsRepo], flux_env: Callable[..., dict[str, str]],
        build_dir: Path) -> None:
    with FluxReceiverStub(state) as stub:
        variables = {"FLUX_RECEIVER_URL": stub.url + "/hook/" + "5d" * 32}
        if token:
            variables["FLUX_RECEIVER_TOKEN"] = token
        repo, output, code = _run(make_repo, flux_env, build_dir, **variables)
        assert code == 0, output
        assert stub.state.reconciles == 0
        lines = [line for line in output.splitlines() if "FLUX_RECEIVER_URL:" in line]
        assert len(lines) == 1 and warning in lines[0] and "WARNING" in lines[0], output
        assert "Flux finds it at its next poll" in lines[0]
        assert "✔ Pushed" in output and len(repo.log("main")) == 2
        assert "5d" * 32 not in output and (token is None or token not in output)


def test_an_unreachable_receiver_warns(make_repo: Callable[..., GitopsRepo],
                                       flux_env: Callable[..., dict[str, str]],
                                       build_dir: Path) -> None:
    _, output, code = _run(make_repo, flux_env, build_dir,
                           FLUX_RECEIVER_URL=f"http://127.0.0.1:{free_port()}/hook/abc")
    assert code == 0, output
    assert "WARNING: FLUX_RECEIVER_URL: the Flux receiver at http://127.0.0.1:" in output
    assert "unreachable (connection refused)" in output


def test_a_receiver_answering_503_is_retried_briefly_then_warned(
        make_repo: Callable[..., GitopsRepo], flux_env: Callable[..., dict[str, str]],
        build_dir: Path) -> None:
    with FluxReceiverStub(ReceiverState(token=TOKEN, status=503)) as stub:
        repo = make_repo()
        env = flux_env(repo.http_url, FLUX_RECEIVER_URL=stub.url + stub.state.hook,
                       FLUX_RECEIVER_TOKEN=TOKEN)
        run = run_in_process("flux-bump", env, build_dir)
        assert run.code == 0, run.output
        assert len(stub.state.calls) == 3  # the first call and two retries
        assert len(run.waits) == 2 and sum(run.waits) <= 15
        assert "the Flux receiver at" in run.output and "answered 503" in run.output
        assert "check the notification-controller" in run.output
        assert len(repo.log("main")) == 2 and TOKEN not in run.output
