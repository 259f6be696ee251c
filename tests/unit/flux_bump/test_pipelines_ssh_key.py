"""SSH credentials: the key Bitbucket mounts in its ssh folder (id_rsa_tmp, world-readable) goes to
git as a private 0600 copy that is removed at the end; SSH_KEY still wins when set."""
from __future__ import annotations

import base64
import stat
import tempfile
from pathlib import Path

import pytest
from flux_bump import auth
from flux_bump import pipe as flux_pipe
from pipes_common.errors import PipeError

KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE-folder-key\n-----END OPENSSH PRIVATE KEY-----\n"
OTHER = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE-variable\n-----END OPENSSH PRIVATE KEY-----\n"
REMOTE = auth.parse_remote("ssh://git@127.0.0.1:9/acme/gitops.git")


@pytest.fixture()
def ssh_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The folder as Bitbucket mounts it into a pipe: id_rsa_tmp 0644, known_hosts, config."""
    folder = tmp_path / "agent-ssh"
    folder.mkdir()
    (folder / "id_rsa_tmp").write_text(KEY)
    (folder / "id_rsa_tmp").chmod(0o644)
    (folder / "known_hosts").write_text("[127.0.0.1]:9 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE\n")
    (folder / "config").write_text("IdentityFile /opt/atlassian/pipelines/agent/ssh/id_rsa\n")
    monkeypatch.setattr(auth, "PIPELINES_SSH_DIR", folder)
    return folder


def _key_file(creds: auth.Credentials) -> Path:
    (path,) = creds.files
    assert f"-i {path} " in creds.env["GIT_SSH_COMMAND"]
    return path


def test_key_from_the_bitbucket_ssh_folder_is_a_private_copy(ssh_folder: Path, tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    creds = auth.ssh(REMOTE, workdir, None, None)
    copy = _key_file(creds)
    assert copy.parent == workdir and copy.read_text() == KEY
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    assert str(ssh_folder / "id_rsa_tmp") not in creds.env["GIT_SSH_COMMAND"]
    assert f"UserKnownHostsFile={ssh_folder / 'known_hosts'}" in creds.env["GIT_SSH_COMMAND"]
    assert stat.S_IMODE((ssh_folder / "id_rsa_tmp").stat().st_mode) == 0o644  # left as mounted
    auth.cleanup(creds)
    assert not copy.exists() and creds.files == []


def test_ssh_key_wins_over_the_folder(ssh_folder: Path, tmp_path: Path) -> None:
    creds = auth.ssh(REMOTE, tmp_path, base64.b64encode(OTHER.encode()).decode(), None)
    copy = _key_file(creds)
    assert copy.read_text() == OTHER
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600


def test_no_key_configured(ssh_folder: Path, tmp_path: Path) -> None:
    (ssh_folder / "id_rsa_tmp").unlink()
    with pytest.raises(PipeError, match="No SSH key for GITOPS_REPO: set SSH_KEY"):
        auth.ssh(REMOTE, tmp_path, None, None)


def test_no_known_host_configured(ssh_folder: Path, tmp_path: Path) -> None:
    (ssh_folder / "known_hosts").write_text("")
    with pytest.raises(PipeError, match=r"none is known for 127\.0\.0\.1: set KNOWN_HOSTS"):
        auth.ssh(REMOTE, tmp_path, None, None)
    assert list(tmp_path.glob("id_key*")) == []


def test_the_pipe_removes_the_key_copy(ssh_folder: Path, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A run that fails after the credentials were made (nothing listens at the remote) leaves
    no copy of the key behind."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    made: list[auth.Credentials] = []
    real_ssh = auth.ssh

    def spy(*args: object, **kwargs: object) -> auth.Credentials:
        creds = real_ssh(*args, **kwargs)  # type: ignore[arg-type]
        made.append(creds)
        made.append(auth.Credentials(files=list(creds.files)))  # what it held
        return creds

    monkeypatch.setattr(auth, "ssh", spy)
    build = tmp_path / "build"
    build.mkdir()
    for name, value in {"GITOPS_REPO": "ssh://git@127.0.0.1:9/acme/gitops.git", "IMAGE": "reg.io/web",
                        "TAG": "1.0.0", "BITBUCKET_CLONE_DIR": str(build)}.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(PipeError):
        flux_pipe.main()
    (held,) = made[1].files
    assert held.parent.parent == temp and not held.exists()
    assert list(temp.iterdir()) == []
