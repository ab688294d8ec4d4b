"""One trial per benchmark as a GIF: scripted exploration, then the optimal exploitation policy.

``python -m analysis.trial_gifs --out results/gifs [--only NAMES] [--seed 0]`` draws a problem
from each benchmark's test split and goals from p(g | μ) with ``--seed``, explores with the
scripted exploration of the reference modules (the one that reveals all task-relevant
information) and exploits with π*(μ, g) from the exact planners, and writes ``NAME.gif``.
These are diagnostics of the envs and the oracles, not of a learned agent.

The sign task (``sign``, needs miniworld) is seeded too: the exploration episode starts from the
pose of ``reset(seed=--seed)``, walks the fewest steps to a pose whose frame reads the sign
(:func:`deep.envs.reference_sign.reveal_actions`) and ends the episode there; each exploitation
episode follows π*(μ, g), a shortest path on MiniWorld's geometry from its own start pose
(:func:`deep.envs.reference_sign.optimal_exploitation`). Its frames are the agent's view and a
top view side by side.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from collections.abc import Sequence

import numpy as np

from common.cli import DefaultsHelpFormatter
from deep.envs import make
from deep.envs.render import Policy, record_trial, write_gif

NAMES = ("vanilla_bus", "distracting_bus", "map", "cooking", "cooking_no_goals", "sign")
"""The benchmarks drawn, in order (every family with :meth:`oracle_policies` but the bandit)."""


def oracle_policies(name: str, problem: int, *, seed: int = 0) -> tuple[Policy, Policy]:
    """(scripted exploration, optimal exploitation) for benchmark ``name``'s problem μ.

    ``make(name).oracle_policies(problem, seed=seed)``: ``seed`` is the first reset seed of
    the trial (the sign task's start pose); the grid worlds ignore it (they always start in the
    same cell).
    """
    return make(name).oracle_policies(problem, seed=seed)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; see the module doc."""
    parser = argparse.ArgumentParser(
        prog="python -m analysis.trial_gifs", formatter_class=DefaultsHelpFormatter
    )
    parser.add_argument("--out", default="results/gifs")
    parser.add_argument("--only", default=",".join(NAMES), help="comma-separated benchmarks")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-exploit", type=int, default=2)
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    bad = [n for n in names if n not in NAMES]  # env-name-ok: validates --only
    if bad or not names:
        parser.exit(2, f"error: --only {args.only!r}: allowed names: {', '.join(NAMES)}\n")
    if args.n_exploit < 1:
        parser.exit(2, f"error: --n-exploit {args.n_exploit}: allowed: integers >= 1\n")
    for name in names:
        for module in make(name).requires:
            if importlib.util.find_spec(module) is None:
                parser.exit(2, f"error: --only includes {name!r} but {module} is not installed\n")
    for name in names:
        fam = make(name)
        trial = fam.sample_trial(np.random.default_rng(args.seed), "test", args.n_exploit)
        goals = trial.goals or (-1,) * args.n_exploit
        explore, exploit = oracle_policies(name, trial.problem, seed=args.seed)
        frames, returns = record_trial(fam, trial.problem, goals, explore, exploit, seed=args.seed)
        path = write_gif(frames, f"{args.out}/{name}.gif")
        shown = ", ".join(f"{r:+.2f}" for r in returns[1:])
        print(f"{name}: mu={trial.problem} goals={list(trial.goals)} returns [{shown}] -> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
