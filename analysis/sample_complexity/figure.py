"""Fig. 3a: log-log mean ``T`` against ``A``, one panel per measure and (learner, H, epsilon).

Each panel shows the mean with its 95% t-interval, the exact expectation ``E[T]`` at
``epsilon = 1`` and Prop. 2's bound form scaled through the mean at the largest ``A``;
the legend gives the least-squares slopes of :func:`~analysis.sample_complexity.stats.slopes`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.sample_complexity.stats import slopes
from common import io as aio
from tabular.measures import LEARNERS, MEASURES, METHODS

METHOD_LABELS = {"rl2": "RL²", "dream": "DREAM"}
METHOD_COLORS = {"rl2": "tab:red", "dream": "tab:blue"}
BOUND_LABELS = {"rl2": "∝ K²M log K", "dream": "∝ K log K"}


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
    """Draw Fig. 3a from a :func:`.stats.summarize` frame and write it atomically as PNG.

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
