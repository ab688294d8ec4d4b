"""Learning curves of neural runs with the exact reference lines (Figs. 6–7 style).

``python -m analysis.learning_curves runs/distracting_bus --out results/dream``

Reads every ``metrics.csv`` under the given run folders (written by ``python -m deep.train``),
and for each benchmark draws the test exploitation return against env steps (one line per
method and seed) with the horizontal reference lines of ``results/benchmarks/
reference_values.csv`` (optimal, PEARL-UB, no exploration: computed exactly by planning), and
below it the fraction of test trials whose exploration reveals all task-relevant information.
Writes ``<env>.png`` and ``curves.csv`` (the test rows) to ``--out``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from analysis._cli import OneLineParser, UsageError
from analysis.io import read_csv, read_header, write_csv, write_png

__all__ = ["collect", "main", "plot_env"]

REFERENCE_LINES = (  # column, colour, line style, label
    ("optimal", "k", "-", "optimal"),
    ("pearl_ub", "C1", ":", "PEARL-UB"),
    ("no_exploration", "C7", "--", "no exploration"),
)


def collect(folders: Sequence[str | Path]) -> pd.DataFrame:
    """All rows of every ``metrics.csv`` under ``folders``, with the run's variant."""
    frames = []
    for folder in folders:
        for path in sorted(Path(folder).rglob("metrics.csv")):
            df = read_csv(path)
            header = read_header(path) or {}
            variant = (header.get("run") or {}).get("variant") or "paper"
            frames.append(df.assign(variant=variant, run=str(path.parent)))
    if not frames:
        raise UsageError.for_flag("runs", ", ".join(map(str, folders)), "no metrics.csv found")
    return pd.concat(frames, ignore_index=True)


def _reference_row(refs: pd.DataFrame | None, env: str, variant: str) -> pd.Series | None:
    if refs is None:
        return None
    rows = refs[(refs["benchmark"] == env) & (refs["variant"] == variant)]
    test = rows[rows["split"].isin(["test", "all"])]
    return test.iloc[0] if len(test) else None


def plot_env(df: pd.DataFrame, refs: pd.DataFrame | None, env: str, path: Path) -> None:
    """Return and reveal fraction against env steps for one benchmark, written as PNG."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 5.6))
    ax, ax2 = fig.subplots(2, 1, sharex=True, height_ratios=[2, 1])
    test = df[(df["env"] == env) & (df["split"] == "test")]
    for i, ((method, seed), g) in enumerate(test.groupby(["method", "seed"])):
        g = g.sort_values("env_steps")
        ax.plot(g["env_steps"], g["return"], f"C{i % 10}-", label=f"{method} s{seed}")
        ax2.plot(g["env_steps"], g["reveal_frac"], f"C{i % 10}-")
    variant = str(test["variant"].iloc[0]) if len(test) else "paper"
    ref = _reference_row(refs, env, variant)
    if ref is not None:
        for column, color, style, label in REFERENCE_LINES:
            ax.axhline(float(ref[column]), ls=style, color=color, lw=1, label=label)
    ax.set_ylabel("test exploitation return")
    ax.set_title(f"{env} ({variant} variant)")
    ax.legend(fontsize=7, loc="lower right")
    ax2.set_ylabel("exploration reveals all")
    ax2.set_ylim(-0.05, 1.05)
    ax2.set_xlabel("env steps (exploration + exploitation)")
    fig.tight_layout()
    write_png(path, fig, dpi=100)


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point."""
    p = OneLineParser(prog="python -m analysis.learning_curves")
    p.add_argument("runs", nargs="+", help="folders searched for metrics.csv")
    p.add_argument("--references", default="results/benchmarks/reference_values.csv")
    p.add_argument("--out", default="results/dream")
    args = p.parse_args(argv)
    try:
        df = collect(args.runs)
    except UsageError as err:
        print(err.line(), file=sys.stderr)
        return 2
    ref_path = Path(args.references)
    refs = read_csv(ref_path) if ref_path.is_file() else None
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for env in sorted(df["env"].unique()):
        plot_env(df, refs, env, out / f"{env}.png")
    test = df[df["split"] == "test"].drop(columns=["run"])
    write_csv(out / "curves.csv", test, {"experiment": "analysis.learning_curves"})
    print(test.groupby(["env", "method", "seed"])["return"].agg(["last", "max"]).to_string())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
