"""The networks of App. B.3, shared by DREAM and the baselines.

Observations travel as a dict of arrays (:func:`observation_fields`): the grid worlds and the
bandit as ``{"state": int vector}``, the sign task as ``{"image": 60×80×3 uint8, "goal": int}``.

* :class:`GridStateEmbedder` — "embed each dimension independently with an embedding matrix of
  output dimension 32, concatenate, two linear layers of 256 and 64 with ReLU" (App. B.3).
  Also the problem-ID encoder f(μ) (a 1-dimensional "state").
* :class:`ImageStateEmbedder` — 3 conv layers (32 channels, stride 2, kernels 5, 5, 4, ReLU),
  then a linear layer to 128 (App. B.3), plus the episode's goal.
* :class:`ExperienceEmbedder` — e(s_t), e(a_{t-1}) (16), e(r_{t-1}) (linear, 16),
  e(d_{t-1}) (16) → linear to 64, then an LSTM(64) over the sequence (App. B.3, "Experience
  embeddings"); a_{-1} is "none" and r_{-1} = d_{-1} = 0.
* :class:`TrajectoryDecoder` — g_ω: transitions (s_t, a_t, r_t, s_{t+1}) embedded, LSTM(128)
  with a zero state for the empty prefix, then 128 → 64; gives g(τ_{:t}) for t = 0..T.
* :class:`DuelingHead` — Q = V + A − mean_a A, the mean taken **per state** (Wang et al.,
  2016); the official code takes it over the whole batch (a quirk we do not copy).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

__all__ = [
    "TRAJECTORY_DECODERS",
    "DuelingHead",
    "ExperienceEmbedder",
    "GridStateEmbedder",
    "ImageStateEmbedder",
    "PooledTrajectoryDecoder",
    "TrajectoryDecoder",
    "make_state_embedder",
    "observation_fields",
    "previous_inputs",
    "to_torch",
]

Obs = dict[str, torch.Tensor]


def observation_fields(space: spaces.Space) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Name → (shape, storage dtype) of one observation of ``space`` (a Box or the sign Dict)."""
    if isinstance(space, spaces.Box) and np.issubdtype(space.dtype, np.integer):
        high = int(np.max(space.high))
        dtype = np.dtype(np.int16 if high < 2**15 else np.int64)
        return {"state": (tuple(space.shape), dtype)}
    if isinstance(space, spaces.Dict) and "image" in space.spaces:
        return {
            "image": (tuple(space["image"].shape), np.dtype(np.uint8)),
            "goal": ((), np.dtype(np.int8)),
        }
    raise ValueError(
        f"observation space {space} is not supported; allowed: an integer Box or the sign Dict"
    )


def as_fields(obs: np.ndarray | dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A batched env observation as the field dict of :func:`observation_fields`."""
    return dict(obs) if isinstance(obs, dict) else {"state": obs}


def to_torch(fields: dict[str, np.ndarray], device: torch.device | str = "cpu") -> Obs:
    """Field arrays → tensors (integers as int64, images kept uint8)."""
    out = {}
    for name, arr in fields.items():
        t = torch.from_numpy(np.ascontiguousarray(arr))
        out[name] = t.to(device) if t.dtype == torch.uint8 else t.to(device, torch.int64)
    return out


def previous_inputs(
    actions: torch.Tensor, rewards: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(a_{t−1}, r_{t−1}) for t = 0..T from a_t, r_t for t = 0..T−1 (a_{−1} = −1, r_{−1} = 0)."""
    prev_a = torch.cat([torch.full_like(actions[:, :1], -1), actions], dim=1)
    prev_r = torch.cat([torch.zeros_like(rewards[:, :1]), rewards], dim=1)
    return prev_a, prev_r


Hidden = tuple[torch.Tensor, torch.Tensor]
"""An LSTM state (h, c), each ``[layers, B, H]``."""

ExperienceInputs = tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor, torch.Tensor]
"""The inputs an experience LSTM reads at each entry: (s_t, a_{t−1}, r_{t−1}, d_{t−1})."""


def state_after_last_step(states: list[Hidden], last: np.ndarray) -> Hidden:
    """Row b's LSTM state right after its step ``last[b]`` (``states[t]``: after step t).

    Acting steps every row of a batched episode, also rows whose episode already ended while
    the others play on; carrying each trial's state into its next episode drops those extra
    steps (E-RL², IMPORT and VariBAD carry the state across the episode boundary).
    """
    device = states[0][0].device
    pick = torch.from_numpy(np.asarray(last)).to(device)
    rows = torch.arange(len(last), device=device)
    h, c = (torch.stack([s[i] for s in states])[pick, :, rows] for i in (0, 1))
    return h.transpose(0, 1).contiguous(), c.transpose(0, 1).contiguous()


class GridStateEmbedder(nn.Module):
    """Per-dimension embeddings (32 each), concatenated → Linear(256) → ReLU → Linear(out).

    Dimension i takes integers 0..highs[i]; one table holds all dimensions (row offsets), which
    is the same function as one ``Embedding`` per dimension, and faster.
    """

    def __init__(self, highs: Sequence[int], out_dim: int = 64, per_dim: int = 32) -> None:
        super().__init__()
        sizes = np.asarray(highs, dtype=np.int64) + 1
        self.register_buffer("offsets", torch.from_numpy(np.cumsum(sizes) - sizes))
        row_dim = np.repeat(np.arange(len(sizes)), sizes)
        block = np.zeros((len(row_dim), len(sizes), 1), dtype=np.float32)
        block[np.arange(len(row_dim)), row_dim] = 1.0
        self.register_buffer("row_block", torch.from_numpy(block))
        self.table = nn.Embedding(int(sizes.sum()), per_dim)
        self.hidden = nn.Linear(per_dim * len(sizes), 256)
        self.out = nn.Linear(256, out_dim)
        self.n_dims, self.per_dim, self.out_dim = len(sizes), per_dim, out_dim

    def _first_layer(self, idx: torch.Tensor) -> torch.Tensor:
        """Linear_256(concat_i E[x_i]) for row indices ``idx`` ``[N, D]``.

        Computed either directly or, when cheaper, as Σ_i T[x_i] with the table
        T[r] = W_{dim(r)} E[r] (the same function and parameters: the linear layer's block
        for dimension i applied to every row of dimension i's embedding, then gathered).
        """
        n, d = idx.shape
        rows = self.table.weight.shape[0]
        if n * d * self.per_dim > rows * self.per_dim + n * d:  # the table is cheaper
            # Row r of E placed in dimension dim(r)'s block of a zero [D·32] vector, times W^T.
            spread = (self.table.weight.unsqueeze(1) * self.row_block).flatten(1)
            table = spread @ self.hidden.weight.t()
            multi_hot = torch.zeros(n, rows, dtype=table.dtype, device=idx.device)
            multi_hot.scatter_(1, idx, 1.0)
            return torch.addmm(self.hidden.bias, multi_hot, table)
        return self.hidden(self.table(idx).flatten(-2))

    def forward(self, obs: Obs | torch.Tensor) -> torch.Tensor:
        """``[..., D]`` integers (or ``{"state": ...}``) → ``[..., out_dim]``."""
        x = obs["state"] if isinstance(obs, dict) else obs
        lead = x.shape[:-1]
        h = self._first_layer((x + self.offsets).reshape(-1, x.shape[-1]))
        return self.out(torch.relu(h)).reshape(*lead, self.out_dim)


class ImageStateEmbedder(nn.Module):
    """CNN (32 ch; k 5, 5, 4; stride 2; ReLU) → Linear(128) on 80×60 RGB, plus the goal.

    The goal (−1 none, else 0..n_goals−1) is embedded (16) and joined by a final linear layer:
    the grid worlds carry their goal inside the state vector, the sign task beside the image.
    """

    def __init__(self, image_shape: tuple[int, int, int], n_goals: int, out_dim: int = 128):
        super().__init__()
        h, w, c = image_shape
        self.conv = nn.Sequential(
            nn.Conv2d(c, 32, 5, stride=2),
            nn.ReLU(),
            nn.Conv2d(32, 32, 5, stride=2),
            nn.ReLU(),
            nn.Conv2d(32, 32, 4, stride=2),
            nn.ReLU(),
            nn.Flatten(),
        )
        with torch.no_grad():
            n_flat = self.conv(torch.zeros(1, c, h, w)).shape[1]
        self.image_fc = nn.Linear(n_flat, 128)
        self.goal = nn.Embedding(n_goals + 1, 16)
        self.out = nn.Linear(128 + 16, out_dim)
        self.out_dim = out_dim

    def forward(self, obs: Obs) -> torch.Tensor:
        """``{"image": [..., H, W, C] uint8, "goal": [...]}`` → ``[..., out_dim]``."""
        img = obs["image"]
        lead = img.shape[:-3]
        x = img.reshape(-1, *img.shape[-3:]).permute(0, 3, 1, 2).float() / 255.0
        feat = torch.relu(self.image_fc(self.conv(x))).reshape(*lead, -1)
        goal = self.goal(obs["goal"].long() + 1)
        return self.out(torch.cat([feat, goal], dim=-1))


def make_state_embedder(space: spaces.Space, out_dim: int | None = None) -> nn.Module:
    """The App. B.3 state embedder for ``space`` (64 for grids, 128 for images by default)."""
    fields = observation_fields(space)
    if "state" in fields:
        return GridStateEmbedder(np.asarray(space.high).ravel().tolist(), out_dim or 64)
    goal_space = space["goal"]
    return ImageStateEmbedder(fields["image"][0], int(goal_space.n) - 1, out_dim or 128)


class DuelingHead(nn.Module):
    """Q(s, ·) = V(s) + A(s, ·) − mean_a A(s, a), the mean over actions of each state."""

    def __init__(self, in_dim: int, n_actions: int) -> None:
        super().__init__()
        self.value = nn.Linear(in_dim, 1)
        self.advantage = nn.Linear(in_dim, n_actions)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """``[..., in_dim]`` → ``[..., n_actions]``."""
        adv = self.advantage(h)
        return self.value(h) + adv - adv.mean(dim=-1, keepdim=True)


class ExperienceEmbedder(nn.Module):
    """LSTM over experiences x_t = Linear([e(s_t); e(a_{t-1}); e(r_{t-1}); e(d_{t-1})]).

    ``use_reward`` / ``use_done`` drop those parts (DREAM's exploitation policy omits rewards,
    App. B.3). ``prev_action`` −1 means "no previous action" (a_{-1}).
    """

    def __init__(
        self,
        state_embedder: nn.Module,
        n_actions: int,
        out_dim: int = 64,
        *,
        use_reward: bool = True,
        use_done: bool = True,
    ) -> None:
        super().__init__()
        self.state = state_embedder
        self.action = nn.Embedding(n_actions + 1, 16)
        self.reward = nn.Linear(1, 16) if use_reward else None
        self.done = nn.Embedding(2, 16) if use_done else None
        n_in = state_embedder.out_dim + 16 * (1 + use_reward + use_done)
        self.proj = nn.Linear(n_in, out_dim)
        self.lstm = nn.LSTM(out_dim, out_dim, batch_first=True)
        self.out_dim = out_dim

    def forward(
        self,
        obs: Obs,
        prev_action: torch.Tensor,
        prev_reward: torch.Tensor,
        prev_done: torch.Tensor,
        hidden: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """Inputs ``[B, T, ...]``; returns h_t ``[B, T, out_dim]`` and the final (h, c)."""
        parts = [self.state(obs), self.action(prev_action + 1)]
        if self.reward is not None:
            parts.append(self.reward(prev_reward.unsqueeze(-1).float()))
        if self.done is not None:
            parts.append(self.done(prev_done.long()))
        x = self.proj(torch.relu(torch.cat(parts, dim=-1)))
        return self.lstm(x, hidden)


class TrajectoryDecoder(nn.Module):
    """g_ω(τ_{:t}) for every prefix t = 0..T of an exploration trajectory (App. B.3).

    Transition t is embedded as Linear([e(s_t); e(a_t) (16); e(r_t) (16); e(s_{t+1})] → 64);
    an LSTM(128) runs over transitions 0..T−1; its outputs, with a zero vector prepended for
    the empty prefix, go through Linear(128) → ReLU → Linear(z_dim).
    """

    def __init__(self, state_embedder: nn.Module, n_actions: int, z_dim: int = 64) -> None:
        super().__init__()
        self.state = state_embedder
        self.action = nn.Embedding(n_actions, 16)
        self.reward = nn.Linear(1, 16)
        self.proj = nn.Linear(2 * state_embedder.out_dim + 32, 64)
        self.lstm = nn.LSTM(64, 128, batch_first=True)
        self.head = nn.Sequential(nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, z_dim))

    def forward(self, obs: Obs, actions: torch.Tensor, rewards: torch.Tensor) -> torch.Tensor:
        """``obs`` ``[B, T+1, ...]``, ``actions``/``rewards`` ``[B, T]`` → ``[B, T+1, z_dim]``.

        Entry t is g(τ_{:t}), which depends on transitions 0..t−1 only (actions past the end
        of a shorter episode must be valid indices; their prefixes are masked by the caller).
        """
        out, _ = self.lstm(self.transitions(obs, actions, rewards))
        out = torch.cat([torch.zeros_like(out[:, :1]), out], dim=1)
        return self.head(out)

    def transitions(self, obs: Obs, actions: torch.Tensor, rewards: torch.Tensor) -> torch.Tensor:
        """The transition embeddings ``[B, T, 64]`` the memory runs over."""
        emb = self.state(obs)
        parts = [
            emb[:, :-1],
            self.action(actions.clamp(min=0)),
            self.reward(rewards.unsqueeze(-1).float()),
            emb[:, 1:],
        ]
        return self.proj(torch.relu(torch.cat(parts, dim=-1)))


class PooledTrajectoryDecoder(TrajectoryDecoder):
    """g_ω(τ_{:t}) = head(max_{i<t} φ(transition_i)): the set of what τ_{:t} saw, not its order.

    The transitions are embedded as in :class:`TrajectoryDecoder`; φ = ReLU(Linear(64 → 128))
    replaces the LSTM, and the prefix's element-wise maximum (0 for the empty prefix) feeds the
    same head. A problem's factors that exploration observes in separate transitions reach
    the code through separate maxima, so an unseen combination of seen values is a new
    combination of familiar features (an alternative to App. B.3's LSTM, not the paper's).
    """

    def __init__(self, state_embedder: nn.Module, n_actions: int, z_dim: int = 64) -> None:
        super().__init__(state_embedder, n_actions, z_dim)
        del self.lstm
        self.pool = nn.Linear(64, 128)

    def forward(self, obs: Obs, actions: torch.Tensor, rewards: torch.Tensor) -> torch.Tensor:
        """As :meth:`TrajectoryDecoder.forward`: ``[B, T+1, z_dim]``, entry t from 0..t−1."""
        h = torch.relu(self.pool(self.transitions(obs, actions, rewards)))
        pooled = torch.cummax(h, dim=1).values
        return self.head(torch.cat([torch.zeros_like(pooled[:, :1]), pooled], dim=1))


TRAJECTORY_DECODERS: dict[str, type[TrajectoryDecoder]] = {
    "lstm": TrajectoryDecoder,
    "pooled": PooledTrajectoryDecoder,
}
"""The decoders g_ω by name: App. B.3's LSTM, and the set-pooling alternative."""
