"""The entry point wrapper: masking on, errors turned into one ``✖`` line and an exit code."""
from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Callable
from typing import Any

from . import fsutil, outputs, secrets, variables
from .bitbucket import StepContext
from .errors import PipeError
from .log import enable_debug, fail_line, get_logger, install_masking, is_debug


def start(declared: variables.Variables) -> tuple[dict[str, Any], StepContext]:
    """A pipe's first move: check its variables at the door, from their declarations (secrets
    registered for masking first; encoding, control characters and lengths as given; types,
    choices and ranges; then each variable's grammar and relations), turn DEBUG on when asked,
    read the step context.  Nothing before this touches the network or the disk."""
    values = declared.load()
    if values.get("DEBUG"):
        enable_debug()
    ctx = StepContext.from_env()
    declared.check(values, ctx.clone_dir)
    fsutil.check_folder(ctx.clone_dir, outputs.FOLDER)  # a committed link would redirect writes
    return values, ctx


def run(main: Callable[[], int | None]) -> int:
    """Run a pipe's ``main`` and return the process exit code.

    A :class:`PipeError` prints its message as the ``✖`` line with its exit code.  Any other
    exception is a bug of ours: one ``✖`` line too, with the masked traceback only under DEBUG.
    """
    install_masking()
    logger = get_logger()
    try:
        code = main()
        return 0 if code is None else code
    except PipeError as err:
        fail_line(err.message)
        return err.exit_code
    except KeyboardInterrupt:
        fail_line("Interrupted.")
        return 130
    except Exception as err:
        if is_debug():
            logger.debug(secrets.mask("".join(traceback.format_exception(err))))
        fail_line(f"Unexpected error ({type(err).__name__}): {err}. "
                  "Run again with DEBUG: 'true' for details and report it to the pipe maintainers.")
        return 1
    finally:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()


def main_exit(main: Callable[[], int | None]) -> None:
    """Run ``main`` and end the process with its exit code, for ``__main__`` modules."""
    sys.exit(run(main))
