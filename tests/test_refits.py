"""``python -m analysis.diagnostics.refits``: the decoder refits of several diagnoses."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.diagnostics import refits
from analysis.diagnostics.decoder_refit import REFIT_COLUMNS
from common.io import read_csv, read_header, write_csv


def _folder(tmp_path, name, run, steps, composed):
    """A diagnostics folder with ``decoder_refit.csv`` (and ``code_composite.csv`` if given)."""
    folder = tmp_path / name
    folder.mkdir()
    header = {"run": run, "checkpoint_env_steps": steps, "config": {"seed": 1}}
    rows = [("trained", "lstm", -1, 0, "test", -2.0), ("trained", "lstm", -1, 0, "train", 0.3)]
    for init, held in enumerate((-1.5, 0.1)):  # two LSTM refits, evaluated at 5 and 10 steps
        rows += [("fresh", "lstm", init, 5, "test", 9.0), ("fresh", "lstm", init, 10, "test", held)]
        rows += [("fresh", "lstm", init, 10, "train", 0.35)]
    table = pd.DataFrame(rows, columns=["fit", "decoder", "init", "steps", "split", "return"])
    for column in REFIT_COLUMNS:
        if column not in table:
            table[column] = 50 if column == "trials" else np.nan
    write_csv(folder / refits.SOURCE, table[list(REFIT_COLUMNS)], header)
    if composed is not None:
        write_csv(folder / refits.COMPOSITE, pd.DataFrame({"return_additive": composed}), header)
    return folder


def test_rows_summarise_each_fits_last_step_beside_the_composed_code(tmp_path):
    late = _folder(tmp_path, "late", "runs/c/s0", 1_000_000, [0.2, 0.4])
    early = _folder(tmp_path, "early", "runs/c/s0", 500_000, None)
    table = refits.refits_table([late, early])
    assert table["env_steps"].tolist() == [500_000] * 4 + [1_000_000] * 4
    fresh = table[(table["fit"] == "fresh") & (table["split"] == "test")].iloc[-1]
    assert fresh["return"] == pytest.approx(-0.7)  # the last step's mean, not step 5's 9.0
    assert (fresh["return_min"], fresh["return_max"], fresh["fits"]) == (-1.5, 0.1, 2)
    composed = table.set_index(["env_steps", "fit", "split"])["return_composed"]
    assert composed[(1_000_000, "trained", "test")] == pytest.approx(0.3)
    assert np.isnan(composed[(1_000_000, "trained", "train")])  # held-out rows only
    assert np.isnan(composed[(500_000, "fresh", "test")])  # no code_composite.csv there
    assert (table["seed"] == 1).all() and list(table.columns[:2]) == ["run", "seed"]


def test_the_cli_writes_its_csv_and_refuses_what_it_did_not_write(tmp_path, capsys):
    folder = _folder(tmp_path, "one", "runs/c/s0", 10, [0.1])
    out = tmp_path / "refits.csv"
    assert refits.main([str(folder), "--out", str(out)]) == 0
    assert "| runs/c/s0" in capsys.readouterr().out
    assert len(read_csv(out)) == 4 and read_header(out)["experiment"] == refits.EXPERIMENT
    foreign = tmp_path / "mine.csv"
    foreign.write_text("a\n1\n")
    assert refits.main([str(folder), "--out", str(foreign)]) == 2
    assert foreign.read_text() == "a\n1\n"
    assert refits.main([str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "was not written by" in err[0] and "--refit-fits N" in err[1] and len(err) == 2
