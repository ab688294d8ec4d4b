"""Replay of whole episodes (App. B.4: "a replay buffer with up to 16000 sequences").

:class:`EpisodeReplay` is a ring buffer of fixed-shape records — one record per stored trial or
episode, each a dict of named arrays (observations of every step, actions, rewards, lengths,
the problem ID μ). Capacity and the minimum size before updates count records, not steps, as
in the authors' code. Sampling draws record indices uniformly with a ``numpy`` generator owned
by the caller, so a run's replay stream is part of its seeded, checkpointed state.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np
import torch

from deep.networks import to_torch

__all__ = [
    "EpisodeReplay",
    "EpisodeTensors",
    "episode_tensors",
    "trial_record",
    "trial_record_fields",
]

EPISODE_PREFIXES = ("explore", "exploit")
"""A stored trial holds its exploration episode and its first exploitation episode."""


def trial_record_fields(
    obs_fields: Mapping[str, tuple[tuple[int, ...], np.dtype]], horizon: int
) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Record layout of one stored trial (fields ``name → (shape, dtype)``).

    μ, then for each episode: observations s_0..s_T, actions and rewards of steps 0..T−1, and
    the episode's length.
    """
    record: dict[str, tuple[tuple[int, ...], np.dtype]] = {"problem": ((), np.dtype(np.int64))}
    for ep in EPISODE_PREFIXES:
        for name, (shape, dtype) in obs_fields.items():
            record[f"{ep}_obs_{name}"] = ((horizon + 1, *shape), dtype)
        record[f"{ep}_actions"] = ((horizon,), np.dtype(np.int64))
        record[f"{ep}_rewards"] = ((horizon,), np.dtype(np.float32))
        record[f"{ep}_length"] = ((), np.dtype(np.int64))
    return record


def trial_record(trials: Any, obs_names: list[str]) -> dict[str, np.ndarray]:
    """The records of a finished wave (a ``TrialBatch``) for :meth:`EpisodeReplay.add`."""
    record: dict[str, np.ndarray] = {"problem": trials.problems}
    for prefix, ep in zip(EPISODE_PREFIXES, trials.episodes[:2], strict=True):
        for name in obs_names:
            record[f"{prefix}_obs_{name}"] = ep.obs[name]
        record[f"{prefix}_actions"] = ep.actions
        record[f"{prefix}_rewards"] = ep.rewards
        record[f"{prefix}_length"] = ep.length
    return record


class EpisodeTensors(NamedTuple):
    """One episode kind of a sampled batch as tensors, cut to the batch's longest episode T."""

    obs: dict[str, torch.Tensor]
    """``[B, T+1, ...]``"""
    actions: torch.Tensor
    """``[B, T]`` int64 (−1 past the end)"""
    rewards: torch.Tensor
    """``[B, T]`` float32"""
    length: torch.Tensor
    """``[B]``"""
    mask: torch.Tensor
    """``[B, T]`` step t < length"""
    dones: torch.Tensor
    """``[B, T]`` step t is the episode's last"""


def episode_tensors(
    batch: Mapping[str, np.ndarray], prefix: str, obs_names: list[str], device: torch.device
) -> EpisodeTensors:
    """Tensors of episode ``prefix`` ("explore" / "exploit") of a sampled batch."""
    t = int(batch[f"{prefix}_length"].max())
    obs = to_torch({n: batch[f"{prefix}_obs_{n}"][:, : t + 1] for n in obs_names}, device)
    actions = torch.from_numpy(batch[f"{prefix}_actions"][:, :t]).to(device)
    rewards = torch.from_numpy(batch[f"{prefix}_rewards"][:, :t]).to(device)
    length = torch.from_numpy(batch[f"{prefix}_length"]).to(device)
    steps = torch.arange(actions.shape[1], device=device)
    mask = steps.unsqueeze(0) < length.unsqueeze(1)
    dones = steps.unsqueeze(0) == (length - 1).unsqueeze(1)
    return EpisodeTensors(obs, actions, rewards, length, mask, dones)


class EpisodeReplay:
    """Ring buffer of ``capacity`` records with the fields ``name → (shape, dtype)``."""

    def __init__(
        self, capacity: int, fields: Mapping[str, tuple[tuple[int, ...], np.dtype]]
    ) -> None:
        if not (isinstance(capacity, int) and capacity >= 1):
            raise ValueError(f"replay capacity={capacity!r} is invalid; allowed: integers >= 1")
        self.capacity = capacity
        self.fields = dict(fields)
        self.data = {
            name: np.zeros((capacity, *shape), dtype=dtype)
            for name, (shape, dtype) in self.fields.items()
        }
        self.size = 0
        self.next = 0
        self.added = 0

    def __len__(self) -> int:
        return self.size

    def add(self, batch: Mapping[str, np.ndarray]) -> None:
        """Append ``n`` records given as arrays ``[n, *shape]`` (the oldest are overwritten)."""
        if set(batch) != set(self.fields):
            raise ValueError(
                f"record fields {sorted(batch)} do not match the buffer's {sorted(self.fields)}"
            )
        n = len(next(iter(batch.values())))
        for i in range(n):
            for name, arr in batch.items():
                self.data[name][self.next] = arr[i]
            self.next = (self.next + 1) % self.capacity
            self.size = min(self.size + 1, self.capacity)
        self.added += n

    def sample(self, batch_size: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """``batch_size`` records drawn uniformly with replacement (copies)."""
        if self.size == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        idx = rng.integers(self.size, size=batch_size)
        return {name: arr[idx] for name, arr in self.data.items()}

    def state_dict(self) -> dict[str, object]:
        """Everything needed to restore the buffer exactly (only the filled part of the arrays)."""
        return {
            "capacity": self.capacity,
            "size": self.size,
            "next": self.next,
            "added": self.added,
            "data": {name: arr[: self.size].copy() for name, arr in self.data.items()},
        }

    def load_state_dict(self, state: Mapping[str, object]) -> None:
        """Restore a buffer saved by :meth:`state_dict` (same capacity and fields)."""
        if state["capacity"] != self.capacity:
            raise ValueError(
                f"checkpoint replay capacity {state['capacity']} != configured {self.capacity}"
            )
        self.size, self.next, self.added = (
            int(state["size"]),
            int(state["next"]),
            int(state["added"]),
        )
        data = state["data"]
        assert isinstance(data, dict)
        for name, arr in self.data.items():
            arr[: self.size] = data[name]
