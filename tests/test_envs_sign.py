"""The 3D sign benchmark on MiniWorld (deep/envs/sign.py), its planner and its doctor."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

from deep.envs import _headless

_headless.configure()  # before miniworld is imported (no display here)
pytest.importorskip("miniworld")

import gymnasium as gym  # noqa: E402
from gymnasium.utils.env_checker import check_env  # noqa: E402

from deep.envs import reference_sign as ref  # noqa: E402
from deep.envs.problem import NO_GOAL, make, registered_names  # noqa: E402
from deep.envs.sign import (  # noqa: E402
    END_EPISODE,
    GYM_ID,
    OBJECTS,
    START_SIZE,
    BatchedSignEnv,
    SignConfig,
    SignEnv,
    target_object,
)
from deep.metrics import evaluate  # noqa: E402
from deep.trial_loop import TrialBatch, run_wave  # noqa: E402

VARIANTS = ("paper", "official")
SEED = 11
# From (4.4, 6.0) the sign (10, 10.25) is at heading -0.65 through the opening; heading π/2
# faces the north wall. Two right turns from π/2 face -π/4 (sign in view); two left turns, 3π/2.
SIGN_POSE = (4.4, 6.0, -0.65)
AWAY_POSE = (4.4, 6.0, math.pi / 2)
# A batched env seeded 22 resets its envs with seeds 22 and 23: from neither start pose does the
# first frame read the sign; the fewest steps to a pose that reads it are 5 and 3.
WAVE_SEED = 22


@pytest.fixture(scope="module")
def env():
    return SignEnv()


@pytest.fixture(scope="module")
def official_env():
    return SignEnv(SignConfig(variant="official"))


def _rollout(env, seed, actions, problem=0, goal=0):
    obs, _ = env.reset(seed=seed, options={"problem": problem, "goal": goal})
    frames, rewards = [obs["image"]], []
    for a in actions:
        obs, r, terminated, truncated, _ = env.step(int(a))
        frames.append(obs["image"])
        rewards.append(r)
        if terminated or truncated:
            break
    return frames, rewards


def _path_to(obj, seed, variant="paper"):
    """π*'s actions to touch object ``obj`` from the start pose of ``reset(seed=seed)``."""
    frames = ref._Frames(SignConfig(variant=variant))
    graph = ref.build_graph(frames.reset(seed))
    dist = ref.object_distances(graph)
    return ref.optimal_actions(graph, dist, obj)[0], dist


def test_import_is_lazy_and_registers():
    code = (
        "import sys, gymnasium as gym, deep.envs.sign\n"
        "from deep.envs.problem import registered_names\n"
        "assert 'miniworld' not in sys.modules and 'pyglet' not in sys.modules\n"
        "assert 'sign' in registered_names() and 'deep/Sign-v0' in gym.registry\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    assert "sign" in registered_names()
    assert GYM_ID in gym.registry


def test_family():
    fam = make("sign")
    assert (fam.n_problems, fam.n_goals) == (3, 2)
    for split in ("train", "test", "all"):
        assert fam.problem_ids(split).tolist() == [0, 1, 2]
    stream = fam.trials(0, n_exploit=2)
    trials = [next(stream) for _ in range(30)]
    assert {t.problem for t in trials} == {0, 1, 2}
    assert {g for t in trials for g in t.goals} == {0, 1}
    assert make("sign", variant="official").config.variant == "official"


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("render_mode", [None, "rgb_array"])
def test_check_env_no_warnings(variant, render_mode):
    env = make("sign", variant=variant).make_env(render_mode=render_mode)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env.unwrapped)
    assert [str(w.message) for w in caught] == []
    if render_mode == "rgb_array":
        env.reset(seed=0)
        frame = env.render()
        assert frame.shape == (60, 160, 3) and frame.dtype == np.uint8


def test_gym_make_and_check_env():
    env = gym.make(GYM_ID)
    assert isinstance(env.unwrapped, SignEnv)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env.unwrapped)
    assert [str(w.message) for w in caught] == []


def test_observation_layout(env):
    obs, info = env.reset(seed=0, options={"problem": 1, "goal": 0})
    assert set(obs) == {"image", "goal"}
    assert obs["image"].shape == (60, 80, 3) and obs["image"].dtype == np.uint8
    assert int(obs["goal"]) == 0 and info["problem"] == 1
    assert env.observation_space.contains(obs)
    obs, _ = env.reset(seed=0, options={"problem": 1, "goal": None})
    assert int(obs["goal"]) == NO_GOAL and env.observation_space.contains(obs)
    frame = obs["image"]
    obs, *_ = env.step(0)
    assert not np.shares_memory(frame, obs["image"])  # every frame is a fresh array
    frame = obs["image"]
    obs, *_ = env.step(3)  # end episode: nothing moves, the frame is still a new array
    assert np.array_equal(frame, obs["image"]) and not np.shares_memory(frame, obs["image"])


def test_seeded_rollout_is_deterministic():
    actions = np.random.default_rng(0).integers(0, 3, size=20)
    a, b = SignEnv(), SignEnv()
    fa, ra = _rollout(a, SEED, actions)
    fb, rb = _rollout(b, SEED, actions)
    assert ra == rb and len(fa) == len(fb)
    assert all(np.array_equal(x, y) for x, y in zip(fa, fb, strict=True))
    a.reset(seed=SEED + 1)
    b.reset(seed=SEED)
    assert a.agent_pose != b.agent_pose


def test_start_pose_does_not_depend_on_problem_or_goal(env):
    poses = set()
    for problem in range(3):
        for goal in (None, 0, 1):
            env.reset(seed=SEED, options={"problem": problem, "goal": goal})
            poses.add(env.agent_pose)
    env.reset(seed=SEED)
    poses.add(env.agent_pose)
    assert len(poses) == 1
    x, z, _ = poses.pop()
    assert 3.6 <= x <= 5.4 and 3.6 <= z <= 6.4


@pytest.mark.parametrize("variant", VARIANTS)
def test_problem_and_goal_decide_the_reward(variant):
    env = SignEnv(SignConfig(variant=variant))
    names = {"paper": ("key", "box"), "official": ("box", "key")}[variant]
    for obj in (0, 5):  # blue box, green key
        actions, dist = _path_to(obj, SEED, variant)
        assert len(actions) == dist[0, obj] <= 20
        for problem in range(3):
            for goal in (0, 1):
                _, rewards = _rollout(env, SEED, actions, problem, goal)
                hit = target_object(problem, goal, variant) == obj
                assert rewards[-1] == (1.0 if hit else -1.0)
                assert rewards[:-1] == [0.0] * (len(rewards) - 1)
                assert hit == (OBJECTS[obj] == f"{('blue', 'red', 'green')[problem]} {names[goal]}")
            _, rewards = _rollout(env, SEED, actions, problem, None)
            assert rewards == [0.0] * len(actions)  # exploration: touching gives nothing


def test_exploration_reward_is_always_zero(env):
    rng = np.random.default_rng(1)
    touched = 0
    for episode in range(15):
        env.reset(seed=episode, options={"goal": None})
        for _ in range(20):
            action = int(rng.choice(4, p=[0.15, 0.15, 0.6, 0.1]))
            _, r, terminated, truncated, info = env.step(action)
            assert r == 0.0
            touched += info["touched"] is not None
            if terminated or truncated:
                assert terminated == (info["touched"] is not None or info["t"] < 20)
                break
    actions, _ = _path_to(3, SEED)
    env.reset(seed=SEED, options={"problem": 0, "goal": None})
    for a in actions:
        _, r, terminated, _, info = env.step(a)
        assert r == 0.0
    assert terminated and info["touched"] == "blue key"


def test_episode_end(env, official_env):
    env.reset(seed=SEED, options={"goal": 1})
    pose = env.agent_pose
    _, r, terminated, truncated, _ = env.step(3)
    assert (r, terminated, truncated) == (0.0, True, False) and env.agent_pose == pose
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)
    official_env.reset(seed=SEED, options={"goal": 1, "start": (4.4, 5.0, 0.0)})
    official_env.step(3)  # official end episode moves back 0.7 first
    assert official_env.agent_pose[0] == pytest.approx(4.4 - 0.7)
    env.reset(seed=SEED, options={"goal": 1, "start": AWAY_POSE})
    for t in range(20):  # turning never touches anything
        _, r, terminated, truncated, _ = env.step(t % 2)
    assert (terminated, truncated, env.t) == (False, True, 20)


def test_bad_inputs_raise_value_errors(env):
    cases = [
        (lambda: env.reset(options={"problem": 3}), "3"),
        (lambda: env.reset(options={"goal": 2}), "2"),
        (lambda: env.reset(options={"colour": 1}), "colour"),
        (lambda: env.reset(options={"start": (0.1, 0.1, 0.0)}), r"\(0.1, 0.1, 0.0\)"),
        (lambda: env.reset(options={"start": "centre"}), "centre"),
        (lambda: make("sign", variant="fancy"), "fancy"),
        (lambda: make("sign", size=12), "size"),
        (lambda: SignConfig(horizon=0), "horizon=0"),
        (lambda: SignEnv(render_mode="human"), "human"),
        (lambda: BatchedSignEnv(SignConfig(), 0), "num_envs=0"),
        (lambda: BatchedSignEnv(SignConfig(), 1).reset(3, 0), "3"),
        (lambda: BatchedSignEnv(SignConfig(), 1).reset(0, 2), "2"),
        (lambda: make("sign").problem_ids("valid"), "valid"),
    ]
    for fn, needle in cases:
        with pytest.raises(ValueError, match=needle) as err:
            fn()
        assert "\n" not in str(err.value)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action 4") as err:
        env.step(4)
    assert "\n" not in str(err.value)


def test_batched_matches_single_envs():
    n, seed, config = 3, 100, SignConfig()
    batched = BatchedSignEnv(config, n, seed=seed)
    singles = [SignEnv(config) for _ in range(n)]
    rng = np.random.default_rng(0)
    problems, goals = rng.integers(0, 3, n), rng.integers(-1, 2, n)
    assert batched.starts.shape == (n, START_SIZE) and np.isnan(batched.starts).all()
    obs = batched.reset(problems, goals)
    assert obs["image"].shape == (n, 60, 80, 3) and obs["image"].dtype == np.uint8
    assert obs["goal"].tolist() == goals.tolist()
    for i, env in enumerate(singles):
        options = {"problem": int(problems[i]), "goal": int(goals[i])}
        o, _ = env.reset(seed=seed + i, options=options)
        assert np.array_equal(o["image"], obs["image"][i])
    assert np.array_equal(batched.starts, [env.start for env in singles])
    for _ in range(40):
        actions = rng.choice(4, size=n, p=[0.2, 0.2, 0.5, 0.1])
        obs, rew, term, trunc = batched.step(actions)
        for i, env in enumerate(singles):
            o, r, te, tr, _ = env.step(int(actions[i]))
            assert np.array_equal(o["image"], obs["image"][i])
            assert (r, te, tr) == (rew[i], term[i], trunc[i])
        ended = term | trunc
        if ended.any():
            p, g = rng.integers(0, 3, ended.sum()), rng.integers(-1, 2, ended.sum())
            with pytest.raises(RuntimeError, match="has ended"):
                batched.step(np.zeros(n, dtype=np.int64))
            obs = batched.reset(p, g, mask=ended)
            for j, i in enumerate(np.flatnonzero(ended)):
                o, _ = singles[i].reset(options={"problem": int(p[j]), "goal": int(g[j])})
                assert np.array_equal(o["image"], obs["image"][i])
            assert np.array_equal(batched.starts, [env.start for env in singles])
    with pytest.raises(ValueError, match="action 4"):
        batched.step(np.full(n, 4))
    with pytest.raises(ValueError, match="shape"):
        batched.step(np.zeros(n + 1, dtype=np.int64))


def test_partial_step_matches_single_envs_of_the_active_rows():
    n, seed, config = 3, 200, SignConfig()
    batched = BatchedSignEnv(config, n, seed=seed)
    singles = [SignEnv(config) for _ in range(n)]
    rng = np.random.default_rng(5)
    problems, goals = rng.integers(0, 3, n), rng.integers(-1, 2, n)
    obs = batched.reset(problems, goals)
    for i, env in enumerate(singles):
        env.reset(seed=seed + i, options={"problem": int(problems[i]), "goal": int(goals[i])})
    idle_ended = 0
    for _ in range(40):
        active = (rng.random(n) < 0.6) & ~batched.done
        actions = rng.choice(4, size=n, p=[0.2, 0.2, 0.5, 0.1])
        actions[~active] = -1  # ignored
        before = (obs, batched.t.copy(), batched.done.copy())
        poses = [env.agent_pose for env in batched.envs]
        obs, rew, term, trunc = batched.step(actions, active=active)
        for i in range(n):
            if active[i]:
                o, r, te, tr, _ = singles[i].step(int(actions[i]))
                assert np.array_equal(o["image"], obs["image"][i])
                assert (r, te, tr) == (rew[i], term[i], trunc[i])
            else:
                assert np.array_equal(obs["image"][i], before[0]["image"][i])
                assert batched.envs[i].agent_pose == poses[i]
                assert (batched.t[i], batched.done[i]) == (before[1][i], before[2][i])
                assert (rew[i], term[i], trunc[i]) == (0.0, False, False)
                idle_ended += int(batched.done[i])
        ended = batched.done & (rng.random(n) < 0.5)  # some ended envs sit out a while
        if ended.any():
            with pytest.raises(RuntimeError, match="has ended"):
                batched.step(np.zeros(n, dtype=np.int64), active=batched.done.copy())
            p, g = rng.integers(0, 3, ended.sum()), rng.integers(-1, 2, ended.sum())
            obs = batched.reset(p, g, mask=ended)
            for j, i in enumerate(np.flatnonzero(ended)):
                singles[i].reset(options={"problem": int(p[j]), "goal": int(g[j])})
    assert idle_ended > 0
    for bad in (np.array([1, 0, 1]), np.ones(n + 1, dtype=bool), "yes"):
        with pytest.raises(ValueError, match="active=") as err:
            batched.step(np.zeros(n, dtype=np.int64), active=bad)
        assert "\n" not in str(err.value) and "allowed" in str(err.value)
    with pytest.raises(ValueError, match="action 4"):
        batched.step(np.full(n, 4), active=np.ones(n, dtype=bool))


def test_each_env_renders_its_own_sign():
    # MiniWorld compiles the static scene into display list 1, shared by all contexts of the
    # process; SignEnv gives each env its own list.
    a, b = SignEnv(), SignEnv()
    a.reset(seed=0, options={"problem": 0, "start": SIGN_POSE})
    before = a.core.render_obs()
    b.reset(seed=0, options={"problem": 2, "start": SIGN_POSE})
    assert np.array_equal(before, a.core.render_obs())
    assert not np.array_equal(before, b.core.render_obs())


def test_frames_equal_miniworlds_own_env(env):
    from miniworld.envs.sign import Sign

    raw = Sign(color_index=2)
    env.reset(seed=0, options={"problem": 2})
    for mine, theirs in zip(env._objects, [o for p in raw._objects for o in p], strict=True):
        theirs.dir = mine.dir
    rng = np.random.default_rng(0)
    for _ in range(10):
        x, z, h = rng.uniform(1, 9), rng.uniform(1, 12), rng.uniform(-np.pi, np.pi)
        for core in (raw, env.core):
            core.agent.pos, core.agent.dir = np.array([x, 0.0, z]), h
        assert np.array_equal(raw.render_obs(), env.core.render_obs())


def test_reveals_all(env):
    assert ref.reveals_all(1, SIGN_POSE, [], env=env)
    assert not ref.reveals_all(1, AWAY_POSE, [], env=env)
    assert ref.reveals_all(0, AWAY_POSE, [1, 1], env=env)
    assert not ref.reveals_all(0, AWAY_POSE, [0, 0], env=env)
    assert not ref.reveals_all(2, AWAY_POSE, [0, 0, 1, 1], env=env)  # back where it started


def test_start_replays_the_episode_exactly(env):
    """``SignEnv.start`` holds the pose and the objects' orientations: the whole episode."""
    actions = [0, 2, 0, 0, 0, 1, 2, 2]
    frames, _ = _rollout(env, WAVE_SEED, actions, problem=1, goal=None)
    start = env.start
    assert len(start) == START_SIZE and start[3:] == tuple(o.dir for o in env._objects)
    other = SignEnv()
    obs, _ = other.reset(seed=5, options={"problem": 1, "goal": None, "start": start})
    assert other.start == start
    replay = [obs["image"]] + [other.step(a)[0]["image"] for a in actions]
    assert all(np.array_equal(a, b) for a, b in zip(frames, replay, strict=True))
    # The pose alone is not enough: seed 5's objects face elsewhere, and one is in view.
    obs, _ = other.reset(seed=5, options={"problem": 1, "goal": None, "start": start[:3]})
    assert not np.array_equal(obs["image"], frames[0])
    assert ref.reveal_step(1, start, actions, env=other) == ref.reveal_step(
        1, WAVE_SEED, actions, env=other
    )


class _Scripted:
    """A method playing fixed exploration actions per env slot; END_EPISODE everywhere else."""

    def __init__(self, scripts: list[list[int]]) -> None:
        self.scripts = scripts

    def start_episode(self, trials: TrialBatch, episode: int, training: bool) -> None:
        pass

    def act(self, obs, t: int, trials: TrialBatch, episode: int, training: bool) -> np.ndarray:
        return np.array(
            [s[t] if episode == 0 and t < len(s) else END_EPISODE for s in self.scripts]
        )

    def after_env_steps(self, n_steps: int, episode: int) -> None:
        pass

    def end_trials(self, trials: TrialBatch) -> None:
        pass

    def decoder_error(self, trials: TrialBatch) -> None:
        return None


def _reading_scripts(seed: int, n: int) -> list[list[int]]:
    """Env ``i`` of a batched env seeded ``seed``: read the sign from its first start, then end."""
    family = make("sign")
    policies = [family.oracle_policies(0, seed=seed + i)[0] for i in range(n)]
    return [[policy(None, t) for t in range(family.horizon)] for policy in policies]


def test_reveal_oracle_scores_a_played_wave(env):
    family = make("sign")
    batched = family.make_batched(2, seed=WAVE_SEED)
    method = _Scripted(_reading_scripts(WAVE_SEED, 2))
    problems, goals = np.array([0, 2]), np.array([[0], [1]])
    trials = run_wave(batched, family, method, problems, goals, np.arange(2), training=False)
    explore = trials.episodes[0]
    assert np.array_equal(trials.episodes[-1].start, batched.starts)  # a copy per episode
    assert not np.array_equal(explore.start, batched.starts)
    oracle = family.reveal_oracle()
    assert oracle.cache_info().maxsize == 1 << 16 and family.reveal_oracle() is not oracle
    for i, problem in enumerate(problems.tolist()):
        start = tuple(explore.start[i])
        env.reset(seed=WAVE_SEED + i, options={"problem": problem, "goal": None})
        assert start == env.start  # the start of the batched env's first reset
        actions = tuple(explore.actions[i, : explore.length[i]].tolist())
        assert actions[-1] == END_EPISODE and len(actions) == (6, 4)[i]
        step = oracle.reveal_step(problem, actions, start)
        assert 1 <= step < len(actions)
        assert oracle(problem, actions, start) is True
        assert oracle(problem, actions[:step], start) is True  # the prefix scan agrees
        assert oracle(problem, actions[: step - 1], start) is False
        assert oracle(problem, (END_EPISODE,), start) is False  # ends before reading
        assert ref.reveals_all(problem, start, actions) is True  # a fresh env: the same
    hits = oracle.cache_info().hits
    oracle(problem, actions, start)
    assert oracle.cache_info().hits == hits + 1
    with pytest.raises(ValueError, match="start") as err:
        oracle(0, (END_EPISODE,))
    assert "\n" not in str(err.value)


def test_evaluate_scores_every_exploration_episode():
    family = make("sign")
    oracle = family.reveal_oracle()
    scripts = _reading_scripts(WAVE_SEED, 2)
    for method, frac in ((_Scripted(scripts), 1.0), (_Scripted([[], []]), 0.0)):
        summary, played = evaluate(
            method,
            family,
            n_trials=2,
            seed=0,
            oracle=oracle,
            env=family.make_batched(2, seed=WAVE_SEED),
        )
        assert summary["reveal_frac"] == frac
        explore = played[0].episodes[0]
        steps = [
            oracle.reveal_step(int(p), tuple(a[:n].tolist()), tuple(s))
            for p, a, n, s in zip(
                played[0].problems, explore.actions, explore.length, explore.start, strict=True
            )
        ]
        if frac:
            assert summary["reveal_step"] == np.mean(steps) and np.isfinite(np.mean(steps))
        else:
            assert steps == [None, None] and np.isnan(summary["reveal_step"])


def test_other_families_record_no_start():
    family = make("map")
    env = family.make_batched(2)
    trials = run_wave(
        env,
        family,
        _Scripted([[], []]),
        np.array([0, 1]),
        np.array([[0], [1]]),
        np.arange(2),
        training=False,
    )
    assert all(ep.start is None for ep in trials.episodes)


def test_planner_agrees_with_the_simulator(env):
    rng = np.random.default_rng(3)
    frames = ref._Frames(SignConfig())
    for seed in (5, 6):
        graph = ref.build_graph(frames.reset(seed))
        assert graph.depth.max() == 20 and len(graph) > 10_000
        for _ in range(8):
            env.reset(seed=seed, options={"goal": None})
            s = 0
            for _ in range(20):
                a = int(rng.choice(4, p=[0.2, 0.2, 0.5, 0.1]))
                _, _, terminated, truncated, info = env.step(a)
                code = int(graph.succ[s, a])
                if code >= 0:
                    x, z, h = env.agent_pose
                    assert not terminated
                    assert (x, z) == pytest.approx((graph.x[code], graph.z[code]), abs=1e-9)
                    assert math.cos(h - graph.heading(code)) == pytest.approx(1.0)
                    s = code
                else:
                    assert terminated
                    assert info["touched"] == (None if code == -1 else OBJECTS[-2 - code])
                if terminated or truncated:
                    break
        # Poses the visibility test rules out show the same frame whatever the sign says.
        heading = graph.heading(np.arange(len(graph)))
        hidden = np.flatnonzero(~ref._sign_maybe_visible(graph.x, graph.z, heading))
        for s in rng.choice(hidden, 60, replace=False):
            assert frames.equal(graph.x[s], graph.z[s], heading[s]).all()


def test_plan_start_and_table():
    frames = ref._Frames(SignConfig())
    plan = ref.plan_start(frames, int(ref.start_seeds(1)[0]), SignConfig())
    assert plan["vstar"].shape == (3, 2) and set(np.unique(plan["vstar"])) <= {0.0, 1.0}
    assert np.allclose(plan["posterior"].sum(axis=1), 1.0)
    assert np.all(plan["no_exploration"] <= plan["no_exploration_ub"])
    table = ref.reference_table(n_starts=2)
    cols = ["benchmark", "variant", "split", "n_problems", "optimal"]
    cols += ["optimal_after_exploration", "pearl_ub", "pearl_ub_sampled", "pearl_ub_redraw"]
    cols += ["no_exploration"]
    assert list(table.columns[: len(cols)]) == cols and len(table) == 1
    row = table.iloc[0]
    assert row["benchmark"] == "sign" and row["n_problems"] == 3 and row["n_starts"] == 2
    assert -1.0 <= row["pearl_ub_sampled"] <= row["optimal"] <= 1.0
    assert np.isnan(row["pearl_ub_redraw"])
    if row["no_exploration"] == row["optimal"]:  # the sandwich closes
        assert row["pearl_ub"] == row["optimal"]
    assert row["no_exploration"] <= row["no_exploration_ub"] <= row["optimal"]


def test_reference_cli_writes_csv(tmp_path):
    out = tmp_path / "sign.csv"
    cmd = [sys.executable, "-m", "deep.envs.reference_sign", "--n-starts", "1", "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=True)
    assert "pearl_ub" in proc.stdout and out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["sign.csv"]


def test_doctor_ok():
    proc = subprocess.run(
        [sys.executable, "-m", "deep.doctor"], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "steps/s" in proc.stdout and "GL vendor" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr


@pytest.mark.slow
def test_doctor_reports_broken_egl_in_one_line():
    env = dict(os.environ, __EGL_VENDOR_LIBRARY_FILENAMES="/nonexistent.json")
    proc = subprocess.run(
        [sys.executable, "-m", "deep.doctor"], capture_output=True, text=True, timeout=300, env=env
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stdout + proc.stderr
    assert proc.stdout.strip().splitlines()[-1].startswith("FAIL:")
    assert "xvfb-run" in proc.stdout


@pytest.mark.slow
def test_reference_values_default_table():
    row = ref.reference_table(workers=2).iloc[0]
    assert row["optimal"] == 1.0 and row["optimal_after_exploration"] == 1.0
    assert row["no_exploration"] == row["no_exploration_ub"] == 1.0
    assert row["pearl_ub"] == 1.0  # no_exploration <= pearl_ub <= optimal
    assert row["pearl_ub_sampled"] == pytest.approx(-0.05, abs=0.02)
