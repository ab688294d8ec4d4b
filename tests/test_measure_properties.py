"""Property tests (hypothesis) of the per-seed measures returned by ``measure()``.

* Pathwise relations proved in the docstrings of :mod:`tabular.dream`, :mod:`tabular.rl2`
  and :mod:`tabular.per_step`, on every seed of random cells, epsilons and seed ranges.
* The per-trajectory kernels against the literal :class:`tabular.reference.ReferenceLearner`
  on random small cells.
* At ``H = 1`` per-step DREAM equals per-trajectory DREAM on every column, any epsilon.
"""

from __future__ import annotations

import pandas as pd
from hypothesis import event, given, note, settings
from hypothesis import strategies as st

from tabular.bandit import BanditFamily
from tabular.dream import dream_trajectory_seed
from tabular.measures import measure
from tabular.reference import ReferenceLearner
from tabular.rl2 import rl2_trajectory_seed
from tabular.rng import derive_key

KERNELS = {"rl2": rl2_trajectory_seed, "dream": dream_trajectory_seed}

RL2_CAP = 1_000_000
"""Per-trajectory RL² at K = 36 needs ~2e5 trials at epsilon = 1 and far more at small
epsilon: generous, but bounded so a capped seed costs at most ~0.1 s."""
DREAM_CAP = 200_000
"""DREAM needs ~1e2 trials on these cells (1e3 at most): it must never be capped."""
PER_STEP_RL2_CAP = 3_000
"""Per-step RL² has no certificate and always runs to the cap."""

REFERENCE_BUDGET = 20_000
"""Skip a reference run when ``window * K`` exceeds this (~0.7 s of the literal RL²)."""


# (A, H) with A in 2..7, H in {1, 2}, A**H <= 36
cells = st.tuples(st.integers(2, 7), st.sampled_from([1, 2])).filter(lambda c: c[0] ** c[1] <= 36)
small_cells = st.sampled_from(
    [(A, 1) for A in range(2, 10)] + [(2, 2), (3, 2), (2, 3)]
)  # A**H <= 9
epsilons = st.floats(0.05, 1.0, exclude_min=True, allow_nan=False)
first_seeds = st.integers(0, 10**6)


def _seeds(first: int, n: int) -> range:
    return range(first, first + n)


def _defined(value) -> bool:
    return not pd.isna(value)


# ------------------------------------------------------------ pathwise relations


@settings(deadline=None, max_examples=50)
@given(cell=cells, epsilon=epsilons, first=first_seeds, n=st.integers(1, 5))
def test_per_trajectory_relations(cell, epsilon, first, n):
    A, H = cell
    seeds = _seeds(first, n)
    dream = measure("dream", A, H, epsilon, seeds, max_trials=DREAM_CAP)
    assert not dream["capped"].any()
    for row in dream.itertuples():
        # DREAM: T_greedy == T_guaranteed <= T_event; the kernel stops at the later one
        assert row.T_greedy == row.T_guaranteed <= row.T_event, row
        assert row.trials_run == row.T_event, row
    rl2 = measure("rl2", A, H, epsilon, seeds, max_trials=RL2_CAP)
    event(f"rl2 capped seeds: {int(rl2['capped'].sum()) > 0}")
    for row in rl2.itertuples():
        assert 1 <= row.T_greedy, row
        if not row.capped:
            # RL²: T_greedy <= T_guaranteed and T_event <= T_guaranteed (stops at T_guaranteed)
            assert row.T_greedy <= row.T_guaranteed, row
            assert row.T_event <= row.T_guaranteed, row
            assert row.trials_run == row.T_guaranteed, row
        else:
            # only what is defined: T_guaranteed was not reached within the cap
            note(f"capped: {row}")
            assert pd.isna(row.T_guaranteed) and row.trials_run == RL2_CAP, row
            assert row.T_greedy <= RL2_CAP + 1, row
            if _defined(row.T_event):
                assert row.T_event <= RL2_CAP, row


@settings(deadline=None, max_examples=50)
@given(cell=cells, epsilon=epsilons, first=first_seeds, n=st.integers(1, 5))
def test_per_step_relations(cell, epsilon, first, n):
    A, H = cell
    seeds = _seeds(first, n)
    dream = measure("dream", A, H, epsilon, seeds, learner="per-step", max_trials=DREAM_CAP)
    assert not dream["capped"].any()
    for row in dream.itertuples():
        # per-step DREAM: T_greedy == T_guaranteed; the kernel stops once both measures are in
        assert row.T_greedy == row.T_guaranteed, row
        assert row.trials_run == max(row.T_guaranteed, row.T_event), row
    rl2 = measure("rl2", A, H, epsilon, seeds, learner="per-step", max_trials=PER_STEP_RL2_CAP)
    assert rl2["T_guaranteed"].isna().all()  # no certificate exists
    assert rl2["capped"].all() and (rl2["trials_run"] == PER_STEP_RL2_CAP).all()
    for row in rl2.itertuples():
        assert 1 <= row.T_greedy <= PER_STEP_RL2_CAP + 1, row
        if _defined(row.T_event):
            assert 1 <= row.T_event <= PER_STEP_RL2_CAP, row


# --------------------------------------------------- measure() vs the kernels it runs


def _kernel(method: str, learner: str):
    if learner == "per-trajectory":
        return KERNELS[method]
    from tabular import per_step

    return per_step.rl2_per_step_seed if method == "rl2" else per_step.dream_per_step_seed


@settings(deadline=None, max_examples=30)
@given(
    cell=cells,
    epsilon=epsilons,
    first=first_seeds,
    n=st.integers(1, 4),
    learner=st.sampled_from(["per-trajectory", "per-step"]),
)
def test_measure_rows_equal_direct_kernel_calls(cell, epsilon, first, n, learner):
    """``measure()`` (the cached ``prange`` batch) returns what each kernel returns.

    Numba's cache of ``measures._run_batch`` is not invalidated when a kernel it compiles
    in changes (only ``measures.py`` is checked), so a stale cache would show up here as
    soon as the kernels' results change.
    """
    A, H = cell
    seeds = _seeds(first, n)
    for method in ("rl2", "dream"):
        cap = {"rl2": 200_000, "dream": DREAM_CAP}[method]
        if (method, learner) == ("rl2", "per-step"):
            cap = PER_STEP_RL2_CAP
        frame = measure(method, A, H, epsilon, seeds, learner=learner, max_trials=cap)
        kernel = _kernel(method, learner)
        for row, seed in zip(frame.itertuples(), seeds, strict=True):
            direct = tuple(int(v) for v in kernel(A, H, epsilon, derive_key(seed, A, H), cap))
            got = tuple(
                -1 if pd.isna(v) else int(v)
                for v in (row.T_greedy, row.T_event, row.T_guaranteed, row.trials_run, row.capped)
            )
            assert got == direct, (method, learner, seed)


# ------------------------------------------------------------ kernels vs reference


@settings(deadline=None, max_examples=25)
@given(cell=small_cells, epsilon=epsilons, first=first_seeds)
def test_kernels_match_reference(cell, epsilon, first):
    A, H = cell
    family = BanditFamily(A, H)
    K = A**H
    checked = 0
    for method, kernel in KERNELS.items():
        for seed in _seeds(first, 2):
            key = derive_key(seed, A, H)
            t_greedy, t_event, t_guaranteed, trials, capped = kernel(A, H, epsilon, key, 10**7)
            assert capped == 0
            window = 2 * trials + 40
            if window * K > REFERENCE_BUDGET:
                event(f"{method}: reference skipped (too long)")
                continue
            out = ReferenceLearner(method, family, epsilon, int(key)).run(window)
            note(f"{method} seed={seed}: kernel {t_greedy, t_event, t_guaranteed}, ref {out}")
            assert t_greedy == out["T_greedy"]
            assert t_event == out["T_event"]
            assert t_guaranteed == out["T_certificate"]
            event(f"{method}: reference checked")
            checked += 1
    assert checked >= 2  # DREAM always fits the budget


# ---------------------------------------------------- per-step == per-trajectory at H = 1


@settings(deadline=None, max_examples=50)
@given(A=st.integers(2, 16), epsilon=epsilons, first=first_seeds, n=st.integers(1, 30))
def test_per_step_dream_equals_per_trajectory_at_horizon_one(A, epsilon, first, n):
    seeds = _seeds(first, n)
    per_trajectory = measure("dream", A, 1, epsilon, seeds)
    per_step = measure("dream", A, 1, epsilon, seeds, learner="per-step")
    assert (per_step["learner"] == "per-step").all()
    pd.testing.assert_frame_equal(
        per_trajectory.drop(columns="learner"), per_step.drop(columns="learner"), check_exact=True
    )
