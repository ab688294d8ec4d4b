r"""Per-cell statistics of the per-seed table and log-log slopes against ``A``.

Per measure, a seed counts when its value is known exactly: non-missing, and not the
``T_greedy`` of a capped seed (only a lower bound there). The 95% interval is the
t-interval ``mean -/+ t_{0.975, n-1} sd / sqrt(n)``; ``z = (mean - exact) / (sd / sqrt(n))``
compares the mean with the exact expectation of :mod:`~analysis.sample_complexity.theory`.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.special import stdtrit

from analysis.sample_complexity.per_seed import CELL_KEYS, check_data
from analysis.sample_complexity.theory import bound_form, exact_mean
from tabular.measures import MEASURES

SUMMARY_COLUMNS = (
    *CELL_KEYS,
    "measure",
    "n",
    "n_capped",
    "mean",
    "sd",
    "ci95_low",
    "ci95_high",
    "median",
    "exact_mean",
    "z",
    "bound_form",
    "mean_over_bound",
    "mean_with_capped",
)
"""Columns of ``summary.csv`` (one row per cell and measure).

``mean_with_capped`` averages the measure over every seed where it has a value, including
the lower-bound ``T_greedy`` of capped seeds: a lower bound on the true mean whenever
``n_capped > 0`` (it is the only statistic for per-step RL², whose seeds are all capped)."""

SLOPE_COLUMNS = (
    "method",
    "learner",
    "H",
    "epsilon",
    "measure",
    "n_A",
    "A_min",
    "A_max",
    "slope",
    "bound_slope",
    "exact_slope",
)
"""Columns of ``slopes.csv`` (one row per method, learner, H, epsilon and measure)."""


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    """Per cell and measure: sample statistics next to the exact mean and the bound form.

    ``n`` counts the seeds on which the measure is known exactly (non-missing, and not the
    lower-bound ``T_greedy`` of a capped seed); ``n_capped`` counts the cell's capped seeds.
    ``ci95_low/high`` is the t-interval ``mean -/+ t_{0.975, n-1} sd / sqrt(n)`` (``sd``
    with ``n - 1`` degrees of freedom), ``z = (mean - exact_mean) / (sd / sqrt(n))``.
    """
    check_data(df)
    long = df.melt(
        id_vars=[*CELL_KEYS, "capped"],
        value_vars=list(MEASURES),
        var_name="measure",
        value_name="T",
    )
    values = long["T"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    long["T_with_capped"] = values.copy()
    values[(long["measure"] == "T_greedy").to_numpy() & long["capped"].to_numpy()] = np.nan
    long["T"] = values
    long["measure"] = pd.Categorical(long["measure"], categories=MEASURES, ordered=True)
    out = (
        long.groupby([*CELL_KEYS, "measure"], observed=True, sort=True)["T"]
        .agg(n="count", mean="mean", sd="std", median="median")
        .reset_index()
    )
    with_capped = long.groupby([*CELL_KEYS, "measure"], observed=True, sort=True)["T_with_capped"]
    out["mean_with_capped"] = with_capped.mean().to_numpy()
    out["measure"] = out["measure"].astype(str)
    capped = df.groupby(list(CELL_KEYS))["capped"].sum().rename("n_capped").reset_index()
    out = out.merge(capped, on=list(CELL_KEYS), how="left")
    n = out["n"].to_numpy(dtype=float)
    mean = out["mean"].to_numpy(dtype=float)
    sd = out["sd"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        sem = np.where(n >= 2, sd / np.sqrt(n), np.nan)
        half = stdtrit(np.maximum(n - 1, 1), 0.975) * sem
        exact = np.array(
            [
                exact_mean(r.method, r.learner, r.H, r.A, r.epsilon, r.measure)
                for r in out.itertuples(index=False)
            ],
            dtype=float,
        )
        form = np.array([bound_form(r.method, r.A, r.H) for r in out.itertuples(index=False)])
        out["ci95_low"] = mean - half
        out["ci95_high"] = mean + half
        out["exact_mean"] = exact
        out["z"] = np.where(sem > 0, (mean - exact) / sem, np.nan)
        out["bound_form"] = form
        out["mean_over_bound"] = mean / form
    out["n"] = out["n"].astype("int64")
    out["n_capped"] = out["n_capped"].astype("int64")
    return out[list(SUMMARY_COLUMNS)]


def _ls_slope(x: np.ndarray, y: np.ndarray) -> float:
    """Least-squares slope of ``y`` on ``x`` (NaN with fewer than two distinct ``x``)."""
    if len(x) < 2 or np.ptp(x) == 0:
        return math.nan
    dx = x - x.mean()
    return float(np.dot(dx, y - y.mean()) / np.dot(dx, dx))


def slopes(summary: pd.DataFrame) -> pd.DataFrame:
    """Log-log slopes of ``mean`` against ``A`` per method, learner, H, epsilon and measure.

    Takes a :func:`summarize` frame (needs ``method, learner, H, A, epsilon, measure, mean,
    bound_form``; ``exact_mean`` optional). ``slope`` is the least-squares slope of
    ``log mean`` on ``log A`` over the ``A`` with a positive mean; ``bound_slope`` and
    ``exact_slope`` are the same fit to ``bound_form`` and ``exact_mean`` over those ``A``
    (NaN if any exact value is missing there).
    """
    rows = []
    group_keys = ["method", "learner", "H", "epsilon", "measure"]
    for key, grp in summary.groupby(group_keys, sort=True):
        grp = grp.sort_values("A")
        mean = grp["mean"].to_numpy(dtype=float)
        ok = np.isfinite(mean) & (mean > 0)
        x = np.log(grp["A"].to_numpy(dtype=float)[ok])
        bound = grp["bound_form"].to_numpy(dtype=float)[ok]
        exact = (
            grp["exact_mean"].to_numpy(dtype=float)[ok]
            if "exact_mean" in grp
            else np.full(len(x), np.nan)
        )
        exact_ok = len(exact) > 0 and bool(np.all(np.isfinite(exact) & (exact > 0)))
        a_ok = grp["A"].to_numpy()[ok]
        rows.append(
            (
                *key,
                int(ok.sum()),
                int(a_ok.min()) if len(a_ok) else pd.NA,
                int(a_ok.max()) if len(a_ok) else pd.NA,
                _ls_slope(x, np.log(mean[ok])),
                _ls_slope(x, np.log(bound)) if len(x) else math.nan,
                _ls_slope(x, np.log(exact)) if exact_ok else math.nan,
            )
        )
    out = pd.DataFrame(rows, columns=list(SLOPE_COLUMNS))
    for col in ("A_min", "A_max"):
        out[col] = out[col].astype("Int64")
    order = [MEASURES.index(m) if m in MEASURES else len(MEASURES) for m in out["measure"]]
    out = out.assign(_order=order).sort_values([*group_keys[:-1], "_order"], kind="mergesort")
    return out.drop(columns="_order").reset_index(drop=True)
