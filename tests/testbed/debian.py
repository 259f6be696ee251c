"""Debian packages the test bed needs, installed on demand (root on Debian/Ubuntu only)."""
from __future__ import annotations

import os
import shutil
import subprocess

_updated = False


def ensure(commands: dict[str, str]) -> None:
    """Install the Debian package of every command in ``{command: package}`` that is missing."""
    global _updated
    missing = sorted({pkg for cmd, pkg in commands.items() if shutil.which(cmd) is None})
    if not missing:
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise RuntimeError(f"missing {', '.join(missing)}: install them (Debian packages) or run "
                           "the tests as root on Debian/Ubuntu so they install themselves")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    if not _updated:
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        _updated = True
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
                   check=True, env=env, stdout=subprocess.DEVNULL)
