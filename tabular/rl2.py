r"""Tabular RL² on the horizon-H bandit (Sec. 5.2, App. C.2), per-trajectory form.

Estimators (App. C.2, "Recall that RL² learns exploration Q-values by regressing toward
the exploitation Q-values"):

* Exploitation values: ``Q̂_task(tau, a')`` = sample mean of the returns of exploitation
  sequence ``a'`` after exploration trajectory ``tau``; unseen pairs have the initial value
  0. ``V̂_task(tau) = max_a' Q̂_task(tau, a')``. For ``tau = (a_star, mu)`` the return of
  ``a'`` is deterministic (1 iff ``a' = a_mu``), so ``V̂_task((a_star, mu)) = 1`` iff the pair
  ``((a_star, mu), a_mu)`` has been observed ("mu is solved"), else 0. For
  ``tau = (a, 0)``, ``a != a_star``, ``Q̂_task`` is an empirical frequency of reward.
* Exploration values, **current targets** (App. C.2 "we set
  ``Q̂_exp(a) = V̂_task(tau_a)``"): ``Q̂_exp(a) = V̂_task((a, 0))`` for ``a != a_star``, and
  ``Q̂_exp(a_star)`` = the mean over the observed ``(a_star, mu_i)`` of the *current*
  ``V̂_task((a_star, mu_i))`` = (number of a_star-trials whose problem is solved now) /
  (number of a_star-trials); 0 before ``a_star`` is first tried. The per-step form in
  :mod:`tabular.per_step` uses stale targets instead and behaves differently.
* All values are exact rationals (integer counts) and are compared by
  cross-multiplication, so a tie is a tie. Ties: uniform among all maximisers; a tie with
  ``a_star`` counts as not optimal.

Measures: ``T_greedy``, ``T_guaranteed`` as in :mod:`tabular.dream`; ``T_event`` = the
lower-bound event of the proof of Prop. 2: every problem ``mu`` solved (the coupons
``((a_star, mu), a_mu)``, one per problem).

Certificate. Let ``C_t`` = (a) every ``mu`` is solved and (b) every pair ``(a, a')`` with
``a != a_star`` has been observed at least once with return 0 ("a failure").
*Claim:* ``T_guaranteed = min{t : C_t}``, hence ``T_event <= T_guaranteed`` and
``T_greedy <= T_guaranteed``, pathwise.
*Proof.* Sufficiency: (a) makes every observed ``(a_star, mu)`` have current value 1, so
``Q̂_exp(a_star) = 1`` from then on; (b) makes every ``Q̂_task((a, 0), a') < 1`` forever
(a sample mean of 0/1 returns containing a 0 stays below 1), so
``Q̂_exp(a) = V̂_task((a, 0)) < 1``. Both are monotone, so greedy stays optimal on every
continuation. Necessity: with epsilon > 0 every finite continuation has positive
probability. If (b) fails for a pair ``(a, a')``, one more trial exploring ``a``, exploiting
``a'`` with ``mu = mu(a')`` (or the current state, if the pair was only seen with reward 1)
gives ``Q̂_exp(a) = 1 >= Q̂_exp(a_star)``: a tie, not optimal. If (a) fails for some ``mu``,
repeat trials ``(a_star, mu, a' != a_mu)``: ``Q̂_exp(a_star)`` tends to 0, while
repeated successes of any pair ``(a, a')`` push ``Q̂_exp(a)`` toward 1 (its failures are
a fixed, finite number), so eventually ``Q̂_exp(a) > Q̂_exp(a_star)``. Hence ``C`` is
necessary for the guarantee at ``t``, and ``C`` is monotone, so the first ``t`` with
``C_t`` is exactly ``T_guaranteed``. (a) is the event, so ``T_event <= T_guaranteed``; the
actual run is one continuation, so ``T_greedy <= T_guaranteed``. □
"""

from __future__ import annotations

import numpy as np
from numba import njit

from tabular._numba_cache import ensure_fresh
from tabular.acting import argmax_ratio_tie, uniform_sequence
from tabular.rng import (
    SLOT_EXP_DIGIT,
    SLOT_EXP_EPS,
    SLOT_EXP_TIE,
    SLOT_MU,
    SLOT_TASK_DIGIT,
    SLOT_TASK_EPS,
    SLOT_TASK_TIE,
    draw,
    draw_index,
)

ensure_fresh()  # before any @njit(cache=True) below can load from Numba's cache


@njit(cache=True)
def _row_max(succ: np.ndarray, count: np.ndarray) -> tuple[int, int, int]:
    """``(num, den, argmax)`` of ``max(0, max_a' succ/count)`` over the seen entries of a row."""
    best_num = 0
    best_den = 1
    best_arg = -1
    for j in range(count.shape[0]):
        if count[j] > 0 and succ[j] * best_den > best_num * count[j]:
            best_num = succ[j]
            best_den = count[j]
            best_arg = j
    return best_num, best_den, best_arg


@njit(cache=True)
def _update_value(
    a: int,
    b: int,
    success: bool,
    pair_s: np.ndarray,
    pair_n: np.ndarray,
    v_num: np.ndarray,
    v_den: np.ndarray,
    v_arg: np.ndarray,
) -> None:
    """Refresh ``V̂_task((a, 0)) = v_num[a] / v_den[a]`` after pair ``(a, b)`` got a return."""
    new_num = pair_s[a, b]
    new_den = pair_n[a, b]
    if b == v_arg[a] and not success:  # the maximiser dropped: rescan the row
        v_num[a], v_den[a], v_arg[a] = _row_max(pair_s[a], pair_n[a])
    elif new_num * v_den[a] > v_num[a] * new_den:
        v_num[a] = new_num
        v_den[a] = new_den
        v_arg[a] = b
    elif b == v_arg[a]:  # same value, new representation (e.g. 1/1 -> 2/2)
        v_num[a] = new_num
        v_den[a] = new_den


@njit(cache=True)
def rl2_trajectory_seed(
    A: int, H: int, epsilon: float, key: np.uint64, max_trials: int
) -> tuple[int, int, int, int, int]:
    """Run one seed of per-trajectory RL² until the certificate holds (or ``max_trials``).

    Returns ``(T_greedy, T_event, T_guaranteed, trials_run, capped)``; a measure not
    reached within ``max_trials`` is ``-1`` and ``capped = 1``.
    """
    K = A**H
    M = K
    star = K - 1
    pair_n = np.zeros((K, K), np.int64)  # exploitation counts after tau = (a, 0)
    pair_s = np.zeros((K, K), np.int64)  # ... and their successes
    v_num = np.zeros(K, np.int64)  # V̂_task((a, 0)) = v_num / v_den
    v_den = np.ones(K, np.int64)
    v_arg = np.full(K, -1, np.int64)
    vmax_num = 0  # max over a != a_star of V̂_task((a, 0))
    vmax_den = 1
    solved = np.zeros(M, np.bool_)
    n_solved = 0
    star_mu = np.zeros(M, np.int64)
    n_star = 0  # Q̂_exp(a_star) = s_star / n_star
    s_star = 0
    missing_failures = (K - 1) * K
    q_num = np.zeros(K, np.int64)  # scratch for greedy selections
    q_den = np.ones(K, np.int64)
    last_not_optimal = 0
    t_event = -1
    t = 0
    while t < max_trials:
        t += 1
        mu = draw_index(key, t, SLOT_MU, M)
        # ---- exploration episode: epsilon-greedy on Q̂_exp
        if draw(key, t, SLOT_EXP_EPS) < epsilon:
            a = uniform_sequence(key, t, SLOT_EXP_DIGIT, A, H)
        else:
            q_num[:] = v_num
            q_den[:] = v_den
            q_num[star] = s_star
            q_den[star] = n_star if n_star > 0 else 1
            a = argmax_ratio_tie(q_num, q_den, draw(key, t, SLOT_EXP_TIE))
        # ---- exploitation episode: epsilon-greedy on Q̂_task(tau, .)
        if draw(key, t, SLOT_TASK_EPS) < epsilon:
            b = uniform_sequence(key, t, SLOT_TASK_DIGIT, A, H)
        elif a == star:
            b = mu if solved[mu] else draw_index(key, t, SLOT_TASK_TIE, K)
        else:
            q_num[:] = pair_s[a]
            for j in range(K):
                q_den[j] = max(pair_n[a, j], 1)
            b = argmax_ratio_tie(q_num, q_den, draw(key, t, SLOT_TASK_TIE))
        success = b == mu
        # ---- updates (all estimates are current after this block)
        if a == star:
            n_star += 1
            star_mu[mu] += 1
            if solved[mu]:
                s_star += 1
            elif success:
                solved[mu] = True
                n_solved += 1
                s_star += star_mu[mu]
        else:
            if not success and pair_n[a, b] == pair_s[a, b]:
                missing_failures -= 1
            pair_n[a, b] += 1
            pair_s[a, b] += success
            old_num = v_num[a]
            old_den = v_den[a]
            _update_value(a, b, success, pair_s, pair_n, v_num, v_den, v_arg)
            # maintain the max over a != a_star (rescan only when the max itself dropped)
            if v_num[a] * vmax_den > vmax_num * v_den[a]:
                vmax_num = v_num[a]
                vmax_den = v_den[a]
            elif (
                old_num * vmax_den == vmax_num * old_den and v_num[a] * old_den < old_num * v_den[a]
            ):
                vmax_num, vmax_den, _ = _row_max(v_num[: K - 1], v_den[: K - 1])
        optimal = n_star > 0 and s_star * vmax_den > vmax_num * n_star
        if not optimal:
            last_not_optimal = t
        if n_solved == M and t_event < 0:
            t_event = t
        if n_solved == M and missing_failures == 0:
            return last_not_optimal + 1, t_event, t, t, 0
    return last_not_optimal + 1, t_event, -1, t, 1
