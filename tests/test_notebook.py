"""The notebook reruns a small sweep and draws Figure 3 from the CSVs; execute it end to end."""

from __future__ import annotations

from pathlib import Path

import jupytext
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


def test_figure3_notebook_executes(tmp_path, monkeypatch):
    monkeypatch.setenv("FIG3_OUT", str(tmp_path / "nb"))
    monkeypatch.setenv("FIG3_A", "2..5")
    monkeypatch.setenv("FIG3_SEEDS", "50")
    notebook = jupytext.read(ROOT / "notebooks" / "figure3.py")
    client = NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    )
    client.execute()
    assert (tmp_path / "nb" / "fig3a" / "figure3a.png").stat().st_size > 10_000
    assert (tmp_path / "nb" / "fig3bcd" / "figure3bcd.png").stat().st_size > 10_000
    outputs = [
        o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])
    ]
    assert not [o for o in outputs if o.get("output_type") == "error"]
