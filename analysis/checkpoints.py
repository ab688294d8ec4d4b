"""A run's checkpoint for analysis: loading it, checking an output first, its played trials.

Shared by :mod:`analysis.evaluate_checkpoint`, :mod:`analysis.diagnostics` and
:mod:`analysis.trial_gifs`:

* :func:`load_run` rebuilds a run's trainer from ``checkpoint.pt`` (nothing in the run folder
  is written); a folder without one is a one-line :class:`~common.cli.UsageError` naming the
  ``run`` argument, a damaged checkpoint or ``metrics.csv`` a :class:`~common.io.DamagedFile`;
* :func:`check_writable` raises :class:`~common.io.UnwritableOutput` before any work when an
  output file could not be created;
* :func:`exploration_episodes` joins the exploration episodes of the waves that
  :func:`deep.metrics.evaluate` played into one :class:`~deep.trial_loop.EpisodeBatch`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.io import UnwritableOutput
from deep.metrics import evaluate
from deep.train import Trainer
from deep.trial_loop import EpisodeBatch, TrialBatch

__all__ = [
    "SPLITS",
    "SplitPlay",
    "check_writable",
    "exploration_episodes",
    "load_run",
    "play_splits",
]


def load_run(run_dir: str | Path, flag: str = "run") -> Trainer:
    """The trainer of ``run_dir`` as of its checkpoint (nothing in ``run_dir`` is written).

    ``run_dir`` may also name a snapshot, ``RUN/snapshots/env_steps_<N>.pt``
    (``--snapshot-every``): the run as it was at N env steps. A missing checkpoint is a usage
    error naming ``flag`` (``error: run DIR: no checkpoint.pt there``); a damaged checkpoint or
    ``metrics.csv`` raises :class:`common.io.DamagedFile` (both from
    :meth:`deep.train.Trainer.resume`).
    """
    path = Path(run_dir)
    if path.is_file() and path.parent.name == "snapshots":
        return Trainer.resume(path.parent.parent, progress=False, flag=flag, checkpoint=path)
    return Trainer.resume(path, progress=False, flag=flag)


def check_writable(out: Path) -> None:
    """Raise :class:`UnwritableOutput` now if ``out``'s folder cannot take a new file."""
    try:
        with tempfile.NamedTemporaryFile(dir=out.parent, prefix=f".{out.name}.", suffix=".probe"):
            pass
    except OSError as err:
        raise UnwritableOutput.at(out, err) from None


def exploration_episodes(played: Sequence[TrialBatch], n: int) -> tuple[np.ndarray, EpisodeBatch]:
    """The problems ``[n]`` and exploration episodes of the first ``n`` trials of ``played``.

    ``played`` are waves of trials (:func:`deep.metrics.evaluate`'s second value), each with
    episode 0 its exploration episode; the result holds their rows in order, cut to ``n``.
    """
    if n < 1 or n > sum(len(p) for p in played):
        raise ValueError(f"n={n} trials; allowed: 1..{sum(len(p) for p in played)}")
    episodes = [p.episodes[0] for p in played]

    def join(arrays: Sequence[np.ndarray]) -> np.ndarray:
        return np.concatenate(arrays)[:n]

    starts = None if any(e.start is None for e in episodes) else join([e.start for e in episodes])
    joined = EpisodeBatch(
        obs={k: join([e.obs[k] for e in episodes]) for k in episodes[0].obs},
        actions=join([e.actions for e in episodes]),
        rewards=join([e.rewards for e in episodes]),
        length=join([e.length for e in episodes]),
        goal=join([e.goal for e in episodes]),
        start=starts,
    )
    return join([p.problems for p in played]), joined


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
