"""Greedy evaluation of a run's checkpoint on chosen problem splits (training vs held-out).

``python -m analysis.evaluate_checkpoint runs/distracting_bus/dream/s0 --splits train,test``

Loads the run's ``checkpoint.pt`` (the weights as of its last save), plays ``--trials`` greedy
trials of each split with the protocol of the run's own evaluations (:func:`deep.metrics.evaluate`:
ε = 0, the benchmark's exact reveal oracle, the method's decoder error) and adds the mean of what
the exploration episode visits as the family counts it
(:meth:`~deep.envs.problem.MetaProblemFamily.exploration_visits`: on the bus cities, bus rides
by kind, colored, gray, or where there is no bus, :func:`deep.envs.city.bus_rides`; fridges
picked up in the kitchens). Training problems against held-out ones separate "did not
learn" from "did not generalise". Prints the table and writes ``--out`` (CSV, atomically) with
the run config, the checkpoint's env steps and the package version in its header.

A run folder without ``checkpoint.pt`` (``error: run <folder>: no checkpoint.pt there``), a
truncated or damaged checkpoint (``error: <checkpoint>: ...; the file was left as it is``) and an
``--out`` that cannot be written (``error: <path>: cannot write (<reason>)``, checked before
evaluating) are one line on stderr and exit status 2, and so is a damaged ``metrics.csv`` (the
trainer's resume refuses one); ``config.json`` and ``summary.json`` are not read.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import torch

from analysis.checkpoints import SPLITS, check_writable, load_run, play_splits
from common.cli import OneLineParser, UsageError, int_at_least, run_main
from common.io import PACKAGE, UnwritableOutput, package_version, write_csv
from deep.train import Trainer

__all__ = ["evaluate_checkpoint", "main"]


def evaluate_checkpoint(
    run: str | Path | Trainer,
    splits: Sequence[str] = SPLITS,
    trials: int = 200,
    seed: int = 12345,
) -> tuple[pd.DataFrame, dict]:
    """One row per split: the greedy metrics of the checkpoint in ``run``; and its config.

    ``run`` is a run directory or a trainer already loaded from one. Raises
    :class:`UsageError` if the directory has no ``checkpoint.pt`` and
    :class:`common.io.DamagedFile` if it cannot be loaded.
    """
    trainer = run if isinstance(run, Trainer) else load_run(run)
    run_dir = trainer.out
    config = trainer.config
    rows = []
    for split, play in play_splits(trainer, trials, seed, splits).items():
        row = {
            "method": config.method,
            "env": config.env,
            "seed": config.seed,
            "checkpoint_env_steps": trainer.method.env_steps,
            "split": split,
            "trials": trials,
            **play.summary,
        }
        explore = play.explore
        visits = trainer.family.exploration_visits(
            play.problems, explore.obs, explore.actions, explore.length
        )
        row.update({name: float(values.mean()) for name, values in visits.items()})
        rows.append(row)
    return pd.DataFrame(rows), {"run": str(run_dir), "config": config.__dict__}


def _splits(text: str) -> list[str]:
    names = [s.strip() for s in text.split(",") if s.strip()]
    if not names or any(s not in SPLITS for s in names) or len(set(names)) != len(names):
        allowed = f"allowed: {', '.join(SPLITS)}, comma-separated"
        raise UsageError.for_flag("--splits", text, allowed)
    return names


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point."""
    p = OneLineParser(prog="python -m analysis.evaluate_checkpoint")
    p.add_argument(
        "run",
        help="run directory holding checkpoint.pt, or a snapshot RUN/snapshots/env_steps_N.pt",
    )
    p.add_argument("--splits", default="train,test", help="train and/or test, comma-separated")
    p.add_argument("--trials", default="200", help="greedy trials per split")
    p.add_argument("--seed", default="12345", help="seed of the evaluation trials")
    p.add_argument("--threads", default="1", help="torch CPU threads")
    p.add_argument("--out", default=None, help="CSV path (default: <run>/checkpoint_eval.csv)")
    try:
        args = p.parse_args(argv)
        splits = _splits(args.splits)
        numbers = {
            flag: int_at_least(f"--{flag}", getattr(args, flag), 0 if flag == "seed" else 1)
            for flag in ("trials", "seed", "threads")
        }
        torch.set_num_threads(numbers["threads"])
        out = Path(args.out) if args.out else Path(args.run) / "checkpoint_eval.csv"
        trainer = load_run(args.run)  # the run's errors first, then --out's: before evaluating
        check_writable(out)
        table, header = evaluate_checkpoint(trainer, splits, numbers["trials"], numbers["seed"])
        meta = {"package": PACKAGE, "package_version": package_version()}
        try:
            write_csv(out, table, {"experiment": "analysis.evaluate_checkpoint", **meta, **header})
        except OSError as err:  # (a folder that cannot be written raises UnwritableOutput)
            raise UnwritableOutput.at(out, err) from None
    except UsageError as err:
        print(err.line(), file=sys.stderr)
        return 2
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    return 0


if __name__ == "__main__":
    raise SystemExit(run_main(main, sys.argv[1:]))
