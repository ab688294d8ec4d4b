"""analysis.summary_table: the README's table from what learning_curves and stability wrote."""

from __future__ import annotations

import pandas as pd

from analysis import learning_curves, stability, summary_table
from common.io import read_csv, write_csv


def _write_run(root, env, seed, evaluations, *, method="dream", train=None):
    """A finished-looking run: ``evaluations`` (return, reveal_frac, return_informed) of the
    test split and ``train`` those of the training problems."""
    rows = []
    for split, evals in (("test", evaluations), ("train_eval", train or [])):
        for i, (ret, reveal, informed) in enumerate(evals):
            rows.append(
                {
                    "method": method, "env": env, "seed": seed, "trial": 2000 * i,
                    "env_steps": 50_000 * i, "split": split, "return": ret,
                    "reveal_frac": reveal, "return_informed": informed, "decoder_error": 0.1,
                    "epsilon_explore": 1.0,
                }
            )  # fmt: skip
    out = root / "runs" / env / method / f"s{seed}"
    out.mkdir(parents=True)
    write_csv(out / "metrics.csv", pd.DataFrame(rows), {"run": {"variant": None}})


def _results(tmp_path, with_stability=True):
    # map: seed 0 reaches 0.8 and dips once; seed 1 never does
    _write_run(tmp_path, "map", 0, [(0.3, 0.5, 0.8)] * 5 + [(0.8, 1.0, 0.8), (0.5, 0.9, 0.8)] * 3)
    _write_run(tmp_path, "map", 1, [(0.3, 0.5, 0.8)] * 11)
    # distracting bus: held-out and training evaluations
    _write_run(
        tmp_path, "distracting_bus", 0, [(0.6, 1.0, 0.1)] * 10,
        train=[(0.7, 1.0, 0.75)] * 10,
    )  # fmt: skip
    out = tmp_path / "results"
    runs = [str(tmp_path / "runs")]
    assert learning_curves.main([*runs, "--out", str(out)]) == 0
    if with_stability:
        assert stability.main([*runs, "--out", str(out)]) == 0
    return out


def test_each_curve_is_a_row_with_its_seeds_references_and_stability(tmp_path, capsys):
    out = _results(tmp_path)
    capsys.readouterr()
    assert summary_table.main([str(out)]) == 0
    rows = summary_table.summary_rows(
        read_csv(out / "final_returns.csv"), read_csv(out / "seed_tails.csv"),
        read_csv(out / "stability.csv"),
    )  # fmt: skip
    by_env = {r[summary_table.COLUMNS[0]].split(" ")[0]: r for _, r in rows.iterrows()}
    bus, world = by_env["distracting_bus"], by_env["map"]
    assert world[summary_table.COLUMNS[0]] == "map (paper), DREAM, all 24 problems (none held out)"
    assert world["per-seed tail"] == "s0 0.65, s1 0.30"  # the last 2 of 11 evaluations
    assert world["seeds finished"] == "0 of 2"  # no summary.json: not finished
    assert world["tail mean ± 95% CI"].startswith("**0.4")
    assert world["optimal evaluations after the first"] == "3 of 6 (1 of 2 seeds reached it)"
    assert world["optimal / PEARL-UB / no exploration"] == "0.80 / 0.50 / 0.30"
    # told μ is read from the training problems where the runs evaluated them
    assert bus["told μ, training problems (tail)"] == "0.75"
    assert bus["optimal evaluations after the first"] == "never optimal"
    assert bus["tail mean ± 95% CI"] == "**0.60**"  # one seed: no interval
    text = (out / "table.md").read_text()
    assert text.startswith('<!-- {"experiment":"analysis.summary_table"')
    assert "| map (paper), DREAM, all 24 problems (none held out) |" in text.replace("  ", "")
    assert capsys.readouterr().out == text.split("\n\n", 1)[1]


def test_without_stability_the_last_column_is_a_dash(tmp_path):
    out = _results(tmp_path, with_stability=False)
    assert summary_table.main([str(out)]) == 0
    assert "| —" in (out / "table.md").read_text()


def test_a_folder_without_final_returns_is_a_one_line_error(tmp_path, capsys):
    assert summary_table.main([str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "final_returns.csv: no such file" in err
    assert not (tmp_path / "table.md").exists()


def test_stability_of_other_runs_is_refused(tmp_path, capsys):
    out = _results(tmp_path)
    _write_run(tmp_path, "map", 2, [(0.8, 1.0, 0.8)] * 11)
    assert stability.main([str(tmp_path / "runs"), "--out", str(out)]) == 0
    assert summary_table.main([str(out)]) == 2
    assert "written for other runs" in capsys.readouterr().err


def test_folders_pool_their_seeds_exactly(tmp_path, capsys):
    """Seeds 0 and 1 in one folder, seed 2 in another: the table of all three in one."""
    seeds = {0: 0.3, 1: 0.5, 2: 0.9}
    for seed, ret in seeds.items():
        _write_run(tmp_path, "map", seed, [(0.1, 0.5, 0.8)] * 5 + [(ret, 1.0, 0.8)] * 6)
    runs = tmp_path / "runs" / "map" / "dream"
    old, new, together = tmp_path / "old", tmp_path / "new", tmp_path / "all"
    given = {old: [runs / "s0", runs / "s1"], new: [runs / "s2"], together: [runs]}
    for folder, folders in given.items():
        for command in (learning_curves, stability):
            assert command.main([*map(str, folders), "--out", str(folder)]) == 0
    table = tmp_path / "pooled.md"
    assert summary_table.main([str(old), str(new), "--out", str(table)]) == 0
    assert summary_table.main([str(together)]) == 0
    pooled, direct = (t.read_text().split("\n\n", 1)[1] for t in (table, together / "table.md"))
    assert pooled == direct  # the same row as from all three runs at once
    assert "s0 0.30, s1 0.50, s2 0.90" in pooled
    capsys.readouterr()
    assert summary_table.main([str(old), str(together), "--out", str(table)]) == 2
    assert "hold the same seed of one curve" in capsys.readouterr().err
    assert summary_table.main([str(old), str(new)]) == 2  # several folders need --out
    assert capsys.readouterr().err.count("\n") == 1
