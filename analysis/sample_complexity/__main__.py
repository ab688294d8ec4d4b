"""``python -m analysis.sample_complexity``: the command line of :mod:`.cli`."""

import sys

from analysis.sample_complexity.cli import main
from common.cli import run_main

if __name__ == "__main__":
    sys.exit(run_main(main))
