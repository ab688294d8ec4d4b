"""What several test files share: the small bandit run and exact state comparison."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

SMALL_BANDIT: dict[str, Any] = {
    "env": "bandit",
    "env_kwargs": {"A": 3},
    "preset": "tiny",
    "num_envs": 4,
    "eval_every": 16,
    "eval_trials": 8,
    "threads": 1,
    "seed": 0,
}
"""A run that trains every component of every method in a few hundred env steps (tiny preset:
replay minima of 16 trials)."""


def assert_same_state(a: Any, b: Any, where: str = "state") -> None:
    """Exact equality of two state dicts: tensors, arrays, RNG states, counters, nested."""
    assert type(a) is type(b), where
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            assert_same_state(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same_state(x, y, f"{where}[{i}]")
    elif isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    elif isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b, err_msg=where)
    else:
        assert a == b, where
