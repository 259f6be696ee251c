"""``python -m bench <name> [args]``: run benchmark ``bench.<name>`` by calling its ``main()``.

``main()`` reads its options from ``sys.argv[1:]`` (argparse), which is set to the rest of the
command line here; ``bench.INVOKED_AS`` tells it how it was called (for the results file).
"""
from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path

import bench

HELPERS = frozenset({"report"})


def available() -> list[str]:
    here = Path(__file__).parent
    return sorted(m.name for m in pkgutil.iter_modules([str(here)])
                  if not m.name.startswith("_") and m.name not in HELPERS)


def main(argv: list[str]) -> int:
    names = available()
    if not argv or argv[0] in ("-h", "--help"):
        print(f"usage: ./dev bench <name> [options]   (benchmarks: {', '.join(names)})")
        return 0 if argv else 2
    name, rest = argv[0].replace("-", "_"), argv[1:]
    if name not in names:
        print(f"unknown benchmark '{argv[0]}': choose one of {', '.join(names)}", file=sys.stderr)
        return 2
    bench.INVOKED_AS = f"./dev bench {name}"
    sys.argv = [f"bench.{name}", *rest]
    module = importlib.import_module(f"bench.{name}")
    code = module.main()
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
