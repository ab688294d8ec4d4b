"""Can DREAM's π^task network represent the optimal exploitation policy? Regression on exact Q*.

``python -m analysis.capacity_probe --env cooking --head paper --updates 20000 --out DIR``

A control for the told-μ failures of :mod:`analysis.diagnostics.exploitation`: it takes RL out.
DREAM's own exploitation network (``TaskQNetwork``, recurrent on cooking) and encoder f_ψ(μ)
are fitted by regression to the family's exact values,

    L = mean over steps t < T and actions a of (Q_task(s_t, τ_{:t}, z, a) − Q*(s_t, a))²
        + λ·L_bottleneck(f),  z = f_ψ(μ) + ρ·ε,

with the run's ρ and bottleneck (so z carries no more than in DREAM), on exploitation
episodes of the training (problem, goal) pairs that follow π* with probability
``--p-oracle`` and act uniformly otherwise (so every stage and many mistakes are visited;
Q*: :meth:`~deep.envs.problem.MetaProblemFamily.optimal_action_values`). The targets are exact
and the data covers the states, so what is left is whether the function class and the
optimiser can fit them. Then every training pair is played greedily told μ, as
``analysis.diagnostics`` does, and summarised per kind of goal.

If the paper's head plays a kind of goal optimally here but not after DREAM's training, its
capacity is not what stops it there. Writes ``capacity_<head>_s<seed>.csv`` (one row per split
and goal kind: the goal summary of :func:`~analysis.diagnostics.exploitation.goal_summary` and
the final fit error) and ``fit_<head>_s<seed>.csv`` (the regression loss during training) to
``--out``, each with a config header.
Bad input is one line and exit status 2.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import torch

from analysis.diagnostics.exploitation import (
    goal_pairs,
    goal_summary,
    goal_table,
    optimal_values_along,
    oracle_mixed_episodes,
)
from common.cli import OneLineParser, UsageError, run_main
from common.io import PACKAGE, UnwritableOutput, output_folder, package_version, write_csv
from deep.dream import Dream, DreamConfig
from deep.envs import make
from deep.networks import previous_inputs, to_torch
from deep.train import parse_env_args


@dataclass(frozen=True)
class ProbeConfig:
    """One capacity probe: the network, the data and the optimiser."""

    env: str = "cooking"
    env_kwargs: Mapping[str, Any] = field(default_factory=dict)
    """Benchmark config entries (``--env-arg``): ``pot=hidden`` is the cooking every probe
    before issue 14's change of default fitted (``results/capacity_probe*/``)."""
    head: str = "paper"
    """Q_task's head (:attr:`deep.dream.DreamConfig.task_head`)."""
    episodes: int = 8000
    """Training episodes (pairs drawn uniformly among the training pairs)."""
    p_oracle: float = 0.7
    updates: int = 20_000
    batch_size: int = 32
    lr: float = 1e-3
    seed: int = 0
    threads: int = 1


def optimal_targets(
    family: Any, problems: np.ndarray, goals: np.ndarray, actions: np.ndarray, length: np.ndarray
) -> np.ndarray:
    """Q*(s_t, ·) along each recorded episode ``[N, T, A]`` (0 past its end)."""
    played = [actions[i, : length[i]] for i in range(len(problems))]
    along = optimal_values_along(family, problems, goals, played)
    if along is None:
        raise UsageError(f"--env {family.name}: the family has no exact Q* model")
    values = np.zeros((*actions.shape, along[0].shape[-1]))
    values[:, : along[0].shape[1]] = np.nan_to_num(along[0], nan=0.0)
    return values


def fit(config: ProbeConfig) -> tuple[Dream, pd.DataFrame, float]:
    """Train π^task and f on exact Q*.

    Returns the method, the loss curve (per batch, z with noise) and the final mean squared
    error over every episode with z = f(μ), as when played told μ.
    """
    try:
        family = make(config.env, **config.env_kwargs)
    except (TypeError, ValueError) as err:
        raise UsageError(f"--env-arg: {err}") from None
    torch.manual_seed(config.seed)
    env = family.make_batched(1)
    dream_config = DreamConfig(exploitation_policy="recurrent", task_head=config.head)
    method = Dream(family, env.observation_space, env.n_actions, dream_config, seed=config.seed)
    pairs_p, pairs_g = goal_pairs(family, "train")
    rng = np.random.default_rng([config.seed, 3])
    pick = rng.integers(len(pairs_p), size=config.episodes)
    problems, goals = pairs_p[pick], pairs_g[pick]
    episodes, _ = oracle_mixed_episodes(family, problems, goals, config.p_oracle, config.seed)
    targets = torch.from_numpy(
        optimal_targets(family, problems, goals, episodes.actions, episodes.length)
    ).float()
    obs = to_torch(episodes.obs)
    actions = torch.from_numpy(episodes.actions)
    prev_a, _ = previous_inputs(actions, torch.zeros(actions.shape))
    steps = torch.arange(actions.shape[1])
    mask = (steps[None, :] < torch.from_numpy(episodes.length)[:, None]).float()
    params = [*method.task_q.parameters(), *method.encoder.parameters()]
    optimizer = torch.optim.Adam(params, lr=config.lr)
    batch_rng = np.random.default_rng([config.seed, 4])
    noise = torch.Generator().manual_seed(config.seed)
    curve = []
    for update in range(1, config.updates + 1):
        idx = torch.from_numpy(batch_rng.integers(config.episodes, size=config.batch_size))
        f = method.encoder(torch.from_numpy(problems[idx.numpy()]).unsqueeze(-1))  # with grad
        z = f + dream_config.encoder_std * torch.randn(f.shape, generator=noise)
        features, _ = method.task_q.features({k: v[idx] for k, v in obs.items()}, prev_a[idx])
        q = method.task_q.head_on(features, z.unsqueeze(0))[0][:, :-1]
        err = ((q - targets[idx]) ** 2).mean(-1)
        loss = (err * mask[idx]).sum() / mask[idx].sum()
        optimizer.zero_grad()
        (loss + method.bottleneck_loss(f)).backward()
        optimizer.step()
        if update == 1 or update % 500 == 0 or update == config.updates:
            curve.append({"update": update, "mse": loss.item()})
    with torch.no_grad():
        f = method.encoder(torch.from_numpy(problems).unsqueeze(-1))
        features, _ = method.task_q.features(obs, prev_a)
        q = method.task_q.head_on(features, f.unsqueeze(0))[0][:, :-1]
        mse = float((((q - targets) ** 2).mean(-1) * mask).sum() / mask.sum())
    return method, pd.DataFrame(curve), mse


def capacity_table(config: ProbeConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per goal kind on the training pairs, told μ and greedy; and the loss curve."""
    method, curve, mse = fit(config)
    family = method.family
    played = goal_table(SimpleNamespace(family=family, method=method), "train", max_pairs=None)
    summary = goal_summary(played, by=("split", "goal_kind"))
    summary.insert(0, "head", config.head)
    summary["fit_mse"] = mse
    return summary, curve


def _parser() -> OneLineParser:
    p = OneLineParser(prog="python -m analysis.capacity_probe")
    defaults = ProbeConfig()
    p.add_argument("--env", default=defaults.env, choices=["cooking", "map", "distracting_bus"])
    p.add_argument(
        "--env-arg",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="benchmark config entry, repeatable (cooking: pot=hidden for Sec. 6.1's observation)",
    )
    p.add_argument("--head", default=defaults.head, choices=["paper", "authors"])
    p.add_argument("--episodes", type=int, default=defaults.episodes)
    p.add_argument("--p-oracle", type=float, default=defaults.p_oracle)
    p.add_argument("--updates", type=int, default=defaults.updates)
    p.add_argument("--batch-size", type=int, default=defaults.batch_size)
    p.add_argument("--lr", type=float, default=defaults.lr)
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument("--threads", type=int, default=defaults.threads)
    p.add_argument("--out", required=True, help="folder for capacity.csv and fit.csv")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point (0: written; 2: bad input or an unwritable --out)."""
    try:
        args = _parser().parse_args(argv)
        for flag in ("episodes", "updates", "batch_size", "threads"):
            if getattr(args, flag) < 1:
                name = f"--{flag.replace('_', '-')}"
                raise UsageError.for_flag(name, getattr(args, flag), "a positive integer")
        if not 0.0 <= args.p_oracle <= 1.0:
            raise UsageError.for_flag("--p-oracle", args.p_oracle, "a number in [0, 1]")
        config = ProbeConfig(
            env=args.env, env_kwargs=parse_env_args(args.env_arg), head=args.head,
            episodes=args.episodes, p_oracle=args.p_oracle, updates=args.updates,
            batch_size=args.batch_size, lr=args.lr, seed=args.seed, threads=args.threads,
        )  # fmt: skip
        out = output_folder(args.out)
        torch.set_num_threads(config.threads)
        summary, curve = capacity_table(config)
        header = {
            "experiment": "analysis.capacity_probe",
            "config": asdict(config),
            "package": PACKAGE,
            "package_version": package_version(),
        }
        try:
            write_csv(out / f"capacity_{config.head}_s{config.seed}.csv", summary, header)
            write_csv(out / f"fit_{config.head}_s{config.seed}.csv", curve, header)
        except OSError as err:
            raise UnwritableOutput.at(out, err) from None
    except UsageError as err:
        print(err.line(), file=sys.stderr)
        return 2
    print(summary.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    return 0


if __name__ == "__main__":
    raise SystemExit(run_main(main, sys.argv[1:]))
