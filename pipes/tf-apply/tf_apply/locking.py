"""What the run needs from Spaces before Terraform acts: the client, and the locking check.

Run in a thread while ``terraform init`` works (init takes no lock), so that the import of botocore
and the probe's calls overlap init.  The probe object's delete is left to ``later``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from pipes_common import log as plog

from .settings import Settings

if TYPE_CHECKING:
    from .probe import Later
    from .s3 import Spaces


def spaces_and_locking(s: Settings, later: Later) -> tuple[Spaces | None, bool]:
    """The Spaces client when the run needs one, and whether the store was probed and honours
    conditional writes: the claim of a saved plan needs the answer, so applying one probes the
    store whatever ``LOCKING`` says."""
    probing = s.locking == "auto" and s.mode in ("plan", "apply", "destroy")
    spaces = None
    # MODE apply with a Bitbucket token looks for the reviewed plan in Spaces (:mod:`reviewed`)
    if probing or s.mode == "plan" or s.plan_id or (s.mode == "apply" and s.bb_token):
        from .s3 import Spaces

        spaces = Spaces(s)
    conditional = False
    if s.mode in ("plan", "apply", "destroy"):
        conditional = check(s, spaces, later)
    if s.mode == "apply" and s.plan_id and not conditional:
        from . import probe

        assert spaces is not None
        conditional = probe.conditional_writes_work(spaces, s.state_object, later)
    return spaces, conditional


def check(s: Settings, spaces: Spaces | None, later: Later) -> bool:
    """Check the locking LOCKING asks for; True when the probe ran and passed."""
    log = plog.get_logger()
    if s.locking == "auto":
        from . import probe

        assert spaces is not None
        probe.check(spaces, s.state_object, later)
        return True
    if s.locking == "lockfile":
        log.info("LOCKING is lockfile: using Terraform's lock file without probing the store.")
    else:
        for _ in range(2):
            log.warning("LOCKING is off: NOTHING stops two runs from writing this state at once. "
                        "Serialise the steps yourself (deployments with concurrency control).")
    return False
