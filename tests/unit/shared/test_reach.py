"""pipes_common.reach: a service nothing answers at is one line at once, naming the variable."""
from __future__ import annotations

import socket
from typing import Any

import pytest
from pipes_common import reach
from pipes_common.errors import PipeError
from testbed.net import free_port


def test_a_refused_connection_names_the_variable() -> None:
    port = free_port()
    with pytest.raises(PipeError) as err:
        reach.check(f"http://127.0.0.1:{port}", "SPACES_ENDPOINT")
    assert err.value.message.startswith("SPACES_ENDPOINT: nothing listens at 127.0.0.1:")
    assert "connection refused" in err.value.message


def test_a_listening_port_passes() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        reach.check(f"http://127.0.0.1:{server.getsockname()[1]}/", "SPACES_ENDPOINT")


@pytest.mark.parametrize(("error", "words"), [
    (socket.gaierror(-2, "Name or service not known"), "is unknown"),
    (TimeoutError(), "did not answer within 10s"),
    (OSError(113, "No route to host"), "No route to host"),
])
def test_other_failures_name_the_variable(monkeypatch: pytest.MonkeyPatch, error: OSError,
                                          words: str) -> None:
    def fail(address: Any, timeout: float) -> socket.socket:
        assert address == ("spaces.example.com", 443) and timeout == reach.TIMEOUT
        raise error

    monkeypatch.setattr(socket, "create_connection", fail)
    with pytest.raises(PipeError) as err:
        reach.check("https://spaces.example.com", "SPACES_REGION")
    assert err.value.message.startswith("SPACES_REGION: ") and words in err.value.message
