"""The horizon-H bandit of App. C.2 as a meta-RL benchmark (deep/envs/bandit.py)."""

from __future__ import annotations

import functools
import itertools
import warnings
from fractions import Fraction

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from hypothesis import given, settings
from hypothesis import strategies as st

from deep.envs import NO_GOAL, make, reference_city, registered_names
from deep.envs import reference_values as rv
from deep.envs.bandit import (
    EXPLOIT,
    EXPLORE,
    BanditConfig,
    BanditEnv,
    BanditProblemFamily,
    BatchedBanditEnv,
    closed_form_values,
    exact_values,
    reference_table,
    reveals_all,
    scripted_exploration,
)
from tabular.bandit import BanditFamily

SMALL = [(2, 1), (3, 1), (2, 2), (3, 2)]


def _single(A=2, H=1, **kw):
    return make("bandit", A=A, H=H).make_env(**kw)


def _play(env, mu, goal, seq):
    """Reset ``env`` (unwrapped single env) and play ``seq``; return observations and rewards."""
    obs, _ = env.reset(options={"problem": mu, "goal": goal})
    observations, rewards = [tuple(obs.tolist())], []
    for i, a in enumerate(seq):
        obs, r, term, trunc, _ = env.step(a)
        observations.append(tuple(obs.tolist()))
        rewards.append(r)
        assert term == (i == len(seq) - 1) and not trunc
    return observations, rewards


def test_family_registration_splits_and_goals():
    assert "bandit" in registered_names()
    fam = make("bandit", A=3, H=2)
    assert isinstance(fam, BanditProblemFamily)
    assert (fam.n_problems, fam.n_goals, fam.config.horizon) == (9, 1, 2)
    for split in ("train", "test", "all"):
        assert fam.problem_ids(split).tolist() == list(range(9))
    trial = fam.sample_trial(np.random.default_rng(0), "test", n_exploit=3)
    assert trial.goals == (EXPLOIT,) * 3 and 0 <= trial.problem < 9
    assert fam.sample_goal(np.random.default_rng(1), 4) == EXPLOIT == 0 and EXPLORE == NO_GOAL
    assert BanditConfig(A=3, H=2) == BanditConfig(A=3, H=2, horizon=2)
    assert fam.bandit == BanditFamily(3, 2)
    seen = {t.problem for t in itertools.islice(make("bandit", A=4).trials(seed=5), 200)}
    assert seen == set(range(4))


@pytest.mark.parametrize(("A", "H"), [(2, 1), (5, 1), (3, 3)])
@pytest.mark.parametrize("render_mode", [None, "rgb_array"])
def test_check_env_no_warnings(A, H, render_mode):
    env = _single(A, H, render_mode=render_mode)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env.unwrapped)
        for goal in (None, EXPLOIT):  # both kinds of episode through the gym.make wrappers
            env.reset(seed=1, options={"goal": goal})
            for _ in range(H):
                env.step(env.action_space.sample())
    assert [str(w.message) for w in caught] == []


def test_seeded_rollout_is_deterministic():
    def rollout(seed):
        env = _single(3, 2)
        env.action_space.seed(seed)
        rng = np.random.default_rng(seed)
        out = []
        obs, info = env.reset(seed=seed)
        for _ in range(120):
            obs, r, term, trunc, info = env.step(env.action_space.sample())
            out.append((obs.tolist(), r, term, trunc, info["problem"], info["goal"]))
            if term or trunc:
                goal = None if rng.random() < 0.5 else EXPLOIT
                obs, info = env.reset(options={"goal": goal})
                out.append((obs.tolist(), info["problem"], info["goal"]))
        return out

    assert rollout(3) == rollout(3)
    assert rollout(3) != rollout(4)


@pytest.mark.parametrize(("A", "H"), [(2, 1), (3, 1), (2, 3), (3, 2)])
def test_batched_matches_single_step_for_step(A, H):
    fam = make("bandit", A=A, H=H)
    n, n_steps = 48, 150
    rng = np.random.default_rng(11)
    singles = [fam.make_env().unwrapped for _ in range(n)]
    batch = fam.make_batched(n)

    def draw(k):
        problems = rng.integers(fam.n_problems, size=k)
        problems[rng.random(k) < 0.3] = fam.n_problems - 1  # often the problem with a_mu = a*
        return problems, np.where(rng.random(k) < 0.5, EXPLORE, EXPLOIT)

    def reset_singles(idx, problems, goals):
        for i, p, g in zip(idx, problems, goals, strict=True):
            singles[i].reset(options={"problem": int(p), "goal": None if g == EXPLORE else int(g)})

    problems, goals = draw(n)
    obs_b = batch.reset(problems, goals)
    reset_singles(range(n), problems, goals)
    np.testing.assert_array_equal(obs_b, np.stack([e._obs() for e in singles]))
    revealed = rewarded = ends = 0
    for _ in range(n_steps):
        actions = rng.integers(A, size=n)
        actions[rng.random(n) < 0.5] = A - 1  # make a* (and a_mu for large mu) frequent
        active = rng.random(n) < 0.7
        actions[~active] = 99  # not validated where inactive
        before = batch._obs().copy()
        obs_b, rew_b, term_b, trunc_b = batch.step(actions, active=active)
        for i, env in enumerate(singles):
            if active[i]:
                o, r, te, tr, _ = env.step(int(actions[i]))
                np.testing.assert_array_equal(obs_b[i], o)
                assert (rew_b[i], term_b[i], trunc_b[i]) == (r, te, tr)
            else:
                np.testing.assert_array_equal(obs_b[i], before[i])
                assert (rew_b[i], term_b[i], trunc_b[i]) == (0.0, False, False)
        revealed += int((term_b & (obs_b[:, -1] > 0)).sum())
        rewarded += int((rew_b > 0).sum())
        ended = term_b | trunc_b
        ends += int(ended.sum())
        if ended.any():
            problems, goals = draw(int(ended.sum()))
            obs_b = batch.reset(problems, goals, mask=ended)
            reset_singles(np.flatnonzero(ended), problems, goals)
            np.testing.assert_array_equal(obs_b, np.stack([e._obs() for e in singles]))
    assert ends > n and revealed > 0 and rewarded > 0


@functools.cache
def _tabular_outcomes(A, H):
    """tabular.bandit's rollouts for every (phase, mu, sequence): (states, return)."""
    fam = BanditFamily(A, H)
    return {
        (phase, mu, seq): fam.rollout(fam.sequence(seq), mu, phase)
        for phase in ("exploration", "exploitation")
        for mu in range(fam.n_problems)
        for seq in range(fam.n_sequences)
    }


@settings(max_examples=25, deadline=None)
@given(A=st.integers(2, 4), H=st.integers(1, 3), data=st.data())
def test_envs_agree_with_tabular_bandit_for_every_problem_and_sequence(A, H, data):
    tab = BanditFamily(A, H)
    expected = _tabular_outcomes(A, H)
    k = tab.n_sequences
    mu, seq = (a.ravel() for a in np.meshgrid(np.arange(k), np.arange(k), indexing="ij"))
    actions = np.array([tab.sequence(int(s)) for s in seq])
    batch = BatchedBanditEnv(BanditConfig(A=A, H=H), k * k)
    for goal, phase in ((EXPLORE, "exploration"), (EXPLOIT, "exploitation")):
        states = [batch.reset(mu, goal)]
        ret = np.zeros(k * k)
        for t in range(H):
            obs, reward, term, trunc = batch.step(actions[:, t])
            assert term.all() == (t == H - 1) and not trunc.any()
            states.append(obs)
            ret += reward
        states = np.stack(states, axis=1)
        for i in range(k * k):
            tab_states, tab_ret = expected[(phase, int(mu[i]), int(seq[i]))]
            assert [tuple(s) for s in states[i].tolist()] == tab_states
            assert ret[i] == tab_ret
        # rewards exactly where the sequence is a_mu (exploitation), reveals exactly on a*
        if phase == "exploitation":
            np.testing.assert_array_equal(ret, (seq == mu).astype(float))
        else:
            assert not ret.any()
            np.testing.assert_array_equal(states[:, -1, -1], np.where(seq == k - 1, mu + 1, 0))
    # the single env (a wrapper of tabular's step) on one drawn (mu, sequence, phase)
    one_mu, one_seq = data.draw(st.integers(0, k - 1)), data.draw(st.integers(0, k - 1))
    phase = data.draw(st.sampled_from(["exploration", "exploitation"]))
    env = BanditEnv(BanditConfig(A=A, H=H))
    goal = None if phase == "exploration" else EXPLOIT
    observations, rewards = _play(env, one_mu, goal, tab.sequence(one_seq))
    tab_states, tab_ret = expected[(phase, one_mu, one_seq)]
    assert observations == tab_states and sum(rewards) == tab_ret
    assert rewards[:-1] == [0.0] * (H - 1)  # the reward comes on the last step only


def test_episodes_last_exactly_H_steps_and_ended_envs_raise():
    env = _single(3, 3).unwrapped
    env.reset(seed=0, options={"goal": None})
    for t in range(3):
        *_, term, trunc, info = env.step(2)
        assert (term, trunc, info["t"]) == (t == 2, False, t + 1)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)
    batch = BatchedBanditEnv(BanditConfig(A=3, H=2), 3)
    with pytest.raises(RuntimeError, match="env 0 has ended"):  # never reset
        batch.step(np.zeros(3, dtype=np.int64))
    batch.reset([0, 1, 2], EXPLOIT)
    batch.step(np.zeros(3, dtype=np.int64), active=np.array([True, False, True]))
    _, _, term, _ = batch.step(np.zeros(3, dtype=np.int64), active=np.array([True, False, True]))
    assert term.tolist() == [True, False, True] and batch.t.tolist() == [2, 0, 2]
    with pytest.raises(RuntimeError, match="env 2 has ended"):
        batch.step(np.zeros(3, dtype=np.int64), active=np.array([False, True, True]))
    batch.step(np.zeros(3, dtype=np.int64), active=np.array([False, True, False]))  # fine
    batch.reset(1, EXPLORE, mask=np.array([True, False, False]))
    assert batch.done.tolist() == [False, False, True] and batch.goal.tolist() == [-1, 0, 0]


@pytest.mark.parametrize(("A", "H"), [(2, 1), (3, 1), (2, 3), (3, 2), (4, 2)])
def test_reveals_all_exactly_for_a_star(A, H):
    cfg = BanditConfig(A=A, H=H)
    k = cfg.n_problems
    assert scripted_exploration(cfg) == [A - 1] * H == scripted_exploration(BanditFamily(A, H))
    # brute force: the problems whose exploration observations match mu's, with the env itself
    tab = BanditFamily(A, H)
    batch = BatchedBanditEnv(cfg, k)
    for seq in range(k):
        actions = tab.sequence(seq)
        obs = [batch.reset(np.arange(k), EXPLORE)]
        for a in actions:
            obs.append(batch.step(np.full(k, a))[0])
        traj = np.concatenate(obs, axis=1)
        for mu in range(k):
            consistent = np.flatnonzero((traj == traj[mu]).all(axis=1))
            identified = consistent.tolist() == [mu]
            assert reveals_all(cfg, mu, list(actions)) == identified == (seq == k - 1)
            assert reveals_all(make("bandit", A=A, H=H), mu, np.array(actions)) == identified
    star = [A - 1] * H
    assert reveals_all(cfg, 0, [*star, 0, 1])  # actions after the episode are ignored
    assert not reveals_all(cfg, 0, star[:-1])
    assert rv.reveals_all("bandit", k - 1, star, variant=f"A={A},H={H}")


def _one_line_value_error(case, named):
    with pytest.raises(ValueError) as err:
        case()
    message = str(err.value)
    assert "\n" not in message and "allowed" in message and named in message, message


def test_bad_inputs_are_one_line_and_name_the_value():
    fam = make("bandit", A=3, H=2)
    cases = [
        (lambda: make("bandit", A=1), "A=1"),
        (lambda: make("bandit", A=2.5), "A=2.5"),
        (lambda: make("bandit", H=0), "H=0"),
        (lambda: make("bandit", H=17), "H=17"),
        (lambda: make("bandit", A=2, H=1, horizon=5), "horizon=5"),
        (lambda: make("bandit", A=64, H=4), "16777216"),
        (lambda: make("bandit", variant="paper"), "'variant'"),
        (lambda: fam.problem_ids("valid"), "'valid'"),
        (lambda: fam.make_batched(0), "0"),
        (lambda: fam.make_env().reset(options={"problem": 9}), "9"),
        (lambda: fam.make_env().reset(options={"problem": -1}), "-1"),
        (lambda: fam.make_env().reset(options={"goal": 1}), "goal 1"),
        (lambda: fam.make_env().reset(options={"goal": -2}), "goal -2"),
        (lambda: fam.make_env().reset(options={"phase": "exploration"}), "'phase'"),
        (lambda: BanditEnv(fam.config, render_mode="human"), "'human'"),
        (lambda: fam.make_batched(2).reset([0, 9], EXPLORE), "9"),
        (lambda: fam.make_batched(2).reset([0, 1], [0, 1]), "goal 1"),
        (lambda: fam.make_batched(2).reset([0.5, 1], EXPLORE), "0.5"),
        (lambda: fam.make_batched(2).reset([0, 1, 2], EXPLORE), "(3,)"),
        (lambda: fam.make_batched(2).reset(0, EXPLORE, mask=[1, 0]), "int"),
        (lambda: reveals_all(fam, 9, [2, 2]), "9"),
        (lambda: reveals_all(fam, 0, [2, 3]), "action 3"),
        (lambda: reveals_all("bandit", 0, [2, 2]), "'bandit'"),
        (lambda: rv.reveals_all("bandit", 0, [2, 2]), "'paper'"),
        (lambda: exact_values(BanditConfig(A=2, H=9)), "512"),
        (lambda: reference_table(3, 1, "valid"), "'valid'"),
        (lambda: rv.reference_table("bandit", "A=7,H=1", "all"), "'A=7,H=1'"),
    ]
    for case, named in cases:
        _one_line_value_error(case, named)
    env = fam.make_env()
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action 3 is outside"):
        env.step(3)
    batch = fam.make_batched(3)
    batch.reset([0, 1, 2], EXPLORE)
    with pytest.raises(ValueError, match=r"action 3 is outside.*0\.\.2"):
        batch.step(np.array([0, 3, 1]))
    with pytest.raises(ValueError, match="action -1 is outside"):
        batch.step(np.array([0, -1, 1]), active=np.array([False, True, False]))
    for bad, named in [(np.array([0, 1]), "(2,)"), (np.array([0.0, 1.0, 2.0]), "float64")]:
        _one_line_value_error(lambda bad=bad: batch.step(bad), named)
    _one_line_value_error(lambda: batch.step(np.zeros(3, int), active=np.ones(2, bool)), "(2,)")
    assert batch.t.tolist() == [0, 0, 0]  # failed calls changed nothing


@pytest.mark.parametrize("A", range(2, 7))
def test_reference_values_h1(A):
    row = reference_table(A, 1).iloc[0]
    assert list(row.index) == list(reference_city.reference_table("vanilla_bus", "paper", "all"))
    assert (row["benchmark"], row["variant"], row["split"], row["n_problems"]) == (
        "bandit",
        f"A={A},H=1",
        "all",
        A,
    )
    assert row["optimal"] == row["optimal_after_exploration"] == 1.0
    assert row["no_exploration"] == pytest.approx(1 / A)
    # One pull reveals μ iff it is a★; otherwise the posterior stays uniform, where every
    # exploitation (Bayes-optimal or a posterior sample) wins with chance 1/A, and a one-pull
    # episode cannot redraw: the three readings agree.
    assert row["pearl_ub"] == pytest.approx((2 * A - 1) / A**2)
    assert row["pearl_ub_sampled"] == row["pearl_ub_redraw"] == row["pearl_ub"]
    assert row["no_exploration"] < row["pearl_ub"] < row["optimal_after_exploration"]
    table = rv.reference_table("bandit", f"A={A},H=1", "all")
    assert table.equals(reference_table(A, 1, "all"))


@pytest.mark.parametrize(("A", "H"), [(2, 1), (3, 1), (2, 2), (4, 2), (2, 4), (3, 3)])
def test_enumeration_equals_closed_forms(A, H):
    values = exact_values(BanditConfig(A=A, H=H))
    assert values == closed_form_values(BanditConfig(A=A, H=H))
    k = A**H
    assert values["pearl_ub"] == Fraction(1, k) + Fraction(k - 1, k) * Fraction(1, k)
    assert values["pearl_ub_sampled"] == values["pearl_ub_redraw"] == values["pearl_ub"]


def test_large_k_uses_closed_forms():
    row = reference_table(2, 10).iloc[0]
    assert row["n_problems"] == 1024 and row["no_exploration"] == 1 / 1024


@pytest.mark.parametrize(("A", "H"), SMALL)
def test_no_exploration_is_1_over_k_by_brute_force_on_the_single_env(A, H):
    env = _single(A, H).unwrapped
    k = A**H
    best = 0.0
    for seq in itertools.product(range(A), repeat=H):  # every fixed exploitation sequence
        wins = sum(sum(_play(env, mu, EXPLOIT, seq)[1]) for mu in range(k))
        assert wins == 1  # each sequence is a_mu for exactly one mu
        best = max(best, wins / k)
    assert best == reference_table(A, H).iloc[0]["no_exploration"] == 1 / k


@pytest.mark.parametrize(("A", "H"), [(2, 1), (3, 1), (2, 2)])
def test_pearl_ub_matches_a_simulation_of_thompson_sampling(A, H):
    """TS trials in the batched env: explore with a_mu', exploit with a_mu'' ~ posterior."""
    cfg, k, n = BanditConfig(A=A, H=H), A**H, 20_000
    tab = BanditFamily(A, H)
    rng = np.random.default_rng(A * 10 + H)
    digits = np.array([tab.sequence(s) for s in range(k)])
    batch = BatchedBanditEnv(cfg, n)
    mu = rng.integers(k, size=n)
    sample = rng.integers(k, size=n)
    batch.reset(mu, EXPLORE)
    for t in range(H):
        obs, *_ = batch.step(digits[sample, t])
    # posterior: a revealed mu is known; otherwise every problem is still possible
    exploit = np.where(obs[:, -1] > 0, obs[:, -1] - 1, rng.integers(k, size=n))
    batch.reset(mu, EXPLOIT)
    ret = np.zeros(n)
    for t in range(H):
        ret += batch.step(digits[exploit, t])[1]
    expected = reference_table(A, H).iloc[0]["pearl_ub"]
    assert abs(ret.mean() - expected) < 4 * np.sqrt(expected * (1 - expected) / n)


def test_reference_values_aggregator_has_the_bandit_rows():
    table = rv.all_reference_tables(["bandit"])
    assert table["variant"].tolist() == [f"A={a},H=1" for a in range(2, 7)]
    assert table["split"].tolist() == ["all"] * 5


def test_render_rgb_frame():
    env = _single(3, 2, render_mode="rgb_array")
    env.reset(seed=0, options={"problem": 8, "goal": None})
    frames = [env.render()]
    assert frames[0].dtype == np.uint8 and frames[0].ndim == 3 and frames[0].shape[2] == 3
    for _ in range(2):
        env.step(2)  # a*: reveals mu
        frames.append(env.render())
    assert not np.array_equal(frames[0], frames[1]) and not np.array_equal(frames[1], frames[2])
    env.reset(options={"problem": 8, "goal": EXPLOIT})
    env.step(2)
    env.step(2)  # a_8 = (2, 2): paid
    paid = env.render()
    env.reset(options={"problem": 8, "goal": EXPLOIT})
    env.step(0)
    env.step(2)
    assert not np.array_equal(paid[-1], env.render()[-1])  # status strip differs
    assert _single(3, 2).unwrapped.render() is None
