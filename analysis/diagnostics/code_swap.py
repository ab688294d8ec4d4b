"""Code swap: greedy exploitation of a held-out problem μ on the code f(μ') of a training μ'.

DREAM acts on a held-out problem with z = g(τ^exp), a point the exploitation policy π^task never
trained on unless it lands on a training code. Playing μ with z = f(μ') for every training μ'
(:meth:`deep.dream.Dream.showing`) separates the two parts that can fail:

* some training code lets π^task solve μ (for the goals that code describes correctly): the
  skill transfers, and the failure lies in where g(τ^exp) lands;
* no training code does: π^task cannot act well on μ from anything it knows.

Each row also counts the factors of μ (:meth:`~deep.envs.problem.MetaProblemFamily.factors`)
that μ' shares, task-relevant and not, so the return can be read against how much of μ the
code describes. The trials of one held-out problem are the same for every code and for the
baseline row (code −1: z = g(τ^exp), the usual evaluation): the same goals, and the env built
anew with the same seed (the sign task's start poses).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from typing import Any

import numpy as np
import pandas as pd

from analysis.diagnostics.embeddings import z_columns
from deep.train import Trainer
from deep.trial_loop import run_wave

__all__ = [
    "G_PATH",
    "Z_GROUPS",
    "exploitation_returns",
    "format_code_swap",
    "held_out_sample",
    "landing_table",
    "sufficiency_summary",
    "swap_summary",
    "swap_table",
    "trial_goals",
]

G_PATH = -1
"""The ``code`` of the baseline rows: z = g(τ^exp), DREAM's own reading of the exploration."""


Z_GROUPS = (
    "g(tau)",
    "sufficient code",
    "insufficient code",
    "code sharing all relevant factors",
    "code sharing fewer",
)
"""The rows of :func:`sufficiency_summary`, in order."""


def _shared(factors: dict[str, int], other: dict[str, int], names: Sequence[str]) -> int:
    return sum(factors[name] == other[name] for name in names)


def held_out_sample(trainer: Trainer, n: int, seed: int) -> np.ndarray:
    """Up to ``n`` held-out problems (a seeded permutation's first); none if test = train."""
    family = trainer.family
    test, train = family.problem_ids("test"), family.problem_ids("train")
    if set(test.tolist()) <= set(train.tolist()):
        return np.zeros(0, dtype=np.int64)
    return np.sort(np.random.default_rng([seed, 3]).permutation(test)[:n])


def trial_goals(family: Any, problem: int, trials: int, seed: int) -> np.ndarray:
    """The goals ``[trials, 1]`` of the code swap's trials of ``problem`` (seeded per problem)."""
    rng = np.random.default_rng([seed, int(problem)])
    return np.array([[family.sample_goal(rng, int(problem))] for _ in range(trials)])


def exploitation_returns(
    trainer: Trainer, problem: int, code: int | None, goals: np.ndarray, seed: int
) -> np.ndarray:
    """Greedy exploitation returns of ``len(goals)`` trials of ``problem`` on z = f(code).

    z = g(τ^exp) for :data:`G_PATH`; ``None``: z as the method stands (a caller's
    :meth:`~deep.dream.Dream.showing_codes`). The env is built anew with ``seed``: the same
    trials.
    """
    family, method, n = trainer.family, trainer.method, len(goals)
    if code is None or code == G_PATH:
        told = nullcontext()
    else:
        shown = np.arange(family.n_problems)
        shown[problem] = code
        told = method.showing(shown)
    with told:
        played = run_wave(
            family.make_batched(n, seed), family, method, np.full(n, problem), goals,
            np.arange(n), training=False,
        )  # fmt: skip
    return played.episodes[1].returns


def swap_table(
    trainer: Trainer,
    problems: Sequence[int],
    codes: Sequence[int],
    *,
    trials: int,
    seed: int,
) -> pd.DataFrame:
    """Per held-out problem μ, code and goal: the mean greedy exploitation return.

    ``trials`` trials of each μ in ``problems``, played once with z = g(τ^exp) (code
    :data:`G_PATH`) and once with z = f(μ') for each μ' in ``codes``. Columns: ``problem``,
    ``code``, ``goal`` (NO_GOAL, −1, without goals), ``trials``, ``return`` (mean over those
    trials),
    ``shared_relevant`` and ``shared_other`` (factors of μ that μ' has too; NaN for the
    baseline), ``all_relevant_shared`` (μ' agrees with μ on every task-relevant factor),
    ``code_suffices`` (acting optimally for μ' is optimal in μ for that goal,
    :meth:`~deep.envs.problem.MetaProblemFamily.code_suffices`; None: the baseline, or a
    family that cannot tell).
    """
    if trials < 1:
        raise ValueError(f"trials={trials}; allowed: integers >= 1")
    family = trainer.family
    relevant = [f.name for f in family.factors() if f.relevant]
    other = [f.name for f in family.factors() if not f.relevant]
    frames = []
    for problem in problems:
        goals = trial_goals(family, int(problem), trials, seed)
        own = family.problem_factors(int(problem))

        for code in (G_PATH, *codes):
            returns = exploitation_returns(trainer, int(problem), int(code), goals, seed)
            theirs = None if code == G_PATH else family.problem_factors(int(code))
            frame = pd.DataFrame({"goal": goals[:, 0], "return": returns})
            rows = frame.groupby("goal")["return"].agg(["size", "mean"]).reset_index()
            rows = rows.rename(columns={"size": "trials", "mean": "return"})
            rows.insert(0, "code", int(code))
            rows.insert(0, "problem", int(problem))
            rows["shared_relevant"] = np.nan if theirs is None else _shared(own, theirs, relevant)
            rows["shared_other"] = np.nan if theirs is None else _shared(own, theirs, other)
            rows["all_relevant_shared"] = (
                None if theirs is None else rows["shared_relevant"].iloc[0] == len(relevant)
            )
            rows["code_suffices"] = [
                None if code == G_PATH else family.code_suffices(int(problem), int(code), goal)
                for goal in rows["goal"]
            ]
            frames.append(rows)
    return pd.concat(frames, ignore_index=True)


def swap_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per problem and code, the return over all its trials; best code first, baseline on top.

    Columns ``problem``, ``code``, ``return``, ``shared_relevant``, ``shared_other`` and
    ``rank`` (0 for the baseline, 1 for the best code).
    """
    weighted = table.assign(total=table["return"] * table["trials"])
    keys = ["problem", "code", "shared_relevant", "shared_other"]
    sums = weighted.groupby(keys, dropna=False)[["total", "trials"]].sum().reset_index()
    sums["return"] = sums["total"] / sums["trials"]
    sums = sums.drop(columns="total")
    baseline = sums["code"] == G_PATH
    sums["rank"] = 0
    codes = sums[~baseline].copy()
    codes["rank"] = codes.groupby("problem")["return"].rank(ascending=False, method="first")
    out = pd.concat([sums[baseline], codes]).astype({"rank": int})
    out = out.sort_values(["problem", "rank"], ignore_index=True)
    return out[["problem", "code", "trials", "return", "shared_relevant", "shared_other", "rank"]]


def sufficiency_summary(table: pd.DataFrame) -> pd.DataFrame:
    """The return per held-out problem with z = g(τ^exp), sufficient codes, insufficient ones.

    A code suffices for a trial when acting optimally for it is optimal for the trial's goal.
    Where the family gives no verdict, the codes are grouped instead by whether they share
    every task-relevant factor of μ. Columns ``problem``, ``z`` (``"g(tau)"``, ``"sufficient
    code"``, ``"insufficient code"``, ``"code sharing all relevant factors"``, ``"code sharing
    fewer"``), ``trials`` and ``return``. A sufficient code that π^task turns into a good
    return on the held-out problem shows that the exploitation skill transfers there.
    """
    swapped = table["code"] != G_PATH
    verdict = table["code_suffices"].notna()
    labels = np.select(
        [
            ~swapped,
            verdict & (table["code_suffices"] == True),  # noqa: E712
            verdict,
            table["all_relevant_shared"] == True,  # noqa: E712
        ],
        Z_GROUPS[:-1],
        Z_GROUPS[-1],
    )
    z = pd.Categorical(labels, categories=Z_GROUPS, ordered=True)
    rows = table.assign(z=z, total=table["return"] * table["trials"])
    sums = rows.groupby(["problem", "z"], observed=True)[["total", "trials"]].sum().reset_index()
    sums["z"] = sums["z"].astype(str)
    sums["return"] = sums["total"] / sums["trials"]
    return sums[["problem", "z", "trials", "return"]]


def landing_table(embeddings: pd.DataFrame, factors: Sequence[Any]) -> pd.DataFrame | None:
    """Where g(τ^exp) lands among the training codes f(μ'): the nearest one and how near.

    ``embeddings`` is :func:`~.embeddings.embedding_table`'s table (f of every ID, g of every
    played trial); ``factors`` the family's :class:`~deep.envs.problem.ProblemFactor` list.
    For each g row, the training ID μ' whose f(μ') is nearest (squared Euclidean distance).
    One row per held-out problem and one (``problem`` −1) for the training problems
    together. Columns: ``trials``; ``nearest`` (the training ID most often nearest; −1 on the
    training row) and ``nearest_share`` (its share of the trials; training: the share whose
    nearest code is their own); ``dist_nearest`` (mean squared distance to the nearest
    code); ``dist_own`` (training: to their own code, the decoder's error; NaN held out,
    whose f is an untrained row); ``min_gap`` (the smallest squared distance between two
    training codes: a g that lands nearer a code than this reads as that code);
    ``shared_relevant`` (task-relevant factors the held-out μ shares with ``nearest``, of
    ``relevant``). None without g rows.
    """
    g = embeddings[embeddings["kind"] == "g"]
    f = embeddings[(embeddings["kind"] == "f") & (embeddings["split"] == "train")]
    if g.empty or f.empty:
        return None
    zs = z_columns(embeddings)
    codes, ids = f[zs].to_numpy(np.float64), f["problem"].to_numpy()
    gaps = ((codes[:, None] - codes[None]) ** 2).sum(-1)
    min_gap = float(gaps[~np.eye(len(codes), dtype=bool)].min()) if len(codes) > 1 else np.nan
    dist = ((g[zs].to_numpy(np.float64)[:, None] - codes[None]) ** 2).sum(-1)
    nearest, problems = ids[dist.argmin(1)], g["problem"].to_numpy()
    train = set(ids.tolist())
    relevant = [factor.name for factor in factors if factor.relevant]
    by_id = f.set_index("problem")
    rows = []
    trained = np.isin(problems, list(train))
    if trained.any():
        column = {int(mu): i for i, mu in enumerate(ids)}
        own = dist[np.flatnonzero(trained), [column[int(mu)] for mu in problems[trained]]]
        rows.append(
            {
                "problem": -1,
                "trials": int(trained.sum()),
                "nearest": -1,
                "nearest_share": float((nearest[trained] == problems[trained]).mean()),
                "dist_nearest": float(dist[trained].min(1).mean()),
                "dist_own": float(own.mean()),
                "min_gap": min_gap,
                "shared_relevant": np.nan,
                "relevant": len(relevant),
            }
        )
    for mu in sorted(set(problems[~trained].tolist())):
        mine = problems == mu
        values, counts = np.unique(nearest[mine], return_counts=True)
        mode = int(values[counts.argmax()])
        held = embeddings[embeddings["problem"] == mu].iloc[0]
        rows.append(
            {
                "problem": int(mu),
                "trials": int(mine.sum()),
                "nearest": mode,
                "nearest_share": float(counts.max() / mine.sum()),
                "dist_nearest": float(dist[mine].min(1).mean()),
                "dist_own": np.nan,
                "min_gap": min_gap,
                "shared_relevant": sum(int(held[n] == by_id.loc[mode, n]) for n in relevant),
                "relevant": len(relevant),
            }
        )
    return pd.DataFrame(rows)


def format_code_swap(summary: pd.DataFrame) -> str:
    """:func:`sufficiency_summary` as printed text (the CLI's and the notebook's)."""
    return "code swap, held-out problems:\n" + summary.to_string(
        index=False, float_format=lambda v: f"{v:.3f}"
    )
