"""A sweep's own files: ``sweep.json`` and the tidy ``runs.csv`` gathered from its runs."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.sweep.runs import Run
from analysis.sweep.spec import SweepSpec
from analysis.sweep.state import RunConflict, run_state
from common.io import PACKAGE, package_version
from common.runs import read_metrics

__all__ = ["ID_COLUMNS", "TIMING_COLUMNS", "collect", "run_metrics", "sweep_header", "sweep_json"]

TIMING_COLUMNS = ("wall_s",)
"""Columns of ``metrics.csv`` left out of ``runs.csv`` (they differ between executions)."""
ID_COLUMNS = ("method", "env", "setting", "seed")
"""The first columns of ``runs.csv``: which run a row comes from."""


def sweep_header(spec: SweepSpec) -> dict[str, Any]:
    """Package, version and normalised spec (``runs.csv``'s config line, ``sweep.json``'s top)."""
    return {"package": PACKAGE, "package_version": package_version(), "sweep": spec.to_dict()}


def sweep_json(spec: SweepSpec, runs: Sequence[Run]) -> str:
    """The text of ``sweep.json``: spec, package version and run directories (strict JSON)."""
    doc = {**sweep_header(spec), "runs": [run.path for run in runs]}
    return json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def run_metrics(run_dir: Path) -> pd.DataFrame:
    """A finished run's ``metrics.csv`` as text values (:class:`DamagedFile` if damaged)."""
    return read_metrics(run_dir / "metrics.csv", dtype=str, keep_default_na=False)


def collect(spec: SweepSpec, runs: Sequence[Run], out: str | os.PathLike[str]) -> pd.DataFrame:
    """The rows of ``runs.csv``: every finished run's ``metrics.csv`` rows of ``spec.splits``.

    Values are kept as the text each run wrote; ``method, env (label), setting, seed`` come
    first, timing columns are dropped, runs follow the sweep's order, columns the order of
    their first appearance (missing values are written as ``NA``). A damaged ``metrics.csv``,
    ``config.json`` or ``summary.json`` raises :class:`common.io.DamagedFile`.
    """
    frames = []
    for run in runs:
        run_dir = Path(out) / run.path
        try:
            if run_state(run_dir, run.config) != "finished":
                continue
        except RunConflict:
            continue
        if not (run_dir / "metrics.csv").is_file():
            continue
        df = run_metrics(run_dir)
        df = df[df["split"].isin(spec.splits)]
        df = df.drop(columns=[c for c in (*TIMING_COLUMNS, *ID_COLUMNS) if c in df.columns])
        ids = {"method": run.method, "env": run.env, "setting": run.setting, "seed": run.seed}
        for i, (name, value) in enumerate(ids.items()):
            df.insert(i, name, str(value))
        frames.append(df)
    if not frames:
        return pd.DataFrame(columns=list(ID_COLUMNS))
    return pd.concat(frames, ignore_index=True, sort=False)
