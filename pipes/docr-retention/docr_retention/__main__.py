from __future__ import annotations

from pipes_common.runner import main_exit

from .pipe import main

if __name__ == "__main__":
    main_exit(main)
