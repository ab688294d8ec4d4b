"""Counter-based random numbers for the tabular kernels.

Every random number of a run is a pure function of ``(key, trial, slot)``:
``uniform(key, trial * N_SLOTS + slot)`` is the ``counter``-th output of SplitMix64 seeded
with ``key``. The kernels receive ``key`` explicitly, so they never touch Numba's global
RNG, results do not depend on the thread that runs a seed, and a slow Python reference can
draw exactly the same numbers.

The key depends on ``(seed, A, H)`` only, not on the method, the learner or epsilon: the
same seed gives RL² and DREAM (and both learners) the same problems and, at epsilon = 1,
the same exploration and exploitation sequences (common random numbers, so differences
between methods are paired).

Slot layout within a trial (``t`` = step within the episode, ``t < MAX_H``):

* ``SLOT_MU``: the problem ``mu`` of the trial;
* ``SLOT_EXP_EPS + t``, ``SLOT_EXP_DIGIT + t``, ``SLOT_EXP_TIE + t``: exploration
  epsilon coin, uniform action digit and tie-break draw at step ``t``;
* the same three blocks for the exploitation episode.

Learners that act once per episode (the per-trajectory form) use step ``t = 0`` for the
coin and the tie-break and all ``H`` digit slots for a uniform sequence, so at ``H = 1``
both learners consume the same numbers.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from tabular._numba_cache import ensure_fresh
from tabular.bandit import MAX_H

ensure_fresh()  # before any @njit(cache=True) below can load from Numba's cache

N_SLOTS = 128
SLOT_MU = 0
SLOT_EXP_EPS = 1
SLOT_EXP_DIGIT = SLOT_EXP_EPS + MAX_H
SLOT_EXP_TIE = SLOT_EXP_DIGIT + MAX_H
SLOT_TASK_EPS = SLOT_EXP_TIE + MAX_H
SLOT_TASK_DIGIT = SLOT_TASK_EPS + MAX_H
SLOT_TASK_TIE = SLOT_TASK_DIGIT + MAX_H
assert SLOT_TASK_TIE + MAX_H <= N_SLOTS

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_ONE = np.uint64(1)
_INV_2_53 = 1.0 / 9007199254740992.0


@njit(cache=True)
def uniform(key: np.uint64, counter: int) -> float:
    """The ``counter``-th SplitMix64 output for seed ``key``, as a double in ``[0, 1)``."""
    z = key + (np.uint64(counter) + _ONE) * _GAMMA
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    z = z ^ (z >> _S31)
    return np.float64(z >> _S11) * _INV_2_53


@njit(cache=True)
def draw(key: np.uint64, trial: int, slot: int) -> float:
    """Uniform ``[0, 1)`` number of ``slot`` in ``trial`` (trials are counted from 1)."""
    return uniform(key, trial * N_SLOTS + slot)


@njit(cache=True)
def draw_index(key: np.uint64, trial: int, slot: int, n: int) -> int:
    """Uniform integer in ``0 .. n-1``: ``floor(u * n)`` with ``u = draw(key, trial, slot)``."""
    i = int(draw(key, trial, slot) * n)
    return i if i < n else n - 1


def splitmix64_reference(key: int, counter: int) -> float:
    """Plain-Python SplitMix64 (masked big ints): the readable twin of :func:`uniform`."""
    mask = (1 << 64) - 1
    z = (key + (counter + 1) * 0x9E3779B97F4A7C15) & mask
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
    z ^= z >> 31
    return (z >> 11) * _INV_2_53


def derive_key(seed: int, A: int, H: int) -> np.uint64:
    """Key of one ``(seed, A, H)`` cell, from NumPy's ``SeedSequence`` (well-mixed, stable)."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed={seed!r} is not allowed: seeds are integers >= 0")
    state = np.random.SeedSequence([int(seed), int(A), int(H)]).generate_state(1, dtype=np.uint64)
    return np.uint64(state[0])
