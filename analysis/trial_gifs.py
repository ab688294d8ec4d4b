"""One trial as a GIF: scripted exploration and the optimal exploitation, or a checkpoint's agent.

Scripted mode, ``python -m analysis.trial_gifs --out results/gifs [--only NAMES] [--seed 0]``,
draws a problem from each benchmark's test split and goals from p(g | μ) with ``--seed``,
explores with the scripted exploration of the reference modules (the one that reveals all
task-relevant information) and exploits with π*(μ, g) from the exact planners, and writes
``NAME.gif``. These are diagnostics of the envs and the oracles, not of a learned agent.

Checkpoint mode, ``python -m analysis.trial_gifs --checkpoint RUN_DIR [--out DIR] [--seed S]``,
shows the learned agent instead: it loads the run's checkpoint, draws a held-out problem and its
goals with ``--seed`` and plays one greedy trial of the run's method exactly as its evaluations
do (:func:`deep.trial_loop.run_wave`, ε = 0: the exploration episode, then each exploitation
episode with the method's reading of it; for DREAM z = g(τ^exp)) in the family's batched env
seeded with ``--seed``. The trial's actions are then replayed in the single rendering env
(:func:`deep.envs.render.record_trial`, whose first reset takes the same seed, so the sign
task's start poses are the played ones); the replayed returns must equal the played ones.
It writes ``DIR/<benchmark>_<method>.gif``, for every grid world and the sign task.

The sign task (``sign``, needs miniworld, rendered headless through EGL: see
``deep/envs/_headless.py``) is seeded too: the scripted exploration starts from the pose of
``reset(seed=--seed)``, walks the fewest steps to a pose whose frame reads the sign
(:func:`deep.envs.reference_sign.reveal_actions`) and ends the episode there; each exploitation
episode follows π*(μ, g), a shortest path on MiniWorld's geometry from its own start pose
(:func:`deep.envs.reference_sign.optimal_exploitation`). Its frames are the agent's view and a
top view side by side.

Bad input (an unknown benchmark, ``--n-exploit 0``, a run folder without ``checkpoint.pt``, a
missing optional module) is one line on stderr and exit status 2. A GIF of the same name is
replaced (atomically).
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from common.cli import OneLineParser, UsageError, int_at_least, run_main
from deep.envs import make
from deep.envs.problem import MetaProblemFamily
from deep.envs.render import Policy, record_trial, write_gif
from deep.trial_loop import TrialBatch, run_wave, sample_trials

__all__ = [
    "NAMES",
    "CheckpointTrial",
    "checkpoint_gif",
    "main",
    "oracle_policies",
    "play_greedy_trial",
    "replay_policies",
]

NAMES = ("vanilla_bus", "distracting_bus", "map", "cooking", "cooking_no_goals", "sign")
"""The benchmarks drawn, in order (every family with :meth:`oracle_policies` but the bandit)."""

DEFAULT_OUT = "results/gifs"


def oracle_policies(name: str, problem: int, *, seed: int = 0) -> tuple[Policy, Policy]:
    """(scripted exploration, optimal exploitation) for benchmark ``name``'s problem μ.

    ``make(name).oracle_policies(problem, seed=seed)``: ``seed`` is the first reset seed of
    the trial (the sign task's start pose); the grid worlds ignore it (they always start in the
    same cell).
    """
    return make(name).oracle_policies(problem, seed=seed)


@dataclass(frozen=True)
class CheckpointTrial:
    """One greedy trial of a checkpoint, recorded."""

    problem: int
    goals: tuple[int, ...]
    """The exploitation episodes' goals (−1 for goal-free families)."""
    returns: tuple[float, ...]
    """Every episode's return, the exploration episode first (as played and as replayed)."""
    frames: int
    """Frames in the GIF: every episode's steps + 1."""
    path: Path


def play_greedy_trial(
    method: Any, family: MetaProblemFamily, seed: int, n_exploit: int = 1, split: str = "test"
) -> TrialBatch:
    """One greedy trial (ε = 0) of ``method`` on a problem of ``split`` drawn with ``seed``.

    The problem and its ``n_exploit`` goals come from ``numpy.random.default_rng(seed)``; the
    trial is played in ``family.make_batched(1, seed)`` (the sign task's first start pose is
    ``reset(seed=seed)``'s, later ones continue that env's stream).
    """
    problems, goals = sample_trials(family, np.random.default_rng(seed), 1, split, n_exploit)
    env = family.make_batched(1, seed)
    try:
        return run_wave(env, family, method, problems, goals, np.zeros(1, np.int64), training=False)
    finally:
        close = getattr(env, "close", None)
        if close is not None:
            close()


def replay_policies(trial: TrialBatch) -> tuple[Policy, Policy]:
    """(exploration, exploitation) policies replaying the actions of ``trial``'s first row.

    The exploitation policy replays each exploitation episode in turn: it moves to the next one
    whenever an episode starts (``t == 0``), as :func:`deep.envs.render.record_trial` plays them.
    """
    actions = [ep.actions[0, : ep.length[0]].tolist() for ep in trial.episodes]
    episode = [0]

    def explore(env: Any, t: int) -> int:
        return int(actions[0][t])

    def exploit(env: Any, t: int) -> int:
        if t == 0:
            episode[0] += 1
        return int(actions[episode[0]][t])

    return explore, exploit


def checkpoint_gif(
    trainer: Any, out: str | Path, *, seed: int = 0, n_exploit: int = 2
) -> CheckpointTrial:
    """Play one greedy held-out trial of ``trainer``'s method and write it as a GIF in ``out``.

    Raises RuntimeError if the replay in the rendering env does not return what was played.
    """
    family, method = trainer.family, trainer.method
    trial = play_greedy_trial(method, family, seed, n_exploit)
    played = tuple(float(ep.rewards[0, : ep.length[0]].sum()) for ep in trial.episodes)
    problem = int(trial.problems[0])
    goals = tuple(int(ep.goal[0]) for ep in trial.episodes[1:])
    explore, exploit = replay_policies(trial)
    frames, returns = record_trial(family, problem, goals, explore, exploit, seed=seed)
    if not np.allclose(returns, played, atol=1e-6):
        raise RuntimeError(
            f"the replayed trial returned {returns}, the played one {list(played)} "
            f"({family.name}, problem {problem}, seed {seed})"
        )
    name = f"{family.name}_{trainer.config.method}.gif"
    path = write_gif(frames, Path(out) / name)
    return CheckpointTrial(problem, goals, played, len(frames), path)


def _names(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names or any(n not in NAMES for n in names):  # env-name-ok: validates --only
        raise UsageError.for_flag("--only", text, f"allowed names: {', '.join(NAMES)}")
    return names


def _check_requires(family: MetaProblemFamily, where: str) -> None:
    for module in family.requires:
        if importlib.util.find_spec(module) is None:
            raise UsageError(f"{where} needs {module}, which is not installed")


def _scripted(names: Sequence[str], out: str, seed: int, n_exploit: int) -> None:
    for name in names:
        _check_requires(make(name), f"--only includes {name!r}, which")
    for name in names:
        fam = make(name)
        trial = fam.sample_trial(np.random.default_rng(seed), "test", n_exploit)
        goals = trial.goals or (-1,) * n_exploit
        explore, exploit = oracle_policies(name, trial.problem, seed=seed)
        frames, returns = record_trial(fam, trial.problem, goals, explore, exploit, seed=seed)
        path = write_gif(frames, f"{out}/{name}.gif")
        shown = ", ".join(f"{r:+.2f}" for r in returns[1:])
        print(f"{name}: mu={trial.problem} goals={list(trial.goals)} returns [{shown}] -> {path}")


def _from_checkpoint(run: str, out: str, seed: int, n_exploit: int) -> None:
    import torch

    from analysis.checkpoints import load_run

    torch.set_num_threads(1)
    trainer = load_run(run, flag="--checkpoint")
    _check_requires(trainer.family, f"the run's benchmark {trainer.config.env}")
    done = checkpoint_gif(trainer, out, seed=seed, n_exploit=n_exploit)
    shown = ", ".join(f"{r:+.2f}" for r in done.returns[1:])
    print(
        f"{trainer.config.method} on {trainer.config.env} ({trainer.method.env_steps} env steps): "
        f"mu={done.problem} goals={list(done.goals)} exploitation returns [{shown}], "
        f"{done.frames} frames -> {done.path}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; see the module doc."""
    parser = OneLineParser(prog="python -m analysis.trial_gifs")
    parser.add_argument("--out", default=None, help=f"output folder (default: {DEFAULT_OUT})")
    parser.add_argument(
        "--only", default=None, help=f"comma-separated benchmarks (default: {','.join(NAMES)})"
    )
    parser.add_argument(
        "--checkpoint",
        default=None,
        help="a run folder (or a snapshot RUN/snapshots/env_steps_N.pt): its agent's greedy trial",
    )
    parser.add_argument("--seed", default="0", help="seed of the problem, goals and start poses")
    parser.add_argument("--n-exploit", default="2", help="exploitation episodes per trial")
    try:
        args = parser.parse_args(argv)
        seed = int_at_least("--seed", args.seed, 0)
        n_exploit = int_at_least("--n-exploit", args.n_exploit, 1)
        out = args.out or DEFAULT_OUT
        if args.checkpoint is not None:
            if args.only is not None:
                raise UsageError.for_flag(
                    "--only", args.only, "not with --checkpoint (the run's benchmark is drawn)"
                )
            _from_checkpoint(args.checkpoint, out, seed, n_exploit)
        else:
            _scripted(_names(args.only or ",".join(NAMES)), out, seed, n_exploit)
    except UsageError as err:
        print(err.line(), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
