"""``python -m analysis.sample_complexity``: the command line of :mod:`.cli`."""

import sys

from analysis.sample_complexity.cli import main

if __name__ == "__main__":
    sys.exit(main())
