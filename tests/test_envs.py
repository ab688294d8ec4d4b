"""The contract every grid-world benchmark keeps: Gymnasium's env checker, seeded determinism,
batched == single step for step, one-line errors and rendering (deep/envs, issue 3)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from deep.envs import NO_GOAL, make, registered_names

GRID_CASES = [
    *(
        (name, {"variant": variant})
        for name in ("vanilla_bus", "distracting_bus", "map", "cooking")
        for variant in ("paper", "official")
    ),
    ("cooking_no_goals", {"variant": "paper"}),
    ("cooking", {"pot": "hidden"}),
]
"""(benchmark, its config entries): every variant of every grid world."""
IDS = [f"{n}-{'-'.join(str(v) for v in kw.values())}" for n, kw in GRID_CASES]


def test_every_grid_world_is_covered():
    grid = {n for n, _ in GRID_CASES}
    assert grid <= set(registered_names())
    assert set(registered_names()) - grid <= {"sign", "bandit"}  # each has its own test file


@pytest.mark.parametrize(("name", "kwargs"), GRID_CASES, ids=IDS)
@pytest.mark.parametrize("render_mode", [None, "rgb_array"])
def test_check_env_no_warnings(name, kwargs, render_mode):
    env = make(name, **kwargs).make_env(render_mode=render_mode)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env.unwrapped)
    assert [str(w.message) for w in caught] == []


@pytest.mark.parametrize(("name", "kwargs"), GRID_CASES, ids=IDS)
def test_seeded_rollout_is_deterministic(name, kwargs):
    def rollout(seed):
        env = make(name, **kwargs).make_env()
        env.action_space.seed(seed)
        out = []
        obs, info = env.reset(seed=seed)
        out.append((obs.tolist(), info["problem"], info["goal"]))
        for _ in range(80):
            obs, r, term, trunc, info = env.step(env.action_space.sample())
            out.append((obs.tolist(), r, term, trunc))
            if term or trunc:
                obs, info = env.reset()
                out.append((obs.tolist(), info["problem"], info["goal"]))
        return out

    assert rollout(3) == rollout(3)
    assert rollout(3) != rollout(4)


@pytest.mark.parametrize(("name", "kwargs"), GRID_CASES, ids=IDS)
def test_batched_matches_single_step_for_step(name, kwargs):
    fam = make(name, **kwargs)
    n, n_steps = 64, 300
    rng = np.random.default_rng(7)
    singles = [fam.make_env().unwrapped for _ in range(n)]
    batch = fam.make_batched(n)
    n_actions = singles[0].action_space.n
    # bias towards the non-move actions (ride bus, pick up, drop) so that they happen often
    special = [i for i, a in enumerate(fam.config.actions) if a in ("ride_bus", "pick_up", "drop")]

    def draw():
        problem = int(rng.integers(fam.n_problems))
        goal = fam.sample_goal(rng, problem) if rng.random() < 0.8 else NO_GOAL
        return problem, goal

    tasks = [draw() for _ in range(n)]
    obs_b = batch.reset(np.array([p for p, _ in tasks]), np.array([g for _, g in tasks]))
    obs_s = [
        env.reset(options={"problem": p, "goal": None if g == NO_GOAL else g})[0]
        for env, (p, g) in zip(singles, tasks, strict=True)
    ]
    np.testing.assert_array_equal(obs_b, np.stack(obs_s))
    ends = rewarded = 0
    for _ in range(n_steps):
        actions = rng.integers(n_actions, size=n)
        biased = rng.random(n) < 0.4
        actions[biased] = rng.choice(special, size=int(biased.sum()))
        obs_b, rew_b, term_b, trunc_b = batch.step(actions)
        for i, env in enumerate(singles):
            o, r, te, tr, _ = env.step(int(actions[i]))
            np.testing.assert_array_equal(obs_b[i], o)
            assert (rew_b[i], term_b[i], trunc_b[i]) == pytest.approx((r, te, tr))
        rewarded += int((rew_b > 0).sum())
        done = term_b | trunc_b
        ends += int(done.sum())
        if done.any():
            new = [draw() for _ in range(int(done.sum()))]
            batch.reset(np.array([p for p, _ in new]), np.array([g for _, g in new]), mask=done)
            for i, (p, g) in zip(np.flatnonzero(done), new, strict=True):
                o, _ = singles[i].reset(options={"problem": p, "goal": None if g < 0 else g})
                np.testing.assert_array_equal(batch._obs()[i], o)
    assert ends > n and rewarded > 0  # many episode ends and some positive rewards


@pytest.mark.parametrize(("name", "kwargs"), GRID_CASES, ids=IDS)
def test_bad_inputs_name_the_value(name, kwargs):
    fam = make(name, **kwargs)
    cases = [
        (lambda: make(name, variant="fancy"), "'fancy'"),
        (lambda: make(name, colour="red"), "'colour'"),
        (lambda: fam.problem_ids("valid"), "'valid'"),
        (lambda: fam.make_batched(0), "0"),
        (lambda: fam.make_env().reset(options={"problem": fam.n_problems}), str(fam.n_problems)),
        (lambda: fam.make_env().reset(options={"problem": -1}), "-1"),
        (lambda: fam.make_env().reset(options={"goal": fam.n_goals}), str(fam.n_goals)),
        (lambda: fam.make_batched(2).reset([0, fam.n_problems], NO_GOAL), str(fam.n_problems)),
    ]
    for case, named in cases:
        with pytest.raises(ValueError) as err:
            case()
        message = str(err.value)
        assert "\n" not in message and "allowed" in message and named in message
    env = fam.make_env().unwrapped
    env.reset(seed=0)
    n_actions = env.action_space.n
    with pytest.raises(ValueError, match=f"action {n_actions} is outside"):
        env.step(n_actions)
    batch = fam.make_batched(3)
    batch.reset([0, 1, 2], NO_GOAL)
    with pytest.raises(ValueError, match=f"action {n_actions} is outside"):
        batch.step(np.array([0, n_actions, 1]))


def test_unknown_env_name():
    with pytest.raises(ValueError, match=r"unknown env name 'kitchen'; allowed: .*cooking"):
        make("kitchen")


@pytest.mark.parametrize(("name", "kwargs"), GRID_CASES, ids=IDS)
def test_render_rgb_frame(name, kwargs):
    env = make(name, **kwargs).make_env(render_mode="rgb_array")
    env.reset(seed=0)
    frame = env.render()
    assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
    actions = env.unwrapped.config.actions
    env.step(actions.index("right"))
    assert not np.array_equal(frame, env.render())  # the agent moved
    assert make(name, **kwargs).make_env().unwrapped.render() is None


def _batched_state(batch):
    names = ("pos", "t", "done", "problem", "goal", "inventory", "stage", "pot", "pot_len")
    return {k: getattr(batch, k).copy() for k in names if hasattr(batch, k)}


@pytest.mark.parametrize(("name", "kwargs"), GRID_CASES, ids=IDS)
def test_partial_step_matches_single_envs_of_the_active_rows(name, kwargs):
    fam = make(name, **kwargs)
    n, n_steps = 32, 200
    rng = np.random.default_rng(11)
    singles = [fam.make_env().unwrapped for _ in range(n)]
    batch = fam.make_batched(n)
    n_actions = singles[0].action_space.n

    def draw():
        problem = int(rng.integers(fam.n_problems))
        goal = fam.sample_goal(rng, problem) if rng.random() < 0.8 else NO_GOAL
        return problem, goal

    def reset(mask):
        new = [draw() for _ in range(int(mask.sum()))]
        batch.reset(np.array([p for p, _ in new]), np.array([g for _, g in new]), mask=mask)
        for i, (p, g) in zip(np.flatnonzero(mask), new, strict=True):
            singles[i].reset(options={"problem": p, "goal": None if g < 0 else g})

    reset(np.ones(n, dtype=bool))
    obs_b = batch._obs()
    stepped = idle_done = 0
    for _ in range(n_steps):
        active = (rng.random(n) < 0.6) & ~batch.done  # ended envs may only sit out
        actions = rng.integers(n_actions, size=n)
        actions[~active] = rng.choice([-7, n_actions, 0], size=int((~active).sum()))
        before, obs_before = _batched_state(batch), obs_b
        obs_b, rew_b, term_b, trunc_b = batch.step(actions, active=active)
        after = _batched_state(batch)
        idle = ~active
        for key, old in before.items():  # inactive rows: not stepped at all
            np.testing.assert_array_equal(after[key][idle], old[idle])
        np.testing.assert_array_equal(obs_b[idle], obs_before[idle])
        assert not rew_b[idle].any() and not term_b[idle].any() and not trunc_b[idle].any()
        idle_done += int((batch.done & idle).sum())
        for i in np.flatnonzero(active):
            o, r, te, tr, _ = singles[i].step(int(actions[i]))
            np.testing.assert_array_equal(obs_b[i], o)
            assert (rew_b[i], term_b[i], trunc_b[i]) == pytest.approx((r, te, tr))
        stepped += int(active.sum())
        done = batch.done & (rng.random(n) < 0.7)  # some ended envs stay ended (and inactive)
        if done.any():
            reset(done)
            obs_b = batch._obs()
        if batch.done.any():
            active = rng.random(n) < 0.5
            active[batch.done] = False
            obs_before = obs_b
            obs_b = batch.step(np.where(active, 0, -1), active=active)[0]
            for i in np.flatnonzero(active):
                np.testing.assert_array_equal(obs_b[i], singles[i].step(0)[0])
            np.testing.assert_array_equal(obs_b[~active], obs_before[~active])
    assert stepped > n * n_steps // 2 and idle_done > 0


@pytest.mark.parametrize(("name", "kwargs"), GRID_CASES[::3], ids=IDS[::3])
def test_partial_step_inputs(name, kwargs):
    fam = make(name, **kwargs)
    batch = fam.make_batched(3)
    obs0 = batch.reset([0, 1, 2], NO_GOAL)
    with pytest.raises(RuntimeError, match="env 0 has ended"):
        fam.make_batched(3).step(np.zeros(3, dtype=np.int64), active=np.array([True, True, False]))
    # all inactive: nothing moves, zeros come back
    obs, rew, term, trunc = batch.step(np.array([-1, 99, 5]), active=np.zeros(3, dtype=bool))
    np.testing.assert_array_equal(obs, obs0)
    assert not (rew.any() or term.any() or trunc.any()) and not batch.t.any()
    n_actions = batch.n_actions
    with pytest.raises(ValueError, match=f"action {n_actions} is outside"):
        batch.step(np.array([0, n_actions, -1]), active=np.array([True, True, False]))
    bad = [
        np.array([1, 0, 1]),
        np.array([True, False]),
        np.ones((3, 1), dtype=bool),
        True,
        "all",
        np.ones(300, dtype=bool),
    ]
    for active in bad:
        with pytest.raises(ValueError, match="active=") as err:
            batch.step(np.zeros(3, dtype=np.int64), active=active)
        message = str(err.value)
        assert "\n" not in message and "allowed: None or a bool array of shape (3,)" in message
    assert not batch.t.any()
    with pytest.raises(ValueError, match="integer array of shape"):
        batch.step(np.zeros(3), active=np.ones(3, dtype=bool))
    batch.step(np.zeros(3, dtype=np.int64), active=[True, False, True])  # a list of bools works
    assert batch.t.tolist() == [1, 0, 1]


@pytest.mark.parametrize(("name", "kwargs"), GRID_CASES, ids=IDS)
def test_shared_checks_keep_their_messages(name, kwargs):
    fam = make(name, **kwargs)
    env_class = type(fam.make_env().unwrapped)
    render = r"^unknown render_mode 'human'; allowed: None, 'rgb_array'$"
    with pytest.raises(ValueError, match=render):
        env_class(fam.config, render_mode="human")
    allowed = r"^unknown reset options \['colour'\]; allowed: problem, goal$"
    with pytest.raises(ValueError, match=allowed):
        fam.make_env().reset(options={"colour": 1})
    with pytest.raises(ValueError, match=r"^unknown option 'size' for a (city|cooking) env"):
        make(name, size=3)
    env = fam.make_env().unwrapped
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"^action -1 is outside the action space"):
        env.step(-1)
    env._done = True
    with pytest.raises(RuntimeError, match=r"call reset\(\) first"):
        env.step(0)
    with pytest.raises(ValueError, match=r"^batch size num_envs=1.5 is invalid"):
        fam.make_batched(1.5)
    with pytest.raises(ValueError, match=rf"^problem ID -1 is outside the {fam.name} family"):
        fam.make_batched(2).reset(-1, NO_GOAL)
    with pytest.raises(ValueError, match=r"^goal -2 is invalid; allowed: -1 \(no goal\)"):
        fam.make_batched(2).reset(0, -2)
