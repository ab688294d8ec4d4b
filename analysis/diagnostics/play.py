"""The greedy trials every diagnostic reads: a checkpoint's exploration episodes per split.

:func:`play_splits` plays ``trials`` greedy trials of each problem split with the protocol of
the run's own evaluations (:func:`deep.metrics.evaluate`: ε = 0, z = g(τ^exp), the benchmark's
exact reveal oracle) and keeps, per split, the problems, the exploration episodes
(:func:`analysis.checkpoints.exploration_episodes`) and the evaluation's summary. The same
``seed`` plays the same trials.

:func:`require_encoders` refuses, in one line, a method without DREAM's problem encoder f(μ)
and trajectory decoder g(τ^exp) (:meth:`deep.dream.Dream.encode_problem`,
:meth:`deep.dream.Dream.encode_trajectory`): the embeddings, the probes and Fig. 12 need both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from analysis.checkpoints import exploration_episodes
from common.cli import UsageError
from deep.metrics import evaluate
from deep.registry import METHODS
from deep.train import Trainer
from deep.trial_loop import EpisodeBatch

__all__ = [
    "SPLITS",
    "SplitPlay",
    "encoder_methods",
    "has_encoders",
    "play_splits",
    "require_encoders",
]

SPLITS = ("train", "test")
"""The problem splits played: the training problems and the held-out ones."""


@dataclass(frozen=True)
class SplitPlay:
    """The greedy trials of one problem split."""

    split: str
    """``"train"`` or ``"test"`` (held-out problems)."""
    problems: np.ndarray
    """``[N]`` the problem μ of each trial."""
    explore: EpisodeBatch
    """The N exploration episodes (``[N, T+1, ...]`` observations, ``[N, T]`` actions)."""
    summary: dict[str, float]
    """:func:`deep.metrics.evaluate`'s summary of the N trials (return, reveal_frac, ...)."""

    def __len__(self) -> int:
        return len(self.problems)


def play_splits(
    trainer: Trainer, trials: int, seed: int, splits: Sequence[str] = SPLITS
) -> dict[str, SplitPlay]:
    """``trials`` greedy trials of each split of ``splits`` with the run's own protocol."""
    if trials < 1:
        raise ValueError(f"trials={trials}; allowed: integers >= 1")
    plays = {}
    for split in splits:
        summary, played = evaluate(
            trainer.method,
            trainer.family,
            n_trials=trials,
            seed=seed,
            split=split,
            oracle=trainer.oracle,
        )
        problems, explore = exploration_episodes(played, trials)
        plays[split] = SplitPlay(split, problems, explore, summary)
    return plays


def has_encoders(method: Any) -> bool:
    """Whether ``method`` has f(μ) (``encode_problem``) and g(τ^exp) (``encode_trajectory``)."""
    return all(
        callable(getattr(method, name, None)) for name in ("encode_problem", "encode_trajectory")
    )


def encoder_methods() -> tuple[str, ...]:
    """The registered methods with f(μ) and g(τ^exp): DREAM and its ablations."""
    return tuple(name for name, entry in METHODS.items() if has_encoders(entry.method_class()))


def require_encoders(trainer: Trainer, run: str | Path) -> None:
    """One-line :class:`UsageError` naming the run and its method if it has no f and g."""
    if not has_encoders(trainer.method):
        raise UsageError.for_flag(
            "run",
            run,
            f"method {trainer.config.method} has no problem encoder f(mu) and trajectory "
            f"decoder g(tau); allowed: a run of {', '.join(encoder_methods())}",
        )
