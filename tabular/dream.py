r"""Tabular DREAM on the horizon-H bandit (Sec. 5.2, App. C.2), per-trajectory form.

Estimators (App. C.2, "Recall that DREAM learns exploration Q-values by regressing toward
the learned decoder"):

* Decoder: ``q̂(mu | tau_a)`` = count of ``(mu, tau_a)`` / count of ``tau_a``. For
  ``a = a_star`` the trajectory ``(a_star, mu)`` reveals ``mu``, so ``q̂ = 1`` whenever it
  is defined; for ``a != a_star`` it is the empirical distribution of the problems seen
  with ``a``.
* Exploration values: ``Q̂_exp(a)`` = empirical mean of ``log q̂(mu_i | tau_a)`` over the
  trials ``i`` that explored with ``a``. **Current targets**: the mean uses the current
  decoder, so ``Q̂_exp(a) = -H(empirical problem distribution under a) <= 0`` (the paper's
  proof compares ``log q̂_T`` at the same ``T``). With stale targets (each trial's
  ``log q̂`` frozen at its own time, see :mod:`tabular.per_step`) the sign pattern below is
  the same, so every measure here is unchanged.
* Unseen actions have the initial value ``Q̂_exp = 0`` (tabular Q-learning's usual zero
  initialisation).
* Ties: the greedy policy picks uniformly among all maximisers (:mod:`tabular.acting`).
  A tie with ``a_star`` counts as *not optimal*.

Sign pattern (exact, used by the kernel instead of floating-point logs):
``Q̂_exp(a_star) = 0`` always (``log 1``, or the initial 0), and for ``a != a_star``,
``Q̂_exp(a) < 0`` iff ``a`` has been seen with at least two distinct problems (an
empirical distribution with two support points has positive entropy; one support point
has entropy 0). Hence the greedy policy is optimal after ``t`` trials iff every
``a != a_star`` has seen two distinct problems, and the maximisers are ``a_star`` plus the
sequences that have not.

Sample-complexity measures (trials counted from 1; ``Q̂_t`` is the estimate after ``t``
trials, ``Q̂_0`` is the initial table, which is never optimal because all values tie):

* ``T_greedy`` = 1 + the last ``t >= 0`` at which ``argmax Q̂_t`` is not uniquely ``a_star``.
* ``T_guaranteed`` = the first ``t`` such that ``argmax Q̂_s = {a_star}`` for every
  ``s >= t`` along *every* continuation of the run (Prop. 2's definition of T).
* ``T_event`` = the trial at which the sufficient event of the proof of Prop. 2 completes:
  every ``a != a_star`` seen with two distinct problems **and** ``a_star`` seen at least once.

Certificate. Let ``C_t`` = "every ``a != a_star`` has seen two distinct problems after ``t``
trials". *Claim:* ``T_guaranteed = min{t : C_t}`` and ``T_greedy = T_guaranteed <= T_event``.
*Proof.* ``C`` is monotone: distinct problems once seen stay in the counts, so an
empirical distribution with two support points keeps two, whatever is sampled later. By
the sign pattern, greedy is optimal at ``t`` iff ``C_t``. So once ``C_t`` holds, greedy is
optimal at every ``s >= t`` on every continuation; and before it holds greedy is not
optimal at ``t`` itself. Thus the last non-optimal trial is ``min{t : C_t} - 1``, giving
``T_greedy = T_guaranteed``, and the event of the proof implies ``C``, giving
``T_guaranteed <= T_event``. (With the zero initialisation, ``a_star`` need not have been
seen: its initial value 0 already beats every negative value. The paper's event asks for
it, so ``T_event`` can be strictly larger.) □
"""

from __future__ import annotations

import numpy as np
from numba import njit

from tabular._numba_cache import ensure_fresh
from tabular.acting import nth_true, uniform_sequence
from tabular.rng import SLOT_EXP_DIGIT, SLOT_EXP_EPS, SLOT_EXP_TIE, SLOT_MU, draw, draw_index

ensure_fresh()  # before any @njit(cache=True) below can load from Numba's cache


@njit(cache=True)
def dream_trajectory_seed(
    A: int, H: int, epsilon: float, key: np.uint64, max_trials: int
) -> tuple[int, int, int, int, int]:
    """Run one seed of per-trajectory DREAM until the certificate holds (or ``max_trials``).

    Returns ``(T_greedy, T_event, T_guaranteed, trials_run, capped)``; a measure not
    reached within ``max_trials`` is ``-1`` and ``capped = 1``.
    """
    K = A**H
    M = K
    star = K - 1
    first_mu = np.full(K, -1, np.int64)
    # open_[a]: a maximises Q̂_exp (a_star always; a != a_star until two distinct problems).
    open_ = np.ones(K, np.bool_)
    n_open = K
    star_seen = False
    last_not_optimal = 0
    t_event = -1
    t_guaranteed = -1
    t = 0
    while t < max_trials:
        t += 1
        mu = draw_index(key, t, SLOT_MU, M)
        if draw(key, t, SLOT_EXP_EPS) < epsilon:
            a = uniform_sequence(key, t, SLOT_EXP_DIGIT, A, H)
        else:
            a = nth_true(open_, draw_index(key, t, SLOT_EXP_TIE, n_open))
        if a == star:
            star_seen = True
        elif first_mu[a] < 0:
            first_mu[a] = mu
        elif open_[a] and mu != first_mu[a]:
            open_[a] = False
            n_open -= 1
        optimal = n_open == 1
        if not optimal:
            last_not_optimal = t
        elif t_guaranteed < 0:
            t_guaranteed = t
        if optimal and star_seen and t_event < 0:
            t_event = t
        if t_guaranteed >= 0 and t_event >= 0:
            return last_not_optimal + 1, t_event, t_guaranteed, t, 0
    return last_not_optimal + 1, t_event, t_guaranteed, t, 1
