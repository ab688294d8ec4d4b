"""The cooking grid worlds (deep/envs/cooking.py): layout, reward stages, variants, references."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from deep.envs import make
from deep.envs import reference_cooking as rc
from deep.envs.cooking import FRIDGES, NO_GOAL_PROBLEMS, fridge_contents, paper_observation_layout
from deep.envs.problem import NO_GOAL


def _paper_env(name="cooking", **kw):
    return make(name, **kw).make_env().unwrapped


def _run(env, names):
    acts = env.config.actions
    return [env.step(acts.index(n))[1:3] for n in names]


def test_layout_matches_the_paper_formula_and_held_out_problem():
    # App. B.1: μ = 16a + 4b + c, a in the top right fridge, b middle, c bottom right.
    for a, b, c in itertools.product(range(4), repeat=3):
        contents = fridge_contents(16 * a + 4 * b + c, 4)
        top, middle, bottom = (contents[FRIDGES.index(f)] for f in ((2, 2), (2, 1), (2, 0)))
        assert (top, middle, bottom) == (a, b, c)
    fam = make("cooking")
    assert fam.problem_ids("test").tolist() == [11]
    assert len(fam.problem_ids("train")) == 63 and 11 not in fam.problem_ids("train")
    assert make("cooking", variant="official").problem_ids("test").tolist() == [10]
    free = make("cooking_no_goals")
    assert free.n_problems == len(NO_GOAL_PROBLEMS) == 2401 and free.n_goals == 0
    for code, a, b in NO_GOAL_PROBLEMS[::37]:
        assert {a, b} <= set(fridge_contents(code, 7))


def test_goal_probabilities_paper_and_official():
    paper, official = make("cooking"), make("cooking", variant="official")
    mu = 16 * 0 + 4 * 0 + 3  # fridges hold 0, 0 and 3
    p = paper.goal_probabilities(mu)
    assert set(np.flatnonzero(p)) == {0, 3, 12, 15} and np.allclose(p[p > 0], 0.25)
    q = official.goal_probabilities(mu)  # (a, b) drawn with replacement from the 3 fridges
    assert q[0] == pytest.approx(4 / 9) and q[15] == pytest.approx(1 / 9)
    rng = np.random.default_rng(0)
    goals = [paper.sample_trial(rng, "train", 3) for _ in range(200)]
    for trial in goals:
        present = set(fridge_contents(trial.problem, 4))
        assert all({g // 4, g % 4} <= present for g in trial.goals)


@pytest.mark.parametrize("reading, done", [("replace", 0.25), ("add", 0.15)])
def test_optimal_recipe_return_and_the_reward_stages(reading, done):
    # A completed recipe step pays +0.25 instead of -0.1 ("replace", the default, as the
    # authors' code does) or -0.1 + 0.25 ("add"); a penalised step -0.35 under both.
    env = _paper_env(stage_reward=reading)
    env.reset(options={"problem": 11, "goal": 4 * 2 + 0})  # fridges: bottom 3, middle 2, top 0
    steps = _run(env, ["right", "pick_up", "left", "drop", "right", "up", "pick_up"])
    steps += _run(env, ["down", "left", "drop"])
    rewards = [r for r, _ in steps]
    assert rewards == pytest.approx([-0.1, done, -0.1, done, -0.1, -0.1, done, -0.1, -0.1, done])
    assert steps[-1][1] and not any(t for _, t in steps[:-1])  # ends on step (iv)
    model = rc.cooking_model("cooking", stage_reward=reading)
    assert sum(rewards) == pytest.approx(model.optimal_values()[11, 8])
    env.reset(options={"problem": 11, "goal": 4 * 2 + 0})
    # wrong ingredient: -0.25; losing the first ingredient off the pot: -0.25 and back a stage
    rewards = [r for r, _ in _run(env, ["right", "up", "pick_up", "down", "pick_up", "drop"])]
    assert rewards == pytest.approx([-0.1, -0.1, -0.35, -0.1, done, -0.35])
    assert env.stage == 0
    assert _run(env, ["pick_up"])[0][0] == pytest.approx(done)  # step (i) again


def test_the_default_reading_is_replace_and_a_bad_one_is_refused():
    assert make("cooking").config.stage_reward == "replace"
    with pytest.raises(ValueError, match="stage_reward='both' is invalid; allowed: replace, add"):
        make("cooking", stage_reward="both")


def test_exploration_episode_has_no_reward():
    env = _paper_env()
    env.reset(options={"problem": 11, "goal": None})
    steps = _run(env, ["right", "pick_up", "left", "drop", "right", "up", "pick_up", "drop"])
    assert all(r == 0.0 and not t for r, t in steps)
    layout = paper_observation_layout(env.config)
    start = env.reset(options={"problem": 11, "goal": None})[0]
    assert start[layout["goal_a"]].sum() + start[layout["goal_b"]].sum() == 0  # no goal shown


def test_no_goals_variant_rules():
    free = make("cooking_no_goals")
    env = free.make_env().unwrapped
    mu = next(
        i
        for i, (c, a, b) in enumerate(NO_GOAL_PROBLEMS)
        if fridge_contents(c, 7)[1] == b
        and fridge_contents(c, 7)[0] == a
        and a != b
        and fridge_contents(c, 7)[2] not in (a, b)
    )
    env.reset(options={"problem": mu})
    assert env.goal == -1 and env.rewarded  # the recipe is part of μ
    # the second ingredient (middle fridge) out of order: +0.25, dropping it -0.25
    assert [r for r, _ in _run(env, ["right", "pick_up"])] == pytest.approx([-0.1, 0.25])
    before = env.inventory
    assert _run(env, ["down", "pick_up"])[1][0] == pytest.approx(-0.1)  # full hands: no pick up
    assert env.inventory == before
    assert _run(env, ["drop"])[0][0] == pytest.approx(-0.35)
    assert _run(env, ["pick_up"])[0][0] == pytest.approx(0.25)  # now the first ingredient
    with pytest.raises(ValueError, match="goal 0 is not a goal"):
        env.reset(options={"problem": 0, "goal": 0})


def test_official_variant_pot_and_penalties():
    env = _paper_env(variant="official")
    env.reset(options={"problem": 10, "goal": 4 * 2 + 0})  # fridges: bottom 2, middle 2, top 0
    acts = env.config.actions
    # the code's observation: [x, y, status, inventory, pot 0..2, goal a, goal b]
    assert env._obs().tolist() == [1, 1, 2, 4, 4, 4, 4, 2, 0]
    r = [env.step(acts.index(n))[1] for n in ("right", "up", "pick_up")]
    assert r == pytest.approx([-0.1, -0.1, -0.35])  # wrong ingredient: the code's -0.35
    for n in ("down", "left", "drop", "pick_up"):
        env.step(acts.index(n))
    assert env.pot == [0] and env.inventory == 4  # pick up on the pot empties the hands


def test_optimal_values_match_the_closed_form():
    # V*(μ, (a, b)) = 1.4 - 0.1 (2 d_a + 2 d_b + 4), d = 1 for the middle fridge, else 2:
    # 2 d_a + 2 d_b moves, then 4 recipe steps that pay +0.25 each and no step cost.
    v = rc.cooking_model("cooking").optimal_values()
    for mu in range(64):
        contents = fridge_contents(mu, 4)
        dist = {}
        for f, x in zip(FRIDGES, contents, strict=True):
            dist[x] = min(dist.get(x, 9), 1 if f == (2, 1) else 2)
        for a, b in itertools.product(dist, dist):
            assert v[mu, 4 * a + b] == pytest.approx(1.4 - 0.1 * (2 * dist[a] + 2 * dist[b] + 4))


def test_scripted_exploration_reveals_everything():
    for mu in range(64):
        script = rc.scripted_exploration("cooking", mu)
        assert len(script) == 7 and rc.reveals_all("cooking", mu, script)
    assert not rc.reveals_all("cooking", 11, rc.scripted_exploration("cooking", 11)[:4])
    for mu in range(0, 2401, 97):
        script = rc.scripted_exploration("cooking_no_goals", mu)
        assert len(script) <= 20 and rc.reveals_all("cooking_no_goals", mu, script)
    # visiting the fridges without the pot can't tell the recipe's order apart when a != b
    fridges_only = [3, 5, 6, 1, 5, 6, 0, 0, 5]
    for mu in range(0, 2401, 97):
        _, a, b = NO_GOAL_PROBLEMS[mu]
        assert rc.reveals_all("cooking_no_goals", mu, fridges_only) == (a == b)


def test_reference_values_are_ordered_on_a_short_horizon():
    h = 10
    optimal = rc.cooking_model("cooking", h).optimal_values()
    probs = rc.cooking_model("cooking", h).goal_probs
    for split in ("test",):  # the train split takes ~1 min: see the slow test below
        ids = make("cooking").problem_ids(split)
        best = float((optimal[ids] * probs[ids]).sum(axis=1).mean())
        none = rc.no_exploration_value("cooking", split, horizon=h)
        ts = rc.pearl_ub_value("cooking", split, horizon=h)
        assert none < ts < best


@pytest.mark.slow
def test_reference_table_cooking():
    test = rc.reference_table("cooking", "test").iloc[0]
    assert test["optimal"] == pytest.approx(1 / 3)  # μ = 11: mean path length 10.67 steps
    assert test["optimal_after_exploration"] == pytest.approx(test["optimal"])
    assert test["no_exploration"] < test["pearl_ub"] < test["optimal"]


def test_thompson_sampling_shared_expectation_equals_per_problem_runs():
    m = rc.cooking_model("cooking", 6)
    ts = rc._ThompsonSampling(m)
    everything = np.arange(64)
    for col in (0, 6):
        idx, w = m.start_index[everything, col], np.ones(64)
        for s in np.flatnonzero(m.goal_probs[:, col] > 0)[:4]:
            shared = ts.run_mixed(0, idx, w, int(s), True)
            per_problem = np.mean([ts.run(0, idx, w, int(s), mu, True) for mu in everything])
            assert shared == pytest.approx(per_problem, abs=1e-12)


def test_exploitation_progress_is_the_furthest_recipe_stage():
    """The exact optimal policy completes the recipe (1.0); doing nothing gets nowhere (0.0);
    families without such a measure answer None (the metric is NaN there)."""
    family = make("cooking")
    rng = np.random.default_rng(0)
    problem = family.sample_problem(rng, "train")
    goal = family.sample_goal(rng, problem)
    _, exploit = family.oracle_policies(problem)
    env = family.make_env(split="all").unwrapped
    env.reset(options={"problem": problem, "goal": goal})
    actions = []
    for t in range(family.horizon):
        action = exploit(env, t)
        actions.append(action)
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            break
    assert family.exploitation_progress(problem, goal, actions) == 1.0
    ride_bus = family.config.actions.index("ride_bus")
    assert family.exploitation_progress(problem, goal, [ride_bus] * 5) == 0.0
    assert make("map").exploitation_progress(0, 0, [0, 1]) is None


def test_the_oracle_plays_the_exact_model_of_the_familys_reward_reading(monkeypatch):
    from deep.envs import reference_cooking

    asked = []
    model = reference_cooking.cooking_model

    def spy(name, horizon=20, stage_reward="replace"):
        asked.append(stage_reward)
        return model(name, horizon, stage_reward)

    monkeypatch.setattr(reference_cooking, "cooking_model", spy)
    family = make("cooking", stage_reward="add")
    _, exploit = family.oracle_policies(5)
    assert asked == ["add"]
    env = family.make_env(split="all").unwrapped
    env.reset(options={"problem": 5, "goal": 1})
    total, t, done = 0.0, 0, False
    while not done:
        _, reward, terminated, truncated, _ = env.step(exploit(env, t))
        total, t, done = total + reward, t + 1, terminated or truncated
    best = model("cooking", 20, "add").optimal_values()[5, 1]
    assert total == pytest.approx(best)


def test_the_observation_hides_the_recipe_stage_so_dream_exploits_recurrently():
    # After a is in the pot (stage 2) the agent stands on the pot with empty hands, as at the
    # start (stage 0): a feed-forward Q(s, z) acts the same in both, so with a != b it fetches
    # a again and never finishes. Hence DREAM's recurrent exploitation policy on the kitchens.
    from deep.registry import build_config

    env = _paper_env(pot="hidden")  # Sec. 6.1's observation
    start, _ = env.reset(options={"problem": 11, "goal": 4 * 2 + 0})  # a = 2 (middle), b = 0
    _run(env, ["right", "pick_up", "left", "drop"])
    assert env.stage == 2 and np.array_equal(env._obs(), start)
    for name in ("cooking", "cooking_no_goals"):
        assert build_config("dream", make(name), "paper", {}).exploitation_policy == "recurrent"
        dynamics = build_config("dream_dynamics", make(name), "tiny", {})
        assert dynamics.exploitation_policy == "recurrent"
    assert build_config("dream", make("map"), "paper", {}).exploitation_policy == "feedforward"


def test_an_observed_pot_shows_the_recipe_stage_and_changes_nothing_else():
    # pot="observed" adds one entry, 1 once a is in the pot: stage 2 on the pot with empty
    # hands is no longer the start's observation; rewards and dynamics are the hidden pot's.
    hidden, seen = _paper_env(pot="hidden"), _paper_env()  # observed: cooking's default
    start, _ = seen.reset(options={"problem": 11, "goal": 4 * 2 + 0})  # a = 2 (middle), b = 0
    hidden.reset(options={"problem": 11, "goal": 4 * 2 + 0})
    route = ["right", "pick_up", "left", "drop", "right", "up", "pick_up", "down", "left", "drop"]
    for t, name in enumerate(route):
        action = seen.config.actions.index(name)
        obs, reward, done, _, _ = seen.step(action)
        obs_h, reward_h, done_h, _, _ = hidden.step(action)
        assert (reward, done) == (reward_h, done_h)
        np.testing.assert_array_equal(obs[:-1], obs_h)
        assert obs[-1] == int(seen.stage >= 2) == int(t >= 3)
        if t == 3:  # a in the pot: the hidden pot repeats the start, the observed one does not
            np.testing.assert_array_equal(obs_h, start[:-1])
            assert not np.array_equal(obs, start)
    assert done and seen.observation_space.shape == (21,) and seen.observation_space.contains(obs)
    # The default is per kind and variant: only cooking's paper variant has the entry.
    assert seen.config.pot == "observed" and hidden.observation_space.shape == (20,)
    assert make("cooking", variant="official").config.pot == "hidden"
    assert make("cooking_no_goals").config.pot == "hidden"
    for bad, named in (
        (lambda: make("cooking", pot="shown"), "'shown'"),
        (lambda: make("cooking", variant="official", pot="observed"), "official"),
        (lambda: make("cooking_no_goals", pot="observed"), "no_goals"),
    ):
        with pytest.raises(ValueError, match="allowed") as err:
            bad()
        assert named in str(err.value) and "\n" not in str(err.value)


def test_a_policy_of_the_observation_alone_cannot_finish_a_two_ingredient_recipe():
    # μ = 11 (fridges: bottom 3, middle 2, top 0), horizon 12: every recipe fits (≤ 12 steps).
    # With a == b the observation's aliasing does no harm (fetching a again is right); with
    # a != b the best memoryless policy falls short of V* (it fetches a again after step ii).
    h = 12
    m = rc.cooking_model("cooking", h)
    memoryless = rc.memoryless_values("cooking", 11, horizon=h)
    v_star = m.optimal_values()[11]
    for a, b in itertools.product((0, 2, 3), repeat=2):
        col = 4 * a + b
        if a == b:
            assert memoryless[col] == pytest.approx(v_star[col])
        else:
            assert memoryless[col] < v_star[col] - 0.5
    assert np.isnan(memoryless[4 * 1 + 1])  # ingredient 1 is in no fridge of μ = 11


@pytest.mark.parametrize(
    ("name", "kw"), [("cooking", {}), ("cooking", {"pot": "hidden"}), ("cooking_no_goals", {})]
)
def test_both_paper_observations_follow_the_one_layout(name, kw):
    # Every part sits where paper_observation_layout says, in the single and the batched env.
    family = make(name, **kw)
    layout = paper_observation_layout(family.config)
    assert next(reversed(layout.values())).stop == family.make_env().observation_space.shape[0]
    rng = np.random.default_rng(1)
    problems = rng.integers(family.n_problems, size=12)
    goals = np.array([family.sample_goal(rng, int(p)) for p in problems])
    batch = family.make_batched(len(problems))
    single = [family.make_env().unwrapped for _ in problems]
    obs = batch.reset(problems, goals)
    actions = np.zeros(len(problems), dtype=np.int64)
    for t in range(12):
        for i, env in enumerate(single):
            if t == 0:
                row = env.reset(options={"problem": int(problems[i]), "goal": int(goals[i])})[0]
            else:
                row = env.step(int(actions[i]))[0]
            np.testing.assert_array_equal(row, obs[i])
            assert row[layout["cell"]].tolist() == list(env.pos)
            for part in ("object", "inventory"):
                assert row[layout[part]].sum() == 1
            empty_handed = env.inventory == env.empty
            assert row[layout["inventory"]][0] == int(empty_handed)
            if "goal_a" in layout and goals[i] != NO_GOAL:
                assert (
                    row[layout["goal_a"]].argmax() * 4 + row[layout["goal_b"]].argmax() == goals[i]
                )
            if "pot" in layout:
                assert row[layout["pot"]][0] == int(env.stage >= 2)
        actions = rng.integers(len(family.config.actions), size=len(problems))
        obs = batch.step(actions)[0]


@pytest.mark.parametrize("kw", [{}, {"variant": "official"}, {"pot": "hidden"}])
def test_observed_goals_read_back_the_recipe_from_stored_observations(kw):
    family = make("cooking", **kw)
    rng = np.random.default_rng(0)
    problems = rng.integers(64, size=40)
    goals = np.array([family.sample_goal(rng, int(p)) for p in problems])
    goals[::5] = NO_GOAL  # exploration episodes show no recipe
    batch = family.make_batched(len(problems))
    obs = batch.reset(problems, goals)
    np.testing.assert_array_equal(family.observed_goals({"state": obs}), goals)
    moves = [family.config.actions.index(m) for m in ("up", "down", "left", "right")]
    for _ in range(6):  # the recipe stays readable while the episode goes on
        obs = batch.step(rng.choice(moves, size=len(problems)))[0]
        np.testing.assert_array_equal(family.observed_goals({"state": obs}), goals)
    assert make("cooking_no_goals").observed_goals({"state": obs}) is None
    assert make("map").observed_goals({"state": obs}) is None


def test_the_held_out_problem_is_a_config_field_with_each_variants_default():
    """``held_out``: App. B.1's μ = 11 for the paper variant, the code's 10 for the official one;
    any problem can be held out instead; cooking without goals holds none out."""
    assert make("cooking").config.held_out == 11
    assert make("cooking", variant="official").config.held_out == 10
    assert make("cooking_no_goals").config.held_out is None
    fam = make("cooking", held_out=10)
    assert fam.problem_ids("test").tolist() == [10]
    assert fam.problem_ids("train").tolist() == [m for m in range(64) if m != 10]
    assert fridge_contents(10, 4) == (2, 2, 0)  # two fridges alike; μ = 11 has three kinds
    assert make("cooking", variant="official", held_out=11).problem_ids("test").tolist() == [11]
    for bad in (64, -1, "x"):
        with pytest.raises(ValueError, match=r"allowed: a problem ID 0\.\.63"):
            make("cooking", held_out=bad)
    with pytest.raises(ValueError, match="holds no problem out"):
        make("cooking_no_goals", held_out=3)


@pytest.mark.parametrize(
    "value",
    [
        rc.no_exploration_value,
        pytest.param(rc.pearl_ub_value, marks=pytest.mark.slow),  # ~30 s each
        pytest.param(rc.pearl_ub_redraw_value, marks=pytest.mark.slow),
    ],
)
def test_reference_values_of_any_held_out_problem_split_the_whole_familys(value):
    """Every reference is a mean over the true μ of a split, with the prior over all 64
    problems, so 63·train + 1·test = 64·all whichever problem is held out, and naming the
    default problem changes nothing."""
    h = 5
    everything = value("cooking", "all", horizon=h)
    for held_out in (10, 11, 42):
        test = value("cooking", "test", horizon=h, held_out=held_out)
        train = value("cooking", "train", horizon=h, held_out=held_out)
        assert 63 * train + test == pytest.approx(64 * everything, abs=1e-9)
    assert value("cooking", "test", horizon=h, held_out=11) == value("cooking", "test", horizon=h)
