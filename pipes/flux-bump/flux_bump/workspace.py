"""The pipe's temporary work folder: git credentials, the signing key and the clone, removed at
the end whatever happens (the key copies first)."""
from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pipes_common.log import get_logger

from . import auth, signing
from .gitrepo import Git
from .settings import Settings


def credentials(s: Settings, workdir: Path) -> auth.Credentials:
    """git's credentials for ``GITOPS_REPO``: an SSH key for an SSH URL, else HTTPS ones."""
    a = s.git_auth
    if s.remote.scheme == "ssh":
        return auth.ssh(s.remote, workdir, a.ssh_key, a.known_hosts)
    return auth.https(s.remote, workdir, a.access_token, a.username, a.password, a.api_token)


@contextmanager
def opened(s: Settings) -> Iterator[Git]:
    """A :class:`Git` for the clone (in ``CLONE_DIR`` or the work folder), with its credentials
    and signing set up; everything of the work folder removed on the way out."""
    workdir = Path(tempfile.mkdtemp(prefix="flux-bump-"))
    root = s.clone_dir or workdir / "repo"
    root.parent.mkdir(parents=True, exist_ok=True)
    creds: auth.Credentials | None = None
    signer: signing.Signing | None = None
    try:
        (workdir / "home").mkdir()
        creds = credentials(s, workdir)
        signer = signing.prepare(s.signing_key, workdir)
        if signer is not None:
            get_logger().info("Commits are signed with the SSH key %s (SIGNING_KEY).",
                              signer.fingerprint)
        yield Git(root, s.remote, creds, s.identity, workdir / "home",
                  signer.env if signer is not None else None, signed=signer is not None)
    finally:
        signing.cleanup(signer)
        if creds is not None:
            auth.cleanup(creds)
        shutil.rmtree(workdir, ignore_errors=True)
