"""The meta-RL trial loop shared by every method (Sec. 3; Alg. 1 for DREAM).

A trial is one exploration episode, then ``n_exploit`` exploitation episodes in the same
problem μ. The loop runs ``B = num_envs`` trials side by side in *waves*: all B slots play
episode 0 of their trials together, then episode 1, and so on; a slot whose episode has ended
waits (it is not stepped, and costs no env step) until the others end theirs. A wave is the
unit of work: between waves there is no half-played episode, so a checkpoint taken there holds
the whole state of a run and a resumed run continues exactly where it stopped.

A method plugs in through the :class:`Method` protocol: the loop asks it for actions, tells it
how many env steps were taken (it schedules its own updates, App. B.4: one every 4 steps), and
hands it every finished wave of trials (it stores them in its replay). Acting is batched over
the B envs (one network call per step for all of them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from deep.envs.problem import NO_GOAL, MetaProblemFamily
from deep.networks import as_fields, observation_fields

__all__ = [
    "EpisodeBatch",
    "Method",
    "TrialBatch",
    "WaveInterrupted",
    "run_wave",
    "sample_trials",
]


@dataclass
class EpisodeBatch:
    """One episode of each of B trials; step t's arrays are valid for t < ``length``."""

    obs: dict[str, np.ndarray]
    """Observation fields ``[B, T+1, ...]`` (s_0..s_T; zeros past the end)."""
    actions: np.ndarray
    """``[B, T]`` int64, −1 past the end."""
    rewards: np.ndarray
    """``[B, T]`` float32, 0 past the end."""
    length: np.ndarray
    """``[B]`` number of steps taken."""
    goal: np.ndarray
    """``[B]`` the episode's goal (−1: none)."""
    start: np.ndarray | None = None
    """``[B, ...]`` what the env recorded of each episode's start at its reset (a copy of the
    batched env's ``starts``: the sign task's start pose and object orientations, which its
    reveal oracle needs); None for envs without ``starts``, whose episodes the problem, goal and
    actions fix."""

    @property
    def returns(self) -> np.ndarray:
        """Undiscounted return of each episode ``[B]``."""
        return self.rewards.sum(axis=1)


@dataclass
class TrialBatch:
    """B trials played side by side: episode 0 explores, episodes 1.. exploit."""

    problems: np.ndarray
    """``[B]`` problem IDs μ."""
    trial_ids: np.ndarray
    """``[B]`` index of each trial in its run (DREAM alternates z's source by its parity)."""
    episodes: list[EpisodeBatch]

    def __len__(self) -> int:
        return len(self.problems)

    def previous_step(self, episode: int, t: int) -> tuple[np.ndarray, np.ndarray]:
        """(a_{t−1}, r_{t−1}) of every trial at step ``t`` of ``episode``, ``[B]`` each.

        int64 and float32; "no action" (−1) and 0 at the episode's first step.
        """
        if t == 0:
            return np.full(len(self), -1, dtype=np.int64), np.zeros(len(self), dtype=np.float32)
        ep = self.episodes[episode]
        return ep.actions[:, t - 1], ep.rewards[:, t - 1]

    def last_step(self, episode: int) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """Every trial's last action and reward ``[B]`` of ``episode``, and its final observation.

        What a recurrent policy reads at the episode boundary.
        """
        ep, rows = self.episodes[episode], np.arange(len(self))
        last = ep.length - 1
        obs = {k: v[rows, ep.length] for k, v in ep.obs.items()}
        return ep.actions[rows, last], ep.rewards[rows, last], obs


class Method(Protocol):
    """What the trial loop and the evaluation need from a meta-RL method.

    :class:`deep.method.MetaRLMethod` implements it (and what the trainer needs besides:
    config, ε columns, update counter, checkpoints).
    """

    def start_episode(self, trials: TrialBatch, episode: int, training: bool) -> None:
        """Episode ``episode`` of every trial is about to start (reset per-episode state)."""

    def act(
        self, obs: dict[str, np.ndarray], t: int, trials: TrialBatch, episode: int, training: bool
    ) -> np.ndarray:
        """Actions ``[B]`` at step ``t`` of episode ``episode`` (``trials`` holds steps < t)."""

    def after_env_steps(self, n_steps: int, episode: int) -> None:
        """``n_steps`` env steps of ``episode`` were taken in training (run due updates)."""

    def end_trials(self, trials: TrialBatch) -> None:
        """A wave of training trials is complete (store it for replay)."""

    def decoder_error(self, trials: TrialBatch) -> np.ndarray | None:
        """Per trial, the error of the method's reading of τ^exp (None: it has no decoder)."""


def sample_trials(
    family: MetaProblemFamily, rng: np.random.Generator, n: int, split: str, n_exploit: int
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` problems from ``split`` and their ``[n, n_exploit]`` exploitation goals."""
    problems = np.empty(n, dtype=np.int64)
    goals = np.full((n, n_exploit), NO_GOAL, dtype=np.int64)
    for i in range(n):
        trial = family.sample_trial(rng, split, n_exploit)
        problems[i] = trial.problem
        if trial.goals:
            goals[i] = trial.goals
    return problems, goals


class WaveInterrupted(Exception):
    """A wave was abandoned half-played (``run_wave``'s ``should_stop``)."""


def _empty_episode(
    fields: dict[str, tuple[tuple[int, ...], np.dtype]], b: int, horizon: int
) -> EpisodeBatch:
    return EpisodeBatch(
        obs={k: np.zeros((b, horizon + 1, *shape), dtype=dt) for k, (shape, dt) in fields.items()},
        actions=np.full((b, horizon), -1, dtype=np.int64),
        rewards=np.zeros((b, horizon), dtype=np.float32),
        length=np.zeros(b, dtype=np.int64),
        goal=np.full(b, NO_GOAL, dtype=np.int64),
    )


def _episode_starts(env: Any) -> np.ndarray | None:
    """A copy of ``env.starts`` (each env's start, recorded at its last reset), or None."""
    starts = getattr(env, "starts", None)
    return None if starts is None else np.array(starts, copy=True)


def run_wave(
    env: Any,
    family: MetaProblemFamily,
    method: Method,
    problems: np.ndarray,
    goals: np.ndarray,
    trial_ids: np.ndarray,
    *,
    training: bool,
    should_stop: Callable[[], bool] | None = None,
) -> TrialBatch:
    """Play one wave: ``len(problems) == env.num_envs`` trials, 1 + ``goals.shape[1]`` episodes.

    In training, ``method.after_env_steps`` is called after every batched step with the number
    of envs that moved, and ``method.end_trials`` with the finished wave. ``should_stop`` is
    asked after every batched step; when it answers True the wave is abandoned
    (:class:`WaveInterrupted`) before anything is stored in replay: the caller restores the
    method's state from before the wave.
    """
    b, horizon = env.num_envs, family.horizon
    if len(problems) != b:
        raise ValueError(f"{len(problems)} problems for {b} envs; allowed: exactly {b}")
    fields = observation_fields(env.observation_space)
    trials = TrialBatch(problems=problems, trial_ids=trial_ids, episodes=[])
    episode_goals = [np.full(b, NO_GOAL, dtype=np.int64)] + [
        goals[:, j] for j in range(goals.shape[1])
    ]
    for episode, goal in enumerate(episode_goals):
        record = _empty_episode(fields, b, horizon)
        record.goal[:] = goal
        trials.episodes.append(record)
        obs = as_fields(env.reset(problems, goal))
        record.start = _episode_starts(env)
        method.start_episode(trials, episode, training)
        active = np.ones(b, dtype=bool)
        for t in range(horizon):
            for k, v in obs.items():
                record.obs[k][active, t] = v[active]
            actions = method.act(obs, t, trials, episode, training)
            obs_next, reward, terminated, truncated = env.step(actions, active=active)
            obs = as_fields(obs_next)
            record.actions[active, t] = actions[active]
            record.rewards[active, t] = reward[active]
            record.length[active] += 1
            ended = active & (terminated | truncated)
            for k, v in obs.items():
                record.obs[k][ended, t + 1] = v[ended]
            n_moved = int(active.sum())
            active = active & ~ended
            if training:
                method.after_env_steps(n_moved, episode)
            if should_stop is not None and should_stop():
                raise WaveInterrupted
            if not active.any():
                break
    if training:
        method.end_trials(trials)
    return trials
