"""Per-trajectory kernels vs. the literal reference, seed for seed, jitted and as Python."""

from __future__ import annotations

import numpy as np
import pytest

from tabular.bandit import BanditFamily
from tabular.dream import dream_trajectory_seed
from tabular.measures import measure
from tabular.reference import ReferenceLearner
from tabular.rl2 import rl2_trajectory_seed
from tabular.rng import derive_key, draw, splitmix64_reference, uniform

KERNELS = {"rl2": rl2_trajectory_seed, "dream": dream_trajectory_seed}


@pytest.fixture(params=["jit", "py_func"])
def variant(request):
    """Run each kernel test through the compiled kernel and through its Python source."""

    def get(method):
        kernel = KERNELS[method]
        if request.param == "jit":
            return kernel

        def run(*args):
            with np.errstate(over="ignore"):
                return kernel.py_func(*args)

        return run

    return get


def test_rng_matches_plain_python():
    key = derive_key(7, 3, 2)
    for counter in [0, 1, 2, 1000, 123456789]:
        assert uniform(key, counter) == splitmix64_reference(int(key), counter)
    assert 0.0 <= draw(key, 5, 3) < 1.0


CASES = [
    ("rl2", 2, 1, 1.0),
    ("rl2", 3, 1, 1.0),
    ("rl2", 3, 1, 0.5),
    ("rl2", 2, 2, 1.0),
    ("rl2", 2, 1, 0.3),
    ("dream", 2, 1, 1.0),
    ("dream", 4, 1, 1.0),
    ("dream", 4, 1, 0.5),
    ("dream", 2, 2, 1.0),
    ("dream", 3, 2, 0.3),
]


@pytest.mark.parametrize(("method", "A", "H", "epsilon"), CASES)
def test_kernel_matches_reference(variant, method, A, H, epsilon):
    """Certified kernel measures equal the literal reference's, run well past the certificate."""
    fam = BanditFamily(A, H)
    for seed in range(8):
        key = derive_key(seed, A, H)
        t_greedy, t_event, t_guaranteed, trials, capped = variant(method)(A, H, epsilon, key, 10**6)
        assert capped == 0
        ref = ReferenceLearner(method, fam, epsilon, int(key))
        window = 2 * trials + 40
        out = ref.run(window)
        assert t_greedy == out["T_greedy"], (seed, t_greedy, out)
        assert t_event == out["T_event"], (seed, t_event, out)
        assert t_guaranteed == out["T_certificate"], (seed, t_guaranteed, out)


@pytest.mark.parametrize("method", ["rl2", "dream"])
def test_kernel_reports_cap(variant, method):
    key = derive_key(0, 4, 1)
    t_greedy, _, t_guaranteed, trials, capped = variant(method)(4, 1, 1.0, key, 3)
    assert capped == 1 and trials == 3 and t_guaranteed == -1
    assert 1 <= t_greedy <= 4


def test_relations_pathwise_many_seeds():
    """The orderings the proofs imply, on every seed (Prop. 2, App. C.2)."""
    for A in (2, 3, 5, 8):
        d = measure("dream", A, 1, 1.0, range(300))
        assert not d.capped.any()
        assert (d.T_greedy == d.T_guaranteed).all()
        assert (d.T_guaranteed <= d.T_event).all()
        r = measure("rl2", A, 1, 1.0, range(300))
        assert not r.capped.any()
        assert (r.T_greedy <= r.T_guaranteed).all()
        assert (r.T_event <= r.T_guaranteed).all()
        # common random numbers: at epsilon = 1 both methods saw the same problems/sequences,
        # and DREAM's certificate needs no exploitation coupon, so it is never later than RL²'s.
        assert (d.T_guaranteed.to_numpy() <= r.T_guaranteed.to_numpy()).mean() > 0.95


def test_same_seed_same_numbers_and_seed_matters():
    a = measure("rl2", 4, 1, 1.0, range(20))
    b = measure("rl2", 4, 1, 1.0, range(20))
    assert a.equals(b)
    c = measure("rl2", 4, 1, 1.0, range(20, 40))
    assert not np.array_equal(a.T_event.to_numpy(), c.T_event.to_numpy())


def test_chunking_does_not_change_results():
    full = measure("dream", 5, 1, 0.5, range(64))
    chunked = measure("dream", 5, 1, 0.5, range(64), chunk_size=7)
    assert full.equals(chunked)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"method": "ppo"}, "method='ppo'"),
        ({"A": 1}, "A=1"),
        ({"H": 0}, "H=0"),
        ({"epsilon": 1.5}, "epsilon=1.5"),
        ({"epsilon": 0.0}, "epsilon=0.0"),
        ({"seeds": [-1]}, "seed=-1"),
        ({"seeds": []}, "seeds=[]"),
        ({"A": 16, "H": 4, "method": "rl2"}, "GiB"),
    ],
)
def test_bad_input_one_line_error(kwargs, fragment):
    args = {"method": "rl2", "A": 4, "H": 1, "epsilon": 1.0, "seeds": [0]} | kwargs
    with pytest.raises(ValueError) as info:
        measure(
            args.pop("method"), args.pop("A"), args.pop("H"), args.pop("epsilon"), args.pop("seeds")
        )
    message = str(info.value)
    assert fragment in message and "\n" not in message


def test_bandit_family_mdp():
    fam = BanditFamily(3, 2)
    assert fam.n_sequences == fam.n_problems == 9
    assert (
        fam.informative_sequence == (2, 2) and fam.sequence_index((2, 2)) == fam.informative_index
    )
    for mu in range(9):
        assert fam.sequence_index(fam.rewarded_sequence(mu)) == mu
        states, ret = fam.rollout(fam.informative_sequence, mu, "exploration")
        assert states[-1] == (2, 3, 3, mu + 1) and ret == 0.0
        _, ret = fam.rollout(fam.rewarded_sequence(mu), mu, "exploitation")
        assert ret == 1.0
        for other in range(9):
            states, ret = fam.rollout(fam.sequence(other), mu, "exploitation")
            assert ret == float(other == mu) and states[-1][-1] == 0
    table = fam.transition_table(4, "exploration")
    assert len(table) == 1 + 3  # internal states: root + 3 depth-1 prefixes
    with pytest.raises(ValueError, match="action 3"):
        fam.step(fam.initial_state(), 3, 0, "exploration")
    with pytest.raises(ValueError, match="problem ID 9"):
        fam.step(fam.initial_state(), 0, 9, "exploration")
