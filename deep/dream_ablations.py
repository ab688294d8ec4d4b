"""Two ablations of DREAM's exploration objective (Sec. 2, 4.1–4.2; App. C.2).

Both keep everything of :class:`deep.dream.Dream` — networks, replay of whole trials, double
dueling DQN updates, the exploitation side (L_task-id, L_task-traj, the bottleneck, z from
f_ψ(μ) + ρε on even trials and from g_ω(τ^exp) on odd ones) and every schedule — and replace
only how the exploration policy π^exp is rewarded (and what defines that reward).

**End-to-end exploration** (:class:`DreamE2EExploration`, the chicken-and-egg coupling of
Sec. 4.1 put back). π^exp is rewarded by how well the *current* exploitation policy does with
what it found: the exploration episode pays −c per step, and its last step t = L−1 also pays

    V_task(τ^exp) = max_a Q_task(s^task_0, g_ω(τ^exp_{:L}), a),

the value of the stored exploitation episode's first state given the decoder's reading of the
whole exploration trajectory, recomputed for every sampled batch with the current Q_task and g
(as DREAM's Eq. 5 reward is, with the current f and g), without gradient. So
Σ_t r^exp_t = V_task(τ^exp) − cL, in place of Eq. 4's d_0 − d_T − cT. This is App. C.2's
formalisation of end-to-end learning ("RL² learns exploration Q-values by regressing toward the
exploitation Q-values", Q^exp(a) = max_a' Q^task(τ^exp_a, a')). The decoder is no longer
trained to match f (L_decoder is the variational half of DREAM's exploration objective); it
learns only through L_task-traj, i.e. end to end from exploitation returns
(``decoder_loss_weight`` > 0 puts L_decoder back).

**Dynamics prediction** (:class:`DreamDynamics`, the objective of prior decoupled methods,
Sec. 2). A dynamics encoder h_η (the decoder's architecture, no bottleneck, no noise) reads
every prefix τ^exp_{:t}, and a model (ŝ', r̂)_η(s, a, h_η(τ^exp_{:t})) predicts every
transition u of the exploration episode, from every prefix: the prefix holds those before t
and must carry what they showed about μ; those after t are still to come. With the summed
squared error

    d_t = Σ_{u < L} ‖ŝ'_η(s_u, a_u, h_η(τ^exp_{:t})) − s_{u+1}/high‖² + ((r̂_η(·) − r_u)/σ)²

(each state dimension scaled to [0, 1]; a Gaussian log-likelihood up to constants, as DREAM's
‖g − f‖² is), the exploration reward is the same telescoping information gain as Eq. 4–5,
about the dynamics instead of z: r^exp_t = d_t − d_{t+1} − c, Σ_t r^exp_t = d_0 − d_T − cT,
where d_0 is the error of the model that knows nothing of μ. η is trained on
L_dynamics = Σ_{t ≤ T} d_t (mean over the batch), the counterpart of L_decoder, with its own
optimiser. The exploitation episode's transitions are *not* targets: π^task acts on
z = f(μ) + ρε (or on g(τ^exp)), so its actions carry μ and d_0 is no longer a prior over the
dynamics. (Tried on the bandit: once π^task plays a_μ, "the arm it played pays" needs no μ,
and trajectories that leave π^task uninformed looked informative; greedy exploration kept
leaving a★ at ε = 0.05.) The exploitation policy is DREAM's, unchanged (z from f or from g,
g trained to match f): only what exploration is paid for differs, so it is paid for
everything about μ that changes transitions or rewards, relevant to the task or not.

The paper does not specify these ablations' details; each choice above is a reading of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from deep.dream import Dream, DreamConfig, SampledTrials
from deep.method import OptimizerGroup
from deep.networks import TrajectoryDecoder, make_state_embedder, observation_fields, to_torch
from deep.replay import EpisodeTensors

__all__ = [
    "DreamDynamics",
    "DreamE2EExploration",
    "DynamicsConfig",
    "DynamicsModel",
    "E2EExplorationConfig",
]


# ============================================================ 1. end-to-end exploration
@dataclass(frozen=True)
class E2EExplorationConfig(DreamConfig):
    """DREAM's hyperparameters (App. B.4) plus the weight of the decoder's own loss."""

    decoder_loss_weight: float = 0.0
    """Weight of L_decoder = Σ_t ‖f(μ) − g(τ_{:t})‖². 0 (default): g learns only through
    L_task-traj, end to end; 1: g is still pulled towards f (only the reward is end to end)."""


class DreamE2EExploration(Dream):
    """DREAM with π^exp rewarded by the exploitation value of its trajectory (App. C.2's RL²)."""

    name = "dream_e2e_exploration"
    config: E2EExplorationConfig

    @torch.no_grad()
    def exploitation_values(self, batch: dict[str, np.ndarray], z: torch.Tensor) -> torch.Tensor:
        """V_task = max_a Q_task(s^task_0, z, a) ``[B]`` at each stored exploitation start."""
        obs = to_torch({n: batch[f"exploit_obs_{n}"][:, :1] for n in self.obs_names}, self.device)
        first_action = torch.full((len(z), 1), -1, dtype=torch.int64, device=self.device)
        q, _ = self.task_q(obs, first_action, z)
        return q[:, 0].max(-1).values

    def relabel_exploration(self, sampled: SampledTrials) -> torch.Tensor:
        """r^exp_t = −c + 1[t = L−1]·V_task(τ^exp), 0 past the end; Σ_t r^exp_t = V − cL."""
        explore = sampled.explore
        rows = torch.arange(len(explore.length), device=self.device)
        value = self.exploitation_values(sampled.batch, sampled.g.detach()[rows, explore.length])
        r = explore.dones.float() * value.unsqueeze(1) - self.config.exploration_penalty
        return r * explore.mask

    def decoder_loss(self, f: torch.Tensor, g: torch.Tensor, length: torch.Tensor) -> torch.Tensor:
        """``decoder_loss_weight`` · L_decoder (0 by default: g is trained end to end only)."""
        weight = self.config.decoder_loss_weight
        if weight == 0.0:
            return g.new_zeros(())
        return weight * super().decoder_loss(f, g, length)


# ============================================================ 2. dynamics prediction
@dataclass(frozen=True)
class DynamicsConfig(DreamConfig):
    """DREAM's hyperparameters (App. B.4) plus the scale of the dynamics model's reward error."""

    reward_std: float = 1.0
    """σ: a reward error counts as ((r̂ − r)/σ)², a state dimension's as (ŝ' − s'/high)²."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.reward_std > 0:
            raise ValueError(f"reward_std={self.reward_std!r} is invalid; allowed: floats > 0")


class DynamicsModel(nn.Module):
    """(ŝ', r̂)(s, a, h) = Linear(ReLU(W_sa·[e(s); e(a)] + W_h·h + b)) (paper silent on it).

    ``forward`` gives the squared prediction error of a transition,
    ‖ŝ' − s'/high‖² + ((r̂ − r)/σ)², each state dimension scaled to [0, 1] by its maximum:
    the negative log-likelihood (constants dropped, variance ½) of a Gaussian model, as
    ‖g(τ) − f(μ)‖² is for DREAM's decoder. The first layer's two parts are applied separately
    (the same linear map), so K encodings share one pass over the transitions. Sizes follow
    App. B.3's embedders: e(s) the grid embedder (64), e(a) 16, one hidden layer of 128.
    """

    def __init__(self, space: spaces.Box, n_actions: int, z_dim: int, reward_std: float) -> None:
        super().__init__()
        highs = np.asarray(space.high, dtype=np.float32).ravel()
        self.state = make_state_embedder(space)
        self.action = nn.Embedding(n_actions, 16)
        self.from_transition = nn.Linear(self.state.out_dim + 16, 128)
        self.from_encoding = nn.Linear(z_dim, 128, bias=False)
        self.out = nn.Linear(128, len(highs) + 1)
        self.register_buffer("scale", torch.from_numpy(1.0 / np.maximum(highs, 1.0)))
        self.reward_std = reward_std

    def forward(
        self,
        state: torch.Tensor,
        actions: torch.Tensor,
        next_state: torch.Tensor,
        rewards: torch.Tensor,
        h: torch.Tensor,
    ) -> torch.Tensor:
        """Errors ``[B, K, U]`` of U transitions ``[B, U, ...]`` under K encodings ``[B, K, z]``."""
        sa = torch.cat([self.state(state), self.action(actions.clamp(min=0))], dim=-1)
        x = torch.relu(
            self.from_transition(sa).unsqueeze(1) + self.from_encoding(h).unsqueeze(2)
        )  # [B, K, U, 128]
        pred = self.out(x)
        target = (next_state * self.scale).unsqueeze(1)
        state_err = ((pred[..., :-1] - target) ** 2).sum(-1)
        return state_err + ((pred[..., -1] - rewards.unsqueeze(1)) / self.reward_std) ** 2


class DreamDynamics(Dream):
    """DREAM with π^exp rewarded by information gain about the dynamics (Sec. 2's prior work)."""

    name = "dream_dynamics"
    config: DynamicsConfig

    network_names = (*Dream.network_names, "dynamics_encoder", "dynamics_model")

    def build_networks(self, observation_space: Any, n_actions: int) -> None:
        """DREAM's networks, then the dynamics encoder h_η and model (ŝ', r̂)_η."""
        if set(observation_fields(observation_space)) != {"state"}:
            raise ValueError(
                "dream_dynamics predicts integer state vectors; image observations (sign) "
                "are not supported; allowed: the grid worlds and the bandit"
            )
        super().build_networks(observation_space, n_actions)
        z_dim = self.config.z_dim
        self.dynamics_encoder = TrajectoryDecoder(
            make_state_embedder(observation_space), n_actions, z_dim
        )
        self.dynamics_model = DynamicsModel(
            observation_space, n_actions, z_dim, self.config.reward_std
        )

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a checkpoint, also one written before ``deep.method`` (η under ``dynamics``)."""
        if "dynamics" in state:
            eta = state["dynamics"]
            nets = {
                **state["nets"],
                "dynamics_encoder": eta["encoder"],
                "dynamics_model": eta["model"],
            }
            state = {**state, "nets": nets, "dynamics_opt": eta["opt"]}
        super().load_state_dict(state)

    def optimizer_groups(self) -> dict[str, OptimizerGroup]:
        """DREAM's two optimisers and η's own (L_dynamics)."""
        eta = [*self.dynamics_encoder.parameters(), *self.dynamics_model.parameters()]
        return {**super().optimizer_groups(), "dynamics": OptimizerGroup("dynamics", eta)}

    def dynamics_errors(self, explore: EpisodeTensors) -> torch.Tensor:
        """d_t = Σ_{u < L} error on exploration transition u given h_η(τ^exp_{:t}), ``[B, T+1]``."""
        h = self.dynamics_encoder(*explore[:3])
        states = explore.obs["state"]
        err = self.dynamics_model(
            states[:, :-1], explore.actions, states[:, 1:], explore.rewards, h
        )
        return (err * explore.mask.unsqueeze(1)).sum(-1)

    def relabel_exploration(self, sampled: SampledTrials) -> torch.Tensor:
        """r^exp_t = d_t − d_{t+1} − c with the current η, no gradient (Eq. 4–5's structure)."""
        with torch.no_grad():
            d = self.dynamics_errors(sampled.explore)
        return d[:, :-1] - d[:, 1:] - self.config.exploration_penalty

    def dynamics_loss(self, explore: EpisodeTensors) -> torch.Tensor:
        """L_dynamics(η) = Σ_{t ≤ L} d_t over the exploration prefixes, mean over the batch."""
        d = self.dynamics_errors(explore)
        steps = torch.arange(d.shape[1], device=self.device).unsqueeze(0)
        return (d * (steps <= explore.length.unsqueeze(1))).sum(1).mean()

    def _task_loss(
        self, sampled: SampledTrials
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """L_dynamics for η's own optimiser, then DREAM's exploitation loss, unchanged."""
        loss = self.dynamics_loss(sampled.explore)
        objectives, stats = super()._task_loss(sampled)
        return {"dynamics": loss, **objectives}, {**stats, "dynamics": loss.detach()}
