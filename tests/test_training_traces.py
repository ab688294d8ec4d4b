"""Figure 3b-d entry point: traces agree with the kernels' certified measures."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis import training_traces
from common.io import read_csv, read_header
from tabular.traces import training_trace


def test_traces_agree_with_kernel_t_greedy(tmp_path, capsys):
    out = tmp_path / "tr"
    assert (
        training_traces.main(
            ["--A", "4", "--seeds", "3", "--every", "1", "--out", str(out), "--quiet"]
        )
        == 0
    )
    df = read_csv(out / "traces.csv")
    assert read_header(out / "traces.csv")["config"]["A"] == 4
    assert (out / "figure3bcd.png").stat().st_size > 10_000
    for (_, _), trace in df.groupby(["method", "seed"]):
        not_optimal = trace.loc[~trace.greedy_optimal, "trial"]
        assert not_optimal.max() + 1 == trace.T_greedy.iloc[0]
        # after T_greedy, a_star has the largest exploration value on every recorded trial
        after = trace[trace.trial >= trace.T_greedy.iloc[0]]
        q_cols = [c for c in df.columns if c.startswith("q_exp_")]
        assert (after[q_cols[-1]].to_numpy()[:, None] > after[q_cols[:-1]].to_numpy()).all()
        # the run ends with optimal exploitation too (both methods converge on A = 4)
        assert trace.greedy_return.iloc[-1] == pytest.approx(1.0)
    table = training_traces.seed_summary(df)  # the printed table: T_greedy per method, seed
    assert table["T_greedy"].tolist() == df.groupby(["method", "seed"]).T_greedy.first().tolist()
    assert table.to_string() in capsys.readouterr().out
    first = pd.read_csv(out / "traces.csv", comment="#")
    assert training_traces.main(["--from-csv", str(out / "traces.csv")]) == 0
    assert first.equals(read_csv(out / "traces.csv"))
    assert table.to_string() in capsys.readouterr().out  # the redraw prints the same table


def test_dream_values_are_negative_entropies():
    trace = training_trace("dream", 3, 1, 1.0, seed=0, n_trials=200)
    last = trace.iloc[-1]
    assert last.q_exp_2 == 0.0  # a_star: log 1
    assert -1.0986123 - 1e-9 <= last.q_exp_0 < 0  # -H(empirical) >= -log 3


@pytest.mark.parametrize(
    "argv",
    [
        ["--A", "1"],
        ["--A", "x"],
        ["--seeds", "0"],
        ["--epsilon", "1.5"],
        ["--epsilon", "0.5,1"],
        ["--A", "9", "--H", "2"],
    ],
)
def test_bad_input_exits_2_with_one_line(argv, tmp_path, capsys):
    out = tmp_path / "never"
    assert training_traces.main([*argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ")
    assert not out.exists()
