"""Simulating the sweep's cells, each resumable from its own ``cells/<name>.csv``.

A cell file is reused only if its header names the same cell, seed range and
:func:`~analysis.sample_complexity.fingerprint.kernel_fingerprint`, and its rows are
exactly those seeds; otherwise the cell is simulated again with
:func:`tabular.measures.measure`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numba
import numpy as np
import pandas as pd
from tqdm import tqdm

from analysis.sample_complexity import fingerprint
from analysis.sample_complexity.config import EXPERIMENT, RunOptions, Setting
from analysis.sample_complexity.per_seed import CELL_KEYS, normalize, read_per_seed
from common import io as aio
from tabular.measures import default_max_trials, measure, reference_trials

CHEAP_CELL_TRIALS = 2e7
"""Cells expected to need fewer trials than this (~0.1-0.2 s) run in one kernel call."""


def _chunk_size(setting: Setting) -> int:
    """Seeds per parallel kernel call.

    A cheap cell runs in one call (every call ends in a thread barrier, which costs more
    than the work here); an expensive one in chunks of at least 64 seeds (and >= 4 per
    thread), about 20 per cell, so the progress bar moves.
    """
    if setting.method == "rl2" and setting.learner == "per-step":  # always runs to the cap
        trials = setting.max_trials or default_max_trials(
            setting.method, setting.A, setting.H, setting.epsilon
        )
    else:
        trials = reference_trials(setting.method, setting.A, setting.H) / setting.epsilon
    if trials * setting.n_seeds < CHEAP_CELL_TRIALS:
        return setting.n_seeds
    return max(64, 4 * numba.get_num_threads(), -(-setting.n_seeds // 20))


def run(
    setting: Setting,
    *,
    max_memory_bytes: int | None = None,
    on_chunk: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    """Simulate one cell: tidy rows, one per seed, columns :data:`tabular.measures.COLUMNS`."""
    df = measure(
        setting.method,
        setting.A,
        setting.H,
        setting.epsilon,
        list(setting.seeds),
        learner=setting.learner,
        max_trials=setting.max_trials,
        max_memory_bytes=max_memory_bytes,
        chunk_size=_chunk_size(setting),
        on_chunk=on_chunk,
    )
    return normalize(df)


def _cell_header(setting: Setting) -> dict[str, Any]:
    return {
        "experiment": EXPERIMENT,
        "kernels_sha256": fingerprint.kernel_fingerprint(),
        "cell": asdict(setting),
    }


def _load_cell(path: Path, setting: Setting) -> pd.DataFrame | None:
    """The cell's saved rows if ``path`` holds exactly this setting's seeds, else ``None``."""
    if not path.is_file():
        return None
    try:
        if aio.read_header(path) != _cell_header(setting):
            return None
        df = read_per_seed(path)
    except (OSError, ValueError, TypeError, pd.errors.ParserError):
        return None
    cell = df[list(CELL_KEYS)].drop_duplicates()
    want = (setting.method, setting.learner, setting.H, setting.A, setting.epsilon)
    if len(cell) != 1 or tuple(cell.iloc[0]) != want:
        return None
    if not np.array_equal(df["seed"].to_numpy(), np.asarray(setting.seeds)):
        return None
    return df


def simulate(cells: Sequence[Setting], out: Path, options: RunOptions) -> tuple[pd.DataFrame, int]:
    """Run (or reload from ``out/cells``) every cell; return all rows and the number reused."""
    cell_dir = out / "cells"
    cell_dir.mkdir(parents=True, exist_ok=True)
    frames: dict[Setting, pd.DataFrame] = {}
    for s in cells:
        loaded = _load_cell(cell_dir / f"{s.name}.csv", s)
        if loaded is not None:
            frames[s] = loaded
    reused = len(frames)
    todo = [s for s in cells if s not in frames]
    print(f"cells: {len(cells)} in the sweep, {reused} reused from {cell_dir}, {len(todo)} to run")
    total = sum(s.n_seeds for s in todo)
    with tqdm(total=total, disable=options.quiet or not todo, unit="seed", file=sys.stderr) as bar:
        for s in todo:
            bar.set_postfix_str(f"{s.method} {s.learner} H={s.H} A={s.A} eps={s.epsilon:g}")
            df = run(s, max_memory_bytes=options.max_memory_bytes, on_chunk=bar.update)
            # No fsync: a cell torn by a power loss fails _load_cell's checks and is rerun.
            aio.write_csv(cell_dir / f"{s.name}.csv", df, _cell_header(s), durable=False)
            frames[s] = df
    return normalize(pd.concat([frames[s] for s in cells], ignore_index=True)), reused
