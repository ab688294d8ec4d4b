"""Replay of whole episodes (App. B.4: "a replay buffer with up to 16000 sequences").

:class:`EpisodeReplay` is a ring buffer of fixed-shape records — one record per stored trial or
episode, each a dict of named arrays (observations of every step, actions, rewards, lengths,
the problem ID μ). Capacity and the minimum size before updates count records, not steps, as
in the authors' code. Sampling draws record indices uniformly with a ``numpy`` generator owned
by the caller, so a run's replay stream is part of its seeded, checkpointed state.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

__all__ = ["EpisodeReplay"]


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
