from __future__ import annotations

if __name__ == "__main__":
    # the locking probe's process first, before this process imports anything else (tf_apply.prober)
    from .prober import Prober

    prober = Prober.fork()

    from pipes_common.runner import main_exit

    from .pipe import main

    main_exit(lambda: main(prober))
