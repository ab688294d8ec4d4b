"""Action-selection helpers shared by the tabular kernels (all Numba, all explicit randomness).

Ties are broken uniformly at random among *all* maximisers, using one draw from the
trial's tie-break slot: the ``floor(u * n_max)``-th maximiser in increasing index order.
Exact ties are common here (every unseen value is the initial value 0), so a fixed
tie-break (lowest index) would bias greedy behaviour; a random one does not.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from tabular._numba_cache import ensure_fresh
from tabular.rng import draw_index

ensure_fresh()  # before any @njit(cache=True) below can load from Numba's cache


@njit(cache=True)
def uniform_sequence(key: np.uint64, trial: int, digit_slot: int, A: int, H: int) -> int:
    """Index of a uniformly random action sequence: digit ``t`` from slot ``digit_slot + t``."""
    index = 0
    place = 1
    for t in range(H):
        index += draw_index(key, trial, digit_slot + t, A) * place
        place *= A
    return index


@njit(cache=True)
def nth_true(mask: np.ndarray, r: int) -> int:
    """Position of the ``r``-th (0-based) True entry of a boolean vector."""
    seen = 0
    for i in range(mask.shape[0]):
        if mask[i]:
            if seen == r:
                return i
            seen += 1
    return -1


@njit(cache=True)
def argmax_ratio_tie(num: np.ndarray, den: np.ndarray, u_index: float) -> int:
    """Uniformly tie-broken argmax of the exact rationals ``num[i] / den[i]`` (``den > 0``).

    ``u_index`` is a uniform draw in [0, 1); comparisons are cross-multiplications of
    integers, so no floating-point tie can be created or hidden.
    """
    n = num.shape[0]
    best_num = num[0]
    best_den = den[0]
    n_best = 1
    for i in range(1, n):
        lhs = num[i] * best_den
        rhs = best_num * den[i]
        if lhs > rhs:
            best_num = num[i]
            best_den = den[i]
            n_best = 1
        elif lhs == rhs:
            n_best += 1
    r = int(u_index * n_best)
    if r >= n_best:
        r = n_best - 1
    seen = 0
    for i in range(n):
        if num[i] * best_den == best_num * den[i]:
            if seen == r:
                return i
            seen += 1
    return -1
