"""DREAM's two encodings of the problem as one tidy table (Sec. 4.2–4.3; Fig. 12's data).

* f_ψ(μ) (:meth:`deep.dream.Dream.encode_problem`, no noise): one row per problem ID μ of the
  family, ``kind = "f"``. Its ``split`` is ``"train"`` when μ is a training ID and ``"test"``
  otherwise: **a held-out ID's embedding row is never trained** (the encoder is an embedding
  table, and only training IDs reach the loss), so only the ``"train"`` rows say anything about
  what the encoder learned.
* g_ω(τ^exp) (:meth:`deep.dream.Dream.encode_trajectory`, the whole exploration trajectory):
  one row per played greedy trial (:func:`.play.play_splits`), ``kind = "g"``, ``split`` the
  split it was played on, ``trial`` its index there.

Each row also holds μ's factors (:meth:`deep.envs.problem.MetaProblemFamily.problem_factors`:
on the distracting bus the colored permutation, the gray one, and each stop's destination) and
the encoding ``z0 .. z{d-1}``. With ``id_labels = k > 1`` (App. B.2's robustness test) f(μ) is
the encoding of μ's first label, ``k·μ``, as in the run's own evaluations.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from analysis.diagnostics.play import SplitPlay

__all__ = [
    "ID_COLUMNS",
    "embedding_table",
    "factor_table",
    "problem_embeddings",
    "trajectory_embeddings",
    "z_columns",
]

ID_COLUMNS = ("kind", "problem", "split", "trial")
"""The columns before the factors: ``trial`` is −1 on the f rows."""


def problem_embeddings(method: Any, problems: np.ndarray) -> np.ndarray:
    """f_ψ(μ) ``[N, z]`` of problem IDs ``[N]`` (no noise; μ's first label ``k·μ``)."""
    k = int(getattr(method.config, "id_labels", 1))
    ids = np.asarray(problems, dtype=np.int64) * k
    return method.encode_problem(ids, noise=False).cpu().numpy().astype(np.float64)


def trajectory_embeddings(method: Any, play: SplitPlay, batch: int = 256) -> np.ndarray:
    """g_ω(τ^exp) ``[N, z]`` of the exploration episodes of ``play`` (in batches of ``batch``)."""
    ep, parts = play.explore, []
    for lo in range(0, len(play), batch):
        rows = slice(lo, lo + batch)
        part = type(ep)(
            obs={k: v[rows] for k, v in ep.obs.items()},
            actions=ep.actions[rows],
            rewards=ep.rewards[rows],
            length=ep.length[rows],
            goal=ep.goal[rows],
        )
        parts.append(method.encode_trajectory(part).cpu().numpy())
    return np.concatenate(parts).astype(np.float64)


def factor_table(family: Any, problems: Sequence[int]) -> pd.DataFrame:
    """One row per problem of ``problems``: the values of every factor of μ (int columns)."""
    names = [f.name for f in family.factors()]
    rows = [family.problem_factors(int(mu)) for mu in problems]
    return pd.DataFrame(rows, columns=names, dtype=np.int64)


def z_columns(table: pd.DataFrame) -> list[str]:
    """The encoding's columns ``z0 .. z{d-1}`` of an embedding table, in order."""
    names = [c for c in table.columns if c.startswith("z") and c[1:].isdigit()]
    return sorted(names, key=lambda c: int(c[1:]))


def _block(
    family: Any, kind: str, problems: np.ndarray, split: Any, trial: Any, z: np.ndarray
) -> pd.DataFrame:
    head = pd.DataFrame(
        {"kind": kind, "problem": problems.astype(np.int64), "split": split, "trial": trial}
    )
    zs = pd.DataFrame(z, columns=[f"z{i}" for i in range(z.shape[1])])
    return pd.concat([head, factor_table(family, problems), zs], axis=1)


def embedding_table(family: Any, method: Any, plays: Mapping[str, SplitPlay]) -> pd.DataFrame:
    """f(μ) of every problem ID and g(τ^exp) of every played trial, with μ's factors.

    Columns: :data:`ID_COLUMNS`, the factors of :meth:`factors` in order, ``z0 ..``.
    """
    ids = np.arange(family.n_problems)
    train = set(family.problem_ids("train").tolist())
    split = np.where([mu in train for mu in ids], "train", "test")
    blocks = [_block(family, "f", ids, split, -1, problem_embeddings(method, ids))]
    for name, play in plays.items():
        g = trajectory_embeddings(method, play)
        blocks.append(_block(family, "g", play.problems, name, np.arange(len(play)), g))
    return pd.concat(blocks, ignore_index=True)
