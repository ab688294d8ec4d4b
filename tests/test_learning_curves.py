"""analysis.learning_curves: seeds aggregated with a t interval, last evaluations, files."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from analysis.io import read_csv, write_csv
from analysis.learning_curves import aggregate, collect, final_returns, main, mean_ci


def _write_run(
    root, method, seed, returns, *, method_args=None, env="map", splits=("test",), env_kwargs=None
):
    rows = []
    for i, r in enumerate(returns):
        for split in splits:
            rows.append(
                {
                    "method": method,
                    "env": env,
                    "seed": seed,
                    "trial": 2000 * i,
                    "env_steps": 50_000 * i + seed,
                    "split": split,
                    "return": r + (0.1 if split == "train_eval" else 0.0),
                    "reveal_frac": 0.5,
                }
            )
        rows.append({**rows[-1], "split": "train", "return": -9.0})  # ε-greedy window: ignored
    out = root / env / method / f"s{seed}"
    if env_kwargs:
        out = root / f"{env}_{len(env_kwargs)}" / method / f"s{seed}"
    out.mkdir(parents=True)
    header = {
        "run": {"variant": None, "method_args": method_args or {}, "env_kwargs": env_kwargs or {}}
    }
    write_csv(out / "metrics.csv", pd.DataFrame(rows), header)


@given(st.lists(st.floats(-5, 5, allow_nan=False), min_size=2, max_size=12))
@settings(max_examples=50, deadline=None)
def test_mean_ci_is_the_student_t_interval(values):
    mean, half = mean_ci(np.array(values))
    assert mean == pytest.approx(np.mean(values))
    if np.std(values) > 0:
        sem = stats.sem(values)
        lo, hi = stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=sem)
        assert half == pytest.approx((hi - lo) / 2, rel=1e-9, abs=1e-12)
    else:
        assert half == pytest.approx(0.0, abs=1e-12)


def test_one_seed_has_no_band():
    mean, half = mean_ci(np.array([0.3]))
    assert mean == 0.3 and math.isnan(half)


def test_aggregate_and_final_returns(tmp_path):
    _write_run(tmp_path, "dream", 0, [-1.0, 0.0, 0.8])
    _write_run(tmp_path, "dream", 1, [-1.0, 0.4, 0.6])
    _write_run(tmp_path, "dream", 2, [-1.0, 0.2, 0.7, 0.9])  # one more evaluation
    _write_run(
        tmp_path,
        "dream",
        0,
        [0.1, 0.2, 0.3],
        method_args={"bottleneck_weight": "3"},
        env="map_lambda",
    )
    df = collect([tmp_path])
    assert set(df["setting"]) == {"default", "bottleneck_weight=3"}
    curves = aggregate(df)
    dream = curves[(curves["env"] == "map") & (curves["split"] == "test")].set_index("trial")
    assert list(dream.index) == [0, 2000, 4000, 6000]
    assert dream.loc[2000, "seeds"] == 3
    assert dream.loc[2000, "return_mean"] == pytest.approx(0.2)
    assert dream.loc[2000, "return_ci95"] == pytest.approx(mean_ci(np.array([0.0, 0.4, 0.2]))[1])
    assert dream.loc[2000, "env_steps"] == pytest.approx(50_001)  # mean over seeds
    assert dream.loc[6000, "seeds"] == 1
    final = final_returns(df).set_index(["env", "setting"])
    # each seed's own last evaluation: 0.8, 0.6, 0.9
    assert final.loc[("map", "default"), "return_mean"] == pytest.approx((0.8 + 0.6 + 0.9) / 3)
    assert final.loc[("map", "default"), "seeds"] == 3
    assert final.loc[("map_lambda", "bottleneck_weight=3"), "return_mean"] == pytest.approx(0.3)
    assert -9.0 not in set(curves["return_mean"])  # training windows are not curves
    # tail: evaluations at ≥ 90% of each seed's last env steps — only the last one here
    tail = final.loc[("map", "default"), "tail_return_mean"]
    assert tail == pytest.approx((0.8 + 0.6 + 0.9) / 3)


def test_tail_mean_averages_the_last_tenth_of_each_run(tmp_path):
    _write_run(tmp_path, "erl2", 0, [0.0] * 10 + [0.5, 0.7, 0.3])  # steps 0..600k by 50k
    final = final_returns(collect([tmp_path])).iloc[0]
    assert final["return_mean"] == pytest.approx(0.3)
    assert final["tail_return_mean"] == pytest.approx(0.5)  # 550k, 600k ≥ 0.9 × 600k = 540k


def test_at_steps_cuts_every_run_at_one_budget(tmp_path, capsys):
    runs = tmp_path / "runs"
    _write_run(runs, "dream", 0, [-1.0, 0.2, 0.8])  # evaluations at 0, 50k, 100k env steps
    _write_run(runs, "erl2", 0, [-1.0, 0.1])
    out = tmp_path / "out"
    assert main([str(runs), "--out", str(out), "--at-steps", "60_000"]) == 0
    final = read_csv(out / "final_returns.csv").set_index("method")
    assert final.loc["dream", "return_mean"] == pytest.approx(0.2)
    assert final.loc["dream", "env_steps"] == 50_000
    assert main([str(runs), "--out", str(out), "--at-steps", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err == "error: --at-steps 0: allowed: an integer >= 1"


def test_cli_writes_panels_for_both_problem_splits(tmp_path, capsys):
    runs = tmp_path / "runs"
    for seed in (0, 1):
        _write_run(runs, "erl2", seed, [-1.0, 0.1], env="cooking", splits=("test", "train_eval"))
    out = tmp_path / "out"
    assert main([str(runs), "--out", str(out)]) == 0
    for name in ("curves.png", "cooking.png", "curves.csv", "final_returns.csv"):
        assert (out / name).stat().st_size > 0
    final = read_csv(out / "final_returns.csv").set_index("split")
    assert final.loc["train_eval", "return_mean"] == pytest.approx(0.2)
    assert final.loc["test", "return_mean"] == pytest.approx(0.1)
    assert "erl2" in capsys.readouterr().out
    training = aggregate(collect([runs]), ("train",))
    assert set(training["split"]) == {"train"} and (training["return_mean"] == -9.0).all()
    assert main([str(runs), "--out", str(out), "--training-returns"]) == 0


def test_cli_without_runs_is_a_one_line_error(tmp_path, capsys):
    assert main([str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no metrics.csv" in err


def test_env_kwargs_make_their_own_curve(tmp_path):
    _write_run(tmp_path, "dream", 0, [0.1, 0.2], env="distracting_bus")
    _write_run(tmp_path, "dream", 0, [0.5, 0.7], env="distracting_bus",
               env_kwargs={"train_split": "independent"})  # fmt: skip
    final = final_returns(collect([tmp_path])).set_index("env")
    assert final.loc["distracting_bus", "return_mean"] == pytest.approx(0.2)
    assert final.loc["distracting_bus[train_split=independent]", "return_mean"] == 0.7
    assert main([str(tmp_path), "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "distracting_bus_train_split_independent.png").is_file()


def test_reference_lines_of_env_kwargs_runs_come_from_their_own_rows(tmp_path):
    from analysis.learning_curves import _reference_row

    refs = pd.DataFrame(
        {
            "benchmark": ["distracting_bus", "distracting_bus[train_split=independent]"],
            "variant": ["paper", "paper"],
            "split": ["test", "test"],
            "optimal": [0.8, 0.5],
        }
    )
    own = _reference_row(refs, "distracting_bus[train_split=independent]", "paper", "test")
    assert own["optimal"] == 0.5
    fallback = _reference_row(refs, "distracting_bus[horizon=30]", "paper", "test")
    assert fallback["optimal"] == 0.8


def test_step_tick_labels():
    from analysis.learning_curves import _steps_label

    assert [_steps_label(x) for x in (0, 500, 250_000, 1_000_000, 1_500_000)] == [
        "0", "500", "250k", "1M", "1.5M"
    ]  # fmt: skip


def test_many_panels_wrap_onto_rows(tmp_path):
    for env in ("map", "cooking", "distracting_bus"):
        _write_run(
            tmp_path / "runs", "erl2", 0, [-1.0, 0.1], env=env, splits=("test", "train_eval")
        )
    out = tmp_path / "out"
    assert main([str(tmp_path / "runs"), "--out", str(out)]) == 0
    from PIL import Image

    width, height = Image.open(out / "curves.png").size  # 6 panels: 4 in the first row, 2 below
    one_row = Image.open(out / "map.png").size[1]
    assert height == 2 * one_row and width == 4 * Image.open(out / "map.png").size[0] // 2


def test_final_returns_count_the_seeds_that_become_and_stay_informative(tmp_path):
    for seed in (0, 1, 2):
        _write_run(tmp_path, "dream", seed, [-1.0, 0.5, 0.8])  # evaluations at 0, 50k, 100k
    df = collect([tmp_path])
    step = df["env_steps"] // 50_000
    reveal = {0: [0, 1, 1], 1: [0, 1, 0], 2: [0, 0, 1]}  # informative from 50k / never / 100k
    df["reveal_frac"] = [float(reveal[s][k]) for s, k in zip(df["seed"], step, strict=True)]
    final = final_returns(df).set_index("split").loc["test"]
    assert final["informative_seeds"] == 2
    assert final["steps_to_informative_mean"] == pytest.approx((50_000 + 100_002) / 2)
    df["reveal_frac"] = 0.0
    assert math.isnan(final_returns(df).iloc[0]["steps_to_informative_mean"])


def test_bandit_runs_get_the_reference_row_of_their_a_and_h():
    from analysis.learning_curves import _reference_row
    from deep.envs.bandit import BanditConfig

    assert (BanditConfig().A, BanditConfig().H) == (2, 1)  # what a bare "bandit" run used
    refs = pd.DataFrame(
        {
            "benchmark": ["bandit", "bandit", "bandit"],
            "variant": ["A=2,H=1", "A=4,H=1", "A=4,H=2"],
            "split": ["all"] * 3,
            "no_exploration": [0.5, 0.25, 0.125],
        }
    )
    assert _reference_row(refs, "bandit[A=4]", "paper", "test")["no_exploration"] == 0.25
    assert _reference_row(refs, "bandit[A=4,H=2]", "paper", "test")["no_exploration"] == 0.125
    assert _reference_row(refs, "bandit", "paper", "test")["no_exploration"] == 0.5
    assert _reference_row(refs, "bandit[A=9]", "paper", "test") is None
