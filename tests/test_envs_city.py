"""The DREAM bus city grid worlds (deep/envs): env contract, batched == single, reference values."""

from __future__ import annotations

import itertools

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest

from deep.envs import make, registered_names
from deep.envs import reference_city as rv
from deep.envs import reference_values as rv_values
from deep.envs.city import CYCLIC_GRAY, PERMUTATIONS, TRAIN_SPLITS, CityConfig
from deep.envs.reference_city import colored_left_given_gray

NAMES = ("vanilla_bus", "distracting_bus", "map")
VARIANTS = ("paper", "official")
CASES = [(n, v) for n in NAMES for v in VARIANTS]
IDS = [f"{n}-{v}" for n, v in CASES]


def test_registry_names():
    assert set(NAMES) <= set(registered_names())


def test_problem_split_sizes():
    fam = make("distracting_bus")
    assert fam.n_problems == 576
    train, test = fam.problem_ids("train"), fam.problem_ids("test")
    assert len(train) == 96 and len(test) == 480  # independent (App. B.1: 24 and 552)
    assert set(train % 24) == set(range(24)) and set(train // 24) == set(CYCLIC_GRAY)
    paper_count = make("distracting_bus", train_split="fixed_gray")
    assert len(paper_count.problem_ids("train")) == 24
    assert len(paper_count.problem_ids("test")) == 552
    off = make("distracting_bus", variant="official")
    assert off.problem_ids("train").tolist() == list(range(0, 576, 11))
    assert len(off.problem_ids("test")) == 523
    for name in ("vanilla_bus", "map"):
        fam = make(name)
        assert fam.problem_ids("train").tolist() == fam.problem_ids("test").tolist()
        assert fam.problem_ids("all").tolist() == list(range(24))


def test_seed_changes_task_stream_and_same_seed_repeats():
    fam = make("distracting_bus")

    def first(seed, n=20):
        stream = fam.trials(seed, "test", n_exploit=2)
        return [next(stream) for _ in range(n)]

    a, b, c = first(0), first(0), first(1)
    assert a == b and a != c
    assert all(t.problem in set(fam.problem_ids("test").tolist()) for t in a)
    assert all(len(t.goals) == 2 and all(0 <= g < 4 for g in t.goals) for t in a)


def test_bad_inputs_raise_one_line_value_errors():
    cases = [
        lambda: make("no_such_env"),
        lambda: make("map", variant="fancy"),
        lambda: make("map", colour="red"),
        lambda: make("map").problem_ids("valid"),
        lambda: make("map").make_batched(0),
        lambda: make("map").sample_trial(np.random.default_rng(0), n_exploit=0),
        lambda: make("map").make_env().reset(options={"problem": 24}),
        lambda: make("distracting_bus").make_env().reset(options={"problem": -1}),
        lambda: make("map").make_env().reset(options={"goal": 4}),
        lambda: make("map").make_batched(2).reset([0, 99], 0),
    ]
    for case in cases:
        with pytest.raises(ValueError) as err:
            case()
        assert "\n" not in str(err.value) and "allowed" in str(err.value)
    env = make("map").make_env().unwrapped
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action 7 is outside"):
        env.step(7)
    batch = make("map", variant="official").make_batched(3)
    batch.reset([0, 1, 2], 0)
    with pytest.raises(ValueError, match="action 9 is outside"):
        batch.step(np.array([0, 9, 1]))


def test_optimal_trajectory_returns_0_8_and_map_reveals_mu():
    env = make("map").make_env().unwrapped
    # problem 0 = identity permutation: stop (4,5) goes to (0,1), next to goal 0 = (0,0)
    env.reset(options={"problem": 0, "goal": 0})
    rewards = [env.step(a)[1] for a in (0, 4)]  # up to (4,5), ride to (0,1)
    obs, r, term, trunc, _ = env.step(1)  # down to (0,0)
    assert env.pos == (0, 0) and term and not trunc
    assert sum(rewards) + r == pytest.approx(0.8)
    env.reset(options={"problem": 17, "goal": None})
    for _ in range(3):
        env.step(3)  # right
    obs = env.step(1)[0]  # down to the map (7, 3)
    assert obs[2 + 2] == 1 and obs[-1] == 17  # object "map" and the value μ
    official = make("map", variant="official").make_env().unwrapped
    official.reset(options={"problem": 17, "goal": 2})
    for a in (2, 2, 2, 3):
        obs = official.step(a)[0]
    assert obs.tolist() == [7, 3, 0, 18, 8, 0]


def test_official_end_episode_penalty():
    env = make("vanilla_bus", variant="official").make_env().unwrapped
    env.reset(options={"problem": 0, "goal": 1})
    env.step(4)  # noop
    _, r, term, _, _ = env.step(6)  # end_episode at step 2: -0.1 - 0.1 * 18
    assert term and r == pytest.approx(-1.9)


def test_render_rgb_frame():
    env = make("distracting_bus").make_env(render_mode="rgb_array")
    env.reset(seed=0)
    frame = env.render()
    assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
    env.step(0)
    assert not np.array_equal(frame, env.render())  # the agent moved
    assert make("map").make_env().unwrapped.render() is None


def test_gym_make_ids():
    env = gym.make("deep/DistractingBus-v0", config=CityConfig("distracting", "official"))
    assert env.action_space.n == 9
    env.close()


@pytest.mark.parametrize("name", NAMES)
def test_optimal_exploitation_is_0_8(name):
    for variant in VARIANTS:
        v = rv.optimal_values(name, variant)
        np.testing.assert_allclose(v, 0.8)  # the paper's stated optimum, every μ and goal


@pytest.mark.parametrize(
    ("name", "split"), [("vanilla_bus", "test"), ("map", "test"), ("distracting_bus", "train")]
)
def test_reference_values_are_consistent(name, split):
    row = rv.reference_table(name, "paper", split).iloc[0]
    assert row["optimal"] == pytest.approx(0.8)
    assert row["optimal_after_exploration"] == pytest.approx(0.8)
    assert row["no_exploration"] <= row["pearl_ub"] + 1e-12
    assert row["pearl_ub"] <= row["optimal_after_exploration"] + 1e-12
    if name != "distracting_bus":
        # walking straight to the goal (8 steps) is optimal without information
        assert row["no_exploration"] == pytest.approx(0.3)
        # hand computations in tests/test_pearl_readings.py and docs/benchmarks.md
        assert row["pearl_ub"] == pytest.approx(0.5)  # TS exploration, Bayes exploitation
        assert row["pearl_ub_sampled"] == pytest.approx(-0.6)  # a wrong sample loops
        assert row["pearl_ub_redraw"] == pytest.approx(0.7)


@pytest.mark.slow
@pytest.mark.parametrize("variant", VARIANTS)
def test_reference_values_distracting_test_split(variant):
    row = rv.reference_table("distracting_bus", variant, "test").iloc[0]
    assert row["optimal_after_exploration"] == pytest.approx(0.8)
    assert row["no_exploration"] == pytest.approx(0.3, abs=0.01)  # walking, see the docs
    assert row["no_exploration"] <= row["pearl_ub"] <= row["optimal_after_exploration"] + 1e-12


def test_reveals_all_oracle():
    script = rv.scripted_exploration("distracting_bus")
    assert all(rv.reveals_all("distracting_bus", mu, script) for mu in range(0, 576, 7))
    assert not rv.reveals_all("distracting_bus", 5, script[:6])  # 2 buses ridden only
    assert not rv.reveals_all("distracting_bus", 5, [])
    # riding gray buses tells nothing about the colored ones
    gray_only = [1, 2, 4]  # down, left to (3,3), ride gray
    assert not rv.reveals_all("distracting_bus", 5, gray_only)
    assert rv.reveals_all("map", 9, rv.scripted_exploration("map"))
    assert rv.reveals_all("map", 9, rv.scripted_exploration("vanilla_bus"))
    assert not rv.reveals_all("map", 9, rv.scripted_exploration("map")[:3])


def test_pearl_ub_is_below_optimal_and_no_exploration_is_a_lower_bound_on_ts_without_info():
    # Thompson sampling that skips the exploration episode can't beat the no-exploration optimum
    model = rv._model("vanilla_bus", "paper")
    ts = rv._ThompsonSampling(model, tuple(range(24)))
    ts_no_info = ts._w(ts.prior)
    assert ts_no_info <= rv.no_exploration_value("vanilla_bus", "paper", "test") + 1e-12


def test_reference_values_cli_writes_the_csv_atomically(tmp_path):
    from deep.envs import reference_values

    out = tmp_path / "reference_values.csv"
    assert reference_values.main(["--only", "vanilla_bus", "--out", str(out)]) == 0
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no temporary file left
    table = pd.read_csv(out)
    assert table["benchmark"].tolist() == ["vanilla_bus"] * 2
    assert table["optimal"].tolist() == pytest.approx([0.8, 0.8])


def test_train_splits_of_the_distracting_bus():
    """paired: 24 IDs (gray k with colored k); fixed_gray: 24 IDs (gray 0 with every colored);
    stride11: the authors' 53; independent (default): all 24 colored × 4 cyclic gray ones."""
    ids = {s: make("distracting_bus", train_split=s).problem_ids("train") for s in TRAIN_SPLITS}
    assert list(ids["paired"]) == list(25 * np.arange(24))
    assert list(ids["fixed_gray"]) == list(range(24))
    assert list(ids["independent"]) == list(make("distracting_bus").problem_ids("train"))
    assert list(ids["stride11"]) == list(make("distracting_bus", variant="official")
                                          .problem_ids("train"))  # fmt: skip
    indep = ids["independent"]
    assert len(indep) == 96 and len(set(indep)) == 96
    assert {(int(m % 24), int(m // 24)) for m in indep} == {
        (c, g) for c in range(24) for g in CYCLIC_GRAY
    }
    # any two cyclic gray permutations differ at every stop: one gray ride tells them apart
    for a, b in itertools.combinations(CYCLIC_GRAY, 2):
        assert all(x != y for x, y in zip(PERMUTATIONS[a], PERMUTATIONS[b], strict=True))
    for split, train in ids.items():
        test = make("distracting_bus", train_split=split).problem_ids("test")
        assert len(test) + len(train) == 576 and not set(test) & set(train)


def test_gray_buses_identify_training_problems_only_in_the_paired_split():
    assert colored_left_given_gray("paired") == 1.0
    assert colored_left_given_gray("independent") == 24.0
    assert colored_left_given_gray("fixed_gray") == 24.0
    stride = colored_left_given_gray("stride11")
    assert 1.0 < stride < 4.0
    assert colored_left_given_gray() == 24.0  # the paper variant's default: independent


def test_reference_values_follow_the_training_split():
    """An explicit split gets its own label; 'independent' is the paper's default, number for
    number: its 96 training problems leave the gray buses useless without exploration, as on
    held-out problems; the paired and fixed_gray splits do not."""

    def train_row(split=None):
        options = {"train_split": split} if split else None
        return rv_values.reference_table("distracting_bus", "paper", "train", options).iloc[0]

    default, indep = train_row(), train_row("independent")
    assert indep["benchmark"] == "distracting_bus[train_split=independent]"
    assert indep.drop("benchmark").equals(default.drop("benchmark"))
    assert indep["n_problems"] == 96 and indep["optimal"] == pytest.approx(0.8)
    assert indep["no_exploration"] == pytest.approx(0.3)  # walking: as on held-out problems
    assert indep["no_exploration"] <= indep["pearl_ub"] <= indep["optimal"] + 1e-12
    # paired: riding a gray bus narrows the 24 problems, so exploitation alone beats walking
    assert train_row("paired")["no_exploration"] > 0.3 + 0.01
    # fixed_gray: the gray routes are known (2 steps, ride, 4 steps to the goal)
    assert train_row("fixed_gray")["no_exploration"] == pytest.approx(0.4)
    with pytest.raises(ValueError, match=r"no reference row map\[train_split=paired\]"):
        rv_values.reference_table("map", "paper", "all", {"train_split": "paired"})


def test_reference_values_cli_merges_into_an_existing_table(tmp_path):
    out = tmp_path / "reference_values.csv"
    assert rv_values.main(["--only", "vanilla_bus,map", "--out", str(out)]) == 0
    table = pd.read_csv(out)
    table.loc[table["benchmark"] == "map", "optimal"] = -1.0  # marks the row that must stay
    table.to_csv(out, index=False)
    assert rv_values.main(["--only", "vanilla_bus", "--out", str(out), "--merge"]) == 0
    merged = pd.read_csv(out)
    assert merged["benchmark"].tolist() == ["vanilla_bus"] * 2 + ["map"] * 2
    assert (merged.loc[merged["benchmark"] == "map", "optimal"] == -1.0).all()
    assert merged.loc[merged["benchmark"] == "vanilla_bus", "optimal"].tolist() == pytest.approx(
        [0.8, 0.8]
    )
