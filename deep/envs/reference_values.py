"""The reference returns of every benchmark, in one table (DREAM Sec. 6's horizontal lines).

Each benchmark's values are computed by planning on its known model, in its own module:
:mod:`deep.envs.reference_city` (bus, distracting bus, map), :mod:`deep.envs.reference_cooking`
(cooking, cooking without goals), :mod:`deep.envs.reference_sign` (the 3D sign task) and
:mod:`deep.envs.bandit` (App. C.2's bandit; variants ``"A=2,H=1"`` .. ``"A=6,H=1"``). The
columns are the same everywhere and come first, in this order (:data:`VALUE_COLUMNS`):
``optimal`` (mean V*(μ, g)), ``optimal_after_exploration``, ``pearl_ub``, ``pearl_ub_sampled``,
``pearl_ub_redraw`` and ``no_exploration``, all exploitation-episode returns averaged over the
true μ of the split and its goals; module-specific columns follow. ``reveals_all`` dispatches
the per-trajectory oracle the same way.

PEARL-UB is Thompson sampling (TS) with the true posterior and the optimal problem-specific
policies π*(μ, g), under three readings. ``pearl_ub`` (the line drawn as the paper's PEARL-UB):
TS exploration with one sample μ' per episode (PEARL's: follow π*(μ', g') throughout), then the
Bayes-optimal exploitation policy for the posterior, the paper's "upper bound on the final
performance of PEARL"; no_exploration ≤ pearl_ub ≤ optimal by construction.
``pearl_ub_sampled``: one sample per episode in both episodes; exploitation follows π*(μ'', g)
for μ'' drawn once from the posterior, even when contradicted (a wrong sample loops on the grid
worlds, below no exploration). ``pearl_ub_redraw``: as ``pearl_ub_sampled``, but in both
episodes the sample is redrawn as soon as an observation rules it out (NaN for the sign).

The distracting bus also has one row per explicit training-ID design
(:data:`deep.envs.city.TRAIN_SPLITS`), labelled ``distracting_bus[train_split=...]``: the
label :mod:`analysis.learning_curves` gives runs made with ``--env-arg train_split=...``.

``python -m deep.envs.reference_values [--only NAMES] [--out CSV] [--merge]`` prints the table
and writes it atomically (temporary file, then rename); ``--merge`` keeps the rows of the other
benchmarks already in ``--out`` (so the slow sign row need not be recomputed).
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import os
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from common.cli import DefaultsHelpFormatter, run_main
from common.io import atomic_write_text
from deep.envs import bandit
from deep.envs.problem import REFERENCE_COLUMNS, MetaProblemFamily, make, options_label

__all__ = [
    "BENCHMARKS",
    "VALUE_COLUMNS",
    "all_reference_tables",
    "merge_tables",
    "reference_table",
    "reveals_all",
]

BENCHMARKS = (
    "vanilla_bus",
    "distracting_bus",
    "map",
    "cooking",
    "cooking_no_goals",
    "sign",
    "bandit",
)
"""Every benchmark with reference values, in table order."""
VALUE_COLUMNS = REFERENCE_COLUMNS
"""The reference values of every row, in column order (after the row's labels)."""
BANDIT_VARIANTS = bandit.REFERENCE_VARIANTS
"""The bandit rows of the table (:func:`deep.envs.bandit.reference_table` takes any A, H)."""


@functools.cache
def _family(name: str) -> MetaProblemFamily:
    """The default family of ``name``: its reference hooks say which rows exist and build them."""
    _check_name(name)
    return make(name)


def _splits(name: str) -> tuple[str, ...]:
    return _family(name).reference_splits


def _variants(name: str) -> tuple[str, ...]:
    return _family(name).reference_variants


def _options(name: str) -> tuple[Mapping[str, Any], ...]:
    return _family(name).reference_options


def _check_name(name: str) -> None:
    if name not in BENCHMARKS:
        raise ValueError(f"no reference values for {name!r}; allowed: {', '.join(BENCHMARKS)}")


def reference_table(
    name: str, variant: str = "paper", split: str = "test", options: Mapping[str, Any] | None = None
) -> pd.DataFrame:
    """One-row table of the reference returns of ``name`` (see the module doc)."""
    _check_name(name)
    if variant not in _variants(name):
        raise ValueError(
            f"no reference values for {name!r} variant {variant!r}; "
            f"allowed: {', '.join(_variants(name))}"
        )
    options = dict(options or {})
    if options not in [dict(o) for o in _options(name)]:
        allowed = "; ".join(options_label(name, o) for o in _options(name))
        raise ValueError(f"no reference row {options_label(name, options)}; allowed: {allowed}")
    return _ordered(_family(name).reference_table(variant, split, options))


def _ordered(table: pd.DataFrame) -> pd.DataFrame:
    """The labels, then :data:`VALUE_COLUMNS`, then the module's own columns."""
    values = [c for c in VALUE_COLUMNS if c in table.columns]
    first = list(table.columns[: min(table.columns.get_loc(c) for c in values)])
    rest = [c for c in table.columns if c not in values and c not in first]
    return table[[*first, *values, *rest]]


def reveals_all(
    name: str, problem: int, exploration_trajectory: Sequence[int], variant: str = "paper"
) -> bool:
    """Whether an exploration episode's actions reveal all task-relevant information of μ.

    Grid worlds only (they are deterministic, so the actions fix what is seen); for the sign
    task use :func:`deep.envs.reference_sign.reveals_all`, which also needs the start pose.
    """
    _check_name(name)
    return _family(name).reference_reveals_all(problem, exploration_trajectory, variant)


def all_reference_tables(names: Sequence[str] = BENCHMARKS) -> pd.DataFrame:
    """Every (benchmark, training split, variant, split) row for ``names``."""
    rows = []
    for name in names:
        _check_name(name)
        for options in _options(name):
            for variant in _variants(name):
                for split in _splits(name):
                    rows.append(reference_table(name, variant, split, options))
    return _ordered(pd.concat(rows, ignore_index=True))


def merge_tables(old: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """``new``'s rows plus the rows of ``old`` of the benchmarks ``new`` does not have.

    Rows are in :data:`BENCHMARKS` order; a label ``name[k=v]`` counts as ``name``.
    """

    def base(table: pd.DataFrame) -> pd.Series:
        return table["benchmark"].astype(str).str.split("[", regex=False).str[0]

    table = pd.concat([old[~base(old).isin(set(base(new)))], new], ignore_index=True)
    order = {name: i for i, name in enumerate(BENCHMARKS)}
    table = table.iloc[base(table).map(order).argsort(kind="stable")].reset_index(drop=True)
    return _ordered(table)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; see the module doc."""
    parser = argparse.ArgumentParser(
        prog="python -m deep.envs.reference_values", formatter_class=DefaultsHelpFormatter
    )
    parser.add_argument("--only", default=",".join(BENCHMARKS), help="comma-separated names")
    parser.add_argument("--out", default=None, help="CSV path to write (atomically)")
    parser.add_argument(
        "--merge",
        action="store_true",
        help="keep the rows of the benchmarks not in --only that --out already holds",
    )
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    bad = [n for n in names if n not in BENCHMARKS]
    if bad or not names:
        parser.exit(2, f"error: --only {args.only!r}: allowed names: {', '.join(BENCHMARKS)}\n")
    for name in names:
        for module in _family(name).requires:
            if importlib.util.find_spec(module) is None:
                parser.exit(2, f"error: --only includes {name!r} but {module} is not installed\n")
    if args.merge and not args.out:
        parser.exit(2, "error: --merge needs --out (the table to merge into)\n")
    start = time.perf_counter()
    table = all_reference_tables(names)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print(f"({time.perf_counter() - start:.0f} s)", file=sys.stderr)
    if args.out:
        if args.merge and os.path.exists(args.out):
            table = merge_tables(pd.read_csv(args.out), table)
        atomic_write_text(args.out, table.to_csv(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(run_main(main))
