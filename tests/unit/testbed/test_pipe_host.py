"""The pipe host's loopback address: one per test run of this machine, its ports free."""
from __future__ import annotations

import socket
import stat
from pathlib import Path

from testbed.pipe_host import PROXY_PORT, PipeHostAddress, agent_ssh_dir


def test_concurrent_runs_get_their_own_address() -> None:
    with PipeHostAddress() as first, PipeHostAddress() as second:
        assert first.address.startswith("127.0.0.") and first.address != "127.0.0.1"
        assert second.address != first.address


def test_an_address_whose_port_is_taken_is_skipped() -> None:
    with PipeHostAddress() as probe:
        address = probe.address
    last = int(address.rsplit(".", 1)[1])
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past runs' TIME_WAIT
        taken.bind((address, PROXY_PORT))
        taken.listen(1)
        with PipeHostAddress(first=last) as lease:
            assert lease.address != address


def test_ssh_folder_as_bitbucket_lays_it_out(tmp_path: Path) -> None:
    folder = agent_ssh_dir(tmp_path / "ssh", key="-----BEGIN KEY-----\nx\n-----END KEY-----",
                           known_hosts="host ssh-ed25519 AAAA")
    assert sorted(p.name for p in folder.iterdir()) == ["config", "id_rsa_tmp", "known_hosts"]
    assert stat.S_IMODE((folder / "id_rsa_tmp").stat().st_mode) == 0o644
    assert (folder / "known_hosts").read_text() == "host ssh-ed25519 AAAA\n"
    empty = agent_ssh_dir(tmp_path / "none")
    assert sorted(p.name for p in empty.iterdir()) == ["config", "known_hosts"]
