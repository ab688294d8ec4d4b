"""Steps per second of :class:`deep.envs.sign.SignEnv` against MiniWorld's own ``Sign`` env.

Run ``python benchmarks/bench_sign.py [--steps N] [--reps R] [--out CSV]``. Both envs live in
the same process and run the same seeded random action sequence (uniform over the 4 actions,
resetting whenever an episode ends, so resets are included); repetitions are interleaved, with
the order alternating, because the machine is shared and noisy. The wrapper is compared in its
``official`` variant, whose "end episode" moves back like the raw env's action 3 (the ``paper``
variant skips that render and would look faster than it is). The target is a median ratio
(ours / raw) of at least 0.9; the script reports it and asserts nothing.

``--out`` writes one row per repetition and env, plus the median rows, atomically
(:func:`common.io.atomic_write_text`: a temporary file in the same folder, then a rename).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common.cli import run_main
from common.io import atomic_write_text
from deep.envs import _headless
from deep.envs.sign import SignConfig, SignEnv

TARGET_RATIO = 0.9


def _runner(env: Any, actions: np.ndarray, seed: int) -> Callable[[], float]:
    """A function that runs ``actions`` through ``env`` and returns the seconds it took."""

    def run() -> float:
        env.reset(seed=seed)
        start = time.perf_counter()
        for a in actions:
            _, _, terminated, truncated, _ = env.step(int(a))
            if terminated or truncated:
                env.reset()
        return time.perf_counter() - start

    return run


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the table and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000, help="steps per repetition")
    parser.add_argument("--reps", type=int, default=5, help="interleaved repetitions")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="CSV path (written atomically)")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.reps < 1:
        parser.error("--steps and --reps must be >= 1")
    _headless.configure()
    from miniworld.envs.sign import Sign

    with contextlib.redirect_stdout(io.StringIO()):  # "Falling back to num_samples=4"
        raw = Sign()
    ours = SignEnv(SignConfig(variant="official"))
    actions = np.random.default_rng(args.seed).integers(0, 4, size=args.steps)
    runs = {"raw miniworld Sign": _runner(raw, actions, args.seed)}
    runs["deep SignEnv"] = _runner(ours, actions, args.seed)
    for run in runs.values():  # warm-up (first frames, caches)
        run()
    rows = []
    for rep in range(args.reps):
        names = list(runs) if rep % 2 == 0 else list(runs)[::-1]
        for name in names:
            seconds = runs[name]()
            rows.append(
                {"env": name, "rep": rep, "steps": args.steps, "seconds": seconds,
                 "steps_per_s": args.steps / seconds}
            )  # fmt: skip
    table = pd.DataFrame(rows)
    med = table.groupby("env", sort=False)["steps_per_s"].median()
    pairs = table.pivot(index="rep", columns="env", values="steps_per_s")
    ratio = statistics.median(pairs["deep SignEnv"] / pairs["raw miniworld Sign"])
    for name, rate in med.items():
        print(f"{name:>20}: {rate:7.0f} steps/s (median of {args.reps} x {args.steps} steps)")
    verdict = "meets" if ratio >= TARGET_RATIO else "MISSES"
    print(f"ratio deep/raw: {ratio:.3f} (median of per-repetition ratios; {verdict} >= 0.9)")
    if args.out:
        summary = pd.DataFrame(
            [{"env": name, "rep": "median", "steps": args.steps, "seconds": np.nan,
              "steps_per_s": rate} for name, rate in med.items()]
            + [{"env": "ratio deep/raw", "rep": "median", "steps": args.steps,
                "seconds": np.nan, "steps_per_s": ratio}]
        )  # fmt: skip
        out = pd.concat([table, summary], ignore_index=True)
        out["platform"] = platform.platform()
        out["cpus"] = os.cpu_count()
        out["lp_num_threads"] = os.environ.get("LP_NUM_THREADS", "")
        path = Path(args.out)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, out.to_csv(index=False))
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
