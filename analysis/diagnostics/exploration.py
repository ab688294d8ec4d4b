"""Fig. 11's data: what the greedy exploration episode visits, aggregated over trials.

Works for any method (it reads only the played episodes). Per split (training problems,
held-out problems) and measure, the mean over the N greedy trials and its standard error
``sd / sqrt(N)``:

* ``source = "visits"``: what the family counts in an exploration episode
  (:meth:`deep.envs.problem.MetaProblemFamily.exploration_visits`): bus rides by kind
  (colored, gray, where there is no bus), map visits and distinct cells in the cities; pick-ups
  at each fridge and fridges opened in the kitchens; forward moves, turns and self-ended
  episodes on the sign task;
* ``source = "evaluate"``: the run protocol's own summary of the same trials
  (:func:`deep.metrics.evaluate`): ``reveal_frac`` (the exact oracle: on the sign task, whether
  the sign was read), ``reveal_step``, ``explore_len``, the exploitation ``return`` and the
  ``decoder_error``; only ``return`` has a standard error there.

:func:`cell_table` is the grid worlds' occupancy heat map: the mean number of steps an
exploration episode spends in each cell (states s_0..s_T), empty for families without a grid.

:func:`problem_table` splits the same trials by problem: whether each problem's greedy
exploration reveals (the exact oracle), at which step, and how many of its steps are *idle*
(the next observation equals the current one in every field: a no-op such as picking up where
nothing lies). The greedy exploration policy sees no problem ID, so on a deterministic grid
world every trial of a problem plays the same episode, and a reveal fraction below 1 is a set
of problems whose path falls short; ``actions`` holds the first trial's action indices.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from analysis.diagnostics.play import SplitPlay
from deep.metrics import RevealOracle, reveal_stats

__all__ = [
    "CELL_COLUMNS",
    "EVALUATE_MEASURES",
    "EXPLORATION_COLUMNS",
    "PROBLEM_COLUMNS",
    "cell_table",
    "exploration_table",
    "idle_steps",
    "problem_table",
]

EXPLORATION_COLUMNS = ("split", "source", "measure", "mean", "se", "trials")
"""Columns of :func:`exploration_table`."""
CELL_COLUMNS = ("split", "x", "y", "visits")
"""Columns of :func:`cell_table` (``visits``: mean steps per exploration episode in the cell)."""
PROBLEM_COLUMNS = (
    "split", "problem", "trials", "reveal_frac", "reveal_step", "idle_steps", "explore_len",
    "actions",
)  # fmt: skip
"""Columns of :func:`problem_table`."""
EVALUATE_MEASURES = ("reveal_frac", "reveal_step", "explore_len", "return", "decoder_error")
"""The evaluation summary's values reported beside the visit counts."""


def _se(values: np.ndarray) -> float:
    return float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else float("nan")


def exploration_table(family: Any, plays: Mapping[str, SplitPlay]) -> pd.DataFrame:
    """Mean and standard error of every exploration measure, per split (columns above)."""
    rows = []
    for split, play in plays.items():
        ep, n = play.explore, len(play)
        visits = family.exploration_visits(play.problems, ep.obs, ep.actions, ep.length)
        for measure, values in visits.items():
            values = np.asarray(values, dtype=np.float64)
            assert values.shape == (n,), (measure, values.shape)
            rows.append((split, "visits", measure, float(values.mean()), _se(values), n))
        for measure in EVALUATE_MEASURES:
            se = play.summary["return_se"] if measure == "return" else float("nan")
            rows.append((split, "evaluate", measure, play.summary[measure], se, n))
    return pd.DataFrame(rows, columns=list(EXPLORATION_COLUMNS))


def cell_table(family: Any, plays: Mapping[str, SplitPlay]) -> pd.DataFrame:
    """Mean occupancy of each grid cell per exploration episode, per split (empty: no grid)."""
    blocks = []
    for split, play in plays.items():
        counts = family.cell_visits(play.explore.obs, play.explore.length)
        if counts is None:
            continue
        y, x = np.indices(counts.shape)
        blocks.append(
            pd.DataFrame(
                {
                    "split": split,
                    "x": x.ravel(),
                    "y": y.ravel(),
                    "visits": counts.ravel() / len(play),
                }
            )
        )
    if not blocks:
        return pd.DataFrame(columns=list(CELL_COLUMNS))
    return pd.concat(blocks, ignore_index=True)


def idle_steps(obs: Mapping[str, np.ndarray], lengths: np.ndarray) -> np.ndarray:
    """Per episode, the steps t < length whose observation s_{t+1} equals s_t in every field."""
    lengths = np.asarray(lengths)
    steps = next(iter(obs.values())).shape[1] - 1
    same = np.ones((len(lengths), steps), dtype=bool)
    for values in obs.values():
        flat = values.reshape(values.shape[0], values.shape[1], -1)
        same &= (flat[:, 1:] == flat[:, :-1]).all(axis=2)
    taken = np.arange(steps)[None, :] < lengths[:, None]
    return (same & taken).sum(axis=1)


def problem_table(plays: Mapping[str, SplitPlay], oracle: RevealOracle | None) -> pd.DataFrame:
    """Per split and problem: the exploration's reveal fraction, reveal step and idle steps.

    ``reveal_step`` is the mean over the problem's revealing trials (NaN: none revealed, or no
    oracle); ``idle_steps`` and ``explore_len`` are means over its trials.
    """
    rows = []
    for split, play in plays.items():
        ep = play.explore
        revealed, first = reveal_stats(oracle, play.problems, ep.actions, ep.length, ep.start)
        idle = idle_steps(ep.obs, ep.length)
        for problem in np.unique(play.problems):
            mine = np.flatnonzero(play.problems == problem)
            steps = first[mine][np.isfinite(first[mine])]
            head = mine[0]
            rows.append(
                (
                    split, int(problem), len(mine), float(revealed[mine].mean()),
                    float(steps.mean()) if len(steps) else float("nan"),
                    float(idle[mine].mean()), float(ep.length[mine].mean()),
                    " ".join(str(int(a)) for a in ep.actions[head, : ep.length[head]]),
                )
            )  # fmt: skip
    return pd.DataFrame(rows, columns=list(PROBLEM_COLUMNS))
