"""Double DQN pieces shared by every method (van Hasselt et al., 2016; App. A, B.4).

* :class:`LinearSchedule` — ε decays linearly from ``start`` to ``end`` over ``steps`` calls
  (App. B.4: 1 → 0.01 over 250k steps for each DREAM policy, 500k for the baselines).
* :func:`double_q_targets` — y_t = r_t + γ (1 − done_t) Q'(s_{t+1}, argmax_a Q(s_{t+1}, a)):
  the argmax from the online net, the value from the target net.
* :func:`masked_td_loss` — mean squared TD error over the valid steps of a batch of episodes.
* :func:`epsilon_greedy` — batched ε-greedy action choice from a torch generator.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

__all__ = [
    "LinearSchedule",
    "StepSchedule",
    "double_q_targets",
    "epsilon_greedy",
    "masked_td_loss",
]


@dataclass(frozen=True)
class LinearSchedule:
    """ε(n) = start + (end − start)·min(n / steps, 1) after n steps."""

    start: float = 1.0
    end: float = 0.01
    steps: int = 250_000

    def __post_init__(self) -> None:
        if not (0.0 <= self.end <= 1.0 and 0.0 <= self.start <= 1.0):
            raise ValueError(
                f"epsilon {self.start}→{self.end} is invalid; allowed: values in [0, 1]"
            )
        if self.steps < 0:
            raise ValueError(f"epsilon steps={self.steps} is invalid; allowed: integers >= 0")

    def value(self, n: int) -> float:
        """ε after ``n`` steps."""
        frac = 1.0 if self.steps == 0 else min(n / self.steps, 1.0)
        return self.start + (self.end - self.start) * frac


def double_q_targets(
    q_online_next: torch.Tensor,
    q_target_next: torch.Tensor,
    rewards: torch.Tensor,
    dones: torch.Tensor,
    gamma: float,
) -> torch.Tensor:
    """Double-DQN targets r + γ(1 − done)·Q_target(s', argmax_a Q_online(s', a)).

    ``q_*_next``: ``[..., A]`` at the next states; ``rewards``, ``dones``: ``[...]``.
    """
    best = q_online_next.argmax(dim=-1, keepdim=True)
    next_value = q_target_next.gather(-1, best).squeeze(-1)
    return rewards + gamma * (1.0 - dones.float()) * next_value


def masked_td_loss(
    q: torch.Tensor, actions: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """Mean over ``mask`` of (Q(s_t, a_t) − y_t)²; ``q`` is ``[B, T, A]``, the rest ``[B, T]``."""
    q_taken = q.gather(-1, actions.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    err = (q_taken - targets.detach()) ** 2
    mask = mask.float()
    return (err * mask).sum() / mask.sum().clamp(min=1.0)


def epsilon_greedy(q: torch.Tensor, epsilon: float, generator: torch.Generator) -> torch.Tensor:
    """Per row of ``q`` ``[N, A]``: a uniform action with probability ε, else the argmax.

    Two draws per row, always (so the random stream does not depend on ε or on Q).
    """
    n, n_actions = q.shape
    explore = torch.rand(n, generator=generator) < epsilon
    random_actions = torch.randint(n_actions, (n,), generator=generator)
    return torch.where(explore, random_actions, q.argmax(dim=-1))


class StepSchedule:
    """App. B.4's schedule per env step: updates and target syncs (Table 1: 4 and 5000).

    Counted over exploration and exploitation steps alike; the counters are part of a
    method's checkpoint.
    """

    def __init__(self, update_every: int, sync_every: int) -> None:
        self.update_every, self.sync_every = update_every, sync_every
        self.env_steps = 0
        self.until_update = update_every
        self.until_sync = sync_every

    def advance(self, n_steps: int, update: Callable[[], object], sync: Callable[[], None]) -> None:
        """Count ``n_steps`` env steps, calling ``update`` and ``sync`` whenever they are due."""
        for _ in range(n_steps):
            self.env_steps += 1
            self.until_update -= 1
            if self.until_update == 0:
                self.until_update = self.update_every
                update()
            self.until_sync -= 1
            if self.until_sync == 0:
                self.until_sync = self.sync_every
                sync()

    def state_dict(self) -> dict[str, int]:
        """The counters (the keys methods have always used in their checkpoints)."""
        return {
            "env_steps": self.env_steps,
            "until_update": self.until_update,
            "until_sync": self.until_sync,
        }

    def load_state_dict(self, counters: dict[str, int]) -> None:
        """Restore :meth:`state_dict`'s counters (other keys are ignored)."""
        self.env_steps = counters["env_steps"]
        self.until_update = counters["until_update"]
        self.until_sync = counters["until_sync"]
