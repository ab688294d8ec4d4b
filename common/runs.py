"""A run folder's files read strictly: metrics.csv and its config line, config and summary.

Read by ``deep.train`` (resuming, refusing to overwrite) and the ``analysis`` entry points.
``python -m deep.train`` writes each of them atomically (``metrics.csv`` ending in a line end),
so a file that is empty, ends mid-line, is not JSON / CSV or lacks what the trainer always
writes was damaged after the fact (a copy cut short, an edit, a disk fault). Each reader then
raises :class:`common.io.DamagedFile` naming the file (one line, exit 2 in every entry point)
and never changes it; a missing file raises ``FileNotFoundError`` as usual. ``NaN`` in the JSON
files is accepted: trainers wrote it for "none" before summaries became strict JSON.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd

from common.io import DamagedFile, read_csv

__all__ = [
    "METRICS_COLUMNS",
    "metrics_header",
    "read_config",
    "read_metrics",
    "read_summary",
]

METRICS_COLUMNS = ("method", "env", "seed", "trial", "env_steps", "split", "return")
"""Columns every run's ``metrics.csv`` has."""


def metrics_header(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``# {json}`` config line of a result CSV (``{}`` when the file has none)."""
    path = Path(path)
    with open(path, "rb") as handle:
        first = handle.readline()
    if not first.startswith(b"# "):
        return {}
    try:
        value = json.loads(first[2:].decode("utf-8"))  # NaN allowed: written by compact_json
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise DamagedFile.at(path, "its first line is not a JSON object of the run's config")
    return value


def read_metrics(
    path: str | os.PathLike[str], required: tuple[str, ...] = METRICS_COLUMNS, **kwargs: Any
) -> pd.DataFrame:
    """The rows of a run's ``metrics.csv`` (:func:`common.io.read_csv` with its columns)."""
    return read_csv(path, required=required, **kwargs)


def _read_json(path: str | os.PathLike[str]) -> Any:
    """A JSON file as Python's ``json`` writes it (NaN allowed: trainers wrote it for "none")."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except ValueError as err:  # JSONDecodeError and UnicodeDecodeError
        raise DamagedFile.at(path, f"not valid JSON ({' '.join(str(err).split())})") from None


def read_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A run's ``config.json``: a JSON object with integer ``steps``."""
    data = _read_json(path)
    if not isinstance(data, dict) or not _is_int(data.get("steps")):
        raise DamagedFile.at(path, "not a run's config (a JSON object with integer steps)")
    return data


def read_summary(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A run's ``summary.json``: a JSON object with integer ``env_steps``."""
    data = _read_json(path)
    if not isinstance(data, dict) or not _is_int(data.get("env_steps")):
        raise DamagedFile.at(path, "not a run's summary (a JSON object with integer env_steps)")
    return data


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
