"""A pipe's outputs read back from the dotenv file an earlier step passed on as ``artifacts:``.

The hand-off file (:mod:`handoff`) lives in the step's pipe storage, which the next step does not
get.  What a step can pass on is a file of its build directory: every pipe also writes its outputs
to ``.do-pipes/<pipe>.env`` (:func:`outputs.publish`), and a step that lists ``.do-pipes/**`` under
``artifacts:`` hands that file to the later steps.  :func:`read` turns it back into the pipe's
typed outputs (:mod:`contracts`), so that a later step's pipe can default to them exactly as it does in the same step.
The file holds the last run of the pipe in that step only.

A file of the build directory can also come from the repository: a commit can hold a
``.do-pipes/build-push.env`` naming another image, registry or digest.  So the file is used only
when git does not track it (and no symbolic link leads to it), and when it carries the build
number and commit of this very run (``BUILD_PUSH_BUILD_NUMBER``, ``BUILD_PUSH_SOURCE_COMMIT``):
build-push writes both, a file from another pipeline run or from an older build-push is refused.
"""
from __future__ import annotations

import shlex

from . import contracts
from .bitbucket import StepContext
from .contracts import T
from .handoff import HandoffError, check_bound, check_untracked
from .outputs import dotenv_file, env_name


def read(ctx: StepContext, cls: type[T], instead: str) -> T | None:
    """The outputs of ``cls``'s pipe from ``.do-pipes/<pipe>.env`` in the build directory, or None
    when there is no such file; :class:`HandoffError` naming the file when it cannot be used."""
    path = dotenv_file(ctx, cls.PIPE)
    if not path.is_file():
        return None
    check_untracked(ctx, path, cls.PIPE, instead)
    try:
        pairs: dict[str, str] = {}
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                (item,) = shlex.split(line)
                key, _, value = item.partition("=")
                pairs[key] = value
        outputs = contracts.decode_text(cls, pairs, lambda name: env_name(cls.PIPE, name))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise HandoffError(f"The {cls.PIPE} outputs at {path} (from an earlier step's artifacts) "
                           f"cannot be used ({err}): pass .do-pipes/** as artifacts of the step "
                           f"that ran {cls.PIPE}, or {instead}") from None
    check_bound(ctx, outputs, path, required=True, instead=instead)
    return outputs
