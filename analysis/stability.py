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
and prints the per-run table. Both also say, per evaluation, at which exploration ε the oldest
trial still in the replay was played (``replay_oldest_epsilon``; ``--replay-capacity``, default
the methods' 16,000 trials) and whether that is the run's ε floor (``replay_at_floor``: the
replay holds only near-greedy exploration); ``stability.csv`` counts those evaluations and the
dips among them. Bad input is one line and exit status 2, as in
:mod:`analysis.learning_curves`.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from analysis.learning_curves import (
    CURVE_KEYS,
    EVAL_SPLITS,
    add_run_arguments,
    gather,
    load_references,
    reference_row,
)
from common.cli import OneLineParser, UsageError, int_at_least, parse_positive_float, run_main
from common.io import UnwritableOutput, output_folder, write_csv

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


def dips(
    df: pd.DataFrame,
    refs: pd.DataFrame | None,
    tolerance: float,
    replay_capacity: int | None = None,
) -> pd.DataFrame:
    """Every greedy evaluation at or after a run's first optimal one, labelled.

    Columns: :data:`RUN_KEYS`, ``trial``, ``env_steps``, ``return``, ``optimal``,
    ``at_optimum``, ``reveal_frac``, ``reveal_at_optimum`` (the run's lowest over its optimal
    evaluations), ``informed_split`` / ``return_informed`` / ``informed_optimal`` (where the
    told-μ return was read), ``decoder_error``, ``component`` (empty where at optimum) and
    ``replay_oldest_epsilon``: the exploration ε at which the oldest trial still in a replay of
    ``replay_capacity`` trials was played (trial − capacity, interpolated over the run's rows;
    default capacity :attr:`deep.method.MethodConfig.replay_capacity`; NaN for runs that do not
    record ``epsilon_explore``) and ``replay_at_floor`` (that ε is the lowest the run
    recorded: every exploration episode in the replay was played at the schedule's floor). Runs
    without a reference optimum, or that never reach it,
    contribute no rows.
    """
    capacity = _default_capacity() if replay_capacity is None else replay_capacity
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
        after = after.join(_oldest_epsilon(df, after, capacity))
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
        "decoder_error", "component", "replay_oldest_epsilon", "replay_at_floor",
    ]  # fmt: skip
    if not frames:
        return pd.DataFrame(columns=columns)
    table = pd.concat(frames, ignore_index=True)
    if "decoder_error" not in table:
        table["decoder_error"] = math.nan
    table["steps"] = table["steps"].astype("Int64")
    return table[columns]


def _default_capacity() -> int:
    from deep.method import MethodConfig  # imports torch: only when needed

    return int(MethodConfig.replay_capacity)


def _oldest_epsilon(df: pd.DataFrame, after: pd.DataFrame, capacity: int) -> pd.DataFrame:
    """Per row: π^exp's ε at the oldest trial in a replay of ``capacity`` trials.

    With ``replay_at_floor``: whether that ε is the lowest the run recorded (its floor).
    """
    nothing = pd.DataFrame(
        {"replay_oldest_epsilon": np.nan, "replay_at_floor": pd.NA}, index=after.index
    )
    if "epsilon_explore" not in df:
        return nothing
    rows = df[(df["run"] == after["run"].iloc[0]) & df["epsilon_explore"].notna()]
    rows = rows.sort_values("trial").drop_duplicates("trial")
    if not len(rows):
        return nothing
    oldest = after["trial"].to_numpy(dtype=float) - capacity
    eps = np.interp(oldest, rows["trial"].to_numpy(float), rows["epsilon_explore"].to_numpy(float))
    floor = float(rows["epsilon_explore"].min())
    return pd.DataFrame(
        {"replay_oldest_epsilon": eps, "replay_at_floor": eps <= floor + 1e-9}, index=after.index
    )


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
                **_floor_replay_counts(run),
                "final_at_optimum": bool(run.sort_values("trial")["at_optimum"].iloc[-1]),
                "last_env_steps": float(run["env_steps"].max()),
            }
        )
    columns = [
        *RUN_KEYS, "first_optimal_steps", "evals_from_first", "evals_at_optimum",
        "frac_at_optimum", "dips", *(f"dips_{c}" for c in COMPONENTS), "dips_unattributed",
        "evals_floor_replay", "dips_floor_replay", "final_at_optimum", "last_env_steps",
    ]  # fmt: skip
    result = pd.DataFrame(rows, columns=columns)
    result["steps"] = result["steps"].astype("Int64")
    return result


def _floor_replay_counts(run: pd.DataFrame) -> dict[str, Any]:
    """Evaluations, and dips, whose replay held only exploration played at the ε floor.

    NaN where the run records no ε.
    """
    at_floor = run["replay_at_floor"]
    if at_floor.isna().all():
        return {"evals_floor_replay": math.nan, "dips_floor_replay": math.nan}
    at_floor = at_floor.astype(bool)
    below = ~run["at_optimum"].astype(bool)
    return {
        "evals_floor_replay": int(at_floor.sum()),
        "dips_floor_replay": int((at_floor & below).sum()),
    }


def _parser() -> OneLineParser:
    p = OneLineParser(prog="python -m analysis.stability")
    add_run_arguments(p)
    p.add_argument("--out", default="results/dream", help="folder for the two CSVs")
    p.add_argument(
        "--tolerance", default=str(DEFAULT_TOLERANCE),
        help="an evaluation is optimal at ≥ the exact optimum less this",
    )  # fmt: skip
    p.add_argument(
        "--replay-capacity", default=None, metavar="N",
        help="trials a run's replay holds, for replay_oldest_epsilon (default: the methods' own)",
    )  # fmt: skip
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point (0: written; 2: bad input, a damaged file, an unwritable ``--out``)."""
    try:
        args = _parser().parse_args(argv)
        tolerance = parse_positive_float("--tolerance", args.tolerance)
        found = gather(args.runs, dedupe=args.dedupe)
        refs = load_references(args.references)
        capacity = (
            None
            if args.replay_capacity is None
            else int_at_least("--replay-capacity", args.replay_capacity, 1)
        )
        table = dips(found.rows, refs, tolerance, capacity)
        per_run = stability(table)
        header = {
            "experiment": "analysis.stability",
            "runs": sorted(found.rows["run"].unique()),
            "tolerance": tolerance,
            "dropped": [str(folder) for folder, _ in found.dropped],
        }
        out = output_folder(args.out)
        try:
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
                 "evals_floor_replay", "dips_floor_replay", "final_at_optimum"]  # fmt: skip
        print(per_run[shown].to_string(index=False) if len(per_run) else "no run reached "
              "its optimum")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(run_main(main, sys.argv[1:]))
