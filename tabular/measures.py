"""Per-seed sample-complexity measures of Prop. 2: the public entry point to the kernels.

``measure(method, A, H, epsilon, seeds)`` validates its input, derives one key per seed
(:func:`tabular.rng.derive_key`), runs the seeds in parallel with Numba (``prange``; each
seed is independent and writes only its own row, so results are bit-identical for any
number of threads) and returns a tidy DataFrame with one row per seed:

``method, learner, H, A, epsilon, seed, T_greedy, T_event, T_guaranteed, trials_run, capped``

The three measures are defined, and their certificates proved, in :mod:`tabular.dream`,
:mod:`tabular.rl2` and :mod:`tabular.per_step`. A seed stops as soon as its certificate
holds (so ``T_greedy`` is exact, not truncated); a seed that reaches ``max_trials`` first
has ``capped = True`` and ``<NA>`` for the measures it did not reach (its ``T_greedy`` is
then only a lower bound).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numba
import numpy as np
import pandas as pd
from numba import njit, prange

from tabular._numba_cache import ensure_fresh
from tabular.bandit import BanditFamily
from tabular.dream import dream_trajectory_seed
from tabular.per_step import dream_per_step_seed, per_step_table_bytes, rl2_per_step_seed
from tabular.rl2 import rl2_trajectory_seed
from tabular.rng import derive_key

ensure_fresh()  # before any @njit(cache=True) below can load from Numba's cache

METHODS = ("rl2", "dream")
LEARNERS = ("per-trajectory", "per-step")
MEASURES = ("T_greedy", "T_event", "T_guaranteed")
COLUMNS = (
    "method",
    "learner",
    "H",
    "A",
    "epsilon",
    "seed",
    "T_greedy",
    "T_event",
    "T_guaranteed",
    "trials_run",
    "capped",
)


@njit(parallel=True, cache=True)
def _run_batch(
    method_id: int,
    learner_id: int,
    A: int,
    H: int,
    epsilon: float,
    keys: np.ndarray,
    max_trials: int,
    out: np.ndarray,
) -> None:
    """Run every seed of one cell; row ``i`` of ``out`` gets seed ``i``'s five integers."""
    for i in prange(keys.shape[0]):
        if learner_id == 0:
            if method_id == 0:
                r = rl2_trajectory_seed(A, H, epsilon, keys[i], max_trials)
            else:
                r = dream_trajectory_seed(A, H, epsilon, keys[i], max_trials)
        elif method_id == 0:
            r = rl2_per_step_seed(A, H, epsilon, keys[i], max_trials)
        else:
            r = dream_per_step_seed(A, H, epsilon, keys[i], max_trials)
        for j in range(5):
            out[i, j] = r[j]


def harmonic(n: int) -> float:
    """``H_n = sum_{k<=n} 1/k``."""
    return float(sum(1.0 / k for k in range(1, n + 1)))


def reference_trials(method: str, A: int, H: int) -> float:
    """A closed-form scale for ``T`` at epsilon = 1 (used only to size the default cap).

    RL²: ``K² M H_M`` (the lower-bound coupon collector, exact mean of ``T_event``) plus the
    failure coupons ``K² H_{K²}``. DREAM: ``2 K H_{2K}`` (the proof's 2K coupons).
    """
    K = A**H
    if method == "rl2":
        return K * K * K * harmonic(K) + K * K * harmonic(K * K) * 2
    return 2 * K * harmonic(2 * K)


def default_max_trials(method: str, A: int, H: int, epsilon: float) -> int:
    """Default cap: ``50 * reference_trials / epsilon**2``, at most 10**10."""
    return int(min(1e10, math.ceil(50 * reference_trials(method, A, H) / epsilon**2)))


def table_bytes(method: str, learner: str, A: int, H: int) -> int:
    """Bytes of the tables one seed allocates (the kernels' own arrays)."""
    if learner == "per-step":
        return per_step_table_bytes(method, A, H)
    K = A**H
    if method == "rl2":
        return 2 * K * K * 8 + 8 * K * 8
    return 2 * K * 8


def available_memory_bytes() -> int:
    """Half of MemAvailable (Linux), else 4 GiB: the default budget for one cell."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024 // 2
    except OSError:
        pass
    return 4 * 2**30


def _check_int(name: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise ValueError(f"{name}={value!r} is not allowed: {name} must be an integer >= {low}")
    return int(value)


def check_cell(
    method: str,
    learner: str,
    A: int,
    H: int,
    epsilon: float,
    max_memory_bytes: int | None = None,
    n_threads: int | None = None,
) -> None:
    """Raise a one-line ``ValueError`` for anything :func:`measure` cannot run."""
    if method not in METHODS:
        raise ValueError(f"method={method!r} is not allowed: use one of {', '.join(METHODS)}")
    if learner not in LEARNERS:
        raise ValueError(f"learner={learner!r} is not allowed: use one of {', '.join(LEARNERS)}")
    BanditFamily(A, H)  # validates A >= 2 and 1 <= H <= MAX_H
    if (
        isinstance(epsilon, bool)
        or not isinstance(epsilon, float | int)
        or not 0.0 < epsilon <= 1.0
    ):
        raise ValueError(f"epsilon={epsilon!r} is not allowed: epsilon must be in (0, 1]")
    if float(A) ** H > 2**40:
        raise ValueError(
            f"A={A}, H={H}: A**H = {A}**{H} exceeds 2**40 sequences, which no table can hold"
        )
    threads = n_threads or numba.get_num_threads()
    need = table_bytes(method, learner, A, H) * threads
    budget = max_memory_bytes if max_memory_bytes is not None else available_memory_bytes()
    if need > budget:
        raise ValueError(
            f"A={A}, H={H}: {method} {learner} tables need {need / 2**30:.2f} GiB "
            f"({threads} threads), more than the {budget / 2**30:.2f} GiB allowed"
        )


def measure(
    method: str,
    A: int,
    H: int,
    epsilon: float,
    seeds: Sequence[int],
    *,
    learner: str = "per-trajectory",
    max_trials: int | None = None,
    max_memory_bytes: int | None = None,
    chunk_size: int | None = None,
    on_chunk: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    """Measure ``T_greedy, T_event, T_guaranteed`` for every seed of one cell.

    Args:
        method: ``"rl2"`` or ``"dream"``.
        A: number of actions (>= 2).
        H: horizon (>= 1).
        epsilon: exploration rate of both epsilon-greedy policies, in (0, 1].
        seeds: non-negative integer seeds; seed ``s`` always gives the same numbers.
        learner: ``"per-trajectory"`` (the form App. C.2 analyses) or ``"per-step"``.
        max_trials: cap per seed (default :func:`default_max_trials`).
        max_memory_bytes: memory budget for the kernels' tables (default half of free RAM).
        chunk_size: seeds per parallel call (for progress reporting; default all).
        on_chunk: called with the number of seeds finished after each chunk.

    Returns:
        One row per seed with the columns :data:`COLUMNS`; unreached measures are ``<NA>``.
    """
    check_cell(method, learner, A, H, epsilon, max_memory_bytes)
    seeds = [_check_int("seed", s, 0) for s in seeds]
    if not seeds:
        raise ValueError("seeds=[] is not allowed: give at least one seed")
    cap = (
        default_max_trials(method, A, H, epsilon)
        if max_trials is None
        else _check_int("max_trials", max_trials, 1)
    )
    keys = np.array([derive_key(s, A, H) for s in seeds], dtype=np.uint64)
    out = np.zeros((len(seeds), 5), dtype=np.int64)
    step = chunk_size or len(seeds)
    for start in range(0, len(seeds), step):
        stop = min(start + step, len(seeds))
        _run_batch(
            METHODS.index(method),
            LEARNERS.index(learner),
            int(A),
            int(H),
            float(epsilon),
            keys[start:stop],
            cap,
            out[start:stop],
        )
        if on_chunk is not None:
            on_chunk(stop - start)
    frame = pd.DataFrame(
        {
            "method": method,
            "learner": learner,
            "H": int(H),
            "A": int(A),
            "epsilon": float(epsilon),
            "seed": np.array(seeds, dtype=np.int64),
        }
    )
    for j, name in enumerate((*MEASURES, "trials_run")):
        col = pd.Series(out[:, j], dtype="Int64")
        frame[name] = col.mask(col < 0) if name != "trials_run" else col
    frame["capped"] = out[:, 4].astype(bool)
    return frame[list(COLUMNS)]
