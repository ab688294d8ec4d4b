"""The terminal report: summary and slope tables, censoring notes, relation violations."""

from __future__ import annotations

import math
import sys

import numpy as np
import pandas as pd

from analysis.sample_complexity.per_seed import CELL_KEYS
from analysis.sample_complexity.relations import check_relations


def _fmt(x: object, spec: str) -> str:
    if x is None or x is pd.NA or (isinstance(x, float) and math.isnan(x)):
        return "NA"
    return format(x, spec)


def format_summary(summary: pd.DataFrame) -> str:
    """The summary as a fixed-width text table."""
    view = pd.DataFrame(
        {
            "method": summary["method"],
            "learner": summary["learner"],
            "H": summary["H"],
            "A": summary["A"],
            "eps": [_fmt(v, "g") for v in summary["epsilon"]],
            "measure": summary["measure"],
            "n": summary["n"],
            "capped": summary["n_capped"],
            "mean": [_fmt(v, ".2f") for v in summary["mean"]],
            "95% CI": [
                f"[{_fmt(lo, '.2f')}, {_fmt(hi, '.2f')}]"
                for lo, hi in zip(summary["ci95_low"], summary["ci95_high"], strict=True)
            ],
            "exact": [_fmt(v, ".2f") for v in summary["exact_mean"]],
            "z": [_fmt(v, "+.2f") for v in summary["z"]],
            "mean/bound": [_fmt(v, ".4f") for v in summary["mean_over_bound"]],
        }
    )
    return view.to_string(index=False)


def format_slopes(table: pd.DataFrame) -> str:
    """The slopes as a fixed-width text table."""
    view = pd.DataFrame(
        {
            "method": table["method"],
            "learner": table["learner"],
            "H": table["H"],
            "eps": [_fmt(v, "g") for v in table["epsilon"]],
            "measure": table["measure"],
            "A": [
                f"{lo}..{hi} ({n})" if n else "none"
                for lo, hi, n in zip(table["A_min"], table["A_max"], table["n_A"], strict=True)
            ],
            "slope": [_fmt(v, ".3f") for v in table["slope"]],
            "bound slope": [_fmt(v, ".3f") for v in table["bound_slope"]],
            "exact slope": [_fmt(v, ".3f") for v in table["exact_slope"]],
        }
    )
    return view.to_string(index=False)


def _runs_to_cap(df: pd.DataFrame) -> np.ndarray:
    """Rows whose seeds run to the cap by design: per-step RL² never certifies a trial."""
    return ((df["method"] == "rl2") & (df["learner"] == "per-step")).to_numpy()


def print_report(per_seed: pd.DataFrame, summary: pd.DataFrame, table: pd.DataFrame) -> int:
    """Print the tables, the capped warning and relation violations; return the exit status."""
    print("\nsummary (T in trials; exact = E[T] from tabular.bounds at epsilon = 1):")
    print(format_summary(summary))
    print("\nlog-log slopes d log(mean T) / d log A:")
    print(format_slopes(table))
    no_certificate = _runs_to_cap(per_seed)
    if no_certificate.any():
        print(
            "note: per-step RL² has no certificate (tabular.per_step), so its seeds always run "
            "to the cap; its T_greedy is then only a lower bound and is left out of the summary"
        )
    capped = per_seed[~no_certificate].groupby(list(CELL_KEYS))["capped"].sum()
    capped = capped[capped > 0]
    if len(capped):
        cells = ", ".join(
            f"{m} {lrn} H={H} A={A} eps={e:g}: {int(n)}"
            for (m, lrn, H, A, e), n in list(capped.items())[:4]
        )
        if len(capped) > 4:
            cells += f", ... {len(capped) - 4} more"
        print(
            f"warning: {int(capped.sum())} seeds hit the trial cap in {len(capped)} cells "
            f"({cells}); their measures are censored (see n_capped)",
            file=sys.stderr,
        )
    violations = check_relations(per_seed)
    if violations:
        print(f"error: {len(violations)} pathwise relation violations:", file=sys.stderr)
        for line in violations[:50]:
            print("  " + line, file=sys.stderr)
        if len(violations) > 50:
            print(f"  ... and {len(violations) - 50} more", file=sys.stderr)
        return 1
    return 0
