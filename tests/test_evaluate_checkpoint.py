"""analysis.evaluate_checkpoint and deep.envs.city.bus_rides."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from analysis.evaluate_checkpoint import main
from common.io import read_csv, read_header
from deep.envs.city import (
    COLORED_STOPS,
    GRAY_DESTS,
    GRAY_STOPS,
    START,
    CityConfig,
    bus_rides,
)
from deep.train import RunConfig, Trainer

torch.set_num_threads(1)


def test_bus_rides_counts_by_the_cell_ridden_from():
    config = CityConfig(kind="distracting")
    ride, up = config.actions.index("ride_bus"), config.actions.index("up")
    cells = [START, COLORED_STOPS[0], GRAY_STOPS[1], GRAY_DESTS[2], START]
    states = np.zeros((2, 6, 3), dtype=np.int64)
    states[:, : len(cells), :2] = cells
    actions = np.array([[ride, ride, ride, ride, up], [ride, ride, ride, ride, ride]])
    counts = bus_rides(config, states, actions, np.array([5, 2]))
    assert counts["colored"].tolist() == [1, 1]
    assert counts["gray"].tolist() == [2, 0]  # row 1 ends after 2 steps
    assert counts["elsewhere"].tolist() == [1, 1]  # ride at the start cell: no bus there
    vanilla = bus_rides(CityConfig(kind="vanilla"), states, actions, np.array([5, 2]))
    assert vanilla["gray"].tolist() == [0, 0] and vanilla["elsewhere"].tolist() == [3, 1]


@pytest.fixture(scope="module")
def bus_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    config = RunConfig(
        env="distracting_bus", preset="tiny", steps=700, num_envs=8, eval_every=16,
        eval_trials=8, threads=1, checkpoint_every=8,
    )  # fmt: skip
    Trainer(config, out, progress=False).run()
    return out


def test_cli_evaluates_both_splits(bus_run, tmp_path, capsys):
    out = tmp_path / "eval.csv"
    assert main([str(bus_run), "--trials", "12", "--out", str(out)]) == 0
    table = read_csv(out)
    assert table["split"].tolist() == ["train", "test"]
    assert (table["trials"] == 12).all() and (table["checkpoint_env_steps"] >= 700).all()
    rides = table[["rides_colored", "rides_gray", "rides_elsewhere"]].sum(axis=1)
    assert (rides <= table["explore_len"] + 1e-9).all()
    assert table["return"].between(-2.0, 0.8).all()
    header = read_header(out)
    assert header["config"]["env"] == "distracting_bus" and header["package"] == "dream-metarl"
    # the same seed plays the same trials: the same numbers again
    again = tmp_path / "again.csv"
    assert main([str(bus_run), "--trials", "12", "--out", str(again)]) == 0
    assert again.read_text() == out.read_text()
    assert "rides_gray" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--splits", "valid"], "--splits valid: allowed: train, test"),
        (["--trials", "0"], "--trials 0: allowed: an integer >= 1"),
        (["--seed", "x"], "--seed x"),
    ],
)
def test_bad_input_is_one_line(bus_run, capsys, argv, named):
    assert main([str(bus_run), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and named in err


def test_missing_checkpoint_is_one_line_naming_the_run_argument(tmp_path, capsys):
    assert main([str(tmp_path)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [f"error: run {tmp_path}: no checkpoint.pt there"]  # not --resume
