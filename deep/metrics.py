"""Evaluation and the metrics vocabulary of the neural runs (Sec. 6; same words as tabular/).

Every evaluation plays ``n_trials`` test trials (held-out problems, ε = 0, z = g(τ^exp)) and
gives one row of the run's tidy CSV: ``method, env, seed, trial, env_steps, split, return``
(the mean exploitation return: the paper's y-axis; ``env_steps`` counts exploration and
exploitation steps, the paper's x-axis), plus exploration diagnostics the paper only shows as
videos:

* ``reveal_frac`` — fraction of test trials whose exploration trajectory reveals all
  task-relevant information (the exact oracles of ``deep.envs.reference_*``; the sign task's
  also takes each exploration episode's recorded start pose);
* ``reveal_step`` — mean number of exploration steps until it is revealed (trials that reveal);
* ``explore_len`` — mean exploration-episode length;
* ``exploit_progress`` — how far the first exploitation episode gets through its task (cooking:
  the furthest recipe stage reached, over 4; NaN for benchmarks without such a measure);
* ``decoder_error`` — mean ‖g(τ^exp) − f(μ)‖² (DREAM; VariBAD: its reward decoder's error;
  NaN for methods without a decoder).

:func:`steps_to_informative` is the neural counterpart of the tabular ``T_greedy``: the env
steps (and trials) after which greedy exploration is fully informative at every later
evaluation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from deep.envs.problem import MetaProblemFamily, RevealOracle
from deep.trial_loop import EpisodeBatch, Method, TrialBatch, run_wave, sample_trials

__all__ = ["RevealOracle", "evaluate", "reveal_stats", "steps_to_informative"]


def _first_reveal(
    oracle: RevealOracle, problem: int, actions: tuple[int, ...], start: tuple[float, ...] | None
) -> int | None:
    """The fewest of ``actions`` that reveal μ (a prefix length), or None if all of them do not.

    ``start`` goes to the oracle where the episode record has one. An oracle with
    ``reveal_step`` answers in one pass; otherwise the oracle is asked about ``actions``, then,
    if they reveal, about each prefix from the shortest.
    """
    context = () if start is None else (start,)
    one_pass = getattr(oracle, "reveal_step", None)
    if one_pass is not None:
        step = one_pass(problem, actions, *context)
        return None if step is None else int(step)
    if not oracle(problem, actions, *context):
        return None
    return next(k for k in range(len(actions) + 1) if oracle(problem, actions[:k], *context))


def reveal_stats(
    oracle: RevealOracle | None,
    problems: np.ndarray,
    actions: np.ndarray,
    lengths: np.ndarray,
    starts: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per trial: revealed (1.0 or 0.0) and the first prefix length that reveals (NaN if none).

    ``starts``: each exploration episode's recorded start (:attr:`EpisodeBatch.start`), for
    oracles that need it; None for envs that record none. Both arrays are NaN without an oracle.
    """
    n = len(problems)
    if oracle is None:
        return np.full(n, np.nan), np.full(n, np.nan)
    revealed, first = np.zeros(n), np.full(n, np.nan)
    for i in range(n):
        seq = tuple(int(a) for a in actions[i, : lengths[i]])
        start = None if starts is None else tuple(float(v) for v in starts[i])
        step = _first_reveal(oracle, int(problems[i]), seq, start)
        if step is not None:
            revealed[i], first[i] = 1.0, step
    return revealed, first


def _explore_starts(explore: list[EpisodeBatch], n: int) -> np.ndarray | None:
    """The recorded starts of the first ``n`` exploration episodes, or None if none recorded."""
    if any(e.start is None for e in explore):
        return None
    return np.concatenate([e.start for e in explore])[:n]


def evaluate(
    method: Method,
    family: MetaProblemFamily,
    *,
    n_trials: int,
    seed: int,
    split: str = "test",
    n_exploit: int = 1,
    num_envs: int | None = None,
    oracle: RevealOracle | None = None,
    env: Any = None,
) -> tuple[dict[str, float], list[TrialBatch]]:
    """Play ``n_trials`` greedy trials of ``split`` (the same trials for the same ``seed``).

    Returns the summary metrics and the played trials.
    """
    num_envs = num_envs or min(n_trials, 100)
    env = env if env is not None else family.make_batched(num_envs, seed)
    rng = np.random.default_rng([seed, 2])
    played: list[TrialBatch] = []
    done = 0
    while done < n_trials:
        problems, goals = sample_trials(family, rng, env.num_envs, split, n_exploit)
        ids = np.arange(done, done + env.num_envs)
        played.append(run_wave(env, family, method, problems, goals, ids, training=False))
        done += env.num_envs
    problems = np.concatenate([p.problems for p in played])[:n_trials]
    explore = [p.episodes[0] for p in played]
    actions = np.concatenate([e.actions for e in explore])[:n_trials]
    lengths = np.concatenate([e.length for e in explore])[:n_trials]
    exploit_returns = np.concatenate(
        [np.mean([e.returns for e in p.episodes[1:]], axis=0) for p in played]
    )[:n_trials]
    starts = _explore_starts(explore, n_trials)
    revealed, first = reveal_stats(oracle, problems, actions, lengths, starts)
    summary = {
        "return": float(exploit_returns.mean()),
        "return_se": float(exploit_returns.std(ddof=1) / np.sqrt(n_trials))
        if n_trials > 1
        else 0.0,
        "reveal_frac": float(np.mean(revealed)),
        "reveal_step": float(np.nanmean(first)) if np.isfinite(first).any() else float("nan"),
        "explore_len": float(lengths.mean()),
    }
    summary["exploit_progress"] = _exploit_progress(family, played, n_trials)
    errors = [method.decoder_error(p) for p in played]
    summary["decoder_error"] = (  # NaN: the method has no decoder (the columns stay the same)
        float("nan") if errors[0] is None else float(np.concatenate(errors)[:n_trials].mean())
    )
    return summary, played


def _exploit_progress(family: MetaProblemFamily, played: list[TrialBatch], n: int) -> float:
    """Mean over trials of how far the first exploitation episode got through its task.

    :meth:`~deep.envs.problem.MetaProblemFamily.exploitation_progress`; NaN: no measure.
    """
    values = []
    for wave in played:
        ep = wave.episodes[1]
        for i, problem in enumerate(wave.problems):
            if len(values) == n:
                break
            actions = ep.actions[i, : ep.length[i]]
            value = family.exploitation_progress(int(problem), int(ep.goal[i]), actions)
            if value is None:
                return float("nan")
            values.append(value)
    return float(np.mean(values))


def steps_to_informative(
    rows: pd.DataFrame, threshold: float = 1.0, columns: Sequence[str] = ("env_steps", "trial")
) -> dict[str, float]:
    """First evaluation after which ``reveal_frac >= threshold`` at every later evaluation.

    Returns ``{"env_steps": ..., "trial": ...}`` of that evaluation, NaN if the last
    evaluation is not informative (a right-censored run).
    """
    test = rows[rows["split"] == "test"].sort_values("env_steps")
    ok = (test["reveal_frac"] >= threshold).to_numpy()
    if len(ok) == 0 or not ok[-1]:
        return {c: float("nan") for c in columns}
    bad = np.flatnonzero(~ok)
    first = 0 if len(bad) == 0 else bad[-1] + 1
    return {c: float(test[c].iloc[first]) for c in columns}
