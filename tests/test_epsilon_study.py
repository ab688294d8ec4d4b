"""The ε-study entry point: monotonicity verdicts on fixtures, and a small end-to-end run."""

from __future__ import annotations

import pandas as pd

from analysis import epsilon_study
from common.io import read_csv


def _summary(method, means, epsilons=(1.0, 0.5, 0.1), sd=1.0, n=100):
    return pd.DataFrame(
        {
            "method": method,
            "learner": "per-trajectory",
            "H": 1,
            "A": 8,
            "measure": "T_greedy",
            "epsilon": list(epsilons),
            "mean": list(means),
            "sd": sd,
            "n": n,
        }
    )


def test_monotonicity_verdicts():
    table = epsilon_study.monotonicity(
        pd.concat([_summary("dream", [30, 20, 10]), _summary("rl2", [100, 90, 300])])
    ).set_index("method")
    assert table.loc["dream", "holds"]
    assert not table.loc["rl2", "holds"]
    # rl2 step 1 -> 0.5 goes 100 -> 90 against "slower": z = -10 / sqrt(2 * (1/10)^2)
    assert abs(table.loc["rl2", "worst_step_z"] - (-10 / (2 * 0.01) ** 0.5)) < 1e-9


def test_small_run_writes_figure_and_table(tmp_path):
    out = tmp_path / "eps"
    argv = ["--A", "3", "--epsilon", "1,0.5", "--seeds", "100", "--out", str(out), "--quiet"]
    assert epsilon_study.main(argv) == 0
    table = read_csv(out / "epsilon_monotonicity.csv")
    assert set(table.method) == {"rl2", "dream"} and len(table) == 6
    assert (out / "epsilon.png").stat().st_size > 10_000
    assert epsilon_study.main(["--from-csv", str(out / "summary.csv")]) == 0


def test_bad_input(tmp_path, capsys):
    assert epsilon_study.main(["--epsilon", "2", "--out", str(tmp_path / "x")]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert not (tmp_path / "x").exists()
    assert epsilon_study.main(["--A", "2,3", "--seeds", "5", "--out", str(tmp_path / "y")]) == 2
    assert not (tmp_path / "y").exists()
