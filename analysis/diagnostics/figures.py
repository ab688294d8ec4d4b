"""Figs. 11 and 12 drawn from the diagnostics' tables alone (no computation happens here).

* :func:`draw_tsne` (Fig. 12): the planes of :func:`.tsne.tsne_table`, f(μ) left and
  g(τ^exp) right, coloured by a task-relevant factor of μ (top row) and by an irrelevant one
  (bottom row; a second relevant factor where the family has no irrelevant one:
  :func:`colour_factors`). Exploration episodes of held-out problems are crosses.
* :func:`draw_exploration` (Fig. 11): the mean ± standard error of every visit count of
  :func:`.exploration.exploration_table` on both splits, and, for the grid worlds, the held-out
  episodes' cell occupancy of :func:`.exploration.cell_table` (y upwards, as the envs draw it).

* :func:`draw_refit`: :func:`.decoder_refit.refit_table`'s return on held-out and training
  problems against the refit's steps, one line per fresh decoder, coloured by architecture,
  with the trained decoder's return as a dashed line.

Each returns a matplotlib ``Figure`` (no pyplot state); :func:`write_png` writes one atomically
with the run's config in the PNG's Description.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from common.io import PACKAGE, atomic_write_bytes, compact_json, package_version
from deep.envs.problem import ProblemFactor

__all__ = ["colour_factors", "draw_exploration", "draw_refit", "draw_tsne", "write_png"]


def colour_factors(factors: Sequence[ProblemFactor]) -> list[ProblemFactor]:
    """Fig. 12's colourings: the first relevant factor, then the first irrelevant one.

    Without an irrelevant factor, the second relevant one (if any) stands in its place.
    """
    relevant = [f for f in factors if f.relevant]
    irrelevant = [f for f in factors if not f.relevant]
    return (relevant[:1] + irrelevant[:1]) if irrelevant else relevant[:2]


def _cmap(n_values: int) -> Any:
    import matplotlib

    name = "tab10" if n_values <= 10 else "tab20" if n_values <= 20 else "turbo"
    return matplotlib.colormaps[name].resampled(n_values)


def draw_tsne(tsne: pd.DataFrame, factors: Sequence[ProblemFactor], title: str = "") -> Figure:
    """Fig. 12 from a :func:`.tsne.tsne_table` and the family's factors (columns: f, g)."""
    rows = colour_factors(factors)
    if not rows:
        raise ValueError("no factors to colour by; allowed: a family with problem factors")
    fig = Figure(figsize=(10, 4.3 * len(rows)), layout="constrained")
    axes = np.asarray(fig.subplots(len(rows), 2, squeeze=False))
    panels = (
        ("f", "f(μ), training problem IDs"),
        ("g", "g(τ^exp), exploration episodes (o training, x held-out problems)"),
    )
    for r, factor in enumerate(rows):
        cmap = _cmap(factor.n_values)
        for c, (kind, label) in enumerate(panels):
            ax = axes[r, c]
            points = tsne[tsne["kind"] == kind]
            ax.set_xticks([])
            ax.set_yticks([])
            layout = ""
            if not points.empty and (points["layout"] == "pca").any():
                layout = f", principal axes ({_distinct(points)} distinct)"
            ax.set_title(f"{label}\ncolour: {factor.name} ({_part(factor)}){layout}", fontsize=9)
            if points.empty:
                ax.text(0.5, 0.5, "no points", ha="center", transform=ax.transAxes)
                continue
            scatter = None
            for split, marker in (("train", "o"), ("test", "x")):
                part = points[points["split"] == split]
                if part.empty:
                    continue
                style = {"s": 16, "linewidths": 0.3, "edgecolors": "k"} if marker == "o" else {}
                scatter = ax.scatter(
                    part["x"],
                    part["y"],
                    c=part[factor.name],
                    cmap=cmap,
                    vmin=-0.5,
                    vmax=factor.n_values - 0.5,
                    marker=marker,
                    **(style or {"s": 22, "linewidths": 0.9}),
                )
            if scatter is not None and c == 1:
                bar = fig.colorbar(scatter, ax=axes[r, :].tolist(), shrink=0.8)
                bar.set_label(factor.name)
    fig.suptitle(f"Fig. 12: t-SNE of f(μ) and g(τ^exp){': ' + title if title else ''}")
    return fig


def _distinct(points: pd.DataFrame) -> int:
    return len(points[["x", "y"]].drop_duplicates())


def _part(factor: ProblemFactor) -> str:
    return "task-relevant" if factor.relevant else "irrelevant"


def draw_exploration(table: pd.DataFrame, cells: pd.DataFrame, title: str = "") -> Figure:
    """Fig. 11 from an :func:`.exploration.exploration_table` and a :func:`.cell_table`."""
    has_grid = not cells.empty and (cells["split"] == "test").any()
    fig = Figure(figsize=(11 if has_grid else 7, 4.6), layout="constrained")
    axes = fig.subplots(1, 2, width_ratios=[3, 2]) if has_grid else [fig.subplots(1, 1)]
    ax = axes[0]
    visits = table[table["source"] == "visits"]
    measures = list(dict.fromkeys(visits["measure"]))
    splits = list(dict.fromkeys(table["split"]))
    height = 0.8 / max(1, len(splits))
    for i, split in enumerate(splits):
        rows = visits[visits["split"] == split].set_index("measure").reindex(measures)
        pos = np.arange(len(measures)) + (i - (len(splits) - 1) / 2) * height
        label = "held-out problems" if split == "test" else "training problems"
        ax.barh(pos, rows["mean"], height, xerr=rows["se"].fillna(0), label=label, color=f"C{i}")
    ax.set_yticks(np.arange(len(measures)), measures)
    ax.invert_yaxis()
    ax.set_xlabel("per exploration episode (mean ± s.e.)")
    ax.legend(fontsize=8, loc="best")
    ax.set_title(_evaluate_line(table), fontsize=9)
    if has_grid:
        grid = cells[cells["split"] == "test"]
        image = np.zeros((int(grid["y"].max()) + 1, int(grid["x"].max()) + 1))
        image[grid["y"].to_numpy(), grid["x"].to_numpy()] = grid["visits"].to_numpy()
        hm = axes[1].imshow(image, origin="lower", cmap="magma")
        axes[1].set_xticks(np.arange(image.shape[1]))
        axes[1].set_yticks(np.arange(image.shape[0]))
        axes[1].set_xlabel("x")
        axes[1].set_ylabel("y")
        axes[1].set_title("steps per held-out exploration episode in each cell", fontsize=9)
        fig.colorbar(hm, ax=axes[1], shrink=0.8)
    fig.suptitle(f"Fig. 11: what greedy exploration visits{': ' + title if title else ''}")
    return fig


def draw_refit(table: pd.DataFrame, title: str = "") -> Figure:
    """The refits' greedy return as they fit, held out (left) and training problems (right)."""
    fig = Figure(figsize=(10, 4), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    colours = {"lstm": "tab:blue", "pooled": "tab:orange"}
    trained = table[table["fit"] == "trained"]
    fresh = table[table["fit"] == "fresh"]
    for ax, split, name in zip(axes, ("test", "train"), ("held-out", "training"), strict=True):
        for (decoder, _), rows in fresh[fresh["split"] == split].groupby(["decoder", "init"]):
            ax.plot(rows["steps"], rows["return"], marker="o", lw=1, alpha=0.8,
                    color=colours.get(decoder, "tab:gray"))  # fmt: skip
        for decoder, rows in trained[trained["split"] == split].groupby("decoder"):
            ax.axhline(rows["return"].iloc[0], ls="--", color="black",
                       label=f"trained decoder ({decoder})")  # fmt: skip
        for decoder in fresh["decoder"].unique():
            ax.plot([], [], color=colours.get(decoder, "tab:gray"), label=f"refit, {decoder}")
        ax.set(xlabel="refit steps (Adam, L_decoder alone)", title=f"{name} problems")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("greedy return, z = g(τ^exp)")
    axes[0].legend(fontsize=8)
    fig.suptitle(f"Decoders fitted afresh to the replay\n{title}", fontsize=10)
    return fig


def _evaluate_line(table: pd.DataFrame) -> str:
    """``split: reveal r, return R`` for each split (the oracle's reveal fraction)."""
    rows = table[table["source"] == "evaluate"].set_index(["split", "measure"])["mean"]
    parts = []
    for split in dict.fromkeys(table["split"]):
        reveal, ret = rows.get((split, "reveal_frac")), rows.get((split, "return"))
        parts.append(f"{split}: reveals all {reveal:.2f}, return {ret:+.2f}")
    return "; ".join(parts)


def write_png(fig: Figure, path: str | Path, header: dict[str, Any] | None = None) -> Path:
    """Write ``fig`` as PNG atomically, with ``header`` as compact JSON in its Description."""
    buf = io.BytesIO()
    metadata = {
        "Description": compact_json(header or {}),
        "Software": f"{PACKAGE} {package_version()}",
    }
    fig.savefig(buf, format="png", dpi=110, metadata=metadata)
    atomic_write_bytes(path, buf.getvalue())
    return Path(path)
