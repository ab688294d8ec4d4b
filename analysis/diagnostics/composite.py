"""The additive code: f(μ) as a sum over μ's factors, and a held-out μ played on its sum.

The code swap (:mod:`.code_swap`) plays a held-out problem μ on the code f(μ') of each
training problem. None of them describes μ: μ shares each factor value with training problems,
but no training problem has all of μ's. If the encoder's codes were additive over the factors,

    f(μ) ≈ b + Σ_k E_k[μ_k]    (one vector per value of each factor k, least squares over the
                                 training codes),

the code μ's factors compose would be determined even though f(μ) itself was never trained:
f̂(μ) = b + Σ_k E_k[μ_k]. Playing μ on f̂(μ) separates two readings of a held-out failure:

* π^task does well on f̂(μ): it reads the training codes factor by factor, and the failure
  lies in where g(τ^exp) lands (compare ``dist_g_additive`` with the decoder's error);
* it does not: no point of the code space that composes μ's factors makes π^task solve μ,
  so a better decoder alone would not help.

``r2`` says how additive the training codes are (1: exactly). The trials of each held-out
problem are the code swap's (the same goals and env seed), so the returns compare row by row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from analysis.diagnostics.code_swap import G_PATH, exploitation_returns, trial_goals
from analysis.diagnostics.embeddings import z_columns
from deep.train import Trainer

__all__ = ["additive_codes", "composite_table"]


def _design(factor_values: np.ndarray, sizes: Sequence[int]) -> np.ndarray:
    """One-hot columns of every factor's value, then a constant: ``[rows, Σ sizes + 1]``."""
    blocks = [np.eye(n)[factor_values[:, k]] for k, n in enumerate(sizes)]
    return np.hstack([*blocks, np.ones((len(factor_values), 1))])


def _codes(embeddings: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The f rows in ID order, their codes ``[n_problems, z_dim]`` and the training mask."""
    f = embeddings[embeddings["kind"] == "f"].sort_values("problem")
    return f, f[z_columns(f)].to_numpy(np.float64), (f["split"] == "train").to_numpy()


def additive_codes(embeddings: pd.DataFrame, factors: Sequence[Any]) -> tuple[np.ndarray, float]:
    """f̂(μ) = b + Σ_k E_k[μ_k] for every problem ID, fitted on the training IDs' codes.

    ``embeddings`` is :func:`~.embeddings.embedding_table`'s table, ``factors`` the family's
    :class:`~deep.envs.problem.ProblemFactor` list. Least squares (minimum norm: factors may
    depend on each other). Returns the codes ``[n_problems, z_dim]``, in ID order, and the
    fit's R² on the training codes (1 − residual / total sum of squares about their mean).
    """
    f, codes, train = _codes(embeddings)
    names, sizes = [x.name for x in factors], [x.n_values for x in factors]
    design = _design(f[names].to_numpy(np.int64), sizes)
    weights, *_ = np.linalg.lstsq(design[train], codes[train], rcond=None)
    fitted = design @ weights
    residual = ((codes[train] - fitted[train]) ** 2).sum()
    total = ((codes[train] - codes[train].mean(0)) ** 2).sum()
    return fitted, float(1.0 - residual / total) if total > 0 else float("nan")


def composite_table(
    trainer: Trainer,
    embeddings: pd.DataFrame,
    factors: Sequence[Any],
    code_swap: pd.DataFrame | None,
    *,
    seed: int,
) -> pd.DataFrame | None:
    """Per held-out problem μ of the code swap: its return on z = f̂(μ), beside z = g(τ^exp).

    ``code_swap`` is :func:`.code_swap.swap_table`'s table made with ``seed``: f̂(μ) is played
    on its trials (the same goals and env seed), and ``return_g`` is its baseline (code
    :data:`~.code_swap.G_PATH`). Columns: ``problem``, ``trials``, ``return_g``,
    ``return_additive``, ``r2`` (:func:`additive_codes`), ``dist_g_additive`` (mean squared
    distance of μ's played g(τ^exp) rows in ``embeddings`` to f̂(μ); NaN without such rows),
    ``dist_additive_nearest`` and ``nearest`` (the training code nearest f̂(μ), squared
    distance), ``fit_error_train`` (mean squared distance of the training codes to their own
    f̂: the fit's error where it was fitted). None without factors or a code swap.
    """
    if not factors or code_swap is None or code_swap.empty:
        return None
    fitted, r2 = additive_codes(embeddings, factors)
    f, codes, train = _codes(embeddings)
    ids = f["problem"].to_numpy()
    fit_error = float(((codes[train] - fitted[train]) ** 2).sum(-1).mean())
    g = embeddings[embeddings["kind"] == "g"]
    baseline = code_swap[code_swap["code"] == G_PATH]
    rows = []
    for mu, played in baseline.groupby("problem"):
        mu, trials = int(mu), int(played["trials"].sum())
        goals = trial_goals(trainer.family, mu, trials, seed)
        with trainer.method.showing_codes(fitted.astype(np.float32)):
            additive = exploitation_returns(trainer, mu, None, goals, seed)
        gaps = ((codes[train] - fitted[mu]) ** 2).sum(-1)
        mine = g[g["problem"] == mu][z_columns(g)].to_numpy(np.float64)
        rows.append(
            {
                "problem": mu,
                "trials": trials,
                "return_g": float((played["return"] * played["trials"]).sum() / trials),
                "return_additive": float(additive.mean()),
                "r2": r2,
                "dist_g_additive": float(((mine - fitted[mu]) ** 2).sum(-1).mean())
                if len(mine)
                else np.nan,
                "dist_additive_nearest": float(gaps.min()),
                "nearest": int(ids[train][gaps.argmin()]),
                "fit_error_train": fit_error,
            }
        )
    return pd.DataFrame(rows)
