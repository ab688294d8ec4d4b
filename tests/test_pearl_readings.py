"""PEARL-UB under its three readings (deep/envs/reference_city.py, reference_cooking.py).

``pearl_ub`` (the line drawn): Thompson-sampling (TS) exploration with one sample per episode,
then the Bayes-optimal exploitation policy for the posterior. ``pearl_ub_sampled`` (per
episode): the sample is drawn once per episode, in both episodes, and followed to the end of
it, even when observations contradict it. ``pearl_ub_redraw``: the sample is redrawn from the
posterior as soon as an observation rules it out. The exact values are checked by hand on the
vanilla bus, against the sandwich no_exploration ≤ pearl_ub ≤ optimal, and against direct
Monte Carlo simulations in the batched envs.
"""

from __future__ import annotations

import numpy as np
import pytest

from deep.envs import reference_city as rci
from deep.envs import reference_cooking as rco
from deep.envs.city import BatchedCityEnv
from deep.envs.cooking import BatchedCookingEnv
from deep.envs.problem import NO_GOAL


def _mc_check(returns: np.ndarray, exact: float, n_se: float = 4.0) -> None:
    """The simulated mean agrees with the exact value within ``n_se`` standard errors."""
    se = returns.std(ddof=1) / np.sqrt(len(returns))
    assert abs(returns.mean() - exact) < n_se * se + 1e-9, (returns.mean(), exact, se)


def _restart(env, problems: np.ndarray, goals: np.ndarray) -> None:
    """Reset the envs whose episode has ended (the batched envs refuse to step them)."""
    done = env.done.copy()
    if done.any():
        env.reset(problems[done], goals[done], mask=done)


def _play(env, problems, goals, act) -> np.ndarray:
    """Total reward of one episode per env; ``act(t)`` gives the actions of every env."""
    env.reset(problems, goals)
    total = np.zeros(env.num_envs)
    ended = np.zeros(env.num_envs, dtype=bool)
    for t in range(env.config.horizon):
        _, reward, terminated, truncated = env.step(act(t))
        total += np.where(ended, 0.0, reward)
        ended |= terminated | truncated
        if ended.all():
            break
        _restart(env, problems, goals)  # finished envs idle (their rewards are ignored)
    return total


# --- the city --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["vanilla_bus", "map"])
def test_per_episode_hand_value_on_the_vanilla_bus_and_map(name):
    """Per-episode TS on the bus (and map, whose map π* never visits) is −0.6 exactly.

    Exploring with π*(μ', g') rides the central bus c that μ' sends to g'. If μ is right
    (1/4) the goal is reached; otherwise the bus lands at another goal-side stop d, from
    which μ' says "ride back, walk 2, ride c" (5 steps) beats walking (7 to 9); in μ the
    ride from d returns to c (the pair is symmetric), and the agent loops c ↔ d. Either way
    exactly one pairing (c, μ(c)) is known. Exploiting with μ'' uniform over the posterior
    reaches g (0.8) iff μ'' pairs g's stop correctly: probability 1 if it is the known one
    (1/4), else 1/3 (3/4): 1/2 in all. A wrong pairing loops the same way: −2.0 (20 steps of
    −0.1). So 0.5 · 0.8 + 0.5 · (−2.0) = −0.6.
    """
    m = rci._model(name, "paper")
    problems = m.family.problem_ids("all")
    returns = rci.exploitation_returns(name, "paper", problems)
    assert set(np.round(returns, 9).ravel().tolist()) == {0.8, -2.0}  # reach at once, or loop
    assert rci.pearl_ub_sampled_value(name, "paper", "all") == pytest.approx(-0.6, abs=1e-12)
    assert rci.pearl_ub_redraw_value(name, "paper", "all") == pytest.approx(0.7, abs=1e-12)


@pytest.mark.parametrize("name", ["vanilla_bus", "map"])
def test_bayes_after_thompson_hand_value_on_the_vanilla_bus_and_map(name):
    """TS exploration then Bayes-optimal exploitation is 0.5 exactly on the bus and map.

    Exploring with π*(μ', g') rides one central bus c: to g' if μ' is right there, else to
    another goal-side stop d, whence it loops c ↔ d. Either way exactly one pairing (c, μ(c))
    is known, and the posterior B is the 3! = 6 problems that share it (π* never visits the
    map). Exploitation, goal g uniform:

    * g's stop is the known one (1/4): ride it, the goal at step 3: 0.8.
    * otherwise (3/4): walking takes 8 steps (0.3); better, ride an unknown bus (step 2). With
      1/3 it goes to g (step 3: 0.8). Otherwise ride back (step 3), walk 2 to another unknown
      stop and ride it (step 6): 1/2 to g (step 7: 0.4), else back (7), walk 2, ride the last
      one (10), g at step 11 (0.0); walking from a wrong corner is no better (7 or 9 steps).
      So 1/3 · 0.8 + 2/3 · (1/2 · 0.4 + 1/2 · 0.0) = 0.4.

    In all 1/4 · 0.8 + 3/4 · 0.4 = 0.5, between no exploration (0.3) and optimal (0.8).
    """
    m = rci._model(name, "paper")
    c = m.bus_cells[np.flatnonzero(m.ride[0, m.bus_cells] != m.ride[1, m.bus_cells])[0]]
    known = tuple(int(p) for p in np.flatnonzero(m.ride[:, c] == m.ride[0, c]))
    assert len(known) == 6
    goal_of_d = int(np.argmin([m.dist_to_goal[0, g, m.ride[0, c]] for g in range(4)]))
    for g in range(4):
        value = rci._BeliefPlanner(m, g).value(0, m.start, known)
        assert value == pytest.approx(0.8 if g == goal_of_d else 0.4, abs=1e-12)
    assert rci.pearl_ub_value(name, "paper", "all") == pytest.approx(0.5, abs=1e-12)


def test_city_rollout_continues_from_the_true_bus_destination():
    """A wrong sample's bus ride lands where the true μ sends it, and π* goes on from there."""
    m = rci._model("vanilla_bus", "paper")
    bus = m.bus_cells
    wrong = next(mu for mu in range(1, 24) if m.ride[mu, 49] != m.ride[0, 49])
    cells, steps = m.rollout(np.array([0, wrong]), 0, 0)
    assert cells[0, 2] == m.ride[0, 49] and cells[1, 2] == m.ride[wrong, 49]
    assert steps[0] == 3 and np.isinf(steps[1])
    assert set(cells[1, 2:].tolist()) <= set(bus.tolist())  # it keeps riding buses


def test_city_per_episode_with_a_known_problem_is_optimal():
    """With a one-problem prior the sample is always right: per-episode TS returns V*."""
    m = rci._model("distracting_bus", "paper")
    for mu in (0, 100, 575):
        assert rci.per_episode_thompson_value(m, (mu,)) == pytest.approx(0.8)


def _city_posteriors(name: str, split: str, n: int, seed: int, train_split=None):
    """Simulated TS exploration in BatchedCityEnv: the posterior of each of ``n`` trials.

    The true μ and the sample are uniform over the split, g' uniform; the posterior is the
    problems of the split whose exploration observation sequences (same feedback policy,
    stopping at g') equal the true problem's. Returns (problems, true index, posterior mask).
    """
    m = rci._model(name, "paper", train_split)
    problems = m.family.problem_ids(split)
    rng = np.random.default_rng(seed)
    true_i = rng.integers(len(problems), size=n)
    sample = problems[rng.integers(len(problems), size=n)]
    g_exp = rng.integers(4, size=n)
    k = len(problems)
    env = BatchedCityEnv(m.family.config, n * k)
    nu, s, ge = np.tile(problems, n), np.repeat(sample, k), np.repeat(g_exp, k)
    seen = [env.reset(nu, NO_GOAL)]
    active = np.ones(n * k, dtype=bool)
    goal_cell = np.asarray(m.goal_cells)[ge]
    for _ in range(m.horizon):
        obs = env.step(m.policy[s, ge, env.pos])[0]
        seen.append(np.where(active[:, None], obs, -1))
        active &= env.pos != goal_cell  # the exploration stops at g'
    seq = np.concatenate(seen, axis=1).reshape(n, k, -1)
    same = (seq == seq[np.arange(n), true_i][:, None, :]).all(axis=2)  # posterior (n, k)
    return problems, true_i, same


def _simulate_city(name: str, split: str, n: int, seed: int, train_split=None) -> np.ndarray:
    """Exploitation returns of per-episode TS in ``n`` simulated trials of BatchedCityEnv.

    The posterior comes from the env's own observations (:func:`_city_posteriors`); the
    exploitation sample is drawn from it once and π* of it followed for the whole episode.
    """
    m = rci._model(name, "paper", train_split)
    problems, true_i, same = _city_posteriors(name, split, n, seed, train_split)
    rng = np.random.default_rng(seed + 1000)
    g = rng.integers(4, size=n)
    pick = np.array([rng.choice(np.flatnonzero(row)) for row in same])
    mu, mu2 = problems[true_i], problems[pick]
    play = BatchedCityEnv(m.family.config, n)
    return _play(play, mu, g, lambda t: m.policy[mu2, g, play.pos])


@pytest.mark.parametrize(
    ("name", "split", "train_split"),
    [("vanilla_bus", "all", None), ("map", "all", None), ("distracting_bus", "train", "stride11")],
)
def test_city_per_episode_matches_a_simulation(name, split, train_split):
    returns = _simulate_city(name, split, 3000, seed=1, train_split=train_split)
    _mc_check(returns, rci.pearl_ub_sampled_value(name, "paper", split, train_split))


@pytest.mark.parametrize(
    ("name", "split", "train_split"),
    [
        ("vanilla_bus", "all", None),
        ("map", "all", None),
        ("distracting_bus", "train", None),
        ("distracting_bus", "train", "stride11"),
        pytest.param("distracting_bus", "test", None, marks=pytest.mark.slow),  # ~7 s each
        pytest.param("distracting_bus", "test", "stride11", marks=pytest.mark.slow),
    ],
)
def test_city_per_episode_is_below_redraw(name, split, train_split):
    """Holds on every city (it need not in general: looping can also reveal buses)."""
    episode = rci.pearl_ub_sampled_value(name, "paper", split, train_split)
    redraw = rci.pearl_ub_redraw_value(name, "paper", split, train_split)
    assert -2.0 <= episode <= redraw <= 0.8 + 1e-12
    assert episode < rci.no_exploration_value(name, "paper", split, train_split)


@pytest.mark.parametrize(
    ("name", "variant", "split", "train_split"),
    [
        ("vanilla_bus", "paper", "all", None),
        ("map", "paper", "all", None),
        ("distracting_bus", "paper", "train", None),
        ("distracting_bus", "paper", "train", "stride11"),
        ("distracting_bus", "paper", "test", "stride11"),
        ("vanilla_bus", "official", "all", None),
        ("map", "official", "all", None),
        pytest.param("distracting_bus", "paper", "test", None, marks=pytest.mark.slow),
        pytest.param("distracting_bus", "official", "train", None, marks=pytest.mark.slow),
        pytest.param("distracting_bus", "official", "test", None, marks=pytest.mark.slow),
    ],
)
def test_city_bayes_after_thompson_is_sandwiched(name, variant, split, train_split):
    """no_exploration ≤ pearl_ub ≤ optimal, and pearl_ub ≥ pearl_ub_sampled (same
    exploration, and Bayes-optimal exploitation beats following one posterior sample)."""
    m = rci._model(name, variant, train_split)
    optimal = float(rci.optimal_values(name, variant)[m.family.problem_ids(split)].mean())
    value = rci.pearl_ub_value(name, variant, split, train_split)
    none = rci.no_exploration_value(name, variant, split, train_split)
    assert none - 1e-12 <= value <= optimal + 1e-12
    assert value >= rci.pearl_ub_sampled_value(name, variant, split, train_split) - 1e-12


def test_city_bayes_after_thompson_with_a_known_problem_is_optimal():
    """With a one-problem prior the posterior is that problem: V*."""
    m = rci._model("distracting_bus", "paper")
    for mu in (0, 100, 575):
        assert rci.bayes_after_thompson_value(m, (mu,)) == pytest.approx(0.8)


@pytest.mark.parametrize(
    ("name", "split", "train_split"),
    [("vanilla_bus", "all", None), ("distracting_bus", "train", "stride11")],
)
def test_city_bayes_after_thompson_matches_a_simulated_exploration(name, split, train_split):
    """Exploration simulated in the env; each trial scores the exact Bayes-optimal
    exploitation value of its posterior (the belief planner, mean over the goal)."""
    m = rci._model(name, "paper", train_split)
    problems, _, same = _city_posteriors(name, split, 3000, seed=3, train_split=train_split)
    planners = [rci._BeliefPlanner(m, g) for g in range(4)]
    cache: dict[tuple[int, ...], float] = {}
    returns = []
    for row in same:
        belief = tuple(problems[row].tolist())
        if belief not in cache:
            cache[belief] = float(np.mean([p.value(0, m.start, belief) for p in planners]))
        returns.append(cache[belief])
    _mc_check(np.asarray(returns), rci.pearl_ub_value(name, "paper", split, train_split))


def test_city_reference_table_has_the_three_readings():
    row = rci.reference_table("vanilla_bus", "paper", "all").iloc[0]
    assert row["pearl_ub"] == pytest.approx(0.5)
    assert row["pearl_ub_sampled"] == pytest.approx(-0.6)
    assert row["pearl_ub_redraw"] == pytest.approx(0.7)


# --- cooking ---------------------------------------------------------------------------------


def test_class_pairs_lists_every_pair_within_a_class():
    labels = np.array([2, 0, 2, 1, 0, 2])
    i, j = rco._class_pairs(labels)
    expected = {(a, b) for a in range(6) for b in range(6) if labels[a] == labels[b]}
    assert sorted(zip(i.tolist(), j.tolist(), strict=True)) == sorted(expected)


def test_covering_model_extends_the_model_without_changing_it():
    """Every problem has a policy at every reachable agent state; on the states of the plain
    model, values and actions are unchanged."""
    base, cover = rco.cooking_model("cooking"), rco.covering_model("cooking")
    idx = np.searchsorted(cover.keys, base.keys)
    assert np.array_equal(cover.keys[idx], base.keys)
    assert np.array_equal(cover.policy[:, idx], base.policy)
    assert np.array_equal(cover.value[:, idx], base.value)
    assert (cover.low_id[idx] >= 0).all()  # every reachable agent state has its row
    assert np.array_equal(cover.keys[cover.agent_index] & rco._LOW_MASK, np.broadcast_to(
        cover.agent_lows, cover.agent_index.shape))  # fmt: skip


def test_cooking_per_episode_keeps_a_wrong_sample():
    """μ = 11 holds (3, 2, 0) in its fridges; the sample μ'' = 15 holds (3, 3, 0). For the
    recipe (3, 3), π*(15) picks up at the middle fridge, and keeps picking up the 2 it gets:
    every pick-up costs −0.35, and the episode ends far below V*."""
    m = rco.covering_model("cooking")
    col = 4 * 3 + 3
    returns = rco._exploitation_returns(m, col)
    assert returns[11, 15] < -5.0
    for col in (0, 6, 15):  # a right sample is optimal
        members = np.flatnonzero(m.goal_probs[:, col] > 0)
        returns = rco._exploitation_returns(m, col)
        np.testing.assert_allclose(
            np.diag(returns)[members], m.optimal_values()[members, col], atol=1e-12
        )


def _simulate_cooking(split: str, n: int, seed: int) -> np.ndarray:
    """Exploitation returns of per-episode TS in ``n`` simulated trials of BatchedCookingEnv.

    π*(ν, g) is looked up at the env's actual (cell, inventory, stage) in the covering
    model; exploration runs with goal g' (so it ends when that recipe is done, as in the
    model); the posterior is every μ of the family with the same observations and ends.
    """
    m = rco.covering_model("cooking")
    fam, k = m.family, m.family.n_problems
    rng = np.random.default_rng(seed)
    split_ids = fam.problem_ids(split)
    mu = split_ids[rng.integers(len(split_ids), size=n)]
    sample = rng.integers(k, size=n)
    g_exp = np.array([rng.choice(16, p=m.goal_probs[s]) for s in sample])
    g = np.array([rng.choice(16, p=m.goal_probs[u]) for u in mu])

    def policy(env, t, problem, goal):
        key = rco._encode(problem, goal, env.pos, env.inventory, env.stage)
        idx = np.searchsorted(m.keys, key)
        assert np.array_equal(m.keys[idx], key)  # the covering model has every such state
        return m.policy[t, idx]

    env = BatchedCookingEnv(m.config, n * k)
    nu, s, ge = np.tile(np.arange(k), n), np.repeat(sample, k), np.repeat(g_exp, k)
    seen = [env.reset(nu, ge)]
    active = np.ones(n * k, dtype=bool)
    for t in range(m.horizon):
        obs, _, terminated, _ = env.step(policy(env, t, s, ge))
        seen.append(np.where(active[:, None], np.c_[obs, terminated], -1))
        active &= ~terminated  # the exploration stops when the recipe g' is done
        _restart(env, nu, ge)
    seq = np.concatenate([x.reshape(n * k, -1) for x in seen], axis=1).reshape(n, k, -1)
    same = (seq == seq[np.arange(n), mu][:, None, :]).all(axis=2)
    pick = []
    for row, goal in zip(same, g, strict=True):
        w = np.where(row, m.goal_probs[:, goal], 0.0)
        pick.append(rng.choice(k, p=w / w.sum()))
    mu2 = np.array(pick)
    play = BatchedCookingEnv(m.config, n)
    return _play(play, mu, g, lambda t: policy(play, t, mu2, g))


def test_cooking_per_episode_matches_a_simulation():
    returns = _simulate_cooking("train", 3000, seed=2)
    _mc_check(returns, rco.pearl_ub_sampled_value("cooking", "train"))


def test_cooking_per_episode_is_below_redraw_on_a_short_horizon():
    for h in (6, 10):
        episode = rco.pearl_ub_sampled_value("cooking", "test", horizon=h)
        redraw = rco.pearl_ub_redraw_value("cooking", "test", horizon=h)
        assert -0.35 * h <= episode <= redraw


@pytest.mark.parametrize("h", [6, 10])
def test_cooking_bayes_after_thompson_is_sandwiched_on_a_short_horizon(h):
    """no_exploration ≤ pearl_ub ≤ optimal and pearl_ub ≥ pearl_ub_sampled (μ = 11)."""
    m = rco.cooking_model("cooking", h)
    ids = m.family.problem_ids("test")
    optimal = float((m.optimal_values()[ids] * m.goal_probs[ids]).sum(axis=1).mean())
    value = rco.pearl_ub_value("cooking", "test", horizon=h)
    assert rco.no_exploration_value("cooking", "test", horizon=h) - 1e-12 <= value
    assert value <= optimal + 1e-12
    assert value >= rco.pearl_ub_sampled_value("cooking", "test", horizon=h) - 1e-12


def test_cooking_bayes_after_thompson_on_the_plain_and_covering_models_agree():
    """The Bayes-optimal exploitation only visits reachable states: the covering model's extra
    states change nothing (the exploration classes need the covering model's policy tables)."""
    cover, plain = rco.covering_model("cooking", 6), rco.cooking_model("cooking", 6)
    ids = cover.family.problem_ids("test")
    bayes = rco.bayes_after_thompson_value(cover, ids)
    solver = rco._NoExploration(plain)
    total = 0.0
    for weight, labels in rco._exploration_classes(cover):
        members = np.flatnonzero(labels == labels[ids[0]])
        for col, pg in enumerate(plain.goal_probs[ids[0]]):
            if pg > 0:
                w = plain.goal_probs[members, col]
                idx = plain.start_index[members[w > 0], col]
                true = int(np.flatnonzero(idx == plain.start_index[ids[0], col])[0])
                total += weight * pg * solver.evaluate(0, idx, w[w > 0], true)
    assert bayes == pytest.approx(total, abs=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("stage_reward", ["replace", "add"])
def test_cooking_per_episode_is_below_redraw_and_no_exploration(stage_reward):
    """The full tables (~1 min per reading: the redraw reading of the train split)."""
    for split in ("train", "test"):
        row = rco.reference_table("cooking", split, stage_reward).iloc[0]
        assert -0.35 * 20 <= row["pearl_ub_sampled"] < row["no_exploration"]
        assert row["pearl_ub_sampled"] <= row["pearl_ub_redraw"] <= row["optimal"]
        assert row["no_exploration"] - 1e-12 <= row["pearl_ub"] <= row["optimal"] + 1e-12
        assert row["pearl_ub"] >= row["pearl_ub_sampled"]


@pytest.mark.slow
def test_cooking_no_goals_per_episode_is_below_redraw():
    """About 50 s (per episode) + 3 min (redraw)."""
    episode = rco.pearl_ub_sampled_value("cooking_no_goals", "all")
    redraw = rco.pearl_ub_redraw_value("cooking_no_goals", "all")
    assert -0.35 * 20 <= episode <= redraw


@pytest.mark.slow
@pytest.mark.parametrize("stage_reward", ["replace", "add"])
def test_cooking_no_goals_bayes_after_thompson_is_sandwiched(stage_reward):
    row = rco.reference_table("cooking_no_goals", "all", stage_reward).iloc[0]
    assert row["no_exploration"] - 1e-12 <= row["pearl_ub"] <= row["optimal"] + 1e-12
    assert row["pearl_ub"] >= row["pearl_ub_sampled"]


# --- the sign --------------------------------------------------------------------------------


def test_sign_pearl_ub_is_closed_by_the_sandwich():
    """no_exploration ≤ pearl_ub ≤ optimal pose by pose: equal ends fix pearl_ub exactly;
    otherwise it is not computed (NaN)."""
    from deep.envs import _headless

    _headless.configure()
    pytest.importorskip("miniworld")
    from deep.envs import reference_sign as rs

    assert rs.bayes_after_thompson_value(1.0, 0.0, 1.0) == (1.0, 0.0)
    assert rs.bayes_after_thompson_value(0.9, 0.01, 0.9) == (0.9, 0.01)
    assert all(np.isnan(rs.bayes_after_thompson_value(1.0, 0.0, 0.95)))
