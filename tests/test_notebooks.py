"""Every notebook in notebooks/ runs headless at its SMALL setting and shows what the files say.

Each ``notebooks/*.py`` (jupytext percent format; a new one is picked up by the glob) is executed
once with papermill's Python API, ``SETTING="SMALL"`` and ``OUT`` in a temporary folder, then:

* its first code cell is the papermill parameters cell, defaulting to SMALL and to training;
* no cell raised, and no cell printed a traceback;
* every figure it shows is a real PNG (size, dimensions) and is a file it wrote under ``OUT``;
* every table it prints equals the table the library computes from the files under ``OUT``
  (:data:`TABLES`: the same functions and formatting as the command lines).
"""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import jupytext
import nbformat
import papermill
import pytest
from PIL import Image

from analysis import (
    diagnostics,
    learning_curves,
    neural_sample_complexity,
    sample_complexity,
    training_traces,
)
from common.io import read_csv

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.py"))
MIN_PNG_BYTES = 10_000
MIN_PNG_SIZE = (300, 200)
"""A figure smaller than this (bytes, or width × height in pixels) is not a drawn figure."""


@dataclass
class Executed:
    """One notebook after its SMALL run."""

    name: str
    out: Path
    notebook: nbformat.NotebookNode

    def outputs(self) -> list[nbformat.NotebookNode]:
        """Every output of every code cell, in order."""
        return [o for c in self.notebook.cells if c.cell_type == "code" for o in c.outputs]

    def stream(self, name: str) -> str:
        """Everything the notebook wrote to ``stdout`` or ``stderr``, in order."""
        return "".join(
            o.text for o in self.outputs() if o.output_type == "stream" and o.name == name
        )


@pytest.fixture(scope="module", params=NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def executed(request, tmp_path_factory) -> Executed:
    path = request.param
    out = tmp_path_factory.mktemp(path.stem) / "out"
    notebook = papermill.execute_notebook(
        jupytext.read(path),
        None,
        parameters={"SETTING": "SMALL", "OUT": str(out)},
        kernel_name="python3",
        cwd=str(ROOT),
        progress_bar=False,
    )
    return Executed(path.stem, out, notebook)


# ----------------------------------------------------------------------------- tables
def _fig3a_tables(folder: Path) -> list[str]:
    """What ``analysis.sample_complexity`` prints for the per_seed.csv in ``folder``."""
    summary = sample_complexity.summarize(sample_complexity.read_per_seed(folder / "per_seed.csv"))
    table = sample_complexity.slopes(summary)
    return [sample_complexity.format_summary(summary), sample_complexity.format_slopes(table)]


def _final_returns(*folders: Path) -> str:
    """What ``analysis.learning_curves`` prints for the runs under ``folders``."""
    df = learning_curves.collect(list(folders))
    refs = learning_curves.load_references(None)
    return learning_curves.format_final_returns(learning_curves.final_returns(df, refs))


def _sweeps(out: Path) -> list[Path]:
    """The SMALL sweeps a notebook trained under ``OUT/runs``, in the order it passed them."""
    return sorted((out / "runs").iterdir())


def _figure3(out: Path) -> list[str]:
    traces = read_csv(out / "fig3bcd" / "traces.csv")
    return [*_fig3a_tables(out / "fig3a"), training_traces.seed_summary(traces).to_string()]


def _bandit(out: Path) -> list[str]:
    neural = read_csv(out / "fig3a_neural" / "per_seed.csv")
    return [
        *_fig3a_tables(out / "fig3a_tabular"),
        neural_sample_complexity.format_summary(neural_sample_complexity.summarize(neural)),
        _final_returns(*_sweeps(out)),
    ]


def _diagnostics(out: Path) -> list[str]:
    """Each run's probe summary (from its probe.csv), then the bottleneck table of all runs."""
    summaries = {
        path.parent.name: diagnostics.probe_summary(read_csv(path))
        for path in sorted(out.glob("*/probe.csv"))
    }
    assert summaries, "no run was diagnosed"
    tables = [diagnostics.format_probe_summary(summary) for summary in summaries.values()]
    return [*tables, diagnostics.format_bottleneck(diagnostics.bottleneck_table(summaries))]


TABLES: dict[str, Callable[[Path], list[str]]] = {
    "figure3": _figure3,
    "bandit": _bandit,
    "diagnostics": _diagnostics,
    "grid_worlds": lambda out: [_final_returns(*_sweeps(out))],
    "sign": lambda out: [_final_returns(*_sweeps(out))],
}
"""Per notebook: the tables it prints, recomputed from the files under its ``OUT``."""


# ----------------------------------------------------------------------------- tests
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_first_code_cell_holds_the_parameters(path):
    """papermill's parameters cell comes first and defaults to SMALL, training (no RUN_DIRS)."""
    cell = next(c for c in jupytext.read(path).cells if c.cell_type == "code")
    assert "parameters" in cell.metadata.get("tags", [])
    defaults: dict = {}
    exec(cell.source, defaults)  # the cell holds assignments of literals only
    assert defaults["SETTING"] == "SMALL"
    assert defaults["OUT"] is None and defaults["RUN_DIRS"] is None


def test_notebook_runs_without_errors(executed):
    errors = [o for o in executed.outputs() if o.output_type == "error"]
    assert not errors, [f"{e.ename}: {e.evalue}" for e in errors]
    assert "Traceback" not in executed.stream("stderr")


def test_figures_are_written_and_shown(executed):
    shown = [o.data["image/png"] for o in executed.outputs() if "image/png" in o.get("data", {})]
    assert shown, f"{executed.name} shows no figure"
    written = {p.read_bytes(): p for p in executed.out.rglob("*.png")}
    for data in shown:
        assert base64.b64decode(data) in written, "a figure shown is not a file under OUT"
    for path in written.values():
        assert path.stat().st_size >= MIN_PNG_BYTES, path
        with Image.open(io.BytesIO(path.read_bytes())) as image:
            assert image.format == "PNG", path
            assert image.size[0] >= MIN_PNG_SIZE[0] and image.size[1] >= MIN_PNG_SIZE[1], path


def test_printed_tables_are_the_files_tables(executed):
    if executed.name not in TABLES:
        pytest.fail(f"notebooks/{executed.name}.py: add how its tables are recomputed to TABLES")
    printed = executed.stream("stdout")
    for table in TABLES[executed.name](executed.out):
        assert table in printed, f"{executed.name} did not print this table:\n{table}"


def test_grid_worlds_sweep_names_are_sweeps():
    """The grid-world notebook's ``SPECS``, its default and the sets its text names, are files
    in ``sweeps/`` (a renamed sweep would otherwise fail only at a FULL run)."""
    path = ROOT / "notebooks" / "grid_worlds.py"
    cell = next(c for c in jupytext.read(path).cells if c.cell_type == "code")
    defaults: dict = {}
    exec(cell.source, defaults)
    text = path.read_text()
    named = re.findall(r"`([a-z0-9_]+(?:,[a-z0-9_]+)+)`", text)
    assert len(named) >= 2, "the notebook names its default and issue 14's sweep sets"
    for names in [defaults["SPECS"], *named]:
        for name in names.split(","):
            assert (ROOT / "sweeps" / f"{name}.json").is_file(), (names, name)
