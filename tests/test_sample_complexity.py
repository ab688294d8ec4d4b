"""The Fig. 3a experiment: files, rebuild, resume, bad input, and the analysis functions."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import sample_complexity as sc
from analysis.sample_complexity import cells as sc_cells
from analysis.sample_complexity import fingerprint as sc_fingerprint
from common import io as aio
from common.cli import UsageError
from tabular.measures import COLUMNS, LEARNERS

REPO = Path(__file__).resolve().parents[1]
TINY = ["--A", "2..4", "--seeds", "50", "--quiet"]
T_975_DF3 = 3.182446305284263  # t-quantile 0.975 with 3 degrees of freedom (tables)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """One tiny sweep (A = 2..4, 50 seeds, both methods) shared by the file tests."""
    out = tmp_path_factory.mktemp("tiny") / "run"
    assert sc.main([*TINY, "--out", str(out)]) == 0
    return out


# ----------------------------------------------------------------------------- files


def test_tiny_sweep_writes_all_files(tiny_run):
    names = {p.name for p in tiny_run.iterdir()}
    assert {"per_seed.csv", "summary.csv", "slopes.csv", "figure3a.png", "config.json"} <= names
    assert len(list((tiny_run / "cells").glob("*.csv"))) == 2 * 3

    per_seed = pd.read_csv(tiny_run / "per_seed.csv", comment="#")
    assert tuple(per_seed.columns) == COLUMNS
    assert len(per_seed) == 2 * 3 * 50
    keys = [*sc.CELL_KEYS, "seed"]
    assert per_seed[keys].equals(per_seed[keys].sort_values(keys).reset_index(drop=True))
    assert not per_seed["capped"].any()

    summary = pd.read_csv(tiny_run / "summary.csv", comment="#")
    assert tuple(summary.columns) == sc.SUMMARY_COLUMNS
    assert len(summary) == 2 * 3 * 3
    assert (summary["n"] == 50).all()
    rl2_greedy = summary[(summary["method"] == "rl2") & (summary["measure"] == "T_greedy")]
    assert rl2_greedy["exact_mean"].isna().all() and rl2_greedy["z"].isna().all()
    assert summary.loc[summary["method"] == "dream", "exact_mean"].notna().all()

    slope_table = pd.read_csv(tiny_run / "slopes.csv", comment="#")
    assert tuple(slope_table.columns) == sc.SLOPE_COLUMNS
    assert len(slope_table) == 2 * 3
    assert (slope_table["n_A"] == 3).all()


def test_config_is_embedded_everywhere(tiny_run):
    header = aio.read_header(tiny_run / "per_seed.csv")
    assert header["sweep"]["A"] == [2, 3, 4] and header["sweep"]["n_seeds"] == 50
    for name in ("summary.csv", "slopes.csv"):
        assert aio.read_header(tiny_run / name) == header
    config = json.loads((tiny_run / "config.json").read_text())
    assert config["sweep"] == header["sweep"]
    for key in ("package_version", "environment", "command", "wall_s", "cells_reused"):
        assert key in config
    for key in ("numba_version", "numba_threads", "python_version", "platform", "git_commit"):
        assert key in config["environment"]
    assert config["command"].startswith("python -m analysis.sample_complexity --A 2..4")

    from PIL import Image

    with Image.open(tiny_run / "figure3a.png") as png:
        assert json.loads(png.text["Description"]) == header


def test_from_csv_reproduces_tables(tiny_run, tmp_path, capsys):
    out = tmp_path / "rebuilt"
    assert sc.main(["--from-csv", str(tiny_run / "per_seed.csv"), "--out", str(out)]) == 0
    for name in ("summary.csv", "slopes.csv"):
        assert (out / name).read_bytes() == (tiny_run / name).read_bytes()
    assert (out / "figure3a.png").stat().st_size > 0
    assert not (out / "per_seed.csv").exists() and not (out / "cells").exists()
    assert "summary" in capsys.readouterr().out


def test_from_csv_defaults_to_the_csv_folder(tiny_run, tmp_path):
    src = tmp_path / "copy"
    src.mkdir()
    shutil.copy(tiny_run / "per_seed.csv", src / "per_seed.csv")
    assert sc.main(["--from-csv", str(src / "per_seed.csv"), "--quiet"]) == 0
    assert (src / "summary.csv").read_bytes() == (tiny_run / "summary.csv").read_bytes()
    assert (src / "figure3a.png").is_file()


# ----------------------------------------------------------------------------- resume


def test_resume_reuses_cells_and_gives_identical_per_seed(tiny_run, tmp_path, capsys):
    out = tmp_path / "resumed"
    (out / "cells").mkdir(parents=True)
    cells = sorted((tiny_run / "cells").glob("*.csv"))
    for cell in cells[:2]:  # as if the run had been killed after two cells
        shutil.copy(cell, out / "cells" / cell.name)
    (out / "cells" / cells[2].name).write_text("method,learner\ndream,per")  # torn write
    capsys.readouterr()
    assert sc.main([*TINY, "--out", str(out)]) == 0
    assert "2 reused" in capsys.readouterr().out
    assert (out / "per_seed.csv").read_bytes() == (tiny_run / "per_seed.csv").read_bytes()
    for cell in cells:
        assert (out / "cells" / cell.name).read_bytes() == cell.read_bytes()

    assert sc.main([*TINY, "--out", str(out)]) == 0  # everything reused now
    assert "6 reused" in capsys.readouterr().out
    assert (out / "per_seed.csv").read_bytes() == (tiny_run / "per_seed.csv").read_bytes()


def test_cells_with_other_seeds_or_cap_are_not_reused(tiny_run, tmp_path, capsys):
    out = tmp_path / "other"
    shutil.copytree(tiny_run / "cells", out / "cells")
    capsys.readouterr()
    assert (
        sc.main(["--A", "2..4", "--seeds", "50", "--first-seed", "1", "--quiet", "--out", str(out)])
        == 0
    )
    assert "0 reused" in capsys.readouterr().out
    assert sc.main([*TINY, "--max-trials", "10000", "--out", str(out)]) == 0
    assert "0 reused" in capsys.readouterr().out


def test_cells_from_other_kernel_code_are_not_reused(tiny_run, tmp_path, capsys, monkeypatch):
    out = tmp_path / "newcode"
    shutil.copytree(tiny_run / "cells", out / "cells")
    monkeypatch.setattr(sc_fingerprint, "kernel_fingerprint", lambda: "0123456789abcdef")
    capsys.readouterr()
    assert sc.main([*TINY, "--out", str(out)]) == 0
    assert "0 reused" in capsys.readouterr().out
    assert aio.read_header(out / "per_seed.csv")["kernels_sha256"] == "0123456789abcdef"


def test_interrupted_run_resumes_to_identical_per_seed(tiny_run, tmp_path, monkeypatch):
    out = tmp_path / "killed"
    real_run = sc.run
    calls = []

    def dying_run(setting, **kwargs):
        if len(calls) == 3:
            raise KeyboardInterrupt
        calls.append(setting)
        return real_run(setting, **kwargs)

    monkeypatch.setattr(sc_cells, "run", dying_run)
    with pytest.raises(KeyboardInterrupt):
        sc.main([*TINY, "--out", str(out)])
    assert len(list((out / "cells").glob("*.csv"))) == 3
    assert not (out / "per_seed.csv").exists()
    assert not [p for p in (out / "cells").iterdir() if p.suffix != ".csv"]  # no temp files
    monkeypatch.setattr(sc_cells, "run", real_run)
    assert sc.main([*TINY, "--out", str(out)]) == 0
    assert (out / "per_seed.csv").read_bytes() == (tiny_run / "per_seed.csv").read_bytes()


# ----------------------------------------------------------------------------- bad input

BAD_INPUTS = [
    ["--A", "1..4"],
    ["--A", "16..2"],
    ["--A", "x"],
    ["--A", ""],
    ["--seeds", "0"],
    ["--H", "0"],
    ["--H", "17"],
    ["--epsilon", "1.5"],
    ["--epsilon", "0"],
    ["--learner", "sideways"],
    ["--methods", "rl2,ppo"],
    ["--max-trials", "0"],
    ["--max-memory-gb", "-1"],
    ["--A", "2..100000"],  # RL² tables (16 A**2 bytes per thread) do not fit
    ["--A", "2..64", "--max-memory-gb", "0.00001"],
    ["--from-csv", "does/not/exist.csv"],
    ["--unknown-flag"],
    ["--A"],
]


@pytest.mark.parametrize("argv", BAD_INPUTS, ids=" ".join)
def test_bad_input_exits_2_with_one_line(argv, tmp_path, capsys):
    out = tmp_path / "out"
    assert sc.main([*argv, "--out", str(out)]) == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("error: ")
    assert "Traceback" not in captured.err and "usage" not in captured.err
    assert captured.out == ""
    assert not out.exists()


def test_bad_from_csv_content_exits_2(tmp_path, capsys):
    bad = tmp_path / "per_seed.csv"
    bad.write_text("# {}\na,b\n1,2\n")
    assert sc.main(["--from-csv", str(bad), "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.startswith("error: --from-csv")
    assert not (tmp_path / "out").exists()


def test_parse_args_syntax():
    config, options = sc.parse_args(
        [
            "--A",
            "8,2,4,4",
            "--H",
            "1..2",
            "--learner",
            "both",
            "--epsilon",
            "1,0.5",
            "--methods",
            "dream",
        ]
    )
    assert config.A == (2, 4, 8) and config.H == (1, 2) and config.learners == LEARNERS
    assert config.epsilon == (0.5, 1.0) and config.methods == ("dream",)
    assert options.out == Path("runs/sample_complexity") and options.max_memory_bytes is None
    assert len(sc.settings(config)) == 1 * 2 * 2 * 2 * 3
    config, _ = sc.parse_args([])
    assert config == sc.SweepConfig() and len(sc.SETTINGS) == 30
    with pytest.raises(UsageError):
        sc.parse_args(["--seeds", "1.5"])


def test_subprocess_entry_point(tmp_path):
    out = tmp_path / "sub"
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "analysis.sample_complexity",
            "--A",
            "2,3",
            "--seeds",
            "20",
            "--quiet",
            "--out",
            str(out),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "summary" in done.stdout and "slopes" in done.stdout
    assert (out / "figure3a.png").is_file() and (out / "config.json").is_file()
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "analysis.sample_complexity",
            "--A",
            "16..2",
            "--out",
            str(out / "x"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and not (out / "x").exists()


def test_capped_seeds_warn_and_are_counted(tmp_path, capsys):
    out = tmp_path / "capped"
    assert (
        sc.main(["--A", "3,4", "--seeds", "40", "--max-trials", "12", "--quiet", "--out", str(out)])
        == 0
    )
    err = capsys.readouterr().err
    assert err.count("warning:") == 1 and "trial cap" in err
    summary = pd.read_csv(out / "summary.csv", comment="#")
    per_seed = pd.read_csv(out / "per_seed.csv", comment="#")
    counts = per_seed.groupby(["method", "A"])["capped"].sum()
    for (method, A), n_capped in counts.items():
        rows = summary[(summary["method"] == method) & (summary["A"] == A)]
        assert (rows["n_capped"] == n_capped).all()
    assert summary["n_capped"].sum() > 0


def test_relation_violation_exits_1(tiny_run, tmp_path, capsys):
    df = sc.read_per_seed(tiny_run / "per_seed.csv")
    i = df.index[(df["method"] == "dream") & (df["seed"] == 7)][0]
    df.loc[i, "T_greedy"] = df.loc[i, "T_guaranteed"] + 1
    path = tmp_path / "per_seed.csv"
    aio.write_csv(path, df, aio.read_header(tiny_run / "per_seed.csv"))
    assert sc.main(["--from-csv", str(path)]) == 1
    err = capsys.readouterr().err
    assert "1 pathwise relation violations" in err and "seed=7" in err


# ----------------------------------------------------------------------------- analysis


def _frame(rows):
    """Per-seed frame from rows (method, learner, A, epsilon, seed, T_greedy, T_event,
    T_guaranteed, capped), at H = 1."""
    df = pd.DataFrame(
        rows,
        columns=[
            "method",
            "learner",
            "A",
            "epsilon",
            "seed",
            "T_greedy",
            "T_event",
            "T_guaranteed",
            "capped",
        ],
    )
    df["H"] = 1
    df["trials_run"] = df[["T_greedy", "T_event", "T_guaranteed"]].max(axis=1)
    return sc.normalize(df)


def test_check_relations_catches_violations():
    df = _frame(
        [
            ("dream", "per-trajectory", 2, 1.0, 0, 5, 6, 5, False),  # fine
            ("dream", "per-trajectory", 2, 1.0, 1, 4, 6, 5, False),  # greedy != guaranteed
            ("dream", "per-trajectory", 2, 1.0, 2, 7, 6, 7, False),  # guaranteed > event
            ("dream", "per-trajectory", 2, 1.0, 3, 9, None, None, True),  # capped: skipped
            ("rl2", "per-trajectory", 2, 1.0, 0, 3, 8, 8, False),  # fine
            ("rl2", "per-trajectory", 2, 1.0, 1, 3, 9, 8, False),  # event > guaranteed
            ("rl2", "per-trajectory", 2, 1.0, 2, 9, 8, 8, False),  # greedy > guaranteed
            ("rl2", "per-trajectory", 2, 1.0, 3, 3, None, 8, False),  # missing, uncapped
            ("rl2", "per-step", 2, 1.0, 0, 3, 8, None, False),  # fine
            ("rl2", "per-step", 2, 1.0, 1, 3, 8, 8, False),  # guaranteed must be NA
            ("rl2", "per-step", 2, 1.0, 2, 3, 8, 8, True),  # ... capped or not
            ("dream", "per-step", 2, 1.0, 0, 5, 6, 5, False),  # fine
            ("dream", "per-step", 2, 1.0, 1, 4, 6, 5, False),  # greedy != guaranteed
        ]
    )
    violations = sc.check_relations(df)
    found = sorted(
        (v.split()[0], v.split()[1], v.split("seed=")[1].split(":")[0]) for v in violations
    )
    assert found == [
        ("dream", "per-step", "1"),
        ("dream", "per-trajectory", "1"),
        ("dream", "per-trajectory", "2"),
        ("rl2", "per-step", "1"),
        ("rl2", "per-step", "2"),
        ("rl2", "per-trajectory", "1"),
        ("rl2", "per-trajectory", "2"),
        ("rl2", "per-trajectory", "3"),
    ]
    assert sc.check_relations(df[df["seed"] == 0]) == []


def test_summarize_known_numbers():
    df = _frame(
        [
            ("dream", "per-trajectory", 2, 1.0, 0, 1, 2, 1, False),
            ("dream", "per-trajectory", 2, 1.0, 1, 2, 2, 2, False),
            ("dream", "per-trajectory", 2, 1.0, 2, 3, 2, 3, False),
            ("dream", "per-trajectory", 2, 1.0, 3, 4, 2, 4, False),
            ("dream", "per-trajectory", 2, 1.0, 4, 100, None, None, True),  # capped
            ("rl2", "per-trajectory", 3, 0.5, 0, 10, 20, 30, False),
        ]
    )
    s = sc.summarize(df).set_index(["method", "measure"])
    g = s.loc[("dream", "T_greedy")]
    # T = 1, 2, 3, 4 (the capped seed's T_greedy is only a lower bound and is left out)
    sd = math.sqrt(5 / 3)
    half = T_975_DF3 * sd / 2
    assert (g["n"], g["n_capped"]) == (4, 1)
    assert g["mean"] == pytest.approx(2.5) and g["median"] == pytest.approx(2.5)
    assert g["sd"] == pytest.approx(sd)
    assert g["ci95_low"] == pytest.approx(2.5 - half) and g["ci95_high"] == pytest.approx(
        2.5 + half
    )
    assert g["exact_mean"] == pytest.approx(6.0)  # E[T] for DREAM at A = 2: 6 trials
    assert g["z"] == pytest.approx((2.5 - 6.0) / (sd / 2))
    assert g["bound_form"] == pytest.approx(2 * math.log(2))
    assert g["mean_over_bound"] == pytest.approx(2.5 / (2 * math.log(2)))
    e = s.loc[("dream", "T_event")]
    assert (e["n"], e["mean"], e["sd"]) == (4, 2.0, 0.0)
    assert e["ci95_low"] == e["ci95_high"] == 2.0 and math.isnan(e["z"])  # sd = 0: no z
    r = s.loc[("rl2", "T_guaranteed")]
    assert (r["n"], r["mean"], r["median"]) == (1, 30.0, 30.0)
    assert math.isnan(r["ci95_low"]) and math.isnan(r["exact_mean"])  # n = 1; epsilon != 1
    assert r["bound_form"] == pytest.approx(27 * math.log(3))


def test_exact_event_mapping():
    assert sc.exact_event("dream", "per-trajectory", 2, "T_greedy") == "dream_guaranteed"
    assert sc.exact_event("dream", "per-step", 1, "T_guaranteed") == "dream_guaranteed"
    assert sc.exact_event("dream", "per-step", 2, "T_guaranteed") is None
    assert sc.exact_event("dream", "per-step", 2, "T_event") == "dream_event"
    assert sc.exact_event("rl2", "per-step", 2, "T_event") == "rl2_event"
    assert sc.exact_event("rl2", "per-trajectory", 1, "T_guaranteed") == "rl2_guaranteed"
    assert sc.exact_event("rl2", "per-step", 1, "T_guaranteed") is None
    assert sc.exact_event("rl2", "per-trajectory", 1, "T_greedy") is None
    assert math.isnan(sc.exact_mean("dream", "per-trajectory", 1, 4, 0.5, "T_event"))


def test_slopes_of_power_law_equal_exponent():
    A = np.array([2, 3, 5, 8, 13])
    rows = [
        ("rl2", "per-trajectory", 1, a, 1.0, "T_event", 0.7 * a**3.25, 0.7 * a**3.25 * 2) for a in A
    ]
    rows += [("dream", "per-trajectory", 1, a, 1.0, "T_event", 4.0 * a**1.5, math.nan) for a in A]
    rows += [("dream", "per-trajectory", 1, 4, 1.0, "T_greedy", 9.0, 9.0)]  # one A: no slope
    summary = pd.DataFrame(
        rows, columns=["method", "learner", "H", "A", "epsilon", "measure", "mean", "exact_mean"]
    )
    summary["bound_form"] = [
        sc.bound_form(m, a, 1) for m, a in zip(summary["method"], summary["A"], strict=True)
    ]
    table = sc.slopes(summary).set_index(["method", "measure"])
    assert table.loc[("rl2", "T_event"), "slope"] == pytest.approx(3.25, abs=1e-12)
    assert table.loc[("rl2", "T_event"), "exact_slope"] == pytest.approx(3.25, abs=1e-12)
    assert table.loc[("dream", "T_event"), "slope"] == pytest.approx(1.5, abs=1e-12)
    assert math.isnan(table.loc[("dream", "T_event"), "exact_slope"])
    x = np.log(A.astype(float))
    y = np.log(A * np.log(A))  # K ln K at H = 1
    expected = np.polyfit(x, y, 1)[0]
    assert table.loc[("dream", "T_event"), "bound_slope"] == pytest.approx(expected)
    assert table.loc[("rl2", "T_event"), "n_A"] == 5
    assert math.isnan(table.loc[("dream", "T_greedy"), "slope"])


def test_plot_handles_empty_panels(tmp_path):
    df = _frame(
        [
            ("dream", "per-trajectory", a, 1.0, s, 3 + s, 4 + s, 3 + s, False)
            for a in (2, 4)
            for s in range(3)
        ]
    )
    summary = sc.summarize(df)
    summary.loc[summary["measure"] == "T_event", "mean"] = np.nan
    sc.plot(summary, tmp_path / "f.png", {"k": 1})
    assert (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"


def test_atomic_write_leaves_old_file_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "x.csv"
    aio.atomic_write_text(path, "old")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(aio.os, "replace", broken_replace)
    with pytest.raises(OSError):
        aio.atomic_write_text(path, "new")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.csv"]


def test_per_step_learner_runs_lightly(tmp_path, capsys):
    out = tmp_path / "per_step"
    argv = ["--A", "2,3", "--seeds", "30", "--learner", "both", "--max-trials", "3000"]
    assert sc.main([*argv, "--quiet", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "note: per-step RL² has no certificate" in captured.out
    assert "warning" not in captured.err  # per-step RL² runs to the cap by design
    per_seed = pd.read_csv(out / "per_seed.csv", comment="#")
    assert set(per_seed["learner"]) == set(LEARNERS)
    rl2_step = per_seed[(per_seed["method"] == "rl2") & (per_seed["learner"] == "per-step")]
    assert rl2_step["T_guaranteed"].isna().all()
    summary = pd.read_csv(out / "summary.csv", comment="#")
    dream_step = summary[(summary["method"] == "dream") & (summary["learner"] == "per-step")]
    assert dream_step["exact_mean"].notna().all()  # H = 1: same law as per-trajectory


def test_output_folder_creates_or_refuses_in_one_line(tmp_path):
    made = aio.output_folder(tmp_path / "a" / "b")
    assert made.is_dir() and made == tmp_path / "a" / "b"
    assert aio.output_folder(made) == made  # an existing folder is fine
    (tmp_path / "file").write_text("mine")
    with pytest.raises(UsageError, match="--where") as err:
        aio.output_folder(tmp_path / "file", flag="--where")
    assert "\n" not in err.value.line() and (tmp_path / "file").read_text() == "mine"
