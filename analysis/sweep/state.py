"""What a run directory holds for a sweep: nothing yet, a run to resume, or a finished run."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Literal

from common.cli import UsageError
from common.io import DamagedFile, compact_json, read_header
from common.runs import read_config, read_metrics, read_summary
from deep.train import RUNTIME_FIELDS, RunConfig

__all__ = ["RunConflict", "State", "evaluated_steps", "run_state"]

State = Literal["new", "resume", "finished"]


class RunConflict(UsageError):
    """A run directory holds a run of another config."""


def run_state(run_dir: str | os.PathLike[str], config: RunConfig) -> State:
    """What the sweep must do for the run of ``config`` in ``run_dir``.

    ``"finished"``: ``summary.json`` of the same config that reached its ``steps``;
    ``"resume"``: a checkpoint of the same config (interrupted, or finished with fewer
    ``steps``: it is extended, and an extension interrupted is resumed); ``"new"``:
    nothing usable there. Raises :class:`RunConflict` if ``config.json`` (with the
    benchmark fields the run recorded where today's defaults differ) differs in any other
    field but those of :data:`deep.train.RUNTIME_FIELDS` (how a run is executed, not its
    numbers), or the run there is longer than the sweep asks, and
    :class:`common.io.DamagedFile` if its ``config.json`` or ``summary.json`` cannot be read
    (the trainer writes both atomically: damage came later; it is left for a person).
    """
    run_dir = Path(run_dir)
    path = run_dir / "config.json"
    if not path.is_file():
        return "new"
    old = _as_recorded(read_config(path), run_dir / "metrics.csv")
    new = json.loads(json.dumps(asdict(config)))
    for key in sorted((set(old) | set(new)) - set(RUNTIME_FIELDS)):
        if key != "steps" and old.get(key) != new.get(key):
            raise RunConflict(
                f"{run_dir} holds another run ({key}: {compact_json(old.get(key))} there, "
                f"{compact_json(new.get(key))} in the sweep); use another --out or remove it"
            )
    if old["steps"] > config.steps:
        raise RunConflict(
            f"{run_dir} holds a longer run (steps: {old['steps']} there, {config.steps} in the "
            "sweep); use another --out or remove it"
        )
    done = _summary_steps(run_dir)  # read even when unused: a damaged one stops the sweep
    if old["steps"] == config.steps and done >= config.steps:
        return "finished"  # (a summary of fewer steps: left by a stage this run extends)
    return "resume" if (run_dir / "checkpoint.pt").is_file() else "new"


def _as_recorded(saved: dict, metrics: Path) -> dict:
    """``config.json``'s config as the run trains on.

    It gains the benchmark fields its metrics header recorded where today's defaults differ
    (:meth:`deep.train.RunConfig.as_recorded`): a run from before a default changed matches a
    sweep that names its value, and conflicts with one that takes today's default.
    """
    try:
        header = read_header(metrics) if metrics.is_file() else None
    except (OSError, UnicodeDecodeError):  # damage is reported where the file is read
        return saved
    if not header or "env_config" not in header:
        return saved
    try:
        recorded, pinned = RunConfig.from_saved(saved).as_recorded(header["env_config"])
    except (TypeError, UsageError):  # not a config this version can build: compared as saved
        return saved
    return {**saved, "env_kwargs": recorded.env_kwargs} if pinned else saved


def _summary_steps(run_dir: Path) -> int:
    """Env steps ``run_dir/summary.json`` reports (-1: none)."""
    path = run_dir / "summary.json"
    return int(read_summary(path)["env_steps"]) if path.is_file() else -1


def evaluated_steps(run_dir: Path) -> int | None:
    """Env steps of the last evaluation in ``run_dir/metrics.csv`` (None: none yet).

    A damaged file gives None as well: this only informs ``--dry-run``; a sweep stops on it.
    """
    try:
        df = read_metrics(run_dir / "metrics.csv", required=("env_steps",))
    except (OSError, DamagedFile):
        return None
    return int(df["env_steps"].max()) if len(df) else None
