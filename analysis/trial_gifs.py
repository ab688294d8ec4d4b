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
from typing import Any

import numpy as np

from deep.envs import make, reference_city, reference_cooking, reference_sign
from deep.envs.render import Policy, record_trial, write_gif
from deep.envs.sign import END_EPISODE, SignConfig

CITY = ("vanilla_bus", "distracting_bus", "map")
COOKING = ("cooking", "cooking_no_goals")
SIGN = "sign"
NAMES = (*CITY, *COOKING, SIGN)


def _scripted(actions: Sequence[int], idle: int) -> Policy:
    def policy(env: Any, t: int) -> int:
        return int(actions[t]) if t < len(actions) else idle

    return policy


def sign_policies(seed: int, variant: str = "paper") -> tuple[Policy, Policy]:
    """(exploration that reads the sign, π*) for a sign trial whose first reset has ``seed``.

    The exploration is planned from the start pose of ``reset(seed=seed)``, so it is only
    right for an episode reset with that seed; π* is planned at ``t = 0`` of each episode from
    the live env's pose, so it works from any start.
    """
    config = SignConfig(variant=variant)
    explore = _scripted(reference_sign.reveal_actions(seed, config), END_EPISODE)
    plan: list[int] = []

    def exploit(env: Any, t: int) -> int:
        if t == 0:
            plan[:] = reference_sign.optimal_exploitation(env)
        return plan[t] if t < len(plan) else 0

    return explore, exploit


def oracle_policies(name: str, problem: int, *, seed: int = 0) -> tuple[Policy, Policy]:
    """(scripted exploration, optimal exploitation) for benchmark ``name``'s problem μ.

    ``seed``: the sign task's first reset seed (see :func:`sign_policies`); the grid worlds
    ignore it (they always start in the same cell).
    """
    if name == SIGN:
        return sign_policies(seed)
    fam = make(name)
    actions = fam.config.actions  # type: ignore[attr-defined]
    if name in CITY:
        model = reference_city._model(name, "paper")
        script = reference_city.scripted_exploration(name)

        def exploit(env: Any, t: int) -> int:
            cell = env.pos[1] * 9 + env.pos[0]
            return int(model.policy[env.problem, env.goal, cell])

        return _scripted(script, actions.index("drop")), exploit
    model_c = reference_cooking.cooking_model(name)
    script = reference_cooking.scripted_exploration(name, problem)

    def exploit_cooking(env: Any, t: int) -> int:
        cell = env.pos[1] * 3 + env.pos[0]
        key = reference_cooking._encode(env.problem, env.goal, cell, env.inventory, env.stage)
        return int(model_c.policy[t, np.searchsorted(model_c.keys, key)])

    return _scripted(script, actions.index("ride_bus")), exploit_cooking


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; see the module doc."""
    parser = argparse.ArgumentParser(prog="python -m analysis.trial_gifs")
    parser.add_argument("--out", default="results/gifs")
    parser.add_argument("--only", default=",".join(NAMES), help="comma-separated benchmarks")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-exploit", type=int, default=2)
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    bad = [n for n in names if n not in NAMES]
    if bad or not names:
        parser.exit(2, f"error: --only {args.only!r}: allowed names: {', '.join(NAMES)}\n")
    if args.n_exploit < 1:
        parser.exit(2, f"error: --n-exploit {args.n_exploit}: allowed: integers >= 1\n")
    if SIGN in names and importlib.util.find_spec("miniworld") is None:
        parser.exit(2, "error: --only includes 'sign' but miniworld is not installed\n")
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
