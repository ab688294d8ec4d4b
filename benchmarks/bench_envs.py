"""Benchmark of the grid-world envs: batched NumPy stepping vs the single Gymnasium env loop.

Run ``python benchmarks/bench_envs.py`` (about a minute; ``--quick`` about 15 s). A script, not
a test: it measures and reports, and asserts nothing about speed.

For every grid world (paper variant) it times, in the same process and interleaved over
``--repeats`` rounds (the machine is shared and noisy; the best round is kept):

* ``single``: the usual Gymnasium loop on one env made by ``family.make_env()`` (through
  ``gymnasium.make``, so with its default wrappers): ``step`` with a random action, ``reset``
  when the episode ends;
* ``batched``: ``family.make_batched(--batch)`` (default 1024) stepping random actions, with
  the envs whose episode ended reset through the ``mask`` argument, the way a trial loop
  drives it.

It prints env steps per second and the batched/single ratio. The issue's target is
``>= 1e6`` batched steps/s on one core at batch 1024. NumPy's element-wise kernels run on one
thread, so this is a one-core number even on a multi-core machine; pin it with ``taskset -c 0``
to be sure. Results go to ``--out`` (CSV, written atomically) with the machine facts.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from importlib import metadata

import numpy as np
import pandas as pd

from common.cli import run_main
from common.io import atomic_write_text
from deep.envs import NO_GOAL, make

GRID_WORLDS = ("vanilla_bus", "distracting_bus", "map", "cooking", "cooking_no_goals")


def time_single(name: str, steps: int, seed: int = 0) -> float:
    """Env steps per second of the single-env Gymnasium loop."""
    env = make(name).make_env()
    env.action_space.seed(seed)
    env.reset(seed=seed)
    actions = [env.action_space.sample() for _ in range(steps)]
    start = time.perf_counter()
    for a in actions:
        _, _, term, trunc, _ = env.step(a)
        if term or trunc:
            env.reset()
    return steps / (time.perf_counter() - start)


def time_batched(name: str, steps: int, batch: int, seed: int = 0) -> float:
    """Env steps per second of the batched env (``steps`` batched calls x ``batch`` envs)."""
    fam = make(name)
    rng = np.random.default_rng(seed)
    env = fam.make_batched(batch)
    n_actions = env.n_actions
    problems = rng.choice(fam.problem_ids("train"), size=batch)
    goals = np.array([fam.sample_goal(rng, int(p)) for p in problems])
    env.reset(problems, goals)
    actions = rng.integers(n_actions, size=(steps, batch))
    start = time.perf_counter()
    for t in range(steps):
        _, _, term, trunc = env.step(actions[t])
        done = term | trunc
        if done.any():
            env.reset(problems[done], goals[done] if fam.n_goals else NO_GOAL, mask=done)
    return steps * batch / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; see the module doc."""
    parser = argparse.ArgumentParser(prog="python benchmarks/bench_envs.py")
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="fewer steps and repeats")
    parser.add_argument("--out", default="benchmarks/results/bench_envs.csv")
    args = parser.parse_args(argv)
    if args.batch < 1:
        parser.exit(2, f"error: --batch {args.batch}: allowed: integers >= 1\n")
    single_steps, batched_steps = (3_000, 100) if args.quick else (20_000, 400)
    repeats = 1 if args.quick else args.repeats
    best: dict[tuple[str, str], float] = {}
    for _ in range(repeats):
        for name in GRID_WORLDS:
            for kind, rate in (
                ("single", time_single(name, single_steps)),
                ("batched", time_batched(name, batched_steps, args.batch)),
            ):
                best[(name, kind)] = max(best.get((name, kind), 0.0), rate)
    rows = []
    for name in GRID_WORLDS:
        single, batched = best[(name, "single")], best[(name, "batched")]
        rows.append(
            {
                "env": name,
                "single_steps_per_s": round(single),
                "batched_steps_per_s": round(batched),
                "batch": args.batch,
                "ratio": round(batched / single, 1),
                "meets_1e6": batched >= 1e6,
            }
        )
    table = pd.DataFrame(rows)
    facts = {
        "machine": platform.platform(),
        "cpus": os.cpu_count(),
        "numpy": np.__version__,
        "package": metadata.version("dream-metarl"),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "repeats": repeats,
    }
    print(table.to_string(index=False))
    print(" ".join(f"{k}={v}" for k, v in facts.items()))
    out = table.assign(**facts)
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    atomic_write_text(args.out, out.to_csv(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(run_main(main))
