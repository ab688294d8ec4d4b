"""Learning curves and final returns of neural runs, with the exact reference lines (Figs. 6–7).

``python -m analysis.learning_curves runs/distracting_bus runs/map --out results/fig6``

Reads every ``metrics.csv`` under the given folders (written by ``python -m deep.train`` or
``python -m analysis.sweep``), with each run's ``config.json`` and ``summary.json`` when present,
and nothing else. A *curve* is one full run configuration: benchmark, variant, ``env_kwargs``
(runs with them are named ``env[key=value,...]``), method, setting (its ``--method-arg``
overrides), preset, budget (``steps``) and every other config key but those in
:data:`IGNORED_CONFIG_KEYS` (seed, device, threads, checkpoint and evaluation cadence: they do not
change what a run learns). A ``paper`` and a ``tiny`` run, or a 100k and a 1M run, are never
pooled; curves that differ in such a key are labelled with it. A curve's seeds are aggregated
per evaluation: the mean test exploitation return against the mean env steps (exploration +
exploitation, Sec. 6's x-axis) with a 95% confidence band over seeds (Student t, n − 1 degrees
of freedom; no band for one seed). Each panel holds one benchmark and problem split — ``test``
(held-out problems) and, where the runs evaluated them (``--eval-splits test,train``), the
training problems (Fig. 7 left) — with the horizontal reference lines of the package's
``results/benchmarks/reference_values.csv`` (found from any working directory; ``--references
CSV`` for another table, which must exist): optimal, PEARL-UB, no exploration, computed exactly
by planning; below it the fraction of test trials whose exploration reveals all task-relevant
information.

A run is never counted twice: two folders holding the same configuration and seed (a sweep
folder copied under the same root) stop the command with one line naming both (exit 2);
``--dedupe`` keeps the first in path order (folders as given, each searched in sorted order) and
prints ``dropped <folder>: the same run as <folder> (--dedupe)`` for each other copy. A curve
that pools unfinished runs (no ``summary.json``, or one short of the config's ``steps``) with
finished ones gets a ``warning: ...`` line on stderr; ``unfinished_seeds`` in
``final_returns.csv`` counts them for every curve. A damaged ``metrics.csv``, ``config.json``,
``summary.json`` or reference table (truncated, not CSV / JSON) and an ``--out`` that cannot be
written are one line ``error: <path>: ...`` and exit status 2; no input file is ever written.

Writes to ``--out``: ``curves.png`` (every panel), ``<env>.png`` (one per benchmark),
``curves.csv`` (the aggregated curves: seeds pooled per evaluation, each run's last
evaluation, where its budget ran out off the evaluation grid, pooled as one point at the budget),
``final_returns.csv`` (per curve and split: the last
evaluation's return, mean and 95% CI over seeds, seeds, unfinished seeds, env steps, reveal
fraction, and ``tail_return_mean``: each seed's mean over its evaluations in the last
``TAIL_FRACTION`` of its env steps, averaged over seeds — one greedy evaluation of 100 trials is
noisy; ``tail_return_ci95`` its 95% half-width over seeds; and the panel's reference values
``optimal``, ``pearl_ub``, ``no_exploration``), ``seed_tails.csv`` (those tail means
per seed, with the same tail of ``return_informed``), ``run_copies/`` (a copy of each run's
``metrics.csv``, ``config.json`` and ``summary.json``, a few kilobytes: :func:`archive_runs`; the
folder can be remade from it when the raw runs are gone; a search for runs skips these copies
unless ``OUT/run_copies`` is given itself), and prints the final-returns table.
``--at-steps N`` first drops every evaluation past N env steps, so that methods trained for
different budgets are compared at the same one.
``--training-returns`` adds each curve's mean ε-greedy return of the training trials (dotted):
a gap to the held-out curve shows a method that learned its training problems but does not
generalise. Runs that record ``return_informed`` (the greedy return with exploitation told μ,
DREAM: z = f(μ)) get it dashed beside their curve and as ``return_informed_mean`` in both
tables: a low dashed line points at the exploitation policy, a gap between the two at
exploration or the decoder. ``exploit_progress`` (cooking: the furthest recipe stage the
exploitation episode reaches) is drawn dashed in the lower panel, beside the reveal fraction.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from common.cli import OneLineParser, UsageError, int_at_least, run_main
from common.io import (
    UnwritableOutput,
    atomic_write_bytes,
    compact_json,
    output_folder,
    read_csv,
    write_csv,
    write_png,
)
from common.runs import (
    METRICS_COLUMNS,
    metrics_header,
    read_config,
    read_summary,
)

__all__ = [
    "CURVE_KEYS",
    "IGNORED_CONFIG_KEYS",
    "Collected",
    "add_run_arguments",
    "aggregate",
    "archive_runs",
    "archived_folder",
    "collect",
    "final_returns",
    "format_final_returns",
    "gather",
    "load_references",
    "main",
    "mean_ci",
    "plot_panels",
    "reference_row",
    "seed_tails",
]

REFERENCE_LINES = (  # column, colour, line style, label
    ("optimal", "k", "-", "optimal"),
    ("pearl_ub", "C1", ":", "PEARL-UB"),
    ("no_exploration", "C7", "--", "no exploration"),
)
DEFAULT_REFERENCES = (
    Path(__file__).resolve().parents[1] / "results" / "benchmarks" / "reference_values.csv"
)
"""The package's exact reference values (found from any working directory)."""
REFERENCE_COLUMNS = ("benchmark", "variant", "split")
EVAL_SPLITS = {"test": "held-out problems", "train_eval": "training problems"}
"""Rows of greedy evaluations (``split`` column) and how a panel names them."""
IGNORED_CONFIG_KEYS = frozenset(
    {
        "seed",  # what a curve pools over
        "device",  # where and how fast a run trained, not what it learned
        "threads",
        "checkpoint_every",  # resuming is exact: checkpoints do not change the numbers
        "checkpoint_minutes",
        "snapshot_every",
        "eval_every",  # evaluations play on their own env and RNG: training is the same
        "eval_splits",  # (only adds rows of another split)
        "out",  # paths and display, should a tool add them to a run's config
        "resume",
        "progress",
        "no_progress",
    }
)
"""Run-config keys that do not make runs different experiments. Every other key of a run's
``config.json`` (else its ``metrics.csv`` config line) separates curves: runs are pooled over
seeds only when env, variant, env_kwargs, method, method_args, preset, steps and the rest
(``num_envs``, ``eval_trials``, ...) all agree."""
CURVE_KEYS = ["env", "variant", "method", "setting", "preset", "steps", "other_config"]
"""A curve's identity: ``env`` carries ``[env_kwargs]``, ``setting`` the method_args and
``other_config`` every remaining key not in :data:`IGNORED_CONFIG_KEYS` (``k=v,...``)."""
_NAMED_KEYS = frozenset(
    {"env", "variant", "env_kwargs", "method", "method_args", "preset", "steps"}
)
LINE_KEYS = CURVE_KEYS[2:]
"""The keys that tell the curves of one panel (benchmark, variant, split) apart."""
TAIL_FRACTION = 0.1
"""``tail_return_mean`` averages the evaluations with env_steps ≥ (1 − this) × the last one's."""


RUN_FILES = ("metrics.csv", "config.json", "summary.json")
"""What :func:`archive_runs` copies of each run: all :func:`gather` reads (kilobytes)."""
ARCHIVE = "run_copies"
"""The folder of ``--out`` that holds the copies."""


def _setting(method_args: dict | None) -> str:
    if not method_args:
        return "default"
    return ",".join(f"{k}={v}" for k, v in sorted(method_args.items()))


def _other_config(run: dict[str, Any]) -> str:
    keys = sorted(set(run) - _NAMED_KEYS - IGNORED_CONFIG_KEYS)
    return ",".join(
        f"{k}={run[k] if isinstance(run[k], str) else compact_json(run[k])}" for k in keys
    )


@dataclass(frozen=True)
class _Run:
    """One run folder: its rows and what identifies it."""

    folder: Path
    rows: pd.DataFrame
    curve: tuple[Any, ...]
    """Values of :data:`CURVE_KEYS` (``steps`` None when the run's config does not say)."""
    seed: int
    finished: bool
    """``summary.json`` there, reporting at least the config's ``steps``."""


def _read_run(path: Path) -> _Run:
    """The run whose ``metrics.csv`` is ``path`` (its config: ``config.json``, else the CSV's)."""
    df = read_csv(path, required=(*METRICS_COLUMNS, "reveal_frac"))
    folder = path.parent
    run = metrics_header(path).get("run") or {}
    if (folder / "config.json").is_file():
        run = read_config(folder / "config.json")
    if not isinstance(run, dict):
        run = {}
    kwargs = run.get("env_kwargs") or {}
    env = str(df["env"].iloc[0]) if len(df) else str(run.get("env", "?"))
    if kwargs:  # e.g. distracting_bus[train_split=independent]: its own curve
        env += "[" + ",".join(f"{k}={v}" for k, v in sorted(kwargs.items())) + "]"
    steps = run.get("steps")
    steps = steps if isinstance(steps, int) and not isinstance(steps, bool) else None
    curve = (
        env,
        run.get("variant") or "paper",
        str(df["method"].iloc[0]) if len(df) else str(run.get("method", "?")),
        _setting(run.get("method_args")),
        str(run.get("preset") or "?"),
        steps,
        _other_config(run),
    )
    summary = folder / "summary.json"
    done = int(read_summary(summary)["env_steps"]) if summary.is_file() else None
    finished = done is not None and (steps is None or done >= steps)
    seed = int(df["seed"].iloc[0]) if len(df) else int(run.get("seed", 0))
    rows = df.drop(columns=["env", "method"]).assign(
        **dict(zip(CURVE_KEYS, curve, strict=True)), run=str(folder), finished=finished
    )
    return _Run(folder, rows, curve, seed, finished)


def _describe(curve: tuple[Any, ...], seed: int) -> str:
    named = dict(zip(CURVE_KEYS, curve, strict=True))
    steps = "?" if named["steps"] is None else named["steps"]
    return (
        f"{named['env']} {named['method']} [{named['setting']}], preset {named['preset']}, "
        f"{steps} steps, seed {seed}"
    )


@dataclass
class Collected:
    """The rows of every run found, and the copies :func:`gather` left out."""

    rows: pd.DataFrame
    dropped: list[tuple[Path, Path]] = field(default_factory=list)
    """Runs left out by ``dedupe``: (the folder left out, the folder of the run kept)."""

    def dropped_lines(self) -> list[str]:
        """One line per run left out, for stderr."""
        return [f"dropped {a}: the same run as {b} (--dedupe)" for a, b in self.dropped]


def gather(folders: Sequence[str | Path], *, dedupe: bool = False) -> Collected:
    """All rows of every ``metrics.csv`` under ``folders``, with each run's curve keys.

    Runs are pooled only by their full configuration (:data:`CURVE_KEYS`). Two folders holding
    the same configuration and seed (a copied sweep) would count one run twice: that raises
    :class:`UsageError` naming both, or with ``dedupe`` keeps the first in path order (folders
    as given, each searched in sorted order) and lists the others in ``dropped``. The same
    file reached through two given folders counts once. Copies that :func:`archive_runs` kept
    (a ``run_copies`` folder below a given folder) are skipped: they are read when their
    folder is given itself. Damaged files raise :class:`common.io.DamagedFile`.
    """
    seen: set[Path] = set()
    first: dict[tuple[Any, ...], Path] = {}
    frames, dropped = [], []
    for folder in folders:
        for path in sorted(Path(folder).rglob("metrics.csv")):
            if ARCHIVE in path.relative_to(folder).parts[:-1]:
                continue  # a results folder's copies: read only when named themselves
            if path.resolve() in seen:
                continue
            seen.add(path.resolve())
            run = _read_run(path)
            key = (*run.curve, run.seed)
            if key in first:
                same = f"{run.folder} and {first[key]} hold the same run"
                if not dedupe:
                    raise UsageError(
                        f"{same} ({_describe(run.curve, run.seed)}): pooling both would count "
                        "it twice; remove one copy or pass --dedupe to keep the first"
                    )
                dropped.append((run.folder, first[key]))
                continue
            first[key] = run.folder
            frames.append(run.rows)
    if not frames:
        raise UsageError.for_flag("runs", ", ".join(map(str, folders)), "no metrics.csv found")
    rows = pd.concat(frames, ignore_index=True)
    rows["steps"] = rows["steps"].astype("Int64")
    return Collected(rows, dropped)


def collect(folders: Sequence[str | Path], *, dedupe: bool = False) -> pd.DataFrame:
    """The rows of :func:`gather` (a ``finished`` column says whether each run finished)."""
    return gather(folders, dedupe=dedupe).rows


def mean_ci(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Mean and the half-width of its ``level`` Student-t interval (NaN for fewer than 2)."""
    values = np.asarray(values, dtype=float)
    n = len(values)
    mean = float(values.mean()) if n else math.nan
    if n < 2:
        return mean, math.nan
    sem = float(values.std(ddof=1)) / math.sqrt(n)
    return mean, float(stats.t.ppf(0.5 + level / 2, n - 1)) * sem


def aggregate(df: pd.DataFrame, splits: Sequence[str] = tuple(EVAL_SPLITS)) -> pd.DataFrame:
    """Per curve, split and evaluation (:func:`evaluation_points`): mean/CI over seeds.

    ``trial`` is the largest trial count pooled (they differ only at the budget).
    ``splits``: the greedy evaluations by default; ``("train",)`` aggregates the mean ε-greedy
    returns of the training trials of each evaluation window instead.
    """
    rows = []
    evals = df[df["split"].isin(list(splits))].reset_index(drop=True)
    evals = evals.assign(_point=evaluation_points(evals))
    for key, g in evals.groupby([*CURVE_KEYS, "split", "_point"], sort=True, dropna=False):
        if g["seed"].duplicated().any():  # gather() never gives this: one value per seed
            raise ValueError(f"{key}: a seed appears twice; a curve pools distinct runs")
        mean, half = mean_ci(g["return"].to_numpy())
        rows.append(
            {
                **dict(zip([*CURVE_KEYS, "split"], key[:-1], strict=True)),
                "trial": int(g["trial"].max()),
                "env_steps": float(g["env_steps"].mean()),
                "seeds": len(g),
                "return_mean": mean,
                "return_ci95": half,
                "reveal_frac_mean": float(g["reveal_frac"].mean()),
                "return_informed_mean": _column_mean(g, "return_informed"),
                "exploit_progress_mean": _column_mean(g, "exploit_progress"),
            }
        )
    return _typed(pd.DataFrame(rows))


def evaluation_points(evals: pd.DataFrame) -> pd.Series:
    """Which evaluation each row is, for pooling seeds: its trial count, or ``inf``.

    ``inf`` ("at the budget") is a run's last evaluation when it lies off the run's grid (taken
    where the budget ran out, e.g. trial 28,400 of a run that evaluates every 2,000).

    Runs reach their env-step budget at different trial counts, so pooling by trial alone left
    one single-seed point per seed at the end of a curve. A run's grid is the greatest common
    divisor of its other nonzero trial counts (no config needed); with fewer than two of them
    nothing is moved.
    """
    points = evals["trial"].astype(float).copy()
    for _, rows in evals.groupby([*CURVE_KEYS, "split", "seed"], dropna=False):  # one run each
        trials = rows["trial"].astype(int)
        last = int(trials.max())
        earlier = np.unique(trials[trials < last])
        earlier = earlier[earlier > 0]
        if len(earlier) >= 2 and last % int(np.gcd.reduce(earlier)):
            points[rows.index[trials == last]] = math.inf
    return points


def _column_mean(rows: pd.DataFrame, column: str) -> float:
    """Mean of ``column`` over the rows that have it; NaN if none does (older runs)."""
    if column not in rows or rows[column].isna().all():
        return math.nan
    return float(rows[column].mean())


def _typed(table: pd.DataFrame) -> pd.DataFrame:
    """``steps`` as integers with missing values (a run config that did not say)."""
    if "steps" in table:
        table["steps"] = table["steps"].astype("Int64")
    return table


def seed_tails(df: pd.DataFrame) -> pd.DataFrame:
    """Per curve, split and seed: the mean of the evaluations in the last ``TAIL_FRACTION``.

    Columns ``tail_return`` and ``tail_return_informed`` (NaN where the run does not record
    the return with exploitation told μ), with ``tail_evals`` (how many evaluations) and
    ``env_steps`` (the seed's last evaluation): the per-seed rows behind
    ``tail_return_mean`` / ``tail_return_ci95`` of :func:`final_returns`.
    """
    rows = []
    evals = df[df["split"].isin(list(EVAL_SPLITS))]
    for key, g in evals.groupby([*CURVE_KEYS, "split", "seed"], sort=True, dropna=False):
        last = float(g["env_steps"].max())
        tail = g[g["env_steps"] >= last * (1.0 - TAIL_FRACTION)]
        rows.append(
            {
                **dict(zip([*CURVE_KEYS, "split", "seed"], key, strict=True)),
                "env_steps": last,
                "tail_evals": len(tail),
                "tail_return": float(tail["return"].mean()),
                "tail_return_informed": _column_mean(tail, "return_informed"),
            }
        )
    return _typed(pd.DataFrame(rows))


def final_returns(df: pd.DataFrame, refs: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per curve and split: each seed's last evaluation, aggregated over seeds.

    With the reference table ``refs``, each row also gets the exact values its panel draws as
    lines (``optimal``, ``pearl_ub``, ``no_exploration``; NaN where the table has no row), so
    the returns read against them in one table.

    ``unfinished_seeds`` counts the seeds whose run has not finished (no ``summary.json``, or
    one with fewer env steps than the run's ``steps``: ``finished`` column of :func:`collect`).
    ``informative_seeds`` counts the seeds whose greedy exploration becomes and stays
    informative (every evaluated exploration reveals all, :func:`deep.metrics.steps_to_informative`)
    and ``steps_to_informative_mean`` / ``_ci95`` is their mean env steps to get there with its
    95% half-width (NaN: none did).
    """
    from deep.metrics import steps_to_informative  # imports torch: only when needed

    rows = []
    evals = df[df["split"].isin(list(EVAL_SPLITS))]
    for key, g in evals.groupby([*CURVE_KEYS, "split"], sort=True, dropna=False):
        last = g.sort_values("trial").groupby("seed").tail(1)
        mean, half = mean_ci(last["return"].to_numpy())
        cut = g["seed"].map(last.set_index("seed")["env_steps"]) * (1.0 - TAIL_FRACTION)
        tail_rows = g[g["env_steps"] >= cut]
        tail = tail_rows.groupby("seed")["return"].mean()
        tail_mean, tail_half = mean_ci(tail.to_numpy())
        informative = [  # the neural T of each seed, on this split's evaluations
            steps_to_informative(runs.assign(split="test"))["env_steps"]
            for _, runs in g.groupby("seed")
        ]
        reached = [t for t in informative if math.isfinite(t)]
        t_mean, t_half = mean_ci(np.asarray(reached)) if reached else (math.nan, math.nan)
        rows.append(
            {
                **dict(zip([*CURVE_KEYS, "split"], key, strict=True)),
                "seeds": len(last),
                "unfinished_seeds": _unfinished(last),
                "env_steps": float(last["env_steps"].mean()),
                "return_mean": mean,
                "return_ci95": half,
                "tail_return_mean": tail_mean,
                "tail_return_ci95": tail_half,
                "best_return_mean": float(g.groupby("seed")["return"].max().mean()),
                "reveal_frac_mean": float(last["reveal_frac"].mean()),
                "return_informed_mean": _column_mean(last, "return_informed"),
                "tail_return_informed_mean": _column_mean(tail_rows, "return_informed"),
                "exploit_progress_mean": _column_mean(last, "exploit_progress"),
                "informative_seeds": len(reached),
                "steps_to_informative_mean": t_mean,
                "steps_to_informative_ci95": t_half,
                **_reference_values(refs, key[0], key[1], key[-1]),
            }
        )
    return _typed(pd.DataFrame(rows))


def _reference_values(
    refs: pd.DataFrame | None, env: str, variant: str, split: str
) -> dict[str, float]:
    """The reference lines of a panel as columns (none without a table, NaN without a row)."""
    if refs is None:
        return {}
    row = reference_row(refs, env, variant, split)
    return {
        column: math.nan if row is None or column not in row else float(row[column])
        for column, *_ in REFERENCE_LINES
    }


def format_final_returns(final: pd.DataFrame) -> str:
    """The final-returns table as the command line prints it: every column, 3 decimals."""
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        return final.to_string(index=False, float_format=lambda v: f"{v:.3f}")


def _unfinished(last: pd.DataFrame) -> Any:
    """Seeds whose run has not finished (NA: rows without the ``finished`` column)."""
    if "finished" not in last:
        return pd.NA
    return int((~last["finished"].astype(bool)).sum())


def _family_of(env: str, variant: str | None = None) -> Any:
    """The problem family of a curve's env label ``name[key=value,...]`` (None: unknown).

    ``variant``: the curve's benchmark variant, for families that have variants (cooking's
    ``official``); a family that takes none (the bandit) is built without it.
    """
    from deep.envs.problem import make, registered_names

    base = env.split("[")[0]
    if base not in registered_names():
        return None
    kwargs = {
        k: int(v) if v.lstrip("-").isdigit() else v
        for k, v in (kv.split("=", 1) for kv in re.findall(r"[A-Za-z_]+=[^,\]]+", env))
    }
    if variant is not None:
        try:
            return make(base, **kwargs, variant=variant)
        except (TypeError, ValueError):
            pass
    try:
        return make(base, **kwargs)
    except (TypeError, ValueError):
        return None


def reference_row(
    refs: pd.DataFrame | None, env: str, variant: str, split: str
) -> pd.Series | None:
    """The reference values (optimal, PEARL-UB, no exploration) of a curve's panel, or None.

    ``split`` is an evaluation split: ``test`` reads the table's ``test`` row (else ``all``),
    ``train_eval`` its ``train`` row (else ``all``).
    """
    if refs is None:
        return None
    # The row of these env_kwargs when the table has one (distracting_bus[train_split=...]).
    # Otherwise a known family's row is named by the config values that change its references
    # (cooking[held_out=10,pot=observed] reads cooking[held_out=10]; the pot changes none), and
    # an unknown label reads the benchmark's. A family whose rows are not per variant (the
    # bandit's are per (A, H): "A=4,H=1") names its own row.
    family = _family_of(env, variant)
    if family is not None and variant not in family.reference_variants:
        variant, env = family.reference_variant, family.name
    rows = refs[(refs["benchmark"] == env) & (refs["variant"] == variant)]
    if not len(rows):
        label = env.split("[")[0] if family is None else _reference_label(family)
        if label is None:
            return None
        rows = refs[(refs["benchmark"] == label) & (refs["variant"] == variant)]
    wanted = ["test", "all"] if split == "test" else ["train", "all"]
    for name in wanted:
        match = rows[rows["split"] == name]
        if len(match):
            return match.iloc[0]
    return None


def _reference_label(family: Any) -> str | None:
    """The reference rows' label of a family's config (None: the table has no such row).

    Only the fields the family's ``reference_options`` name change reference values; those
    that differ from the variant's defaults must together be one of its options.
    """
    from deep.envs.problem import make, options_label

    config = family.config
    variant = getattr(config, "variant", None)
    base = make(family.name, **({} if variant is None else {"variant": variant})).config
    keys = sorted({key for option in family.reference_options for key in option})
    changed = {k: getattr(config, k) for k in keys if getattr(config, k) != getattr(base, k)}
    if changed and changed not in [dict(option) for option in family.reference_options]:
        return None
    return options_label(family.name, changed)


def split_title(env: str, split: str) -> str:
    """How a panel names an evaluation split: :data:`EVAL_SPLITS`.

    A family whose held-out split is its training split (map: all 24 problems) says so.
    """
    family = _family_of(env)
    if split == "test" and family is not None:
        train, test = family.problem_ids("train"), family.problem_ids("test")
        if np.array_equal(train, test):
            return f"all {len(test)} problems (none held out)"
    return EVAL_SPLITS[split]


def _panels(curves: pd.DataFrame, envs: Sequence[str] | None = None) -> list[tuple[str, str, str]]:
    keys = curves[["env", "variant", "split"]].drop_duplicates()
    if envs is not None:
        keys = keys[keys["env"].isin(envs)]
    order = {s: i for i, s in enumerate(EVAL_SPLITS)}
    return sorted(keys.itertuples(index=False, name=None), key=lambda k: (k[0], order[k[2]], k[1]))


MAX_COLUMNS = 4
"""Panels per row of a figure (more panels wrap onto further rows)."""


def _steps_label(x: float, _pos: object = None) -> str:
    """Env-step tick labels: 250k, 1M."""
    if abs(x) >= 1e6:
        return f"{x / 1e6:g}M"
    if abs(x) >= 1e3:
        return f"{x / 1e3:g}k"
    return f"{x:g}"


def _line_names(curves: pd.DataFrame, others: Sequence[pd.DataFrame | None] = ()) -> list[str]:
    """Label each curve's line (its :data:`LINE_KEYS`) in a ``line`` column of every frame.

    A label names the method, the setting when not ``default``, and each other key whose
    value differs between the curves (a ``tiny`` and a ``paper`` run are never one line).
    """
    varying = [k for k in LINE_KEYS[2:] if curves[k].astype(str).nunique() > 1]

    def value(row: pd.Series, key: str) -> str:
        return "?" if pd.isna(row[key]) else str(row[key])

    def name(row: pd.Series) -> str:
        text = (
            row["method"] if row["setting"] == "default" else f"{row['method']} [{row['setting']}]"
        )
        extra = [f"{k}={value(row, k)}" for k in varying if value(row, k)]
        return text + (f" ({', '.join(extra)})" if extra else "")

    for frame in (curves, *others):
        if frame is not None and len(frame):
            frame["line"] = frame.apply(name, axis=1)
    return sorted(curves["line"].unique())


def _draw_panel(
    ax: Any,
    ax2: Any,
    here: pd.DataFrame,
    split: str,
    colour: dict[str, str],
    training: pd.DataFrame | None,
) -> None:
    """The curves of one panel (``here``: one benchmark and variant) and their reveal fractions."""
    for line, g in here[here["split"] == split].groupby("line", sort=True):
        g = g.sort_values("env_steps")
        c = colour[line]
        ax.plot(g["env_steps"], g["return_mean"], color=c, label=f"{line} (n={g['seeds'].max()})")
        band = g["return_ci95"].to_numpy(dtype=float)
        if np.isfinite(band).any():
            lo, hi = g["return_mean"] - band, g["return_mean"] + band
            ax.fill_between(g["env_steps"], lo, hi, color=c, alpha=0.2, lw=0)
        if training is not None and len(training) and split == "test":
            mine = training[training["line"] == line].sort_values("env_steps")
            if len(mine):
                ax.plot(mine["env_steps"], mine["return_mean"], color=c, ls=":", lw=1,
                        label=f"{line}: training trials, ε-greedy")  # fmt: skip
        if "return_informed_mean" in g and g["return_informed_mean"].notna().any():
            ax.plot(g["env_steps"], g["return_informed_mean"], color=c, ls="--", lw=1,
                    label=f"{line}: exploitation told μ")  # fmt: skip
        test = here[(here["split"] == "test") & (here["line"] == line)].sort_values("env_steps")
        ax2.plot(test["env_steps"], test["reveal_frac_mean"], color=c)
        if "exploit_progress_mean" in g and g["exploit_progress_mean"].notna().any():
            # the exploitation of this panel's problems (the reveal fraction is the held-out one)
            ax2.plot(g["env_steps"], g["exploit_progress_mean"], color=c, ls="--", lw=1)


def plot_panels(
    curves: pd.DataFrame,
    refs: pd.DataFrame | None,
    path: Path,
    envs: Sequence[str] | None = None,
    training: pd.DataFrame | None = None,
) -> None:
    """One panel per (benchmark, split): return ± 95% CI above the reveal fraction; PNG.

    Panels fill rows of at most :data:`MAX_COLUMNS`; each curve (:data:`CURVE_KEYS`) is its
    own line, labelled by :func:`_line_names`.

    ``training`` (from ``aggregate(df, ("train",))``): each curve's ε-greedy training returns,
    drawn dotted in its held-out panel.
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    curves = curves.copy()
    training = training.copy() if training is not None else None
    lines = _line_names(curves, [training])
    colour = {line: f"C{i % 10}" for i, line in enumerate(lines)}
    panels = _panels(curves, envs)
    ncols = min(MAX_COLUMNS, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    fig = Figure(figsize=(4.8 * ncols, 5.6 * nrows))
    axes = np.asarray(fig.subplots(2 * nrows, ncols, height_ratios=[2, 1] * nrows, squeeze=False))
    for unused in range(len(panels), nrows * ncols):  # the last row's empty slots
        row, col = divmod(unused, ncols)
        axes[2 * row, col].set_visible(False)
        axes[2 * row + 1, col].set_visible(False)
    for i, (env, variant, split) in enumerate(panels):
        row, col = divmod(i, ncols)
        ax, ax2 = axes[2 * row, col], axes[2 * row + 1, col]
        ax.sharex(ax2)
        ax.tick_params(labelbottom=False)
        ax2.xaxis.set_major_formatter(FuncFormatter(_steps_label))
        here = curves[(curves["env"] == env) & (curves["variant"] == variant)]
        mine = None
        if training is not None and len(training):
            mine = training[(training["env"] == env) & (training["variant"] == variant)]
        _draw_panel(ax, ax2, here, split, colour, mine)
        ref = reference_row(refs, env, variant, split)
        if ref is not None:
            for column, color, style, name in REFERENCE_LINES:
                if column in ref.index and pd.notna(ref[column]):
                    ax.axhline(float(ref[column]), ls=style, color=color, lw=1, label=name)
        ax.set_title(f"{env} ({variant}): {split_title(env, split)}", fontsize=9)
        ax.legend(fontsize=6, loc="lower right")
        ax2.set_ylim(-0.05, 1.05)
        ax2.set_xlabel("env steps (exploration + exploitation)")
        if col == 0:
            ax.set_ylabel("exploitation return (mean, 95% CI)")
            ax2.set_ylabel("exploration reveals all\n(dashed: task progress)")
    fig.tight_layout()
    write_png(path, fig, dpi=100)


def add_run_arguments(p: OneLineParser) -> None:
    """Add ``runs``, ``--references`` and ``--dedupe``: every command reading :func:`gather`."""
    p.add_argument("runs", nargs="+", help="folders searched for metrics.csv")
    p.add_argument(
        "--references", default=None, metavar="CSV",
        help="reference values (default: the package's results/benchmarks/reference_values.csv)",
    )  # fmt: skip
    p.add_argument(
        "--dedupe", action="store_true",
        help="keep the first of runs with the same config and seed (else: an error)",
    )  # fmt: skip


def _parser() -> OneLineParser:
    p = OneLineParser(prog="python -m analysis.learning_curves")
    add_run_arguments(p)
    p.add_argument("--out", default="results/dream")
    p.add_argument(
        "--training-returns",
        action="store_true",
        help="also draw each curve's ε-greedy training returns (dotted) in its held-out panel",
    )
    p.add_argument(
        "--at-steps", default=None, metavar="N",
        help="leave out every evaluation past N env steps (compare methods at one budget)",
    )  # fmt: skip
    return p


def load_references(given: str | None) -> pd.DataFrame | None:
    """The reference table: ``given`` (must exist), else the package's own if it is there."""
    if given is None:
        if not DEFAULT_REFERENCES.is_file():
            return None
        return read_csv(DEFAULT_REFERENCES, required=REFERENCE_COLUMNS)
    if not Path(given).is_file():
        raise UsageError.for_flag("--references", given, "no such file")
    return read_csv(given, required=REFERENCE_COLUMNS)


def _unfinished_lines(final: pd.DataFrame) -> list[str]:
    """One warning per curve that pools unfinished runs with finished ones."""
    mixed = final[(final["unfinished_seeds"] > 0) & (final["unfinished_seeds"] < final["seeds"])]
    lines = []
    for _, row in mixed.drop_duplicates(CURVE_KEYS).iterrows():
        steps = "?" if pd.isna(row["steps"]) else row["steps"]
        lines.append(
            f"warning: {row['env']} {row['method']} [{row['setting']}] (preset {row['preset']}, "
            f"{steps} steps) pools {row['unfinished_seeds']} unfinished of {row['seeds']} "
            "seeds (unfinished_seeds in final_returns.csv)"
        )
    return lines


def _slug(text: object) -> str:
    """``text`` as one path component (``env[k=v]`` → ``env_k=v``)."""
    return re.sub(r"[^A-Za-z0-9_.=,-]+", "_", str(text)).strip("_") or "_"


def archived_folder(out: Path, row: pd.Series) -> Path:
    """Where :func:`archive_runs` keeps the run of ``row`` (one folder per curve and seed).

    ``OUT/run_copies/<env>/<method>[<setting>]/<variant>_<preset>_<steps>_<other_config>/s<seed>``.
    """
    method = row["method"] if row["setting"] == "default" else f"{row['method']}[{row['setting']}]"
    steps = "na" if pd.isna(row["steps"]) else int(row["steps"])
    config = f"{row['variant']}_{row['preset']}_{steps}_{row['other_config']}"
    return out / ARCHIVE / _slug(row["env"]) / _slug(method) / _slug(config) / f"s{row['seed']}"


def archive_runs(out: Path, df: pd.DataFrame) -> list[Path]:
    """Copy each run's :data:`RUN_FILES` to :func:`archived_folder` under ``out``.

    A results folder then holds every run it was made from, so that it can be made again
    (``learning_curves OUT/run_copies NEWRUNS... --out OUT``) after the raw run folders are gone.
    A copy is rewritten only when its bytes differ (a run that went on); a run read from its
    own copy is left as it is. Returns the folders written.
    """
    written = []
    for run, rows in df.groupby("run", sort=True):
        source, target = Path(str(run)), archived_folder(out, rows.iloc[0])
        if source.resolve() == target.resolve():
            continue
        changed = False
        for name in RUN_FILES:
            if not (source / name).is_file():
                continue
            data = (source / name).read_bytes()
            if not (target / name).is_file() or (target / name).read_bytes() != data:
                target.mkdir(parents=True, exist_ok=True)
                atomic_write_bytes(target / name, data)
                changed = True
        if changed:
            written.append(target)
    return written


def _write_outputs(
    out: Path, df: pd.DataFrame, refs: pd.DataFrame | None, header: dict, training: bool
) -> pd.DataFrame:
    """Every file of ``--out``; returns the final-returns table."""
    output_folder(out)
    curves = aggregate(df)
    train = aggregate(df, ("train",)) if training else None
    try:
        write_csv(out / "curves.csv", curves, header)  # first: an unwritable folder fails fast
        archive_runs(out, df)
        plot_panels(curves, refs, out / "curves.png", training=train)
        for env in sorted(curves["env"].unique()):
            stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", env).strip("_")  # env[k=v] → env_k_v
            plot_panels(curves, refs, out / f"{stem}.png", envs=[env], training=train)
        final = final_returns(df, refs)
        write_csv(out / "final_returns.csv", final, header)
        write_csv(out / "seed_tails.csv", seed_tails(df), header)
    except OSError as err:  # (a folder that cannot be written raises UnwritableOutput itself)
        raise UnwritableOutput.at(out, err) from None
    return final


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point (0: written; 2: bad input, a damaged file, an unwritable ``--out``)."""
    try:
        args = _parser().parse_args(argv)
        at_steps = None if args.at_steps is None else int_at_least("--at-steps", args.at_steps, 1)
        found = gather(args.runs, dedupe=args.dedupe)
        refs = load_references(args.references)
        df = found.rows
        if at_steps is not None:
            df = df[df["env_steps"] <= at_steps]
        if not df["split"].isin(list(EVAL_SPLITS)).any():
            raise UsageError(f"runs {' '.join(args.runs)}: no evaluation rows yet")
        header = {
            "experiment": "analysis.learning_curves",
            "runs": sorted(df["run"].unique()),
            "at_steps": at_steps,
            "dropped": [str(folder) for folder, _ in found.dropped],
        }
        final = _write_outputs(Path(args.out), df, refs, header, args.training_returns)
    except UsageError as err:
        print(err.line(), file=sys.stderr)
        return 2
    for line in [*found.dropped_lines(), *_unfinished_lines(final)]:
        print(line, file=sys.stderr)
    print(format_final_returns(final))
    return 0


if __name__ == "__main__":
    raise SystemExit(run_main(main, sys.argv[1:]))
