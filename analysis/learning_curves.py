"""Learning curves and final returns of neural runs, with the exact reference lines (Figs. 6–7).

``python -m analysis.learning_curves runs/distracting_bus runs/map --out results/fig6``

Reads every ``metrics.csv`` under the given folders (written by ``python -m deep.train`` or
``python -m analysis.sweep``) and nothing else. A *curve* is one method (and setting: its
``--method-arg`` overrides) on one benchmark; its seeds are aggregated per evaluation (the
same trial counts in every seed; runs with ``env_kwargs`` form their own curves, named
``env[key=value,...]``): the mean test exploitation return against the mean env steps
(exploration + exploitation, Sec. 6's x-axis) with a 95% confidence band over seeds (Student t,
n − 1 degrees of freedom; no band for one seed). Each panel holds one benchmark and problem
split — ``test`` (held-out problems) and, where the runs evaluated them (``--eval-splits
test,train``), the training problems (Fig. 7 left) — with the horizontal reference lines of
``results/benchmarks/reference_values.csv`` (optimal, PEARL-UB, no exploration: computed
exactly by planning), and below it the fraction of test trials whose exploration reveals all
task-relevant information.

Writes to ``--out``: ``curves.png`` (every panel), ``<env>.png`` (one per benchmark),
``curves.csv`` (the aggregated curves), ``final_returns.csv`` (per benchmark, split, method and
setting: the last evaluation's return, mean and 95% CI over seeds, seeds, env steps, reveal
fraction, and ``tail_return_mean``: each seed's mean over its evaluations in the last
``TAIL_FRACTION`` of its env steps, averaged over seeds — one greedy evaluation of 100 trials is
noisy), and prints the final-returns table. ``--at-steps N`` first drops every evaluation past N
env steps, so that methods trained for different budgets are compared at the same one.
``--training-returns`` adds each curve's mean ε-greedy return of the training trials (dotted):
a gap to the held-out curve shows a method that learned its training problems but does not
generalise.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from analysis._cli import OneLineParser, UsageError, int_at_least
from analysis.io import read_csv, read_header, write_csv, write_png

__all__ = ["aggregate", "collect", "final_returns", "main", "mean_ci", "plot_panels"]

REFERENCE_LINES = (  # column, colour, line style, label
    ("optimal", "k", "-", "optimal"),
    ("pearl_ub", "C1", ":", "PEARL-UB"),
    ("no_exploration", "C7", "--", "no exploration"),
)
EVAL_SPLITS = {"test": "held-out problems", "train_eval": "training problems"}
"""Rows of greedy evaluations (``split`` column) and how a panel names them."""
CURVE_KEYS = ["env", "variant", "method", "setting"]
TAIL_FRACTION = 0.1
"""``tail_return_mean`` averages the evaluations with env_steps ≥ (1 − this) × the last one's."""


def _setting(method_args: dict | None) -> str:
    if not method_args:
        return "default"
    return ",".join(f"{k}={v}" for k, v in sorted(method_args.items()))


def collect(folders: Sequence[str | Path]) -> pd.DataFrame:
    """All rows of every ``metrics.csv`` under ``folders``, with the run's variant and setting."""
    frames = []
    for folder in folders:
        for path in sorted(Path(folder).rglob("metrics.csv")):
            df = read_csv(path)
            run = (read_header(path) or {}).get("run") or {}
            kwargs = run.get("env_kwargs") or {}
            if kwargs:  # e.g. distracting_bus[train_split=independent]: its own curve
                inside = ",".join(f"{k}={v}" for k, v in sorted(kwargs.items()))
                df = df.assign(env=df["env"].astype(str) + f"[{inside}]")
            frames.append(
                df.assign(
                    variant=run.get("variant") or "paper",
                    setting=_setting(run.get("method_args")),
                    run=str(path.parent),
                )
            )
    if not frames:
        raise UsageError.for_flag("runs", ", ".join(map(str, folders)), "no metrics.csv found")
    return pd.concat(frames, ignore_index=True)


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
    """Per curve, split and evaluation (trial count): mean/CI of return over seeds.

    ``splits``: the greedy evaluations by default; ``("train",)`` aggregates the mean ε-greedy
    returns of the training trials of each evaluation window instead.
    """
    rows = []
    evals = df[df["split"].isin(list(splits))]
    for key, g in evals.groupby([*CURVE_KEYS, "split", "trial"], sort=True):
        mean, half = mean_ci(g["return"].to_numpy())
        rows.append(
            {
                **dict(zip([*CURVE_KEYS, "split", "trial"], key, strict=True)),
                "env_steps": float(g["env_steps"].mean()),
                "seeds": int(g["seed"].nunique()),
                "return_mean": mean,
                "return_ci95": half,
                "reveal_frac_mean": float(g["reveal_frac"].mean()),
            }
        )
    return pd.DataFrame(rows)


def final_returns(df: pd.DataFrame) -> pd.DataFrame:
    """Per curve and split: each seed's last evaluation, aggregated over seeds.

    ``informative_seeds`` counts the seeds whose greedy exploration becomes and stays
    informative (every evaluated exploration reveals all, :func:`deep.metrics.steps_to_informative`)
    and ``steps_to_informative_mean`` / ``_ci95`` is their mean env steps to get there with its
    95% half-width (NaN: none did).
    """
    from deep.metrics import steps_to_informative  # imports torch: only when needed

    rows = []
    evals = df[df["split"].isin(list(EVAL_SPLITS))]
    for key, g in evals.groupby([*CURVE_KEYS, "split"], sort=True):
        last = g.sort_values("trial").groupby("seed").tail(1)
        mean, half = mean_ci(last["return"].to_numpy())
        cut = g["seed"].map(last.set_index("seed")["env_steps"]) * (1.0 - TAIL_FRACTION)
        tail = g[g["env_steps"] >= cut].groupby("seed")["return"].mean()
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
                "env_steps": float(last["env_steps"].mean()),
                "return_mean": mean,
                "return_ci95": half,
                "tail_return_mean": float(tail.mean()),
                "best_return_mean": float(g.groupby("seed")["return"].max().mean()),
                "reveal_frac_mean": float(last["reveal_frac"].mean()),
                "informative_seeds": len(reached),
                "steps_to_informative_mean": t_mean,
                "steps_to_informative_ci95": t_half,
            }
        )
    return pd.DataFrame(rows)


def _reference_row(
    refs: pd.DataFrame | None, env: str, variant: str, split: str
) -> pd.Series | None:
    if refs is None:
        return None
    # Rows for these env_kwargs when the table has them (distracting_bus[train_split=...]),
    # otherwise the benchmark's own. The bandit's rows are per (A, H): variant "A=4,H=1".
    if env.split("[")[0] == "bandit":
        from deep.envs.bandit import BanditConfig, variant_name

        kwargs = dict(kv.split("=", 1) for kv in re.findall(r"[A-Za-z_]+=[^,\]]+", env))
        default = BanditConfig()
        variant = variant_name(int(kwargs.get("A", default.A)), int(kwargs.get("H", default.H)))
        env = "bandit"
    rows = refs[(refs["benchmark"] == env) & (refs["variant"] == variant)]
    if not len(rows):
        benchmark = env.split("[")[0]
        rows = refs[(refs["benchmark"] == benchmark) & (refs["variant"] == variant)]
    wanted = ["test", "all"] if split == "test" else ["train", "all"]
    for name in wanted:
        match = rows[rows["split"] == name]
        if len(match):
            return match.iloc[0]
    return None


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


def plot_panels(
    curves: pd.DataFrame,
    refs: pd.DataFrame | None,
    path: Path,
    envs: Sequence[str] | None = None,
    training: pd.DataFrame | None = None,
) -> None:
    """One panel per (benchmark, split): return ± 95% CI above the reveal fraction; PNG.

    Panels fill rows of at most :data:`MAX_COLUMNS`.

    ``training`` (from ``aggregate(df, ("train",))``): each curve's ε-greedy training returns,
    drawn dotted in its held-out panel.
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    panels = _panels(curves, envs)
    labels = sorted(curves[["method", "setting"]].drop_duplicates().itertuples(index=False))
    colour = {lab: f"C{i % 10}" for i, lab in enumerate(labels)}
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
        for (method, setting), g in here[here["split"] == split].groupby(["method", "setting"]):
            g = g.sort_values("env_steps")
            c = colour[(method, setting)]
            seeds = int(g["seeds"].max())
            name = method if setting == "default" else f"{method} [{setting}]"
            label = f"{name} (n={seeds})"
            ax.plot(g["env_steps"], g["return_mean"], color=c, label=label)
            band = g["return_ci95"].to_numpy()
            if np.isfinite(band).any():
                lo, hi = g["return_mean"] - band, g["return_mean"] + band
                ax.fill_between(g["env_steps"], lo, hi, color=c, alpha=0.2, lw=0)
            if training is not None and split == "test":
                mine = training[(training["env"] == env) & (training["variant"] == variant)]
                mine = mine[(mine["method"] == method) & (mine["setting"] == setting)]
                if len(mine):
                    mine = mine.sort_values("env_steps")
                    ax.plot(mine["env_steps"], mine["return_mean"], color=c, ls=":", lw=1,
                            label=f"{name}: training trials, ε-greedy")  # fmt: skip
            test = here[(here["split"] == "test") & (here["method"] == method)]
            test = test[test["setting"] == setting].sort_values("env_steps")
            ax2.plot(test["env_steps"], test["reveal_frac_mean"], color=c)
        ref = _reference_row(refs, env, variant, split)
        if ref is not None:
            for column, color, style, name in REFERENCE_LINES:
                ax.axhline(float(ref[column]), ls=style, color=color, lw=1, label=name)
        ax.set_title(f"{env} ({variant}): {EVAL_SPLITS[split]}", fontsize=9)
        ax.legend(fontsize=6, loc="lower right")
        ax2.set_ylim(-0.05, 1.05)
        ax2.set_xlabel("env steps (exploration + exploitation)")
        if col == 0:
            ax.set_ylabel("exploitation return (mean, 95% CI)")
            ax2.set_ylabel("exploration reveals all")
    fig.tight_layout()
    write_png(path, fig, dpi=100)


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point."""
    p = OneLineParser(prog="python -m analysis.learning_curves")
    p.add_argument("runs", nargs="+", help="folders searched for metrics.csv")
    p.add_argument("--references", default="results/benchmarks/reference_values.csv")
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
    try:
        args = p.parse_args(argv)
        df = collect(args.runs)
        at_steps = None if args.at_steps is None else int_at_least("--at-steps", args.at_steps, 1)
    except UsageError as err:
        print(err.line(), file=sys.stderr)
        return 2
    if at_steps is not None:
        df = df[df["env_steps"] <= at_steps]
    ref_path = Path(args.references)
    refs = read_csv(ref_path) if ref_path.is_file() else None
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    curves = aggregate(df)
    if curves.empty:
        print(f"error: runs {' '.join(args.runs)}: no evaluation rows yet", file=sys.stderr)
        return 2
    header = {
        "experiment": "analysis.learning_curves",
        "runs": sorted(df["run"].unique()),
        "at_steps": at_steps,
    }
    training = aggregate(df, ("train",)) if args.training_returns else None
    plot_panels(curves, refs, out / "curves.png", training=training)
    for env in sorted(curves["env"].unique()):
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", env).strip("_")  # env[k=v] → env_k_v
        plot_panels(curves, refs, out / f"{stem}.png", envs=[env], training=training)
    write_csv(out / "curves.csv", curves, header)
    final = final_returns(df)
    write_csv(out / "final_returns.csv", final, header)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(final.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
