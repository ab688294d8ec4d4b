"""``python -m analysis.capacity_probe``: π^task's network fitted to exact Q*, then played."""

from __future__ import annotations

import numpy as np

from analysis import capacity_probe
from common.io import read_csv, read_header
from deep.envs import make


def test_targets_are_the_exact_values_along_each_episode():
    family = make("cooking")
    problems, goals = np.array([5, 5]), np.array([1, 0])
    actions = np.array([[3, 5] + [0] * 18, [3] + [0] * 19])
    length = np.array([2, 1])
    q = capacity_probe.optimal_targets(family, problems, goals, actions, length)
    env = family.make_env(split="all")
    env.reset(options={"problem": 5, "goal": 1})
    np.testing.assert_allclose(q[0, 0], family.optimal_action_values(env.unwrapped, 0))
    env.step(3)
    np.testing.assert_allclose(q[0, 1], family.optimal_action_values(env.unwrapped, 1))
    assert (q[1, 1:] == 0).all() and (q[0, 2:] == 0).all()  # past the end


def test_a_short_probe_fits_and_writes_its_tables(tmp_path, capsys):
    out = tmp_path / "probe"
    argv = ["--episodes", "60", "--updates", "120", "--out", str(out)]
    assert capacity_probe.main(argv) == 0
    summary = read_csv(out / "capacity_paper_s0.csv")
    assert set(summary["goal_kind"]) == {"a, a", "a, b"} and summary["pairs"].sum() == 355
    assert (summary["head"] == "paper").all() and np.isfinite(summary["fit_mse"]).all()
    curve = read_csv(out / "fit_paper_s0.csv")
    assert curve["update"].tolist() == [1, 120] and curve["mse"].iloc[-1] < curve["mse"].iloc[0]
    assert read_header(out / "fit_paper_s0.csv")["config"]["updates"] == 120
    assert "a, b" in capsys.readouterr().out
    hidden = tmp_path / "hidden"  # Sec. 6.1's observation: a network of 20 entries, not 21
    assert capacity_probe.main([*argv[:-1], str(hidden), "--env-arg", "pot=hidden"]) == 0
    assert read_header(hidden / "fit_paper_s0.csv")["config"]["env_kwargs"] == {"pot": "hidden"}
    assert not read_csv(hidden / "fit_paper_s0.csv").equals(curve)


def test_the_fit_trains_the_encoder_too():
    config = capacity_probe.ProbeConfig(episodes=20, updates=5)
    method, _, _ = capacity_probe.fit(config)
    untrained, _, _ = capacity_probe.fit(capacity_probe.ProbeConfig(episodes=20, updates=1))
    ids = np.arange(8)
    assert not np.allclose(method.encode_problem(ids, False), untrained.encode_problem(ids, False))


def test_bad_input_is_one_line(tmp_path, capsys):
    assert capacity_probe.main(["--updates", "0", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--updates" in err
    assert capacity_probe.main(["--p-oracle", "1.5", "--out", str(tmp_path)]) == 2
    assert "--p-oracle" in capsys.readouterr().err
    assert capacity_probe.main(["--env-arg", "pot=shown", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'shown'" in err and "allowed" in err
