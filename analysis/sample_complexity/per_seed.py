"""The per-seed table: one row per ``(method, learner, H, A, epsilon, seed)``.

Columns are :data:`tabular.measures.COLUMNS`; :func:`normalize` fixes their order, dtypes
and the row order, so equal data always give equal CSV bytes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from common import io as aio
from tabular.measures import COLUMNS, LEARNERS, METHODS

CELL_KEYS = ("method", "learner", "H", "A", "epsilon")
"""Columns that identify a cell of the sweep."""

PER_SEED_DTYPES: dict[str, Any] = {
    "method": str,
    "learner": str,
    "H": "int64",
    "A": "int64",
    "epsilon": "float64",
    "seed": "int64",
    "T_greedy": "Int64",
    "T_event": "Int64",
    "T_guaranteed": "Int64",
    "trials_run": "Int64",
    "capped": bool,
}
"""Canonical dtypes of the per-seed columns (measures are nullable integers)."""


def check_data(df: pd.DataFrame) -> None:
    """Raise ``ValueError`` unless ``df`` has the per-seed columns and valid cell labels."""
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"missing columns {', '.join(missing)} (need {', '.join(COLUMNS)})")
    bad_method = set(df["method"].unique()) - set(METHODS)
    bad_learner = set(df["learner"].unique()) - set(LEARNERS)
    if bad_method or bad_learner:
        raise ValueError(f"unknown method/learner {sorted(bad_method | bad_learner)}")
    if df.duplicated([*CELL_KEYS, "seed"]).any():
        raise ValueError("duplicate (method, learner, H, A, epsilon, seed) rows")


def normalize(df: pd.DataFrame) -> pd.DataFrame:
    """Canonical column order, dtypes and row order (so equal data give equal CSV bytes)."""
    out = df[list(COLUMNS)].astype(PER_SEED_DTYPES)
    out = out.sort_values([*CELL_KEYS, "seed"], kind="mergesort")
    return out.reset_index(drop=True)


def read_per_seed(path: str | Path) -> pd.DataFrame:
    """Read a ``per_seed.csv`` (or a cell file) into canonical form."""
    df = aio.read_csv(path, dtype=PER_SEED_DTYPES)
    check_data(df)
    return normalize(df)
