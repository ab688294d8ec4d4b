"""Decoder refits over several diagnosed checkpoints: one table.

``python -m analysis.diagnostics.refits DIR [DIR ...] [--out FILE.csv]``

Each ``DIR`` is a folder written by ``python -m analysis.diagnostics RUN --out DIR
--refit-fits N`` (:mod:`analysis.diagnostics.decoder_refit`), so it holds
``decoder_refit.csv``. One row per (folder, fit, decoder, split): the checkpoint's run columns,
then :func:`~analysis.diagnostics.decoder_refit.refit_summary`'s columns (the trained decoder,
and the refits of each architecture at their last step: mean, minimum and maximum return,
decoder error, distance to the composed code), and ``return_composed``: the held-out problems'
return on the code their factors compose (``code_composite.csv``'s ``return_additive``, mean
over its problems; held-out rows only, NaN where the folder has no such file). Rows are sorted
by run and env steps. The table of ``docs/grid_worlds.md`` on the held-out kitchen comes from
it. ``--out``, printing and refusals as :mod:`analysis.diagnostics.across`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.diagnostics.across import folder_table, main_for, with_run_columns
from analysis.diagnostics.decoder_refit import REFIT_COLUMNS, refit_summary
from common.cli import run_main
from common.io import read_csv

__all__ = ["COMPOSITE", "EXPERIMENT", "SOURCE", "folder_rows", "main", "refits_table"]

SOURCE = "decoder_refit.csv"
"""The file of :mod:`analysis.diagnostics` this table is made of."""

COMPOSITE = "code_composite.csv"
"""Where the held-out problems' return on their composed code comes from."""

EXPERIMENT = "analysis.diagnostics.refits"


def folder_rows(folder: Path) -> pd.DataFrame:
    """One folder's :func:`refit_summary` rows with run columns and ``return_composed``."""
    refits, header = folder_table(folder, SOURCE, REFIT_COLUMNS, "--refit-fits N")
    rows = refit_summary(refits)
    composed = np.nan
    if (folder / COMPOSITE).is_file():
        composed = float(read_csv(folder / COMPOSITE, required=("return_additive",))[
            "return_additive"
        ].mean())  # fmt: skip
    rows["return_composed"] = np.where(rows["split"] == "test", composed, np.nan)
    return with_run_columns(rows, header, folder)


def refits_table(folders: Sequence[Path]) -> pd.DataFrame:
    """Every folder's rows, sorted by run and env steps (each folder's own order kept)."""
    rows = pd.concat([folder_rows(f) for f in folders], ignore_index=True)
    return rows.sort_values(["run", "env_steps"], kind="stable").reset_index(drop=True)


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point (0: printed and written; 2: bad input, a missing file, unwritable)."""
    return main_for(argv, EXPERIMENT, (__doc__ or "").split("\n")[0], refits_table)


if __name__ == "__main__":
    raise SystemExit(run_main(main, sys.argv[1:]))
