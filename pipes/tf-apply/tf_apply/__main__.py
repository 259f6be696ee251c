from __future__ import annotations

# the probe's process first, before this process imports anything slow (see tf_apply.prober)
from .prober import Prober

PROBER = Prober.start()

from pipes_common.runner import main_exit  # noqa: E402

from .pipe import main  # noqa: E402

if __name__ == "__main__":
    main_exit(lambda: main(PROBER))
