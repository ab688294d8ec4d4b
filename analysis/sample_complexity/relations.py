"""Seed-by-seed check of the pathwise relations the kernels' certificates prove.

The certificates are those of :mod:`tabular.dream`, :mod:`tabular.rl2` and
:mod:`tabular.per_step`; a violation means a kernel bug, never bad luck.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.sample_complexity.per_seed import check_data
from tabular.measures import MEASURES


def check_relations(df: pd.DataFrame) -> list[str]:
    """Violations of the pathwise relations the certificates prove.

    On uncapped seeds (where every measure the kernel certifies must be present):
    per-trajectory DREAM ``T_greedy == T_guaranteed <= T_event``; per-trajectory RL²
    ``T_greedy <= T_guaranteed`` and ``T_event <= T_guaranteed``; per-step DREAM
    ``T_greedy == T_guaranteed``. On every seed: per-step RL² has ``T_guaranteed`` missing
    (it has no certificate, :mod:`tabular.per_step`, so its seeds always run to the cap).
    Returns one line per violating seed (empty if none).
    """
    check_data(df)
    live = ~df["capped"].to_numpy(dtype=bool)
    every = np.ones(len(df), dtype=bool)
    g, e, q = (df[m].astype("Float64").to_numpy(dtype=float, na_value=np.nan) for m in MEASURES)
    method = df["method"].to_numpy()
    learner = df["learner"].to_numpy()
    missing = np.isnan(g) | np.isnan(e) | np.isnan(q)
    with np.errstate(invalid="ignore"):
        rules = [
            ("dream", "per-trajectory", live, "T_greedy == T_guaranteed <= T_event",
             missing | (g != q) | (q > e)),
            ("rl2", "per-trajectory", live, "T_greedy <= T_guaranteed and T_event <= T_guaranteed",
             missing | (g > q) | (e > q)),
            ("dream", "per-step", live, "T_greedy == T_guaranteed", missing | (g != q)),
            ("rl2", "per-step", every, "T_guaranteed is NA", ~np.isnan(q)),
        ]  # fmt: skip
    violations = []
    for m, lrn, rows, relation, bad in rules:
        hit = np.flatnonzero(rows & (method == m) & (learner == lrn) & bad)
        for i in hit:
            r = df.iloc[i]
            violations.append(
                f"{m} {lrn} H={r['H']} A={r['A']} epsilon={r['epsilon']:g} seed={r['seed']}: "
                f"expected {relation}, got T_greedy={r['T_greedy']}, T_event={r['T_event']}, "
                f"T_guaranteed={r['T_guaranteed']}"
            )
    return violations
