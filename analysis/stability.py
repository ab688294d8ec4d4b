"""Whether a run stays optimal once it gets there, and where each drop from it sits.

``python -m analysis.stability runs/map/dream runs/sweeps/dream_grids --out results/dream_grids``

A meta-RL run is judged by its greedy held-out return over training (Sec. 6). A run that
reaches the optimal return and later leaves it has a *dip*; a tail mean over the last 10% of
evaluations (:mod:`analysis.learning_curves`) mixes the dips with the optimal evaluations and
cannot say which part of DREAM failed. This module reads the same ``metrics.csv`` rows and,
per run (curve, split, seed), counts the evaluations from the first optimal one on and labels
every evaluation below the optimum with the component whose metric fell at that evaluation:

* ``exploration`` — the fraction of exploration episodes that reveal all task-relevant
  information (``reveal_frac``) is below its lowest value over the run's optimal evaluations:
  π^exp stopped collecting what exploitation needs.
* ``exploitation`` — the greedy return with exploitation told μ (z = f(μ), ``return_informed``)
  is below that split's optimum by more than the tolerance: π^task fails even with perfect
  information. For held-out problems f(μ) was never trained, so the told-μ return of the
  training-problem evaluation at the same point is used when the run evaluated both splits
  (``--eval-splits test,train``); otherwise the split's own.
* ``decoder`` — neither: exploration reveals and π^task solves the task told μ, yet the
  return with z = g(τ^exp) is below the optimum, so g did not carry what exploration found.

Both of the first two can hold (``exploration+exploitation``). A run that records no told-μ
return and still reveals gets ``unattributed``. "Optimal" is the exact optimum of
``results/benchmarks/reference_values.csv`` (:func:`analysis.learning_curves.reference_row`)
less ``--tolerance`` (default 0.02: a greedy evaluation of 100 trials at the optimum of a
deterministic grid world returns it exactly; floats print 0.8 as 0.79999...). Curves whose
benchmark has no reference row are skipped with a line on stderr.

Writes to ``--out`` ``stability.csv`` (per run: env steps of the first optimal evaluation,
evaluations from there on, how many of them optimal, the dips by component, whether the last
evaluation is optimal) and ``dips.csv`` (one row per dip with the metrics the label came from),
and prints the per-run table. Bad input is one line and exit status 2, as in
:mod:`analysis.learning_curves`.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from analysis.learning_curves import (
    CURVE_KEYS,
    EVAL_SPLITS,
    gather,
    load_references,
    reference_row,
)
from common.cli import OneLineParser, UsageError, parse_positive_float
from common.io import UnwritableOutput, write_csv

__all__ = ["COMPONENTS", "DEFAULT_TOLERANCE", "dips", "label_dip", "main", "stability"]

DEFAULT_TOLERANCE = 0.02
"""An evaluation is optimal when its return is at least the exact optimum less this."""
COMPONENTS = ("exploration", "exploitation", "decoder")
"""What :func:`label_dip` can blame, alone or joined with ``+``; else ``unattributed``."""
RUN_KEYS = [*CURVE_KEYS, "split", "seed"]


def label_dip(
    reveal_frac: float,
    reveal_at_optimum: float,
    return_informed: float,
    informed_optimal: float,
    tolerance: float,
) -> str:
    """The component blamed for one evaluation below the optimum (rules in the module doc).

    NaN ``reveal_frac`` / ``reveal_at_optimum`` (no reveal oracle) never blames exploration;
    NaN ``return_informed`` (no told-μ evaluation) never blames exploitation nor the decoder.
    """
    blamed = []
    if not math.isnan(reveal_frac) and not math.isnan(reveal_at_optimum):
        if reveal_frac < reveal_at_optimum - 1e-9:
            blamed.append("exploration")
    informed_known = not math.isnan(return_informed) and not math.isnan(informed_optimal)
    if informed_known and return_informed < informed_optimal - tolerance:
        blamed.append("exploitation")
    if blamed:
        return "+".join(blamed)
    return "decoder" if informed_known else "unattributed"


def _optimum(refs: pd.DataFrame | None, env: str, variant: str, split: str) -> float:
    row = reference_row(refs, env, variant, split)
    return math.nan if row is None else float(row["optimal"])


def dips(df: pd.DataFrame, refs: pd.DataFrame | None, tolerance: float) -> pd.DataFrame:
    """Every greedy evaluation at or after a run's first optimal one, labelled.

    Columns: :data:`RUN_KEYS`, ``trial``, ``env_steps``, ``return``, ``optimal``,
    ``at_optimum``, ``reveal_frac``, ``reveal_at_optimum`` (the run's lowest over its optimal
    evaluations), ``informed_split`` / ``return_informed`` / ``informed_optimal`` (where the
    told-μ return was read), ``decoder_error`` and ``component`` (empty where at optimum).
    Runs without a reference optimum, or that never reach it, contribute no rows.
    """
    evals = df[df["split"].isin(list(EVAL_SPLITS))]
    frames = []
    for key, run in evals.groupby(RUN_KEYS, sort=True, dropna=False):
        named = dict(zip(RUN_KEYS, key, strict=True))
        optimal = _optimum(refs, named["env"], named["variant"], named["split"])
        if math.isnan(optimal):
            continue
        run = run.sort_values("trial")
        at_opt = run["return"] >= optimal - tolerance
        if not at_opt.any():
            continue
        after = run[run["trial"] >= run.loc[at_opt, "trial"].min()].copy()
        after["optimal"] = optimal
        after["at_optimum"] = after["return"] >= optimal - tolerance
        after["reveal_at_optimum"] = float(after.loc[after["at_optimum"], "reveal_frac"].min())
        informed = _told_mu(evals, named, after, refs)
        after = after.drop(columns="return_informed", errors="ignore").join(informed)
        after["component"] = [
            ""
            if row.at_optimum
            else label_dip(
                float(row.reveal_frac),
                float(row.reveal_at_optimum),
                float(row.return_informed),
                float(row.informed_optimal),
                tolerance,
            )
            for row in after.itertuples()
        ]
        frames.append(after)
    columns = [
        *RUN_KEYS, "trial", "env_steps", "return", "optimal", "at_optimum", "reveal_frac",
        "reveal_at_optimum", "informed_split", "return_informed", "informed_optimal",
        "decoder_error", "component",
    ]  # fmt: skip
    if not frames:
        return pd.DataFrame(columns=columns)
    table = pd.concat(frames, ignore_index=True)
    if "decoder_error" not in table:
        table["decoder_error"] = math.nan
    table["steps"] = table["steps"].astype("Int64")
    return table[columns]


def _told_mu(
    evals: pd.DataFrame, named: dict, after: pd.DataFrame, refs: pd.DataFrame | None
) -> pd.DataFrame:
    """Per row of ``after``: the told-μ return to judge π^task by, its split and optimum.

    Held-out rows read the same run's training-problem evaluation at the same trial when
    there is one with a told-μ return (f(μ) is trained on training problems only).
    """
    source, split = after.set_index("trial"), named["split"]
    if split == "test":
        run = evals[(evals["run"] == after["run"].iloc[0]) & (evals["split"] == "train_eval")]
        if "return_informed" in run and run["return_informed"].notna().any():
            source, split = run.set_index("trial"), "train_eval"
    values = (
        source["return_informed"].reindex(after["trial"]).to_numpy(dtype=float)
        if "return_informed" in source
        else math.nan
    )
    return pd.DataFrame(
        {
            "informed_split": split,
            "return_informed": values,
            "informed_optimal": _optimum(refs, named["env"], named["variant"], split),
        },
        index=after.index,
    )


def stability(table: pd.DataFrame) -> pd.DataFrame:
    """Per run, from :func:`dips`: how long it stays optimal and what each dip blames.

    Columns: :data:`RUN_KEYS`, ``first_optimal_steps``, ``evals_from_first``,
    ``evals_at_optimum``, ``frac_at_optimum``, ``dips`` and ``dips_<component>`` for each of
    :data:`COMPONENTS` (a dip blaming two counts in both), ``dips_unattributed``,
    ``final_at_optimum`` and ``last_env_steps``.
    """
    rows = []
    for key, run in table.groupby(RUN_KEYS, sort=True, dropna=False):
        below = run[~run["at_optimum"].astype(bool)]
        parts = below["component"].str.split("+").explode()
        rows.append(
            {
                **dict(zip(RUN_KEYS, key, strict=True)),
                "first_optimal_steps": float(run["env_steps"].min()),
                "evals_from_first": len(run),
                "evals_at_optimum": int(run["at_optimum"].sum()),
                "frac_at_optimum": float(run["at_optimum"].mean()),
                "dips": len(below),
                **{f"dips_{c}": int((parts == c).sum()) for c in COMPONENTS},
                "dips_unattributed": int((parts == "unattributed").sum()),
                "final_at_optimum": bool(run.sort_values("trial")["at_optimum"].iloc[-1]),
                "last_env_steps": float(run["env_steps"].max()),
            }
        )
    columns = [
        *RUN_KEYS, "first_optimal_steps", "evals_from_first", "evals_at_optimum",
        "frac_at_optimum", "dips", *(f"dips_{c}" for c in COMPONENTS), "dips_unattributed",
        "final_at_optimum", "last_env_steps",
    ]  # fmt: skip
    result = pd.DataFrame(rows, columns=columns)
    result["steps"] = result["steps"].astype("Int64")
    return result


def _parser() -> OneLineParser:
    p = OneLineParser(prog="python -m analysis.stability")
    p.add_argument("runs", nargs="+", help="folders searched for metrics.csv")
    p.add_argument("--out", default="results/dream", help="folder for the two CSVs")
    p.add_argument(
        "--tolerance", default=str(DEFAULT_TOLERANCE),
        help="an evaluation is optimal at ≥ the exact optimum less this",
    )  # fmt: skip
    p.add_argument(
        "--references", default=None, metavar="CSV",
        help="reference values (default: the package's results/benchmarks/reference_values.csv)",
    )  # fmt: skip
    p.add_argument(
        "--dedupe", action="store_true",
        help="keep the first of runs with the same config and seed (else: an error)",
    )  # fmt: skip
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point (0: written; 2: bad input, a damaged file, an unwritable ``--out``)."""
    try:
        args = _parser().parse_args(argv)
        tolerance = parse_positive_float("--tolerance", args.tolerance)
        found = gather(args.runs, dedupe=args.dedupe)
        refs = load_references(args.references)
        table = dips(found.rows, refs, tolerance)
        per_run = stability(table)
        header = {
            "experiment": "analysis.stability",
            "runs": sorted(found.rows["run"].unique()),
            "tolerance": tolerance,
            "dropped": [str(folder) for folder, _ in found.dropped],
        }
        out = Path(args.out)
        try:
            out.mkdir(parents=True, exist_ok=True)
            write_csv(out / "stability.csv", per_run, header)
            write_csv(out / "dips.csv", table[~table["at_optimum"].astype(bool)], header)
        except OSError as err:
            raise UnwritableOutput.at(out, err) from None
    except UsageError as err:
        print(err.line(), file=sys.stderr)
        return 2
    for line in found.dropped_lines():
        print(line, file=sys.stderr)
    skipped = found.rows[found.rows["split"].isin(list(EVAL_SPLITS))].groupby(
        ["env", "variant", "split"]).size().index  # fmt: skip
    for env, variant, split in skipped:
        if math.isnan(_optimum(refs, env, variant, split)):
            print(f"skipped {env} ({variant}, {split}): no reference optimum", file=sys.stderr)
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        shown = ["env", "method", "split", "seed", "first_optimal_steps", "evals_from_first",
                 "evals_at_optimum", "dips", *(f"dips_{c}" for c in COMPONENTS),
                 "final_at_optimum"]  # fmt: skip
        print(per_run[shown].to_string(index=False) if len(per_run) else "no run reached "
              "its optimum")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
