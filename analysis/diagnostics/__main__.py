"""``python -m analysis.diagnostics``: see :mod:`analysis.diagnostics.cli`."""

import sys

from analysis.diagnostics.cli import main

raise SystemExit(main(sys.argv[1:]))
