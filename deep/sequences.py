"""A stored trial as one sequence, for the recurrent methods that read the whole trial.

E-RL², IMPORT and VariBAD carry one LSTM across the exploration → exploitation boundary. Their
updates read each stored trial (its exploration episode of L_e steps and its first
exploitation episode of L_x steps, :func:`deep.replay.trial_record_fields`) as one sequence of
*entries*, built here once for all three:

    s_0, s_1, .., s_{L_e},  s'_0, s'_1, .., s'_{L_x}        (L_e + L_x + 2 entries)

Entry j carries the LSTM inputs (s_j, a_{j−1}, r_{j−1}, d_{j−1}): the action and reward of the
step that led to it ("no action" −1 and 0 at an episode's first entry) and d = 1 at an
episode's last entry. An action is taken at every entry but the last of each episode; the TD
target of the last exploration step bootstraps from s'_0 (it is not terminal), the trial's
last step is terminal. The exploration episode's final observation s_{L_e} is an entry of its
own where no action is taken: it passes what it shows into the LSTM (in the App. C.2 bandit, μ
is revealed only there).

``terminal_obs=False`` is the authors' code's layout instead (IMPORT's option): s_{L_e} is
dropped, and s'_0 carries (a_{L_e−1}, r_{L_e−1}, d = 1).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import numpy as np
import torch

from deep.networks import to_torch

__all__ = ["TrialEntries", "at_entries", "trial_entries"]


class TrialEntries(NamedTuple):
    """A batch of stored trials as sequences of entries (module docstring).

    ``N`` = the batch's largest number of entries; every ``[B, N]`` field is padded past
    ``length``.
    """

    obs: dict[str, torch.Tensor]
    """``[B, N, ...]`` entry j's observation (zeros past the end)."""
    prev_action: torch.Tensor
    """``[B, N]`` int64 the action leading to entry j (−1: first entry of an episode)."""
    prev_reward: torch.Tensor
    """``[B, N]`` float32 its reward as observed (exploration rewards included)."""
    prev_done: torch.Tensor
    """``[B, N]`` int64 1 where the previous experience ended an episode."""
    action: torch.Tensor
    """``[B, N]`` int64 the action taken at entry j (−1 where none: episode ends, padding)."""
    reward: torch.Tensor
    """``[B, N]`` float32 its reward r_j (0 where no action)."""
    exploit: torch.Tensor
    """``[B, N]`` bool entry j's action is an exploitation step."""
    next_entry: torch.Tensor
    """``[B, N]`` int64 entry of the next decision state (j + 1, or s'_0 after the last
    exploration step); the TD target bootstraps from it."""
    terminal: torch.Tensor
    """``[B, N]`` bool entry j's action is the trial's last."""
    acting: torch.Tensor
    """``[B, N]`` bool an action is taken at entry j."""
    valid: torch.Tensor
    """``[B, N]`` bool j < length."""
    length: torch.Tensor
    """``[B]`` number of entries: L_e + L_x + 2 (+1 less without ``terminal_obs``)."""
    start: torch.Tensor
    """``[B]`` entry of s'_0."""

    @property
    def td_reward(self) -> torch.Tensor:
        """``[B, N]`` the reward the "E-" methods optimise: r_j while exploiting, 0 else."""
        return torch.where(self.exploit, self.reward, torch.zeros_like(self.reward))

    def inputs(self) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor, torch.Tensor]:
        """The LSTM inputs (s_j, a_{j−1}, r_{j−1}, d_{j−1}) of every entry."""
        return self.obs, self.prev_action, self.prev_reward, self.prev_done


def trial_entries(
    batch: Mapping[str, np.ndarray],
    obs_names: list[str],
    device: torch.device | str = "cpu",
    *,
    terminal_obs: bool = True,
) -> TrialEntries:
    """Concatenate each stored trial's exploration and exploitation episode (module docstring).

    Entry j of a trial reads index j of the exploration episode for j < ``start`` and index
    j − ``start`` of the exploitation episode from there, ``start`` = L_e + ``terminal_obs``.
    """
    te = np.asarray(batch["explore_length"], dtype=np.int64)
    tx = np.asarray(batch["exploit_length"], dtype=np.int64)
    if (te < 1).any() or (tx < 1).any():
        raise ValueError("every stored episode must have at least one step")
    horizon = batch["explore_actions"].shape[1]
    b = len(te)
    start = te + int(terminal_obs)
    length = start + tx + 1
    n = int(length.max())
    j = np.arange(n)[None, :]
    te_, tx_, start_ = te[:, None], tx[:, None], start[:, None]
    rows = np.arange(b)[:, None]
    in_explore = j < start_
    k = j - start_  # index within the exploitation episode
    valid = j < length[:, None]
    explore_step = j < te_
    exploit_step = (k >= 0) & (k < tx_)
    acting = explore_step | exploit_step
    ie, ix = np.minimum(j, horizon), np.clip(k, 0, horizon)

    obs = {}
    for name in obs_names:
        e_obs, x_obs = batch[f"explore_obs_{name}"], batch[f"exploit_obs_{name}"]
        shape = (b, n) + (1,) * (e_obs.ndim - 2)
        pick = np.where(in_explore.reshape(shape), e_obs[rows, ie], x_obs[rows, ix])
        obs[name] = np.where(valid.reshape(shape), pick, np.zeros_like(pick))
    ie_a, ix_a = np.minimum(j, horizon - 1), np.clip(k, 0, horizon - 1)
    action = np.where(
        explore_step,
        batch["explore_actions"][rows, ie_a],
        np.where(exploit_step, batch["exploit_actions"][rows, ix_a], -1),
    )
    reward = np.where(
        explore_step,
        batch["explore_rewards"][rows, ie_a],
        np.where(exploit_step, batch["exploit_rewards"][rows, ix_a], 0.0),
    ).astype(np.float32)
    # Without terminal_obs, s'_0 directly follows the last exploration step, so the shift
    # gives it (a_{L_e−1}, r_{L_e−1}) as the authors' code does.
    prev_action = np.concatenate([np.full((b, 1), -1), action[:, :-1]], axis=1)
    prev_reward = np.concatenate([np.zeros((b, 1), np.float32), reward[:, :-1]], axis=1)
    prev_done = ((j == te_) | (j == length[:, None] - 1)).astype(np.int64)
    next_entry = np.where(j == te_ - 1, start_, j + 1)
    next_entry = np.where(acting, next_entry, np.minimum(j, n - 1))
    terminal = j == length[:, None] - 2

    dev = torch.device(device)

    def t(x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.array(np.broadcast_to(x, (b, n)))).to(dev)

    return TrialEntries(
        obs=to_torch(obs, dev),
        prev_action=t(prev_action.astype(np.int64)),
        prev_reward=t(prev_reward),
        prev_done=t(prev_done),
        action=t(action.astype(np.int64)),
        reward=t(reward),
        exploit=t(exploit_step),
        next_entry=t(next_entry.astype(np.int64)),
        terminal=t(terminal),
        acting=t(acting),
        valid=t(valid),
        length=torch.from_numpy(length).to(dev),
        start=torch.from_numpy(start).to(dev),
    )


def at_entries(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``x[b, index[b, k], ...]`` for ``x`` ``[B, N, ...]`` and ``index`` ``[B, K]``."""
    shape = index.shape + (1,) * (x.dim() - 2)
    return x.gather(1, index.reshape(shape).expand(*index.shape, *x.shape[2:]))
