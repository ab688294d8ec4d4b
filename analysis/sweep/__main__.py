"""``python -m analysis.sweep``: see :mod:`analysis.sweep`."""

from analysis.sweep.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
