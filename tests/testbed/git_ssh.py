"""An SSH git server: ``sshd`` on a loopback port with its own host key and authorized_keys.

Runs as root with a configuration in a temporary folder (no system files touched besides the
privilege separation folder sshd needs).  Clients log in as the current user with the generated
client key and reach bare repositories by absolute path:
``ssh://<user>@127.0.0.1:<port>/<root>/<name>``.  Host keys must be checked: ``known_hosts_line``
is the entry a client needs.
"""
from __future__ import annotations

import base64
import getpass
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from . import debian
from .net import free_port, wait_port
from .procs import Background

SSHD = "/usr/sbin/sshd"


class GitSshServer:
    def __init__(self, root: Path, workdir: Path | None = None) -> None:
        self.root = root
        self._workdir = workdir
        self.dir: Path | None = None
        self.port = 0
        self.user = getpass.getuser()
        self._proc: Background | None = None

    def __enter__(self) -> GitSshServer:
        debian.ensure({"sshd": "openssh-server", "ssh": "openssh-client", "ssh-keygen": "openssh-client"})
        if os.geteuid() != 0:
            raise RuntimeError("the SSH git server needs root (sshd)")
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        self.dir = Path(tempfile.mkdtemp(prefix="git-ssh-", dir=self._workdir))
        for name in ("host_key", "client_key"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f",
                            str(self.dir / name)], check=True)
        (self.dir / "authorized_keys").write_text((self.dir / "client_key.pub").read_text())
        os.chmod(self.dir / "authorized_keys", 0o600)
        self.port = free_port()
        config = self.dir / "sshd_config"
        config.write_text("\n".join([
            f"Port {self.port}", "ListenAddress 127.0.0.1",
            f"HostKey {self.dir / 'host_key'}", f"PidFile {self.dir / 'sshd.pid'}",
            f"AuthorizedKeysFile {self.dir / 'authorized_keys'}",
            "PubkeyAuthentication yes", "PasswordAuthentication no",
            "KbdInteractiveAuthentication no", "UsePAM no", "StrictModes no",
            "PermitRootLogin prohibit-password", f"AllowUsers {self.user}",
            "AcceptEnv GIT_PROTOCOL", "PrintMotd no", "LogLevel VERBOSE",
            "MaxStartups 100:30:200", "MaxSessions 50", "",
        ]))
        self._proc = Background([SSHD, "-D", "-e", "-f", str(config)], log=self.dir / "sshd.log")
        self._proc.__enter__()
        try:
            wait_port(self.port, timeout=20)
        except TimeoutError:
            raise RuntimeError(f"sshd did not start: {self._proc.log_tail()}") from None
        time.sleep(0.1)
        return self

    @property
    def known_hosts_line(self) -> str:
        assert self.dir is not None
        key = (self.dir / "host_key.pub").read_text().split()
        return f"[127.0.0.1]:{self.port} {key[0]} {key[1]}"

    @property
    def client_key(self) -> str:
        assert self.dir is not None
        return (self.dir / "client_key").read_text()

    @property
    def client_key_b64(self) -> str:
        return base64.b64encode(self.client_key.encode()).decode()

    def url(self, name: str) -> str:
        return f"ssh://{self.user}@127.0.0.1:{self.port}{self.root / name}"

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._proc is not None:
            self._proc.stop()
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
