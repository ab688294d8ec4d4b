"""The ε study of App. C.2: is DREAM only faster, and RL² only slower, with smaller ε.

``python -m analysis.epsilon_study [--A 8] [--H 1] [--epsilon 1,0.75,0.5,0.25,0.1]
[--seeds 1000] [--out DIR]`` runs :mod:`analysis.sample_complexity` on the grid (same
files, same resume and bad-input rules) and adds ``DIR/epsilon.png`` (mean T with 95% CI
against ε, one panel per measure) and ``DIR/epsilon_monotonicity.csv``: for each method
and measure, whether mean T moves in the direction the paper states at every step of the
grid, with the largest step the other way and its z-score (difference of means over
its standard error). ``--from-csv DIR/summary.csv`` redraws from the summary alone.
"""

from __future__ import annotations

import io
import math
import sys
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from analysis import sample_complexity
from common.cli import OneLineParser, UsageError, parse_int_set, run_main
from common.io import atomic_write_bytes, read_csv, write_csv

CLAIMED = {"dream": "faster", "rl2": "slower"}
"""App. C.2: "DREAM only learns faster with smaller ε, and RL² only learns slower"."""
COLORS = {"rl2": "tab:red", "dream": "tab:blue"}
LABELS = {"rl2": "RL²", "dream": "DREAM"}


def monotonicity(summary: pd.DataFrame) -> pd.DataFrame:
    """Per method x measure (one A, H, learner): whether mean T follows the claimed direction.

    Going from larger to smaller ε, "faster" means every step has mean T non-increasing,
    "slower" non-decreasing. ``worst_step_z`` is the largest standardised step against the
    claim ((m_small - m_large) / sqrt(se_small² + se_large²), sign flipped for "faster").
    """
    rows = []
    keys = ["method", "learner", "H", "A", "measure"]
    for key, group in summary.groupby(keys):
        group = group.sort_values("epsilon", ascending=False)
        sign = -1.0 if CLAIMED[key[0]] == "faster" else 1.0
        means = group["mean"].to_numpy(float)
        se = (group["sd"] / group["n"].pow(0.5)).to_numpy(float)
        steps = [
            sign * (means[i + 1] - means[i]) / math.sqrt(se[i] ** 2 + se[i + 1] ** 2 or 1.0)
            for i in range(len(means) - 1)
        ]
        rows.append(
            dict(zip(keys, key, strict=True))
            | {
                "claimed": f"{CLAIMED[key[0]]} with smaller epsilon",
                "epsilons": ",".join(f"{e:g}" for e in group.epsilon),
                "means": ",".join(f"{m:.4g}" for m in means),
                "holds": bool(all(s >= 0 for s in steps)),
                "worst_step_z": float(min(steps)) if steps else math.nan,
            }
        )
    return pd.DataFrame(rows)


def plot(summary: pd.DataFrame, path: str | Path) -> None:
    """Mean T ± 95% CI vs ε (log-log), both methods, one panel per measure."""
    measures = list(dict.fromkeys(summary.measure))
    fig, axes = plt.subplots(1, len(measures), figsize=(5.2 * len(measures), 4), squeeze=False)
    for ax, name in zip(axes[0], measures, strict=True):
        for method, group in summary[summary.measure == name].groupby("method"):
            group = group.sort_values("epsilon")
            err = [group["mean"] - group.ci95_low, group.ci95_high - group["mean"]]
            ax.errorbar(
                group.epsilon,
                group["mean"],
                yerr=err,
                marker="o",
                capsize=3,
                color=COLORS[method],
                label=f"{LABELS[method]} (claim: {CLAIMED[method]} as ε↓)",
            )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.invert_xaxis()
        ax.set_xlabel("ε (exploration rate, decreasing →)")
        ax.set_title(name)
        ax.legend(fontsize=8)
    first = summary.iloc[0]
    fig.suptitle(
        f"ε study: |A| = {first.A}, H = {first.H}, {first.learner}, "
        f"{int(first.n + first.n_capped)} seeds per point"
    )
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def _write(summary: pd.DataFrame, out: Path) -> pd.DataFrame:
    table = monotonicity(summary)
    write_csv(out / "epsilon_monotonicity.csv", table, None)
    plot(summary, out / "epsilon.png")
    return table


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (2 for bad input)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = OneLineParser(prog="python -m analysis.epsilon_study", add_help=True)
    parser.add_argument("--from-csv", default=None)
    parser.add_argument("--out", default="runs/epsilon_study")
    parser.add_argument("--A", default="8")
    parser.add_argument("--H", default="1")
    try:
        known, rest = parser.parse_known_args(argv)
        for flag, text, low in (("--A", known.A, 2), ("--H", known.H, 1)):
            if len(parse_int_set(flag, text, low)) != 1:
                raise UsageError.for_flag(flag, text, "the ε study takes a single value")
        if known.from_csv is not None:
            source = Path(known.from_csv)
            if not source.is_file():
                raise UsageError.for_flag("--from-csv", source, "give an existing summary.csv")
            table = _write(read_csv(source), source.parent)
            print(table.to_string(index=False))
            return 0
    except UsageError as err:
        print(err.line(), file=sys.stderr)
        return 2
    defaults = {"--epsilon": "1,0.75,0.5,0.25,0.1"}
    forwarded = [*rest, "--out", known.out, "--A", known.A, "--H", known.H]
    for flag, value in defaults.items():
        if not any(a == flag or a.startswith(flag + "=") for a in rest):
            forwarded += [flag, value]
    status = sample_complexity.main(forwarded)
    if status == 2:
        return status
    out = Path(known.out)
    summary = read_csv(out / "summary.csv")
    table = _write(summary, out)
    print("\nε monotonicity (App. C.2's claim):")
    print(table.to_string(index=False))
    return status


if __name__ == "__main__":
    raise SystemExit(run_main(main))
