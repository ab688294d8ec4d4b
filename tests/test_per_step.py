"""Tests of the per-step learners (tabular.per_step) against the pure-Python reference."""

from __future__ import annotations

import numpy as np
import pytest

from tabular.dream import dream_trajectory_seed
from tabular.measures import measure, table_bytes
from tabular.per_step import (
    _dream_tables,
    _rl2_tables,
    dream_per_step_seed,
    per_step_table_bytes,
    rl2_per_step_seed,
)
from tabular.reference_per_step import PerStepReference, run_reference
from tabular.rl2 import rl2_trajectory_seed
from tabular.rng import derive_key

KERNELS = {"rl2": rl2_per_step_seed, "dream": dream_per_step_seed}
BIG = 10**8


def _python(kernel):
    def run(*args):
        with np.errstate(over="ignore"):
            return tuple(int(x) for x in kernel.py_func(*args))

    return run


@pytest.fixture(params=["numba", "py_func"])
def impl(request):
    """``impl[method](A, H, epsilon, key, max_trials)``: the compiled kernels or their py_func."""
    if request.param == "numba":
        return KERNELS
    return {method: _python(kernel) for method, kernel in KERNELS.items()}


RL2_CAP = {(2, 1): 300, (3, 1): 300, (2, 2): 1000, (3, 2): 5000}


# ------------------------------------------------------------------ kernel == reference
@pytest.mark.parametrize("epsilon", [1.0, 0.5])
@pytest.mark.parametrize(("A", "H"), [(2, 1), (3, 1), (2, 2), (3, 2)])
def test_dream_matches_reference(impl, A, H, epsilon):
    for seed in range(12):
        key = derive_key(seed, A, H)
        t_greedy, t_event, t_guaranteed, trials_run, capped = impl["dream"](A, H, epsilon, key, BIG)
        assert capped == 0
        assert t_greedy == t_guaranteed
        assert trials_run == max(t_guaranteed, t_event)
        # run the reference well past the kernel's stopping point: no later non-optimal trial
        ref = run_reference("dream", A, H, epsilon, int(key), 2 * trials_run + 30)
        assert ref.T_greedy == t_greedy
        assert ref.T_optimal_to_end == t_guaranteed
        assert ref.T_event == t_event


@pytest.mark.parametrize("epsilon", [1.0, 0.5])
@pytest.mark.parametrize(("A", "H"), [(2, 1), (3, 1), (2, 2), (3, 2)])
def test_rl2_matches_reference(impl, A, H, epsilon):
    cap = RL2_CAP[A, H]
    reached = 0
    for seed in range(12 if H == 1 else 4):
        key = derive_key(seed, A, H)
        result = impl["rl2"](A, H, epsilon, key, cap)
        ref = run_reference("rl2", A, H, epsilon, int(key), cap)
        assert result == (ref.T_greedy, ref.T_event, -1, cap, 1)
        reached += ref.optimal[-1]
    assert reached > 0  # the comparison is not vacuous: greedy became optimal in some run


@pytest.mark.parametrize(
    ("method", "A", "H", "epsilon", "n"),
    [
        ("rl2", 2, 1, 0.5, 300),
        ("rl2", 3, 1, 1.0, 300),
        ("rl2", 2, 2, 1.0, 1000),
        ("dream", 3, 2, 1.0, 150),
        ("dream", 2, 2, 0.3, 150),
        ("dream", 2, 3, 0.5, 150),
    ],
)
def test_optimality_trace_matches_reference_trial_by_trial(method, A, H, epsilon, n):
    """With cap m the kernel's T_greedy is 1 + the last non-optimal trial <= m: check every m."""
    switches = 0
    for seed in range(3):
        key = derive_key(seed, A, H)
        ref = run_reference(method, A, H, epsilon, int(key), n)
        switches += sum(ref.optimal[t] != ref.optimal[t + 1] for t in range(n))
        for m in range(1, n + 1):
            t_greedy, t_event, _, trials_run, _ = KERNELS[method](A, H, epsilon, key, m)
            if trials_run < m:  # DREAM stopped early: the rest of the trace is optimal
                assert all(ref.optimal[trials_run:])
                break
            assert t_greedy == 1 + max(t for t in range(m + 1) if not ref.optimal[t])
            assert t_event == (ref.T_event if 0 < ref.T_event <= m else -1)
    assert switches > 0


# ---------------------------------------------------------------- per-step vs per-trajectory
@pytest.mark.parametrize("epsilon", [1.0, 0.7, 0.3, 0.1, 0.02])
@pytest.mark.parametrize("A", [2, 3, 5])
def test_dream_per_step_equals_per_trajectory_at_horizon_one(A, epsilon):
    for seed in range(200):
        key = derive_key(seed, A, 1)
        per_step = dream_per_step_seed(A, 1, epsilon, key, BIG)
        assert per_step == dream_trajectory_seed(A, 1, epsilon, key, BIG)
        assert per_step[4] == 0


@pytest.mark.parametrize(("A", "H"), [(2, 1), (3, 1), (2, 2), (3, 2), (2, 3)])
def test_dream_t_event_equal_across_learners_at_epsilon_one(A, H):
    later_than_event = 0
    for seed in range(100):
        key = derive_key(seed, A, H)
        step = dream_per_step_seed(A, H, 1.0, key, BIG)
        traj = dream_trajectory_seed(A, H, 1.0, key, BIG)
        assert step[4] == traj[4] == 0
        assert step[1] == traj[1]
        # the per-step condition implies the per-trajectory one (same sequences at epsilon = 1)
        assert step[2] >= traj[2]
        later_than_event += step[2] > step[1]
    if H == 1:
        assert later_than_event == 0
    else:  # stale targets: a node turns negative only when revisited after its subtree
        assert later_than_event > 0


@pytest.mark.parametrize(("A", "H"), [(2, 1), (3, 1), (2, 2), (3, 2), (2, 3)])
def test_rl2_t_event_equal_across_learners_at_epsilon_one(A, H):
    for seed in range(30):
        key = derive_key(seed, A, H)
        traj = rl2_trajectory_seed(A, H, 1.0, key, BIG)
        assert traj[4] == 0  # so T_event <= T_guaranteed = trials_run
        step = rl2_per_step_seed(A, H, 1.0, key, traj[3])
        assert step[1] == traj[1] > 0


def test_dream_small_epsilon_is_never_capped_and_consistent():
    for A, H in [(2, 2), (3, 2), (2, 3)]:
        for seed in range(50):
            r = dream_per_step_seed(A, H, 0.05, derive_key(seed, A, H), BIG)
            assert r[4] == 0 and r[0] == r[2] and r[3] == max(r[1], r[2])


# ------------------------------------------------------------------------------ RL²
@pytest.mark.parametrize("epsilon", [1.0, 0.2])
@pytest.mark.parametrize(("A", "H"), [(2, 1), (4, 1), (2, 2), (3, 2)])
def test_rl2_per_step_is_always_capped(A, H, epsilon):
    cap = 3000
    for seed in range(20):
        t_greedy, t_event, t_guaranteed, trials_run, capped = rl2_per_step_seed(
            A, H, epsilon, derive_key(seed, A, H), cap
        )
        assert (t_guaranteed, trials_run, capped) == (-1, cap, 1)
        assert 1 <= t_greedy <= cap + 1
        assert t_event == -1 or 1 <= t_event <= cap


@pytest.mark.parametrize(("A", "H"), [(2, 1), (3, 1), (2, 2)])
def test_rl2_no_certificate_adversarial_continuation(A, H):
    """After greedy is optimal (past T_event), a positive-probability continuation breaks it."""
    broken = 0
    for seed in range(4):
        ref = PerStepReference("rl2", A, H, 1.0, int(derive_key(seed, A, H)))
        while ref.trials < 20000 and not (ref.t_event > 0 and ref.greedy_optimal()):
            ref.play_trial()
        if not ref.greedy_optimal():
            continue
        off_path = (0,) * H  # an a != a_star; explored in problem 0, then exploit a_0
        for _ in range(50000):
            ref.play_trial(mu=0, exploration=off_path, exploitation=(0,) * H)
            if not ref.greedy_optimal():
                broken += 1
                break
        else:
            pytest.fail("the adversarial continuation did not break greedy optimality")
    assert broken > 0


# -------------------------------------------------------------------- invariants of proofs
@pytest.mark.parametrize(("A", "H", "epsilon"), [(2, 2, 1.0), (3, 2, 0.5), (2, 3, 0.3)])
def test_dream_sign_invariants(A, H, epsilon):
    for seed in range(5):
        ref = PerStepReference("dream", A, H, epsilon, int(derive_key(seed, A, H)))
        negative: set[tuple] = set()
        for _ in range(200):
            ref.play_trial()
            for s, row in ref.q_exp.items():
                assert all(v <= 0.0 for v in row)
                negative |= {(s, b) for b in range(A) if row[b] < 0.0}
            # negative values stay negative
            assert all(ref.q_exp[s][b] < 0.0 for s, b in negative)
            for s in ref.path_states():
                assert ref.values(ref.q_exp, s)[A - 1] == 0.0


@pytest.mark.parametrize(("A", "H", "epsilon"), [(2, 1, 1.0), (2, 2, 1.0), (3, 2, 0.5)])
def test_rl2_exploration_values_stay_below_one(A, H, epsilon):
    for seed in range(3):
        ref = PerStepReference("rl2", A, H, epsilon, int(derive_key(seed, A, H)))
        for _ in range(1500):
            ref.play_trial()
        assert all(0.0 <= v < 1.0 for row in ref.q_exp.values() for v in row)


# ---------------------------------------------------------------------- plumbing
def test_determinism_and_measure_entry_point():
    for method in ("rl2", "dream"):
        kwargs = {"learner": "per-step", "max_trials": 4000}
        frame = measure(method, 3, 2, 0.5, range(12), **kwargs)
        assert frame.equals(measure(method, 3, 2, 0.5, range(12), chunk_size=5, **kwargs))
        filled = frame.fillna({"T_greedy": -1, "T_event": -1, "T_guaranteed": -1})
        for row in filled.itertuples():
            key = derive_key(row.seed, 3, 2)
            r = KERNELS[method](3, 2, 0.5, key, 4000)
            assert r == KERNELS[method](3, 2, 0.5, key, 4000)
            got = (row.T_greedy, row.T_event, row.T_guaranteed, row.trials_run, int(row.capped))
            assert got == r
    frame = measure("rl2", 4, 1, 1.0, range(50), learner="per-step")
    assert frame["capped"].all() and frame["T_guaranteed"].isna().all()


@pytest.mark.parametrize(("A", "H"), [(2, 1), (3, 2), (2, 4), (5, 1)])
def test_table_bytes_match_allocations(A, H):
    for method, tables in (("rl2", _rl2_tables), ("dream", _dream_tables)):
        allocated = sum(a.nbytes for a in tables(A, H))
        assert per_step_table_bytes(method, A, H) == allocated
        assert table_bytes(method, "per-step", A, H) == allocated
    with pytest.raises(ValueError, match="not allowed"):
        per_step_table_bytes("ppo", 2, 1)
