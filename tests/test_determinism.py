"""Results do not depend on the number of Numba threads, nor on running twice.

The CLI is run in fresh subprocesses with ``NUMBA_NUM_THREADS=1`` and ``=2`` (each seed is
independent, uses counter-based random numbers and writes only its own row, so the
``prange`` schedule must not matter) and the ``per_seed.csv`` files must be byte-identical,
config line included. In-process, :func:`measure` twice, and under
``numba.set_num_threads(1)``, gives equal frames.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numba
import pandas as pd
import pytest

from tabular.measures import measure

ROOT = Path(__file__).resolve().parents[1]


SWEEPS = {
    "per-trajectory": ["--A", "2..6", "--seeds", "200", "--methods", "rl2,dream"],
    "epsilon-0.5": ["--A", "2..6", "--seeds", "200", "--epsilon", "0.5"],
    "per-step": [
        "--learner",
        "per-step",
        "--A",
        "2..3",
        "--seeds",
        "50",
        "--max-trials",
        "2000",
    ],
}


def run_cli(args: list[str], threads: int, out: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "NUMBA_NUM_THREADS": str(threads)}
    env.pop("NUMBA_DISABLE_JIT", None)
    return subprocess.run(
        [sys.executable, "-m", "analysis.sample_complexity", *args, "--out", str(out), "--quiet"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.parametrize("name", list(SWEEPS))
def test_cli_output_identical_for_one_and_two_threads(name, tmp_path):
    files = {}
    for threads in (1, 2):
        out = tmp_path / f"threads{threads}"
        done = run_cli(SWEEPS[name], threads, out)
        assert done.returncode == 0, done.stderr[-2000:]
        config = json.loads((out / "config.json").read_text())
        assert config["environment"]["numba_threads"] == threads  # the variable took effect
        files[threads] = {f: (out / f).read_bytes() for f in ("per_seed.csv", "summary.csv")}
    per_seed = files[1]["per_seed.csv"]
    assert per_seed.startswith(b"# {")
    assert len(per_seed.splitlines()) > 2
    assert per_seed == files[2]["per_seed.csv"]
    assert files[1]["summary.csv"] == files[2]["summary.csv"]


CELLS = [
    ("rl2", "per-trajectory", 4, 1, 1.0),
    ("dream", "per-trajectory", 3, 2, 0.3),
    ("rl2", "per-trajectory", 2, 2, 0.5),
    ("dream", "per-step", 3, 2, 0.5),
    ("rl2", "per-step", 3, 1, 1.0),
]


@pytest.mark.parametrize(("method", "learner", "A", "H", "epsilon"), CELLS)
def test_measure_twice_and_single_thread_equal(method, learner, A, H, epsilon):
    kwargs = {"learner": learner, "max_trials": 3000 if learner == "per-step" else None}
    seeds = range(10, 210)
    first = measure(method, A, H, epsilon, seeds, **kwargs)
    second = measure(method, A, H, epsilon, seeds, **kwargs)
    pd.testing.assert_frame_equal(first, second, check_exact=True)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        single = measure(method, A, H, epsilon, seeds, **kwargs)
    finally:
        numba.set_num_threads(before)
    pd.testing.assert_frame_equal(first, single, check_exact=True)
    # a seed's row does not depend on which other seeds share the call
    subset = measure(method, A, H, epsilon, list(seeds)[::7], **kwargs)
    pd.testing.assert_frame_equal(first.iloc[::7].reset_index(drop=True), subset, check_exact=True)
