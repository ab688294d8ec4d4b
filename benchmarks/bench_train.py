"""Training throughput of neural DREAM and where the time goes (not a timed test).

``python benchmarks/bench_train.py [--env distracting_bus] [--steps 20000] [--threads 2]``

1. End to end: env steps/s of ``deep.train``'s loop with App. B.4's update schedule (one
   update every 4 env steps, batch 32), measured after the replay holds enough trials for
   every component to update, and the ratio to acting alone (no updates) in the same process.
2. Profile of one update: milliseconds per part (replay sampling, f and g forward, the
   exploration loss, the exploitation losses, backward + optimiser steps), by timing each
   part alone, and the ratio of the grid state embedder's table path to its direct path.
3. One update of every method of ``--methods`` (default: all registered) at its paper batch
   size, as milliseconds and as the ratio to DREAM's update timed in the same process.

Prints a table and writes ``benchmarks/results/bench_train.csv`` (atomically).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.io import environment, write_csv
from deep.train import METHODS, RunConfig, Trainer

_REPLAY_MINIMA = ("min_replay", "min_explore_replay", "min_exploit_replay")


def method_update_ms(env: str, method: str, threads: int, repeat: int = 20) -> float:
    """Milliseconds per ``update()`` of ``method`` (paper config, replay minima lowered)."""
    spec = METHODS[method]
    module = __import__(spec.module, fromlist=[spec.cls])
    factory = module
    for part in spec.config.split("."):
        factory = getattr(factory, part)
    fields = {f.name for f in dataclasses.fields(factory())}
    args = {k: "64" for k in _REPLAY_MINIMA if k in fields}
    with tempfile.TemporaryDirectory() as tmp:
        config = RunConfig(
            env=env,
            method=method,
            steps=10**9,
            threads=threads,
            eval_every=10**9,
            method_args=args,
        )
        trainer = Trainer(config, tmp, progress=False)
        learner = trainer.method
        real_update = learner.update
        learner.update = lambda: {}  # type: ignore[method-assign]
        while len(learner.replay) < 64:
            trainer._wave()
        learner.update = real_update  # type: ignore[method-assign]
        return _timed(real_update, repeat)


def _timed(fn, repeat: int) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat * 1000.0


def main() -> int:
    """Run the benchmark; returns the exit status."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--env", default="distracting_bus")
    p.add_argument("--steps", type=int, default=20_000, help="env steps timed end to end")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default="benchmarks/results/bench_train.csv")
    p.add_argument("--methods", default=",".join(METHODS), help="methods whose update is timed")
    args = p.parse_args()
    methods = [m for m in args.methods.split(",") if m]
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        allowed = ", ".join(METHODS)
        print(f"error: --methods {','.join(unknown)}: allowed: {allowed}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        config = RunConfig(env=args.env, steps=10**9, threads=args.threads, eval_every=10**9)
        trainer = Trainer(config, tmp, progress=False)
        dream = trainer.method
        cfg = dream.config
        # Fill the replay past both minima without updates, then time acting alone.
        real_update = dream.update
        dream.update = lambda: {}  # type: ignore[method-assign]
        while len(dream.replay) < max(cfg.min_explore_replay, cfg.min_exploit_replay):
            trainer._wave()
        start, steps0 = time.perf_counter(), trainer.env_steps
        while trainer.env_steps - steps0 < args.steps:
            trainer._wave()
        acting = (trainer.env_steps - steps0) / (time.perf_counter() - start)
        dream.update = real_update  # type: ignore[method-assign]
        start, steps0 = time.perf_counter(), trainer.env_steps
        while trainer.env_steps - steps0 < args.steps:
            trainer._wave()
        training = (trainer.env_steps - steps0) / (time.perf_counter() - start)

        # One update, part by part.
        batch = dream.replay.sample(cfg.batch_size, dream.rng)
        explore = dream._episode(batch, "explore")
        problems = torch.from_numpy(batch["problem"]).unsqueeze(-1)

        def forward_fg() -> tuple[torch.Tensor, torch.Tensor]:
            return dream.encoder(problems), dream.decoder(*explore[:3])

        def explore_loss() -> torch.Tensor:
            f, g = forward_fg()
            return dream._explore_loss(explore, f, g)[0]

        def task_loss() -> torch.Tensor:
            f, g = forward_fg()
            return dream._task_loss(batch, explore, f, g)[0]

        def explore_backward() -> None:
            dream._step(dream.explore_opt, explore_loss(), "exploration")

        def task_backward() -> None:
            dream._step(dream.task_opt, task_loss(), "exploitation")

        parts = {
            "replay sample": lambda: dream.replay.sample(cfg.batch_size, dream.rng),
            "f and g forward": forward_fg,
            "exploration loss (incl. f, g)": lambda: explore_loss(),
            "exploitation losses (incl. f, g)": lambda: task_loss(),
            "exploration loss + backward + Adam": explore_backward,
            "exploitation losses + backward + Adam": task_backward,
            "whole update": real_update,
        }
        rows = [{"part": k, "ms": _timed(fn, 30)} for k, fn in parts.items()]
        embedder = dream.task_q.state
        x = torch.from_numpy(batch["exploit_obs_state"].astype(np.int64))
        idx = (x + embedder.offsets).reshape(-1, x.shape[-1])
        direct = _timed(
            lambda: embedder.hidden(embedder.table(idx).flatten(-2)).sum().backward(), 30
        )
        table = _timed(lambda: embedder._first_layer(idx).sum().backward(), 30)
    dream_ms = method_update_ms(args.env, "dream", args.threads)
    for method in methods:
        ms = dream_ms if method == "dream" else method_update_ms(args.env, method, args.threads)
        rows.append({"part": f"update of {method}", "ms": ms, "value": ms / dream_ms})
    table_df = pd.DataFrame(rows)
    summary = pd.DataFrame(
        [
            {"part": "acting only (env steps/s)", "ms": np.nan, "value": acting},
            {"part": "training (env steps/s)", "ms": np.nan, "value": training},
            {"part": "training / acting", "ms": np.nan, "value": training / acting},
            {"part": "1M env steps (minutes)", "ms": np.nan, "value": 1e6 / training / 60},
            {"part": "embedder direct / table (fwd+bwd)", "ms": np.nan, "value": direct / table},
        ]
    )
    out = pd.concat([summary, table_df], ignore_index=True)
    print(f"env {args.env}, torch threads {torch.get_num_threads()}, batch {cfg.batch_size}")
    print(out.to_string(index=False, float_format=lambda v: f"{v:,.2f}"))
    header = {
        "benchmark": "bench_train",
        "env": args.env,
        "threads": args.threads,
        "steps": args.steps,
        "dream_config": dataclasses.asdict(cfg),
        "torch_version": torch.__version__,
        **environment(),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_csv(args.out, out, header)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
