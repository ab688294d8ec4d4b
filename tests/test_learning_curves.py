"""analysis.learning_curves: seeds aggregated with a t interval, last evaluations, files."""

from __future__ import annotations

import dataclasses
import json
import math
import shutil

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from analysis import learning_curves
from analysis.learning_curves import aggregate, collect, final_returns, main, mean_ci
from common.io import read_csv, write_csv
from deep.train import RunConfig


def _write_run(
    root,
    method,
    seed,
    returns,
    *,
    method_args=None,
    env="map",
    splits=("test",),
    env_kwargs=None,
    config=None,
    summary_steps=None,
    folder=None,
):
    """A run folder with a metrics.csv; ``config``: a config.json of these RunConfig fields;
    ``summary_steps``: a summary.json with these env steps."""
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
    if folder is not None:
        out = root / folder
    out.mkdir(parents=True)
    header = {
        "run": {"variant": None, "method_args": method_args or {}, "env_kwargs": env_kwargs or {}}
    }
    if config is not None:
        run = RunConfig(env=env, method=method, seed=seed, method_args=method_args or {},
                        env_kwargs=env_kwargs or {}, **config)  # fmt: skip
        header = {"run": dataclasses.asdict(run)}
        (out / "config.json").write_text(json.dumps(header["run"], indent=2))
    write_csv(out / "metrics.csv", pd.DataFrame(rows), header)
    if summary_steps is not None:
        summary = {"method": method, "env_steps": summary_steps, "steps_to_informative": math.nan}
        (out / "summary.json").write_text(json.dumps(summary))  # NaN: as trainers wrote it
    return out


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


def test_cli_prints_the_final_returns_table_of_the_files(tmp_path, capsys):
    """What the CLI prints is :func:`format_final_returns` of the runs' files (notebooks too)."""
    runs = tmp_path / "runs"
    for seed in (0, 1):
        _write_run(runs, "dream", seed, [-1.0, 0.5 + seed])
    assert main([str(runs), "--out", str(tmp_path / "out")]) == 0
    refs = learning_curves.load_references(None)
    text = learning_curves.format_final_returns(final_returns(collect([runs]), refs))
    assert capsys.readouterr().out == text + "\n"
    assert " 1.000 " in text  # the last return's mean over the two seeds, 3 decimals


def test_final_returns_carry_their_panels_reference_values(tmp_path):
    _write_run(tmp_path, "dream", 0, [-1.0, 0.5])
    _write_run(tmp_path, "dream", 0, [0.1], env="no_such_benchmark")
    refs = learning_curves.load_references(None)
    final = final_returns(collect([tmp_path]), refs).set_index("env")
    map_row = refs[(refs["benchmark"] == "map") & (refs["variant"] == "paper")].iloc[0]
    for column in ("optimal", "pearl_ub", "no_exploration"):
        assert final.loc["map", column] == pytest.approx(map_row[column])
        assert math.isnan(final.loc["no_such_benchmark", column])
    assert "optimal" not in final_returns(collect([tmp_path])).columns  # no table, no columns


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
    from analysis.learning_curves import reference_row

    refs = pd.DataFrame(
        {
            "benchmark": ["distracting_bus", "distracting_bus[train_split=independent]"],
            "variant": ["paper", "paper"],
            "split": ["test", "test"],
            "optimal": [0.8, 0.5],
        }
    )
    own = reference_row(refs, "distracting_bus[train_split=independent]", "paper", "test")
    assert own["optimal"] == 0.5
    fallback = reference_row(refs, "distracting_bus[horizon=30]", "paper", "test")
    assert fallback["optimal"] == 0.8


def test_a_runs_reference_row_is_named_by_the_fields_that_change_references():
    """Cooking's held-out problem changes its references and its pot does not: a run made
    with both reads its held-out problem's row, and a combination without a row reads none
    (never another problem's values)."""
    from analysis.learning_curves import reference_row

    refs = pd.DataFrame(
        {
            "benchmark": ["cooking", "cooking[held_out=10]", "cooking[stage_reward=add]"],
            "variant": ["paper"] * 3,
            "split": ["test"] * 3,
            "optimal": [1 / 3, 0.4, -0.067],
        }
    )
    for env, optimal in (
        ("cooking[held_out=10,pot=observed]", 0.4),
        ("cooking[held_out=10]", 0.4),
        ("cooking[pot=observed]", 1 / 3),
        ("cooking[held_out=11,pot=hidden]", 1 / 3),  # the default problem, named
        ("cooking[pot=hidden,stage_reward=add]", -0.067),
    ):
        assert reference_row(refs, env, "paper", "test")["optimal"] == optimal, env
    assert reference_row(refs, "cooking[held_out=10,stage_reward=add]", "paper", "test") is None


def test_step_tick_labels():
    from analysis.learning_curves import _steps_label

    assert [_steps_label(x) for x in (0, 500, 250_000, 1_000_000, 1_500_000)] == [
        "0", "500", "250k", "1M", "1.5M"
    ]  # fmt: skip


def test_a_family_without_held_out_problems_is_titled_as_all_of_them():
    # map's test split is its training split: its panel must not claim held-out problems
    assert learning_curves.split_title("map", "test") == "all 24 problems (none held out)"
    assert learning_curves.split_title("distracting_bus", "test") == "held-out problems"
    assert learning_curves.split_title("map", "train_eval") == "training problems"
    assert learning_curves.split_title("no_such_env", "test") == "held-out problems"


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
    from analysis.learning_curves import reference_row
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
    assert reference_row(refs, "bandit[A=4]", "paper", "test")["no_exploration"] == 0.25
    assert reference_row(refs, "bandit[A=4,H=2]", "paper", "test")["no_exploration"] == 0.125
    assert reference_row(refs, "bandit", "paper", "test")["no_exploration"] == 0.5
    assert reference_row(refs, "bandit[A=9]", "paper", "test") is None


# ----------------------------------------------------------------------------- runs pooled honestly
SWEEP = {"preset": "tiny", "steps": 100_000, "num_envs": 4}


def _sweep_folder(root, returns_by_seed):
    for seed, returns in returns_by_seed.items():
        steps = 50_000 * (len(returns) - 1) + seed
        _write_run(root, "dream", seed, returns, config=SWEEP, summary_steps=steps + 100_000)


def test_three_copies_of_a_sweep_are_refused_or_deduplicated(tmp_path, capsys):
    """The same 2-seed sweep copied three times under one root: pooling would say "seeds 2"
    with a CI from 6 values (0.017 instead of 0.185 here); it is an error, or --dedupe."""
    one = tmp_path / "one"
    _sweep_folder(one / "copy1", {0: [-1.0, 0.3, 0.5], 1: [-1.0, 0.2, 0.6]})
    for name in ("copy2", "copy3"):
        shutil.copytree(one / "copy1", tmp_path / "root" / name)
    shutil.copytree(one / "copy1", tmp_path / "root" / "copy1")
    assert main([str(one), "--out", str(tmp_path / "ref")]) == 0
    capsys.readouterr()
    reference = read_csv(tmp_path / "ref" / "curves.csv")
    assert reference["return_ci95"].iloc[-1] == pytest.approx(mean_ci(np.array([0.5, 0.6]))[1])

    root = tmp_path / "root"
    assert main([str(root), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1, err
    assert err[0].startswith(
        f"error: {root / 'copy2/map/dream/s0'} and {root / 'copy1/map/dream/s0'}"
    )
    assert "seed 0" in err[0] and "--dedupe" in err[0]
    assert not (tmp_path / "out").exists()

    assert main([str(root), "--out", str(tmp_path / "out"), "--dedupe"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"dropped {root / c / 'map/dream' / s}: the same run as {root / 'copy1/map/dream' / s} "
        "(--dedupe)"
        for c in ("copy2", "copy3")
        for s in ("s0", "s1")
    ]
    curves = read_csv(tmp_path / "out" / "curves.csv")
    pd.testing.assert_frame_equal(curves, reference)  # the numbers of one copy
    final = read_csv(tmp_path / "out" / "final_returns.csv")
    assert final["seeds"].tolist() == [2]


def test_the_same_folder_given_twice_counts_once(tmp_path, capsys):
    _sweep_folder(tmp_path / "runs", {0: [0.1, 0.2], 1: [0.3, 0.4]})
    runs = tmp_path / "runs"
    assert main([str(runs), str(runs / "map"), "--out", str(tmp_path / "out")]) == 0
    assert read_csv(tmp_path / "out" / "final_returns.csv")["seeds"].tolist() == [2]


def test_paper_and_tiny_runs_are_never_pooled(tmp_path, capsys):
    base = {"steps": 100_000}
    _write_run(tmp_path, "dream", 0, [0.0, 0.8], config={**base, "preset": "paper"},
               folder="paper/s0", summary_steps=100_000)  # fmt: skip
    _write_run(tmp_path, "dream", 0, [0.0, -0.4], config={**base, "preset": "tiny"},
               folder="tiny/s0", summary_steps=100_000)  # fmt: skip
    _write_run(tmp_path, "dream", 1, [0.0, -0.2], config={**base, "preset": "tiny"},
               folder="tiny/s1", summary_steps=100_000)  # fmt: skip
    final = final_returns(collect([tmp_path])).set_index("preset")
    assert final.loc["paper", "seeds"] == 1 and final.loc["paper", "return_mean"] == 0.8
    assert final.loc["tiny", "seeds"] == 2
    assert final.loc["tiny", "return_mean"] == pytest.approx(-0.3)
    assert main([str(tmp_path), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "paper" in out and "tiny" in out


def test_budget_and_other_config_separate_curves_but_ignored_keys_do_not(tmp_path):
    _write_run(tmp_path, "erl2", 0, [0.0, 0.5], config={"steps": 100_000}, folder="a/s0")
    _write_run(tmp_path, "erl2", 0, [0.0, 0.1], config={"steps": 1_000_000}, folder="b/s0")
    _write_run(tmp_path, "erl2", 0, [0.0, 0.2], config={"steps": 100_000, "eval_trials": 8},
               folder="c/s0")  # fmt: skip
    ignored = {"steps": 100_000, "threads": 4, "device": "cuda", "checkpoint_every": 7,
               "checkpoint_minutes": 1.5, "eval_every": 1000,
               "eval_splits": ("test", "train")}  # fmt: skip
    _write_run(tmp_path, "erl2", 1, [0.0, 0.7], config=ignored, folder="d/s1")
    keys = ("threads", "device", "checkpoint_every", "checkpoint_minutes", "eval_every")
    assert {*keys, "eval_splits", "seed"} <= learning_curves.IGNORED_CONFIG_KEYS
    final = final_returns(collect([tmp_path]))
    assert len(final) == 3
    pooled = final[(final["steps"] == 100_000) & ~final["other_config"].str.contains("=8,")]
    assert pooled["seeds"].tolist() == [2]
    assert pooled["return_mean"].tolist() == [pytest.approx(0.6)]
    assert final.loc[final["steps"] == 1_000_000, "return_mean"].tolist() == [0.1]


def test_unfinished_runs_pooled_with_finished_ones_are_flagged(tmp_path, capsys):
    cfg = {"steps": 100_000}
    _write_run(tmp_path, "dream", 0, [0.0, 0.5], config=cfg, summary_steps=100_004)
    _write_run(tmp_path, "dream", 1, [0.0, 0.6], config=cfg, summary_steps=100_001)
    _write_run(tmp_path, "dream", 2, [0.0, 0.1], config=cfg)  # no summary: still running
    _write_run(tmp_path, "dream", 3, [0.0, 0.2], config=cfg, summary_steps=50_003)  # a stage
    _write_run(tmp_path, "erl2", 0, [0.0, 0.3], config=cfg, summary_steps=100_000)
    assert main([str(tmp_path), "--out", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "warning: map dream [default] (preset paper, 100000 steps) pools 2 unfinished of 4 "
        "seeds (unfinished_seeds in final_returns.csv)"
    ]
    final = read_csv(tmp_path / "out" / "final_returns.csv").set_index("method")
    assert final.loc["dream", "unfinished_seeds"] == 2 and final.loc["dream", "seeds"] == 4
    assert final.loc["erl2", "unfinished_seeds"] == 0


def test_default_references_are_found_from_any_working_directory(tmp_path, monkeypatch, capsys):
    _write_run(tmp_path / "runs", "dream", 0, [0.0, 0.5])
    monkeypatch.chdir(tmp_path)
    assert learning_curves.DEFAULT_REFERENCES.is_file()
    refs = learning_curves.load_references(None)
    assert refs is not None and "map" in set(refs["benchmark"])
    assert main(["runs", "--out", "out"]) == 0
    assert (tmp_path / "out" / "map.png").is_file()


def test_a_missing_references_file_is_an_error(tmp_path, capsys):
    _write_run(tmp_path / "runs", "dream", 0, [0.0, 0.5])
    missing = tmp_path / "nope.csv"
    assert (
        main([str(tmp_path / "runs"), "--references", str(missing), "--out", str(tmp_path / "o")])
        == 2
    )
    err = capsys.readouterr().err.splitlines()
    assert err == [f"error: --references {missing}: no such file"]
    garbage = tmp_path / "refs.csv"
    garbage.write_bytes(b"\x00\xff\xfe not a table\n")
    assert (
        main([str(tmp_path / "runs"), "--references", str(garbage), "--out", str(tmp_path / "o")])
        == 2
    )
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {garbage}: ") and "left as it is" in err[0]


def test_the_informed_return_and_task_progress_are_aggregated(tmp_path):
    """``return_informed`` (exploitation told μ) is averaged per curve and in the final table;
    runs without the column (older runs, E-RL²) give NaN, not an error."""
    from analysis.learning_curves import aggregate, final_returns

    def rows(seed: int, informed: list[float] | None) -> pd.DataFrame:
        df = pd.DataFrame(
            {
                "env": "map", "variant": "paper", "method": "dream", "setting": "",
                "preset": "paper", "steps": 100, "other_config": "", "seed": seed,
                "split": "test", "trial": [0, 10], "env_steps": [0, 100],
                "return": [0.1, 0.5], "reveal_frac": [0.0, 1.0],
            }
        )  # fmt: skip
        if informed is not None:
            df["return_informed"] = informed
            df["exploit_progress"] = [0.0, 0.75]
        return df

    both = pd.concat([rows(0, [0.2, 0.8]), rows(1, [0.4, 0.6])], ignore_index=True)
    curves = aggregate(both)
    assert curves.sort_values("trial")["return_informed_mean"].tolist() == pytest.approx([0.3, 0.7])
    final = final_returns(both)
    assert final["return_informed_mean"].tolist() == pytest.approx([0.7])
    assert final["exploit_progress_mean"].tolist() == pytest.approx([0.75])
    assert aggregate(rows(0, None))["return_informed_mean"].isna().all()


def test_seed_tails_average_the_last_tenth_of_each_seeds_evaluations():
    """Per seed: the mean over evaluations at env_steps >= 90% of its last one, of the return
    and of return_informed; final_returns' tail mean and CI are over those per-seed means."""
    from analysis.learning_curves import seed_tails

    def rows(seed: int, returns: list[float], informed: list[float]) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "env": "map", "variant": "paper", "method": "dream", "setting": "",
                "preset": "paper", "steps": 100, "other_config": "", "seed": seed,
                "split": "test", "trial": [0, 1, 2, 3], "env_steps": [0, 50, 91, 100],
                "return": returns, "reveal_frac": 1.0, "return_informed": informed,
            }
        )  # fmt: skip

    both = pd.concat(
        [rows(0, [0.0, 0.1, 0.4, 0.6], [0.0, 0.5, 0.7, 0.9]), rows(1, [0.0, 0.2, 0.6, 0.8],
                                                                     [0.1, 0.6, 0.8, 0.8])],
        ignore_index=True,
    )  # fmt: skip
    tails = seed_tails(both).set_index("seed")
    assert tails["tail_evals"].tolist() == [2, 2]  # env_steps 91 and 100
    assert tails["tail_return"].tolist() == pytest.approx([0.5, 0.7])
    assert tails["tail_return_informed"].tolist() == pytest.approx([0.8, 0.8])
    final = final_returns(both).iloc[0]
    mean, half = mean_ci(np.array([0.5, 0.7]))
    assert final["tail_return_mean"] == pytest.approx(mean)
    assert final["tail_return_ci95"] == pytest.approx(half)
    assert final["tail_return_informed_mean"] == pytest.approx(0.8)


def test_a_variant_without_exact_references_gets_no_reference_lines():
    # cooking's official variant (the pot observed) has no exact references; its panel must
    # not borrow the paper variant's
    refs = learning_curves.load_references(None)
    assert learning_curves.reference_row(refs, "cooking", "official", "test") is None
    paper = learning_curves.reference_row(refs, "cooking", "paper", "test")
    assert paper is not None and math.isclose(paper["optimal"], 1 / 3)


def test_the_results_folder_keeps_copies_that_remake_it(tmp_path):
    runs = tmp_path / "runs"
    for seed in (0, 1):
        _write_run(runs, "dream", seed, [-1.0, 0.2 + seed], splits=("test", "train_eval"),
                   config={"steps": 50_000}, summary_steps=50_001)  # fmt: skip
    _write_run(runs, "erl2", 0, [-1.0, 0.1], method_args={"lr": 0.001})
    out = tmp_path / "out"
    assert main([str(runs), "--out", str(out)]) == 0
    copies = sorted(p.relative_to(out) for p in out.rglob("metrics.csv"))
    assert len(copies) == 3 and all(p.parts[0] == "run_copies" for p in copies)
    assert (out / copies[0].parent / "summary.json").is_file()  # finished stays finished
    first = {n: (out / n).read_bytes() for n in ("curves.csv", "final_returns.csv")}
    shutil.rmtree(runs)  # the raw runs are gone
    again = tmp_path / "again"
    assert main([str(out / "run_copies"), "--out", str(again)]) == 0
    for name, data in first.items():  # the same numbers; only the header's run paths differ
        assert (again / name).read_text().split("\n", 1)[1] == data.decode().split("\n", 1)[1]
    before = {p: p.stat().st_mtime_ns for p in (out / "run_copies").rglob("*") if p.is_file()}
    assert main([str(out / "run_copies"), "--out", str(out)]) == 0  # read from its own copies
    assert {p: p.stat().st_mtime_ns for p in before} == before


def test_copies_below_the_runs_read_are_not_counted_again(tmp_path):
    runs = tmp_path / "runs"
    _write_run(runs, "dream", 0, [-1.0, 0.5])
    out = runs / "figures"  # the results folder inside the tree of runs
    for _ in range(2):  # the second call would find the run and its copy
        assert main([str(runs), "--out", str(out)]) == 0
        assert read_csv(out / "final_returns.csv")["seeds"].tolist() == [1]
    assert len(collect([out / "run_copies"])) == len(collect([runs]))  # named: read


def test_the_evaluations_at_the_budget_are_one_point_of_the_curve(tmp_path):
    """Seeds reach the budget at different trial counts (28,400, 28,496, ...): their last,
    off-grid evaluations pool into one point, not one single-seed point each."""
    for seed, last in ((0, 6400), (1, 6496), (2, 6000)):
        out = _write_run(tmp_path, "dream", seed, [-1.0, 0.0, 0.4, 0.6])  # trials 0..6000
        metrics = read_csv(out / "metrics.csv")
        if last != 6000:  # seed 2 ends on its grid: its 6000 is a grid point
            final = metrics[metrics["trial"] == 6000].assign(trial=last, env_steps=1_000_000)
            final["return"] = 0.5 + seed
            write_csv(out / "metrics.csv", pd.concat([metrics, final]), {"run": {}})
    curves = aggregate(collect([tmp_path]))
    test = curves[curves["split"] == "test"].sort_values("env_steps")
    assert list(test["trial"]) == [0, 2000, 4000, 6000, 6496]
    assert list(test["seeds"]) == [3, 3, 3, 3, 2]
    at_budget = test.iloc[-1]
    assert at_budget["return_mean"] == pytest.approx((0.5 + 1.5) / 2)
    assert at_budget["env_steps"] == pytest.approx(1_000_000)
    points = learning_curves.evaluation_points(collect([tmp_path]))
    assert np.isinf(points).sum() == 2 * 2  # two seeds' last rows, test and train window
