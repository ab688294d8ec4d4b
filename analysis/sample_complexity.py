r"""Figure 3a / Proposition 2: trials until the exploration policy is optimal, as |A| grows.

Reproduces Fig. 3a of Liu et al. (ICML 2021) on the horizon-H bandit of Sec. 5.2 / App. C.2
and sets it against the exact theory of :mod:`tabular.bounds`. Prop. 2: with uniform random
exploration (``epsilon = 1``), the expected number of trials ``T`` after which the greedy
exploration policy is guaranteed optimal is ``O(K log K)`` for DREAM and
``Omega(K^2 M log K)`` for RL², with ``K = M = A**H``.

The experiment has the bsuite shape; ``python -m analysis.sample_complexity`` only wires
these together:

* :data:`SETTINGS` / :func:`settings` -- the sweep as data: one :class:`Setting` per cell
  ``method x learner x H x A x epsilon`` with its seed range;
* :func:`run` -- one cell -> tidy rows (one per seed), from :func:`tabular.measures.measure`;
* :func:`summarize` -- per cell and measure: ``n, n_capped, mean, sd, ci95_low, ci95_high``
  (t-interval of the mean), ``median``, ``exact_mean`` (:func:`exact_mean`), ``z``,
  ``bound_form`` and ``mean_over_bound``;
* :func:`slopes` -- least-squares slope of ``log mean T`` against ``log A`` next to the
  slopes of the bound form and of the exact expectation over the same ``A``;
* :func:`plot` -- the log-log figure, with theory curves on every panel;
* :func:`check_relations` -- the pathwise relations the certificates in :mod:`tabular.dream`,
  :mod:`tabular.rl2` and :mod:`tabular.per_step` prove, checked seed by seed;
* :func:`_check_data` -- the per-seed columns every function above relies on.

Files written to ``--out`` (atomically, see :mod:`analysis.io`): ``per_seed.csv``,
``summary.csv``, ``slopes.csv``, ``figure3a.png``, ``config.json`` and one
``cells/<cell>.csv`` per finished cell (a rerun with the same ``--out`` reuses them, so an
interrupted run resumes and gives an identical ``per_seed.csv``; a cell file is reused only
if its config line matches the cell, its seed range and :func:`kernel_fingerprint`).
Tables and the figure can be rebuilt from ``per_seed.csv`` alone with ``--from-csv``.

Statistics use, per measure, the seeds on which it is known exactly: every non-missing
value, except ``T_greedy`` of a capped seed (only a lower bound there). ``n_capped`` counts
the seeds of the cell that hit the cap; when it is positive the mean is biased low.

Exit status: 0 on success, 1 if a pathwise relation is violated, 2 on bad input.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from typing import Any

import numba
import numpy as np
import pandas as pd
from scipy.special import stdtrit
from tqdm import tqdm

from analysis import io as aio
from analysis._cli import (
    OneLineParser,
    UsageError,
    parse_choices,
    parse_float_list,
    parse_int,
    parse_int_set,
    parse_positive_float,
)
from tabular import bounds
from tabular.bandit import MAX_H
from tabular.measures import (
    COLUMNS,
    LEARNERS,
    MEASURES,
    METHODS,
    check_cell,
    default_max_trials,
    measure,
    reference_trials,
)

EXPERIMENT = "analysis.sample_complexity"
"""Name recorded in every result file."""

CELL_KEYS = ("method", "learner", "H", "A", "epsilon")
"""Columns that identify a cell of the sweep."""

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

METHOD_LABELS = {"rl2": "RL²", "dream": "DREAM"}
METHOD_COLORS = {"rl2": "tab:red", "dream": "tab:blue"}
BOUND_LABELS = {"rl2": "∝ K²M log K", "dream": "∝ K log K"}

_PER_SEED_DTYPES: dict[str, Any] = {
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


# ----------------------------------------------------------------------------- config


@dataclass(frozen=True)
class SweepConfig:
    """The sweep: which cells and seeds are simulated (everything that sets the numbers)."""

    methods: tuple[str, ...] = METHODS
    """Meta-RL methods compared (Fig. 3a: RL² and DREAM); ``--methods``."""

    learners: tuple[str, ...] = ("per-trajectory",)
    """Tabular learner forms: ``per-trajectory`` (App. C.2's analysis) and/or ``per-step``
    (Q-learning on the real MDP); ``--learner``."""

    H: tuple[int, ...] = (1,)
    """Horizons ``H`` (Sec. 5.2 is ``H = 1``; ``K = M = A**H``); ``--H``."""

    A: tuple[int, ...] = tuple(range(2, 17))
    """Numbers of actions ``|A|``, the x axis of Fig. 3a; ``--A``."""

    epsilon: tuple[float, ...] = (1.0,)
    """Exploration rates of both epsilon-greedy policies (Prop. 2: ``epsilon = 1``);
    ``--epsilon``."""

    first_seed: int = 0
    """First seed; a cell runs seeds ``first_seed .. first_seed + n_seeds - 1``;
    ``--first-seed``."""

    n_seeds: int = 1000
    """Seeds per cell (Fig. 3a: 1000); ``--seeds``."""

    max_trials: int | None = None
    """Cap on trials per seed (``None``: :func:`tabular.measures.default_max_trials`);
    ``--max-trials``."""

    def header(self) -> dict[str, Any]:
        """The config line embedded in every result CSV (deterministic: no times, no paths)."""
        return {
            "experiment": EXPERIMENT,
            "package_version": aio.package_version(),
            "kernels_sha256": kernel_fingerprint(),
            "sweep": _jsonable(asdict(self)),
        }


@dataclass(frozen=True)
class RunOptions:
    """Where results go and how the run behaves (none of it changes the numbers)."""

    out: Path
    """Output directory (``--out``; default ``runs/sample_complexity``, or the folder of
    ``--from-csv``)."""

    from_csv: Path | None = None
    """Rebuild tables and figure from this ``per_seed.csv`` instead of simulating."""

    max_memory_gb: float | None = None
    """Memory budget (GiB) for the kernels' tables of one cell (``None``: half of free RAM)."""

    quiet: bool = False
    """Hide the progress bar."""

    @property
    def max_memory_bytes(self) -> int | None:
        """``max_memory_gb`` in bytes."""
        return None if self.max_memory_gb is None else int(self.max_memory_gb * 2**30)


@dataclass(frozen=True)
class Setting:
    """One cell of the sweep: a method, learner, ``H``, ``A``, ``epsilon`` and seed range."""

    method: str
    """``"rl2"`` or ``"dream"``."""
    learner: str
    """``"per-trajectory"`` or ``"per-step"``."""
    H: int
    """Horizon."""
    A: int
    """Number of actions."""
    epsilon: float
    """Exploration rate."""
    first_seed: int
    """First seed of the range."""
    n_seeds: int
    """Number of consecutive seeds."""
    max_trials: int | None = None
    """Cap on trials per seed (``None``: the kernel's default)."""

    @property
    def seeds(self) -> range:
        """The seeds of this cell."""
        return range(self.first_seed, self.first_seed + self.n_seeds)

    @property
    def name(self) -> str:
        """File stem of the cell's resume file."""
        last = self.first_seed + self.n_seeds - 1
        return (
            f"{self.method}_{self.learner}_H{self.H}_A{self.A}_eps{float(self.epsilon)!r}"
            f"_s{self.first_seed}-{last}"
        )


def settings(config: SweepConfig) -> tuple[Setting, ...]:
    """The cells of ``config``, ordered method, learner, H, epsilon, A."""
    return tuple(
        Setting(m, lrn, H, A, float(eps), config.first_seed, config.n_seeds, config.max_trials)
        for m in config.methods
        for lrn in config.learners
        for H in config.H
        for eps in config.epsilon
        for A in config.A
    )


SETTINGS = settings(SweepConfig())
"""The default sweep of Fig. 3a: both methods, per-trajectory, ``H = 1``, ``A = 2..16``,
``epsilon = 1``, 1000 seeds each."""


def _jsonable(value: Any) -> Any:
    """Tuples -> lists, paths -> strings, recursively (for JSON)."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


# ----------------------------------------------------------------------------- data


def _check_data(df: pd.DataFrame) -> None:
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


def _normalize(df: pd.DataFrame) -> pd.DataFrame:
    """Canonical column order, dtypes and row order (so equal data give equal CSV bytes)."""
    out = df[list(COLUMNS)].astype(_PER_SEED_DTYPES)
    out = out.sort_values([*CELL_KEYS, "seed"], kind="mergesort")
    return out.reset_index(drop=True)


def read_per_seed(path: str | Path) -> pd.DataFrame:
    """Read a ``per_seed.csv`` (or a cell file) into canonical form."""
    df = aio.read_csv(path, dtype=_PER_SEED_DTYPES)
    _check_data(df)
    return _normalize(df)


CHEAP_CELL_TRIALS = 2e7
"""Cells expected to need fewer trials than this (~0.1-0.2 s) run in one kernel call."""


def _chunk_size(setting: Setting) -> int:
    """Seeds per parallel kernel call.

    A cheap cell runs in one call (every call ends in a thread barrier, which costs more
    than the work here); an expensive one in chunks of at least 64 seeds (and >= 4 per
    thread), about 20 per cell, so the progress bar moves.
    """
    if setting.method == "rl2" and setting.learner == "per-step":  # always runs to the cap
        trials = setting.max_trials or default_max_trials(
            setting.method, setting.A, setting.H, setting.epsilon
        )
    else:
        trials = reference_trials(setting.method, setting.A, setting.H) / setting.epsilon
    if trials * setting.n_seeds < CHEAP_CELL_TRIALS:
        return setting.n_seeds
    return max(64, 4 * numba.get_num_threads(), -(-setting.n_seeds // 20))


def run(
    setting: Setting,
    *,
    max_memory_bytes: int | None = None,
    on_chunk: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    """Simulate one cell: tidy rows, one per seed, with the columns of :data:`COLUMNS`."""
    df = measure(
        setting.method,
        setting.A,
        setting.H,
        setting.epsilon,
        list(setting.seeds),
        learner=setting.learner,
        max_trials=setting.max_trials,
        max_memory_bytes=max_memory_bytes,
        chunk_size=_chunk_size(setting),
        on_chunk=on_chunk,
    )
    return _normalize(df)


_TABULAR_IMPORT = re.compile(r"^\s*(?:from|import)\s+tabular\.(\w+)", re.MULTILINE)


@functools.cache
def kernel_fingerprint() -> str:
    """Short SHA-256 of the ``tabular/`` sources that produce the per-seed numbers.

    The sources are ``tabular/measures.py`` and every ``tabular`` module it imports,
    transitively (found by scanning the import lines). The fingerprint is stored in every
    result header and cell file, so a resumed run never mixes cells computed by different
    kernel code. Computed once per process.
    """
    import tabular

    root = Path(tabular.__file__).parent
    seen: set[str] = set()
    todo = ["measures"]
    while todo:
        name = todo.pop()
        if name in seen or not (root / f"{name}.py").is_file():
            continue
        seen.add(name)
        todo.extend(_TABULAR_IMPORT.findall((root / f"{name}.py").read_text(encoding="utf-8")))
    digest = hashlib.sha256()
    for name in sorted(seen):
        digest.update(name.encode() + b"\0" + (root / f"{name}.py").read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _cell_header(setting: Setting) -> dict[str, Any]:
    return {
        "experiment": EXPERIMENT,
        "kernels_sha256": kernel_fingerprint(),
        "cell": asdict(setting),
    }


def _load_cell(path: Path, setting: Setting) -> pd.DataFrame | None:
    """The cell's saved rows if ``path`` holds exactly this setting's seeds, else ``None``."""
    if not path.is_file():
        return None
    try:
        if aio.read_header(path) != _cell_header(setting):
            return None
        df = read_per_seed(path)
    except (OSError, ValueError, TypeError, pd.errors.ParserError):
        return None
    cell = df[list(CELL_KEYS)].drop_duplicates()
    want = (setting.method, setting.learner, setting.H, setting.A, setting.epsilon)
    if len(cell) != 1 or tuple(cell.iloc[0]) != want:
        return None
    if not np.array_equal(df["seed"].to_numpy(), np.asarray(setting.seeds)):
        return None
    return df


def simulate(cells: Sequence[Setting], out: Path, options: RunOptions) -> tuple[pd.DataFrame, int]:
    """Run (or reload from ``out/cells``) every cell; return all rows and the number reused."""
    cell_dir = out / "cells"
    cell_dir.mkdir(parents=True, exist_ok=True)
    frames: dict[Setting, pd.DataFrame] = {}
    for s in cells:
        loaded = _load_cell(cell_dir / f"{s.name}.csv", s)
        if loaded is not None:
            frames[s] = loaded
    reused = len(frames)
    todo = [s for s in cells if s not in frames]
    print(f"cells: {len(cells)} in the sweep, {reused} reused from {cell_dir}, {len(todo)} to run")
    total = sum(s.n_seeds for s in todo)
    with tqdm(total=total, disable=options.quiet or not todo, unit="seed", file=sys.stderr) as bar:
        for s in todo:
            bar.set_postfix_str(f"{s.method} {s.learner} H={s.H} A={s.A} eps={s.epsilon:g}")
            df = run(s, max_memory_bytes=options.max_memory_bytes, on_chunk=bar.update)
            # No fsync: a cell torn by a power loss fails _load_cell's checks and is rerun.
            aio.write_csv(cell_dir / f"{s.name}.csv", df, _cell_header(s), durable=False)
            frames[s] = df
    return _normalize(pd.concat([frames[s] for s in cells], ignore_index=True)), reused


# ----------------------------------------------------------------------------- theory


def exact_event(method: str, learner: str, H: int, measure_name: str) -> str | None:
    """The :mod:`tabular.bounds` event whose expectation equals ``E[measure]`` at epsilon = 1.

    DREAM ``T_guaranteed`` and ``T_greedy`` are ``dream_guaranteed`` (per-step only at
    ``H = 1``, where both learners coincide), DREAM ``T_event`` is ``dream_event``, RL²
    ``T_event`` is ``rl2_event`` and per-trajectory RL² ``T_guaranteed`` is
    ``rl2_guaranteed``. RL² ``T_greedy`` has no closed form (``None``).
    """
    if method == "dream":
        if measure_name == "T_event":
            return "dream_event"
        if learner == "per-trajectory" or H == 1:
            return "dream_guaranteed"
        return None
    if measure_name == "T_event":
        return "rl2_event"
    if measure_name == "T_guaranteed" and learner == "per-trajectory":
        return "rl2_guaranteed"
    return None


@functools.cache
def _expected_time(event: str, A: int, H: int) -> float:
    try:
        return float(bounds.expected_time(event, A, H))
    except ValueError:  # chain too large for the exact recursion
        return math.nan


def exact_mean(
    method: str, learner: str, H: int, A: int, epsilon: float, measure_name: str
) -> float:
    """Exact ``E[measure]`` (:mod:`tabular.bounds`), or NaN where no exact value is known."""
    event = exact_event(method, learner, H, measure_name)
    if event is None or epsilon != 1.0:
        return math.nan
    return _expected_time(event, int(A), int(H))


def bound_form(method: str, A: int, H: int) -> float:
    """Prop. 2's bound form without constants: ``K ln K`` (DREAM) or ``K^2 M ln K`` (RL²)."""
    form = bounds.dream_bound_form if method == "dream" else bounds.rl2_bound_form
    return float(form(int(A), int(H)))


# ----------------------------------------------------------------------------- analysis


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    """Per cell and measure: sample statistics next to the exact mean and the bound form.

    ``n`` counts the seeds on which the measure is known exactly (non-missing, and not the
    lower-bound ``T_greedy`` of a capped seed); ``n_capped`` counts the cell's capped seeds.
    ``ci95_low/high`` is the t-interval ``mean -/+ t_{0.975, n-1} sd / sqrt(n)`` (``sd``
    with ``n - 1`` degrees of freedom), ``z = (mean - exact_mean) / (sd / sqrt(n))``.
    """
    _check_data(df)
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


def check_relations(df: pd.DataFrame) -> list[str]:
    """Violations of the pathwise relations the certificates prove.

    On uncapped seeds (where every measure the kernel certifies must be present):
    per-trajectory DREAM ``T_greedy == T_guaranteed <= T_event``; per-trajectory RL²
    ``T_greedy <= T_guaranteed`` and ``T_event <= T_guaranteed``; per-step DREAM
    ``T_greedy == T_guaranteed``. On every seed: per-step RL² has ``T_guaranteed`` missing
    (it has no certificate, :mod:`tabular.per_step`, so its seeds always run to the cap).
    Returns one line per violating seed (empty if none).
    """
    _check_data(df)
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


# ----------------------------------------------------------------------------- figure


def _a_ticks(a_values: Sequence[int]) -> list[int]:
    """Tick positions on the log A axis: all A if few, else those of the form 2^k or 3 * 2^k."""
    a_values = sorted(set(a_values))
    if len(a_values) <= 8:
        return a_values
    nice = [
        a for a in a_values if (a & (a - 1)) == 0 or (a % 3 == 0 and ((a // 3) & (a // 3 - 1)) == 0)
    ]
    return nice if len(nice) >= 2 else a_values


def _slope_text(value: float) -> str:
    return f"slope {value:.2f}" if math.isfinite(value) else "no slope"


def _draw_panel(ax: Any, panel: pd.DataFrame, table: pd.DataFrame) -> None:
    """One measure for one (learner, H, epsilon): mean ± CI, exact curve, scaled bound.

    Points whose cell has capped seeds are drawn hollow (their mean is biased low).
    """
    from matplotlib.lines import Line2D

    handles = []
    any_capped = False
    for method in METHODS:
        sub = panel[(panel["method"] == method) & (panel["mean"] > 0)].sort_values("A")
        if sub.empty:
            continue
        color, label = METHOD_COLORS[method], METHOD_LABELS[method]
        row = table[table["method"] == method]
        slope = float(row["slope"].iloc[0]) if len(row) else math.nan
        bound_slope = float(row["bound_slope"].iloc[0]) if len(row) else math.nan
        A = sub["A"].to_numpy(dtype=float)
        mean = sub["mean"].to_numpy(dtype=float)
        low = np.nan_to_num(mean - sub["ci95_low"].to_numpy(dtype=float))
        high = np.nan_to_num(sub["ci95_high"].to_numpy(dtype=float) - mean)
        handles.append(
            ax.errorbar(
                A,
                mean,
                yerr=[np.minimum(low, 0.999 * mean), high],
                fmt="o",
                ms=3.5,
                capsize=2,
                lw=1,
                color=color,
                zorder=3,
                label=f"{label} mean ± 95% CI ({_slope_text(slope)})",
            )
        )
        capped = sub["n_capped"].to_numpy() > 0
        if capped.any():
            any_capped = True
            ax.plot(A[capped], mean[capped], "o", ms=3.5, mfc="white", mec=color, zorder=4)
        exact = sub["exact_mean"].to_numpy(dtype=float)
        if np.isfinite(exact).any():
            (line,) = ax.plot(
                A, exact, "-", lw=1.2, color=color, alpha=0.55, label=f"{label} exact E[T]"
            )
            handles.append(line)
        if len(A) >= 2:
            form = sub["bound_form"].to_numpy(dtype=float)
            (line,) = ax.plot(
                A,
                form * (mean[-1] / form[-1]),
                ":",
                lw=1.5,
                color=color,
                label=f"{BOUND_LABELS[method]} ({_slope_text(bound_slope)})",
            )
            handles.append(line)
    if not handles:
        ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", va="center")
        ax.set_yticks([])
        return
    if any_capped:
        handles.append(
            Line2D(
                [],
                [],
                ls="",
                marker="o",
                ms=3.5,
                mfc="white",
                mec="gray",
                label="hollow: some seeds capped (mean biased low)",
            )
        )
    ax.set_yscale("log", nonpositive="clip")
    # Headroom: the data use the lower ~70% of the panel and the legend the top left.
    low, high = np.log10(ax.get_ylim())
    ax.set_ylim(10**low, 10 ** (low + (high - low) / 0.7))
    ax.legend(handles=handles, fontsize=6.5, loc="upper left", frameon=False)


def plot(summary: pd.DataFrame, path: str | Path, header: dict[str, Any] | None = None) -> None:
    """Draw Fig. 3a from a :func:`summarize` frame and write it atomically as PNG.

    One row of panels per (learner, H, epsilon), one column per measure; log-log mean T
    against A with 95% CI error bars, the exact expectation as a line, and each method's
    bound form scaled through its mean at the largest A (slopes in the legend). ``header``
    goes into the PNG metadata (``Description``).
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import FixedLocator, NullFormatter, NullLocator

    table = slopes(summary)
    panels = summary[["learner", "H", "epsilon"]].drop_duplicates()
    panels = panels.assign(_order=[LEARNERS.index(x) for x in panels["learner"]])
    panels = panels.sort_values(["_order", "H", "epsilon"])[["learner", "H", "epsilon"]]
    panels = list(panels.itertuples(index=False)) or [("per-trajectory", 1, 1.0)]
    nrows, ncols = len(panels), len(MEASURES)
    height = 0.7 + 3.5 * nrows  # inches: 3.5 per row of panels, plus title and x label
    gap = 0.7  # inches between rows (x tick labels of one row, title of the next)
    axes_height = (height - 1.15 - (nrows - 1) * gap) / nrows
    fig = Figure(figsize=(4.8 * ncols, height))
    fig.subplots_adjust(
        left=0.05,
        right=0.99,
        bottom=0.5 / height,
        top=1 - 0.65 / height,
        wspace=0.16,
        hspace=gap / axes_height,
    )
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for r, (learner, H, eps) in enumerate(panels):
        in_row = (summary["learner"] == learner) & (summary["H"] == H)
        in_row &= summary["epsilon"] == eps
        row_table = table[(table["learner"] == learner) & (table["H"] == H)]
        row_table = row_table[row_table["epsilon"] == eps]
        a_values = summary.loc[in_row, "A"].tolist()
        ticks = _a_ticks(a_values)
        for c, name in enumerate(MEASURES):
            ax = axes[r][c]
            ax.set_xscale("log", base=2)
            _draw_panel(
                ax,
                summary[in_row & (summary["measure"] == name)],
                row_table[row_table["measure"] == name],
            )
            ax.set_xlim(min(a_values) / 1.12, max(a_values) * 1.12)
            ax.xaxis.set_major_locator(FixedLocator(ticks))
            ax.xaxis.set_minor_locator(NullLocator())
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.set_xticklabels([str(a) for a in ticks])
            ax.grid(True, which="major", alpha=0.3)
            ax.set_title(f"{name}   ({learner}, H={H}, ε={eps:g})", fontsize=9)
            ax.tick_params(which="both", labelsize=7)
            if r == nrows - 1:
                ax.set_xlabel("|A| (number of actions)", fontsize=8)
            if c == 0:
                ax.set_ylabel("trials T", fontsize=8)
    n_max = int(summary["n"].max()) if len(summary) else 0
    fig.suptitle(
        "Fig. 3a: trials until greedy exploration is optimal "
        f"(log-log; up to {n_max} seeds per point; theory: exact E[T] at ε = 1, Prop. 2 forms)",
        fontsize=10,
    )
    buf = BytesIO()
    fig.savefig(
        buf,
        format="png",
        dpi=130,
        metadata={
            "Title": "Figure 3a: sample complexity vs |A|",
            "Description": aio.compact_json(header or {}),
            "Software": f"{aio.PACKAGE} {aio.package_version()}",
        },
    )
    aio.atomic_write_bytes(path, buf.getvalue())


# ----------------------------------------------------------------------------- CLI


def _parser() -> OneLineParser:
    p = OneLineParser(
        prog="python -m analysis.sample_complexity",
        description=(
            "Fig. 3a / Prop. 2: trials until greedy exploration is optimal, RL² vs DREAM, "
            "as |A| grows."
        ),
        allow_abbrev=False,
    )
    add = p.add_argument
    add("--A", default="2..16", help="numbers of actions: LO..HI, a,b,c or n (default 2..16)")
    add("--H", default="1", help=f"horizons, same syntax, 1..{MAX_H} (default 1)")
    add("--seeds", default="1000", help="seeds per cell (default 1000)")
    add("--first-seed", default="0", help="first seed (default 0)")
    add("--epsilon", default="1", help="exploration rates in (0, 1], comma list (default 1)")
    add("--learner", default="per-trajectory", help="per-trajectory, per-step or both")
    add("--methods", default="rl2,dream", help="comma list of rl2, dream (default rl2,dream)")
    add("--max-trials", default=None, help="cap on trials per seed (default: kernel default)")
    add("--max-memory-gb", default=None, help="memory budget for one cell's tables in GiB")
    add("--out", default=None, help="output directory (default runs/sample_complexity)")
    add("--from-csv", default=None, help="rebuild tables and figure from this per_seed.csv")
    add("--quiet", action="store_true", help="no progress bar")
    return p


def parse_args(argv: Sequence[str]) -> tuple[SweepConfig, RunOptions]:
    """Parse and validate the command line (raises :class:`UsageError`)."""
    ns = _parser().parse_args(list(argv))
    learner_choices = (*LEARNERS, "both")
    if ns.learner not in learner_choices:
        allowed = f"use one of {', '.join(learner_choices)}"
        raise UsageError.for_flag("--learner", ns.learner, allowed)
    config = SweepConfig(
        methods=parse_choices("--methods", ns.methods, METHODS),
        learners=LEARNERS if ns.learner == "both" else (ns.learner,),
        H=parse_int_set("--H", ns.H, 1, MAX_H),
        A=parse_int_set("--A", ns.A, 2, 2**40),
        epsilon=parse_float_list("--epsilon", ns.epsilon),
        first_seed=parse_int("--first-seed", ns.first_seed, 0),
        n_seeds=parse_int("--seeds", ns.seeds, 1),
        max_trials=None if ns.max_trials is None else parse_int("--max-trials", ns.max_trials, 1),
    )
    from_csv = None if ns.from_csv is None else Path(ns.from_csv)
    default_out = from_csv.parent if from_csv is not None else Path("runs/sample_complexity")
    options = RunOptions(
        out=Path(ns.out) if ns.out is not None else default_out,
        from_csv=from_csv,
        max_memory_gb=None
        if ns.max_memory_gb is None
        else parse_positive_float("--max-memory-gb", ns.max_memory_gb),
        quiet=bool(ns.quiet),
    )
    return config, options


def _check_cells(cells: Sequence[Setting], options: RunOptions, a_text: str) -> None:
    """Run :func:`tabular.measures.check_cell` on every cell before anything is written."""
    for s in cells:
        try:
            check_cell(s.method, s.learner, s.A, s.H, s.epsilon, options.max_memory_bytes)
        except ValueError as err:
            hint = "; lower --A/--H or raise --max-memory-gb"
            raise UsageError.for_flag("--A", a_text, f"{err}{hint}") from None


def _prepare_out(out: Path) -> None:
    """Create the output directory (raises :class:`UsageError` if impossible)."""
    if out.exists() and not out.is_dir():
        raise UsageError.for_flag("--out", out, "must be a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError.for_flag("--out", out, f"cannot create it ({err.strerror})") from None


def _load_source(path: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read ``--from-csv`` (raises :class:`UsageError` if it is not a valid per_seed.csv)."""
    if not path.is_file():
        raise UsageError.for_flag("--from-csv", path, "must be an existing per_seed.csv file")
    try:
        df = read_per_seed(path)
        header = aio.read_header(path) or {}
    except (OSError, ValueError, TypeError, pd.errors.ParserError) as err:
        reason = " ".join(str(err).split())[:200]
        raise UsageError.for_flag(
            "--from-csv", path, f"must be a per_seed.csv written by this experiment ({reason})"
        ) from None
    if df.empty:
        raise UsageError.for_flag("--from-csv", path, "must hold at least one row")
    return df, header


def write_outputs(
    per_seed: pd.DataFrame, out: Path, header: dict[str, Any]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Write ``summary.csv``, ``slopes.csv`` and ``figure3a.png`` built from ``per_seed``."""
    summary = summarize(per_seed)
    slope_table = slopes(summary)
    aio.write_csv(out / "summary.csv", summary, header)
    aio.write_csv(out / "slopes.csv", slope_table, header)
    plot(summary, out / "figure3a.png", header)
    return summary, slope_table


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


def _report(per_seed: pd.DataFrame, summary: pd.DataFrame, table: pd.DataFrame) -> int:
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


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m analysis.sample_complexity``; returns the exit status."""
    started, started_utc = time.perf_counter(), datetime.now(UTC)
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        config, options = parse_args(argv)
        if options.from_csv is not None:
            per_seed, header = _load_source(options.from_csv)
            cells: tuple[Setting, ...] = ()
        else:
            cells = settings(config)
            _check_cells(cells, options, _argv_value(argv, "--A", "2..16"))
        _prepare_out(options.out)
    except UsageError as err:
        print(err.line(), file=sys.stderr)
        return 2
    out = options.out
    if options.from_csv is not None:
        summary, table = write_outputs(per_seed, out, header)
        print(f"rebuilt summary.csv, slopes.csv, figure3a.png in {out} from {options.from_csv}")
        return _report(per_seed, summary, table)
    header = config.header()
    per_seed, reused = simulate(cells, out, options)
    simulated_s = time.perf_counter() - started
    aio.write_csv(out / "per_seed.csv", per_seed, header)
    summary, table = write_outputs(per_seed, out, header)
    record = {
        **header,
        "options": _jsonable(asdict(options)),
        "environment": aio.environment(),
        "command": shlex.join(["python", "-m", EXPERIMENT, *argv]),
        "argv": argv,
        "started_utc": started_utc.isoformat(timespec="seconds"),
        "cells": len(cells),
        "cells_reused": reused,
        "simulate_wall_s": round(simulated_s, 3),
        "wall_s": round(time.perf_counter() - started, 3),
    }
    aio.atomic_write_text(out / "config.json", json.dumps(record, indent=2) + "\n")
    status = _report(per_seed, summary, table)
    print(
        f"\nwrote {out}/{{per_seed,summary,slopes}}.csv, figure3a.png, config.json "
        f"in {record['wall_s']:.2f} s"
    )
    return status


def _argv_value(argv: Sequence[str], flag: str, default: str) -> str:
    """The last value given for ``flag`` (``--flag v`` or ``--flag=v``), else ``default``."""
    value = default
    for i, item in enumerate(argv):
        if item == flag and i + 1 < len(argv):
            value = argv[i + 1]
        elif item.startswith(flag + "="):
            value = item[len(flag) + 1 :]
    return value


if __name__ == "__main__":
    sys.exit(main())
