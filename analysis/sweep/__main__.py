"""``python -m analysis.sweep``: see :mod:`analysis.sweep`."""

from analysis.sweep.cli import main
from common.cli import run_main

if __name__ == "__main__":
    raise SystemExit(run_main(main))
