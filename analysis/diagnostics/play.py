"""The greedy trials every diagnostic reads: a checkpoint's exploration episodes per split.

:func:`play_splits` (from :mod:`analysis.checkpoints`, shared with
:mod:`analysis.evaluate_checkpoint`) plays ``trials`` greedy trials of each problem split with
the protocol of
the run's own evaluations (:func:`deep.metrics.evaluate`: ε = 0, z = g(τ^exp), the benchmark's
exact reveal oracle) and keeps, per split, the problems, the exploration episodes
(:func:`analysis.checkpoints.exploration_episodes`) and the evaluation's summary. The same
``seed`` plays the same trials.

:func:`require_encoders` refuses, in one line, a method without DREAM's problem encoder f(μ)
and trajectory decoder g(τ^exp) (:meth:`deep.dream.Dream.encode_problem`,
:meth:`deep.dream.Dream.encode_trajectory`): the embeddings, the probes and Fig. 12 need both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from analysis.checkpoints import SPLITS, SplitPlay, play_splits
from common.cli import UsageError
from deep.registry import METHODS
from deep.train import Trainer

__all__ = [
    "SPLITS",
    "SplitPlay",
    "encoder_methods",
    "has_encoders",
    "play_splits",
    "require_encoders",
]


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
