"""Figure 3b-d: exploration Q-values, exploitation values and returns over training.

RL² and DREAM on the bandit (default A = 8, 3 seeds, as in the paper).

``python -m analysis.training_traces [--A 8] [--H 1] [--seeds 3] [--epsilon 1] [--out DIR]``
writes ``DIR/traces.csv`` (one row per method x seed x recorded trial, the columns of
:func:`tabular.traces.training_trace` plus ``T_greedy``, the kernel's certified measure for
that seed), ``DIR/figure3bcd.png`` and ``DIR/config.json``; ``--from-csv DIR/traces.csv``
redraws the figure from the CSV alone. The traces come from the literal reference learner
(:mod:`tabular.reference`), which draws the same random numbers as the kernels, so the
dot where greedy exploration becomes optimal is the kernel's ``T_greedy`` of that seed.
Each run is as long as the slowest method/seed needs to certify optimality, plus 25%.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
from tqdm import tqdm

from common.cli import OneLineParser, UsageError, parse_float_list, parse_int, run_main
from common.io import (
    atomic_write_bytes,
    atomic_write_text,
    compact_json,
    environment,
    output_folder,
    read_csv,
    read_header,
    write_csv,
)
from tabular.measures import check_cell, measure
from tabular.traces import training_trace

METHODS = ("rl2", "dream")
COLORS = {"rl2": "tab:red", "dream": "tab:blue"}
LABELS = {"rl2": "RL²", "dream": "DREAM"}


@dataclass(frozen=True)
class TraceConfig:
    """What :func:`run` traces."""

    A: int = 8
    """Number of actions (the paper's Fig. 3b-d use 8)."""
    H: int = 1
    """Horizon of the bandit."""
    n_seeds: int = 3
    """Seeds 0 .. n_seeds-1 (the paper shows 3)."""
    epsilon: float = 1.0
    """Exploration rate of both epsilon-greedy policies."""
    every: int = 5
    """Record every ``every``-th trial (plus trial 0 and the last)."""


def run(config: TraceConfig, progress: bool = True) -> pd.DataFrame:
    """Trace both methods on every seed, long enough for every seed to certify optimality."""
    seeds = range(config.n_seeds)
    certified = {
        m: measure(m, config.A, config.H, config.epsilon, seeds).set_index("seed") for m in METHODS
    }
    horizon = max(int(df.T_guaranteed.max()) for df in certified.values())
    n_trials = math.ceil(1.25 * horizon)
    frames = []
    cells = [(m, s) for m in METHODS for s in seeds]
    for method, seed in tqdm(cells, desc="traces", disable=not progress):
        trace = training_trace(
            method, config.A, config.H, config.epsilon, seed, n_trials, config.every
        )
        trace["T_greedy"] = int(certified[method].loc[seed, "T_greedy"])
        frames.append(trace)
    return pd.concat(frames, ignore_index=True)


def _check_data(df: pd.DataFrame) -> None:
    needed = {"method", "seed", "trial", "T_greedy", "v_task_star", "greedy_return"}
    missing = needed - set(df.columns)
    assert not missing, f"traces are missing columns {sorted(missing)}"
    assert any(c.startswith("q_exp_") for c in df.columns), "traces have no q_exp_* columns"


def seed_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Per method and seed: the certified ``T_greedy`` and the last greedy return (printed)."""
    _check_data(df)
    return df.groupby(["method", "seed"]).agg(
        T_greedy=("T_greedy", "first"), final_return=("greedy_return", "last")
    )


def _at(trace: pd.DataFrame, column: str, trial: int) -> float:
    """Value of ``column`` at the first recorded trial >= ``trial``."""
    later = trace[trace.trial >= trial]
    return float(later[column].iloc[0]) if len(later) else float(trace[column].iloc[-1])


def plot(df: pd.DataFrame, path: str | Path, header: dict | None = None) -> None:
    """Four panels: Q̂_exp for RL² and for DREAM (b), V̂_task(tau_star) (c), returns (d)."""
    _check_data(df)
    q_cols = sorted((c for c in df.columns if c.startswith("q_exp_")), key=lambda c: int(c[6:]))
    star = q_cols[-1]
    others = q_cols[:-1]
    fig, axes = plt.subplots(1, 4, figsize=(19, 4.2))
    styles = ["-", "--", ":"]
    for i, method in enumerate(METHODS):
        ax = axes[i]
        for k, (seed, trace) in enumerate(df[df.method == method].groupby("seed")):
            style = styles[k % len(styles)]
            x = trace.trial.clip(lower=1)
            ax.plot(
                x, trace[star], style, color=COLORS[method], lw=1.6, label=f"Q̂(a★), seed {seed}"
            )
            ax.plot(
                x,
                trace[others].max(axis=1),
                style,
                color="0.55",
                lw=1.0,
                label=f"max Q̂(a≠a★), seed {seed}",
            )
            t_opt = int(trace.T_greedy.iloc[0])
            ax.plot([t_opt], [_at(trace, star, t_opt)], "o", color="k", ms=6, zorder=5)
        ax.set_title(f"(b) {LABELS[method]}: exploration Q-values")
        ax.set_xscale("log")
        ax.set_xlabel("trials (samples)")
        ax.legend(fontsize=7, loc="best")
    for ax, column, title in (
        (axes[2], "v_task_star", "(c) exploitation value V̂_task(τ★)"),
        (axes[3], "greedy_return", "(d) exploitation return (greedy, ε = 0)"),
    ):
        for method in METHODS:
            for k, (_, trace) in enumerate(df[df.method == method].groupby("seed")):
                x = trace.trial.clip(lower=1)
                label = f"{LABELS[method]}" if k == 0 else None
                ax.plot(
                    x,
                    trace[column],
                    styles[k % len(styles)],
                    color=COLORS[method],
                    lw=1.4,
                    label=label,
                )
                t_opt = int(trace.T_greedy.iloc[0])
                ax.plot([t_opt], [_at(trace, column, t_opt)], "o", color="k", ms=5, zorder=5)
        ax.set_title(title)
        ax.set_xscale("log")
        ax.set_ylim(-0.03, 1.03)
        ax.set_xlabel("trials (samples)")
        ax.legend(fontsize=8, loc="upper left")
    first = df.iloc[0]
    fig.suptitle(
        f"Fig. 3b-d: |A| = {first.A}, H = {first.H}, ε = {first.epsilon:g}, "
        f"{df.seed.nunique()} seeds (one line style per seed); ● = greedy exploration optimal "
        "from here on (T_greedy)"
    )
    fig.tight_layout()
    import io as _io

    buf = _io.BytesIO()
    metadata = {"Description": compact_json(header)} if header else None
    fig.savefig(buf, format="png", dpi=110, metadata=metadata)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def _parser() -> OneLineParser:
    p = OneLineParser(prog="python -m analysis.training_traces", description=__doc__.split("\n")[0])
    p.add_argument("--A", default="8", help="number of actions (default 8)")
    p.add_argument("--H", default="1", help="horizon (default 1)")
    p.add_argument("--seeds", default="3", help="number of seeds 0..N-1 (default 3)")
    p.add_argument("--epsilon", default="1", help="epsilon in (0, 1] (default 1)")
    p.add_argument("--every", default="5", help="record every N-th trial (default 5)")
    p.add_argument("--out", default="runs/training_traces", help="output directory")
    p.add_argument("--from-csv", default=None, help="redraw the figure from an existing traces.csv")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (2 for bad input)."""
    try:
        args = _parser().parse_args(argv)
        if args.from_csv is not None:
            source = Path(args.from_csv)
            if not source.is_file():
                raise UsageError.for_flag("--from-csv", source, "give an existing traces.csv")
            df = read_csv(source)
            plot(df, source.with_name("figure3bcd.png"), read_header(source))
            print(seed_summary(df).to_string())
            print(f"wrote {source.with_name('figure3bcd.png')}")
            return 0
        epsilons = parse_float_list("--epsilon", args.epsilon)
        if len(epsilons) != 1:
            raise UsageError.for_flag("--epsilon", args.epsilon, "give one value in (0, 1]")
        config = TraceConfig(
            A=parse_int("--A", args.A, 2),
            H=parse_int("--H", args.H, 1),
            n_seeds=parse_int("--seeds", args.seeds, 1),
            epsilon=epsilons[0],
            every=parse_int("--every", args.every, 1),
        )
        for method in METHODS:
            try:
                check_cell(method, "per-trajectory", config.A, config.H, config.epsilon)
            except ValueError as err:
                raise UsageError(str(err)) from None
        if config.A**config.H > 64:
            raise UsageError.for_flag(
                "--A",
                args.A,
                "the literal learner traces need A**H <= 64 (it recomputes all values)",
            )
        out = output_folder(args.out)
    except UsageError as err:
        print(err.line(), file=sys.stderr)
        return 2
    start = time.perf_counter()
    df = run(config, progress=not args.quiet)
    header = {
        "experiment": "analysis.training_traces",
        "config": asdict(config),
        "package_version": environment()["package_version"],
    }
    write_csv(out / "traces.csv", df, header)
    plot(df, out / "figure3bcd.png", header)
    meta = header | {
        "environment": environment(),
        "argv": list(argv or sys.argv[1:]),
        "wall_seconds": round(time.perf_counter() - start, 3),
    }
    atomic_write_text(out / "config.json", compact_json(meta) + "\n")
    print(seed_summary(df).to_string())
    print(f"wrote {out}/traces.csv, figure3bcd.png, config.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_main(main))
