"""Exploitation told μ per kind of goal, over several diagnosed checkpoints: one table.

``python -m analysis.diagnostics.goal_kinds DIR [DIR ...] [--out FILE.csv]``

Each ``DIR`` is a folder written by ``python -m analysis.diagnostics RUN --out DIR`` for a
family with more than one kind of goal (cooking: "a, a", one ingredient twice, and "a, b"), so
it holds ``exploitation_goal_kinds.csv``. Diagnosing a run's snapshots
(``RUN/snapshots/env_steps_N.pt``) and listing the folders here shows when π^task learns each
kind of recipe, and lets two runs that differ in one setting be read side by side.

One row per (folder, split, goal kind): the run, its seed, the checkpoint's env steps, the
env and method arguments it was trained with, then the columns of
:func:`analysis.diagnostics.exploitation.goal_summary` (pairs, mean return and optimum, the
fraction of pairs played optimally, π^task's value of its first state, recipe progress). Rows
are sorted by run and env steps. ``--out`` writes them as CSV (header line: the folders and
the package version); it replaces only a file this command wrote. The table is printed as
Markdown. Bad input is one line and exit status 2.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from analysis.diagnostics.across import (
    RUN_COLUMNS,
    folder_table,
    main_for,
    markdown,
    with_run_columns,
)
from common.cli import run_main

__all__ = ["EXPERIMENT", "RUN_COLUMNS", "SOURCE", "goal_kinds_table", "main", "markdown"]

SOURCE = "exploitation_goal_kinds.csv"
"""The file of :mod:`analysis.diagnostics` this table is made of."""

EXPERIMENT = "analysis.diagnostics.goal_kinds"


def folder_rows(folder: Path) -> pd.DataFrame:
    """The rows of one diagnostics folder, with the checkpoint's run columns in front."""
    kinds, header = folder_table(
        folder, SOURCE, ("split", "goal_kind", "pairs"),
        "(on a family with more than one kind of goal, e.g. cooking)",
    )  # fmt: skip
    return with_run_columns(kinds, header, folder)


def goal_kinds_table(folders: Sequence[Path]) -> pd.DataFrame:
    """Every folder's rows, sorted by run, env steps, split and goal kind."""
    rows = pd.concat([folder_rows(f) for f in folders], ignore_index=True)
    return rows.sort_values(["run", "env_steps", "split", "goal_kind"], kind="stable").reset_index(
        drop=True
    )


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point (0: printed and written; 2: bad input, a missing file, unwritable)."""
    return main_for(argv, EXPERIMENT, (__doc__ or "").split("\n")[0], goal_kinds_table)


if __name__ == "__main__":
    raise SystemExit(run_main(main, sys.argv[1:]))
