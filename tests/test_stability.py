"""analysis.stability: evaluations after the first optimal one, each dip blamed on a component."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from analysis.stability import dips, label_dip, main, stability
from common.io import read_csv, write_csv

MAP_OPTIMAL = 0.8  # results/benchmarks/reference_values.csv, map (paper, all problems)


def _write_run(root, evaluations, *, env="map", seed=0, train=None, epsilons=None):
    """A run folder: ``evaluations`` (return, reveal_frac, return_informed) of the test split,
    ``train`` the same for training problems (``--eval-splits test,train``), ``epsilons``
    π^exp's ε at each evaluation (default 1.0)."""
    rows = []
    for split, evals in (("test", evaluations), ("train_eval", train or [])):
        for i, (ret, reveal, informed) in enumerate(evals):
            rows.append(
                {
                    "method": "dream", "env": env, "seed": seed, "trial": 2000 * i,
                    "env_steps": 50_000 * i, "split": split, "return": ret,
                    "reveal_frac": reveal, "return_informed": informed, "decoder_error": 0.1,
                    "epsilon_explore": 1.0 if epsilons is None else epsilons[i],
                }
            )  # fmt: skip
    out = root / env / f"s{seed}"
    out.mkdir(parents=True)
    write_csv(out / "metrics.csv", pd.DataFrame(rows), {"run": {"variant": None}})
    return out


@pytest.mark.parametrize(
    ("reveal", "informed", "blamed"),
    [
        (0.8, 0.8, "exploration"),
        (1.0, 0.3, "exploitation"),
        (0.8, 0.3, "exploration+exploitation"),
        (1.0, 0.8, "decoder"),
        (1.0, math.nan, "unattributed"),
        (math.nan, 0.8, "decoder"),  # no reveal oracle: exploration is never blamed
    ],
)
def test_each_rule_blames_its_component(reveal, informed, blamed):
    assert label_dip(reveal, 1.0, informed, MAP_OPTIMAL, 0.02) == blamed


def test_a_dip_is_only_a_fall_beyond_the_tolerance():
    assert label_dip(1.0, 1.0, MAP_OPTIMAL - 0.01, MAP_OPTIMAL, 0.02) == "decoder"
    assert label_dip(1.0, 1.0, MAP_OPTIMAL - 0.03, MAP_OPTIMAL, 0.02) == "exploitation"


def test_dips_after_the_first_optimal_evaluation_are_counted_and_blamed(tmp_path):
    from analysis.learning_curves import collect, load_references

    _write_run(
        tmp_path,
        [
            (-1.0, 0.0, 0.5),  # before the first optimal evaluation: not a dip
            (0.8, 1.0, 0.8),
            (0.3, 0.8, 0.8),  # exploration fell
            (0.8, 1.0, 0.8),
            (0.4, 1.0, 0.8),  # revealed and told μ is optimal: the decoder
            (0.5, 1.0, 0.2),  # π^task fails told μ
        ],
    )
    table = dips(collect([tmp_path]), load_references(None), 0.02)
    assert list(table["env_steps"]) == [50_000, 100_000, 150_000, 200_000, 250_000]
    assert list(table["component"]) == ["", "exploration", "", "decoder", "exploitation"]
    run = stability(table).iloc[0]
    assert run["first_optimal_steps"] == 50_000
    assert (run["evals_from_first"], run["evals_at_optimum"], run["dips"]) == (5, 2, 3)
    assert (run["dips_exploration"], run["dips_exploitation"], run["dips_decoder"]) == (1, 1, 1)
    assert not run["final_at_optimum"]


def test_held_out_dips_read_told_mu_on_the_training_problems(tmp_path):
    from analysis.learning_curves import collect, load_references

    # f(μ) of held-out problems is untrained: their told-μ return (−1.5) says nothing about
    # π^task; the training-problem evaluation at the same point does (0.8: not exploitation).
    _write_run(
        tmp_path,
        [(0.8, 1.0, -1.5), (0.2, 1.0, -1.5)],
        env="distracting_bus",
        train=[(0.8, 1.0, 0.8), (0.8, 1.0, 0.8)],
    )
    table = dips(collect([tmp_path]), load_references(None), 0.02)
    held_out = table[(table["split"] == "test") & ~table["at_optimum"]].iloc[0]
    assert held_out["informed_split"] == "train_eval"
    assert held_out["component"] == "decoder"


def test_cli_writes_both_tables_and_skips_runs_that_never_reach_the_optimum(tmp_path, capsys):
    _write_run(tmp_path, [(0.8, 1.0, 0.8), (0.1, 0.5, 0.8)], seed=0)
    _write_run(tmp_path, [(-1.0, 0.0, 0.5), (0.0, 0.0, 0.5)], seed=1)
    assert main([str(tmp_path), "--out", str(tmp_path / "out")]) == 0
    per_run = read_csv(tmp_path / "out" / "stability.csv")
    assert list(per_run["seed"]) == [0]
    dip_rows = read_csv(tmp_path / "out" / "dips.csv")
    assert list(dip_rows["component"]) == ["exploration"]
    assert "exploration" in capsys.readouterr().out


def test_bad_tolerance_is_one_line(tmp_path, capsys):
    _write_run(tmp_path, [(0.8, 1.0, 0.8)])
    assert main([str(tmp_path), "--tolerance", "-1", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--tolerance" in err[0] and "-1" in err[0]


def test_no_run_at_its_optimum_writes_empty_tables_with_their_columns(tmp_path, capsys):
    _write_run(tmp_path, [(-1.0, 0.0, 0.5)])
    assert main([str(tmp_path), "--out", str(tmp_path / "out")]) == 0
    assert "no run reached its optimum" in capsys.readouterr().out
    per_run = read_csv(tmp_path / "out" / "stability.csv")
    assert len(per_run) == 0 and "dips_exploration" in per_run.columns


def test_dips_say_whether_the_replay_held_only_exploration_at_the_epsilon_floor(tmp_path):
    from analysis.learning_curves import collect, load_references

    _write_run(
        tmp_path,
        [(0.8, 1.0, 0.8), (0.8, 1.0, 0.8), (0.8, 1.0, 0.8), (0.8, 1.0, 0.8), (0.2, 0.5, 0.8)],
        epsilons=[1.0, 0.5, 0.01, 0.01, 0.01],
    )
    # a replay of 4000 trials holds two evaluation windows: at trial 8000 its oldest trial is
    # 4000, played at ε = 0.01 (the floor); at trial 6000 it is 2000, played at ε = 0.5
    table = dips(collect([tmp_path]), load_references(None), 0.02, replay_capacity=4000)
    assert table["replay_oldest_epsilon"].tolist() == [1.0, 1.0, 1.0, 0.5, 0.01]
    assert table["replay_at_floor"].tolist() == [False, False, False, False, True]
    run = stability(table).iloc[0]
    assert (run["evals_floor_replay"], run["dips_floor_replay"]) == (1, 1)
