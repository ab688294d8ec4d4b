"""Print the exact-vs-simulated agreement table of ``tests/test_theory_agreement.py``.

``python benchmarks/theory_agreement.py [--csv PATH]`` runs the same cells, seeds and
helpers as the test (it imports the test module by path, so there is one implementation):
per (learner, method, measure, A, H) the simulated mean next to the exact ``E[T]`` of
:mod:`tabular.bounds`, ``z = (mean - E[T]) / (sd / sqrt(n))`` and the Kolmogorov-Smirnov
distance on the integer grid next to its DKW bound (``alpha = 1e-3``), then the largest
``|z|`` and KS distance. Takes a few seconds.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
TEST_MODULE = ROOT / "tests" / "test_theory_agreement.py"


def load_helpers() -> ModuleType:
    """Import ``tests/test_theory_agreement.py`` as a module (``tests`` is not a package)."""
    spec = importlib.util.spec_from_file_location("_theory_agreement_helpers", TEST_MODULE)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {TEST_MODULE}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def main(argv: Sequence[str] | None = None) -> int:
    """Compute and print the table; return 1 if any row fails its check."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, default=None, help="also write the table here")
    parser.add_argument("--no-per-step", action="store_true", help="per-trajectory rows only")
    args = parser.parse_args(argv)

    helpers = load_helpers()
    start = time.perf_counter()
    table = helpers.agreement_table(include_per_step=not args.no_per_step)
    seconds = time.perf_counter() - start
    shown = table.assign(ks_over_dkw=table["ks"] / table["dkw"])[
        [
            "learner",
            "method",
            "measure",
            "event",
            "A",
            "H",
            "n",
            "n_missing",
            "mean",
            "exact_mean",
            "z",
            "ks",
            "ks_at",
            "dkw",
            "ks_over_dkw",
            "ok",
        ]
    ]
    with pd.option_context("display.width", 200, "display.max_rows", None):
        print(
            shown.to_string(
                index=False,
                formatters={
                    "mean": "{:.3f}".format,
                    "exact_mean": "{:.3f}".format,
                    "z": "{:+.2f}".format,
                    "ks": "{:.4f}".format,
                    "dkw": "{:.4f}".format,
                    "ks_over_dkw": "{:.2f}".format,
                },
            )
        )
    print()
    print("\n".join(helpers.summary_lines(table)))
    print(f"computed in {seconds:.1f} s (z limit {helpers.Z_MAX}, alpha {helpers.ALPHA})")
    if args.csv is not None:
        table.to_csv(args.csv, index=False)
        print(f"wrote {args.csv}")
    return 0 if bool(table["ok"].all()) else 1


if __name__ == "__main__":
    sys.exit(main())
