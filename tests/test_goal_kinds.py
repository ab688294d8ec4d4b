"""``python -m analysis.diagnostics.goal_kinds``: per-kind told-μ rows of several diagnoses."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.diagnostics import goal_kinds
from common.io import read_csv, read_header, write_csv


def _folder(tmp_path, name, run, steps, env_kwargs, frac_ab):
    """A diagnostics folder holding only ``exploitation_goal_kinds.csv``."""
    folder = tmp_path / name
    folder.mkdir()
    header = {
        "run": run,
        "checkpoint_env_steps": steps,
        "config": {"seed": 0, "env_kwargs": env_kwargs, "method": "dream", "method_args": {}},
    }
    kinds = pd.DataFrame(
        {
            "split": ["train", "train"],
            "goal_kind": ["a, b", "a, a"],
            "pairs": [210, 145],
            "return_mean": [-0.7, 0.37],
            "frac_optimal": [frac_ab, 0.99],
        }
    )
    write_csv(folder / goal_kinds.SOURCE, kinds, header)
    return folder


@pytest.fixture
def folders(tmp_path):
    return [
        _folder(tmp_path, "late", "runs/cooking/dream/s2", 750_000, {}, 0.5),
        _folder(tmp_path, "add", "runs/cooking_add/dream/s0", 318_289, {"stage_reward": "add"}, 0),
        _folder(tmp_path, "early", "runs/cooking/dream/s2", 318_249, {}, 0.0),
    ]


def test_rows_carry_their_checkpoint_and_are_sorted_by_run_and_steps(folders):
    table = goal_kinds.goal_kinds_table(folders)
    assert list(table.columns[:6]) == list(goal_kinds.RUN_COLUMNS)
    assert len(table) == 6
    runs = ["runs/cooking/dream/s2"] * 4 + ["runs/cooking_add/dream/s0"] * 2
    assert table["run"].tolist() == runs
    assert table["env_steps"].tolist()[:4] == [318_249, 318_249, 750_000, 750_000]
    assert table["goal_kind"].tolist()[:2] == ["a, a", "a, b"]  # sorted within a checkpoint
    late_ab = table[(table["env_steps"] == 750_000) & (table["goal_kind"] == "a, b")]
    assert late_ab["frac_optimal"].item() == 0.5
    assert set(table.loc[table["run"].str.contains("add"), "env_kwargs"]) == {
        '{"stage_reward":"add"}'
    }


def test_the_cli_writes_its_csv_and_replaces_only_its_own(folders, tmp_path, capsys):
    out = tmp_path / "kinds.csv"
    assert goal_kinds.main([*map(str, folders), "--out", str(out)]) == 0
    assert "| runs/cooking/dream/s2" in capsys.readouterr().out
    assert len(read_csv(out)) == 6
    assert read_header(out)["folders"] == [str(f) for f in folders]
    assert goal_kinds.main([str(folders[0]), "--out", str(out)]) == 0  # its own file: replaced
    assert len(read_csv(out)) == 2
    foreign = tmp_path / "notes.csv"
    foreign.write_text("mine\n1\n")
    assert goal_kinds.main([str(folders[0]), "--out", str(foreign)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "was not written by" in err
    assert foreign.read_text() == "mine\n1\n"


def test_a_folder_without_the_file_is_one_line(tmp_path, capsys):
    assert goal_kinds.main([str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "exploitation_goal_kinds.csv: no such file" in err
