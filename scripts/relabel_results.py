"""Relabel curated result CSVs made before three defaults changed (issue 14), in place.

Runs made before the change used what are now named options; their rows keep their numbers and
get the names that mean, today, what those runs ran:

* ``env`` ``cooking`` / ``cooking_no_goals`` -> ``cooking[stage_reward=add]`` (the recipe-step
  reward was then −0.1 + 0.25; the default now pays +0.25 instead of the step cost);
* ``env`` ``distracting_bus`` -> ``distracting_bus[train_split=paired]`` (the paper variant's
  training IDs were then the paired split; the default is now ``independent``);
* ``method`` ``dream_no_bottleneck`` -> ``dream_no_bottleneck_no_noise`` (it then dropped the
  encoder noise too; ``dream_no_bottleneck`` now keeps it).

Each relabelled file records ``"relabelled": "issue 14"`` in its ``# {json}`` header, and a file
that already has it is left alone, so running this twice changes nothing.

    python scripts/relabel_results.py results/fig6_7/final_returns.csv ...
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import pandas as pd

from common.cli import run_main
from common.io import read_csv, read_header, write_csv

MARK = "issue 14"
RENAMES = {
    "env": {
        "cooking": "cooking[stage_reward=add]",
        "cooking_no_goals": "cooking_no_goals[stage_reward=add]",
        "distracting_bus": "distracting_bus[train_split=paired]",
    },
    "method": {"dream_no_bottleneck": "dream_no_bottleneck_no_noise"},
}


def relabel(df: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """``df`` with the renamed cells (:data:`RENAMES`, whole-cell matches) and their count."""
    out, changed = df.copy(), 0
    for column, names in RENAMES.items():
        if column in out.columns:
            hit = out[column].isin(list(names))
            changed += int(hit.sum())
            out.loc[hit, column] = out.loc[hit, column].map(names)
    return out, changed


def main(argv: Sequence[str] | None = None) -> int:
    """Relabel each CSV given; print how many cells changed per file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", nargs="+")
    args = parser.parse_args(argv)
    for path in args.csv:
        header = read_header(path) or {}
        if header.get("relabelled") == MARK:
            print(f"{path}: already relabelled")
            continue
        df, changed = relabel(read_csv(path, keep_default_na=False))
        write_csv(path, df, {**header, "relabelled": MARK})
        print(f"{path}: {changed} cells")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
