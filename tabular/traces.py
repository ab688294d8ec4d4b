"""Training traces of Figure 3b-d: values and returns of RL² and DREAM over trials.

For one seed, run the literal per-trajectory learner (:class:`tabular.reference.ReferenceLearner`,
the same random numbers as the kernels) and record after every ``every``-th trial:

* ``q_exp_<i>``: ``Q̂_exp`` of every exploration sequence ``i`` (Fig. 3b; for ``H = 1`` the
  sequences are the actions, ``a_star = A - 1``), and ``greedy_optimal``;
* ``v_task_star``: the exploitation value given the informative trajectory, averaged over
  problems (Fig. 3c);
* ``greedy_return``: the expected exploitation return of the greedy policies at
  epsilon = 0, averaged over problems and ties (Fig. 3d).

The RL² and DREAM Q-values live on different scales (returns in [0, 1] vs log-probabilities
<= 0), as in the paper's panels.
"""

from __future__ import annotations

import pandas as pd

from tabular.bandit import BanditFamily
from tabular.measures import check_cell
from tabular.reference import ReferenceLearner
from tabular.rng import derive_key


def training_trace(
    method: str, A: int, H: int, epsilon: float, seed: int, n_trials: int, every: int = 1
) -> pd.DataFrame:
    """Tidy-wide trace of one seed: one row per recorded trial (trial 0 = initial tables)."""
    check_cell(method, "per-trajectory", A, H, epsilon)
    if n_trials < 1 or every < 1:
        raise ValueError(f"n_trials={n_trials}, every={every}: both must be integers >= 1")
    family = BanditFamily(A, H)
    learner = ReferenceLearner(method, family, epsilon, int(derive_key(seed, A, H)))
    rows = []
    for t in range(n_trials + 1):
        if t > 0:
            learner.step()
        if t % every and t != n_trials:
            continue
        q = learner.q_exp_all()
        row = {
            "method": method,
            "A": A,
            "H": H,
            "epsilon": epsilon,
            "seed": seed,
            "trial": t,
            "greedy_optimal": learner.greedy_optimal(),
            "v_task_star": learner.v_task_informative(),
            "greedy_return": learner.greedy_return(),
        }
        row.update({f"q_exp_{i}": float(v) for i, v in enumerate(q)})
        rows.append(row)
    return pd.DataFrame(rows)
