"""IMPORT: a recurrent policy regularised by an informed policy (Kamienny et al., 2020; App. B.3).

One recurrent double dueling DQN over the whole trial (exploration episode, then exploitation
episode; the history LSTM is *not* reset at the boundary):

    Q̂(s_t, z, a) = dueling(ReLU(Linear_64([e(s_t); z])))                      (App. B.3)

with z either the problem-ID embedding e_φ(μ) (per-dimension embedding 32 → 256 → 64, App. B.3
"State and problem ID embeddings") or the history embedding e_θ(τ_{:t}) (experience LSTM(64)
over (s_t, a_{t−1}, r_{t−1}, d_{t−1}), with d true at *every* episode end of the trial, App. B.3
"Experience embeddings"). Meta-training trials alternate between the two by trial parity (even
trials: z = e_φ(μ), as in the authors' code); test trials use z = e_θ(τ_{:t}).

Losses, summed and minimised by one Adam step (Table 1's shared values):

* L_TD: double DQN over the trial as one sequence. The exploration episode's rewards are fed to
  the LSTM (observed) but optimised as 0, as in E-RL² ("first_episode_no_optimization" in the
  authors' code); the target of the last exploration step bootstraps from the first exploitation
  state (the trial, not the episode, is the RL episode); the trial's last step is terminal.
  Which z an update uses is :attr:`ImportConfig.update_source`.
* L_IMPORT(θ) = β E[Σ_t ‖e_θ(τ_{:t}) − e_φ(μ)‖²] with e_φ(μ) held fixed (App. B.3), summed over
  the trial's acting steps and averaged over the sampled trials.

**The exploration episode's last observation.** App. B.3 embeds every (s_{t+1}, a_t, r_t, d_t)
tuple, so the state an episode *ends in* is part of the history. The trial loop acts on the
exploitation episode's reset state next, so with ``terminal_obs=True`` (default) that ending
experience is fed to the LSTM as its own step (no action is chosen there) before exploitation
starts from (s'_0, a = none, r = 0, d = 0). ``terminal_obs=False`` is the authors' code: the
state after the inner reset carries the last exploration action, reward and d = 1, and the
ending state is never seen (on the bandit, whose exploration reveals μ only in that state, the
history policy then cannot beat chance).

Choices the paper leaves open, each documented on its :class:`ImportConfig` field: the TD
loss's z (``update_source``), the replay minimum (``min_replay``, the authors' 800), the ending
state (``terminal_obs``); L_IMPORT is masked to the acting steps (the authors' code sums padded
steps too); e_θ has its own state embedder (not shared with e(s_t)).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from torch import nn

from deep.dqn import double_q_targets, epsilon_greedy, masked_td_loss
from deep.method import BaselineConfig, OptimizerGroup, RecurrentBaseline, UpdateLosses
from deep.networks import (
    DuelingHead,
    ExperienceEmbedder,
    GridStateEmbedder,
    make_state_embedder,
    to_torch,
)
from deep.sequences import TrialEntries, at_entries, trial_entries
from deep.trial_loop import TrialBatch

__all__ = ["Import", "ImportConfig", "ImportQNetwork"]

UpdateSource = Literal["played", "both"]
ZSource = Literal["history", "id"]


@dataclass(frozen=True)
class ImportConfig(BaselineConfig):
    """IMPORT's hyperparameters (Table 1 and App. B.4 unless noted).

    The ones every baseline shares are on :class:`deep.method.BaselineConfig`.
    """

    aux_weight: float = 1.0
    """β of L_IMPORT (App. B.3: "we use β = 1", following Kamienny et al.)."""
    z_dim: int = 64
    """Size of e_φ(μ) and of the history LSTM, e_θ(τ_{:t}) (App. B.3: 64)."""
    update_source: UpdateSource = "played"
    """Which z the TD loss of a sampled trial uses: ``"played"`` the one it was played with
    (even trial id: e_φ(μ), odd: e_θ(τ)), the replay analogue of IMPORT's alternation and of the
    authors' code; ``"both"`` the sum of the TD losses with either z on every trial."""
    terminal_obs: bool = True
    """Feed the exploration episode's final state to the history LSTM as its own experience
    (App. B.3's (s_{t+1}, a_t, r_t, d_t) tuples); False: the authors' code (see module doc)."""

    positive_ints: ClassVar[tuple[str, ...]] = (*BaselineConfig.positive_ints, "z_dim")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.update_source not in ("played", "both"):
            raise ValueError(
                f"update_source {self.update_source!r} is unknown; allowed: played, both"
            )
        if not self.aux_weight >= 0.0:
            raise ValueError(f"aux_weight={self.aux_weight!r} is invalid; allowed: floats >= 0")


# ---------------------------------------------------------------------------- network
class ImportQNetwork(nn.Module):
    """Q̂(s_t, z, a) = dueling(ReLU(Linear_64([e(s_t); z]))) with z = e_φ(μ) or e_θ(τ_{:t}).

    Three embedders (App. B.3): e(s) for the current state, e_φ(μ) (``problem``) and e_θ
    (``history``: an experience LSTM with its own state embedder, rewards and done flags).
    """

    def __init__(self, space: Any, n_actions: int, n_problems: int, z_dim: int) -> None:
        super().__init__()
        self.state = make_state_embedder(space)
        self.problem = GridStateEmbedder([n_problems - 1], z_dim)
        self.history = ExperienceEmbedder(make_state_embedder(space), n_actions, z_dim)
        self.fc = nn.Linear(self.state.out_dim + z_dim, 64)
        self.head = DuelingHead(64, n_actions)

    def embed_problem(self, problems: torch.Tensor) -> torch.Tensor:
        """e_φ(μ): ``[B]`` problem IDs → ``[B, z_dim]``."""
        return self.problem(problems.unsqueeze(-1))

    def embed_history(
        self,
        obs: dict[str, torch.Tensor],
        prev_actions: torch.Tensor,
        prev_rewards: torch.Tensor,
        prev_dones: torch.Tensor,
        hidden: Any = None,
    ) -> tuple[torch.Tensor, Any]:
        """e_θ(τ_{:t}) for inputs ``[B, T, ...]`` → ``[B, T, z_dim]`` and the LSTM state."""
        return self.history(obs, prev_actions, prev_rewards, prev_dones, hidden)

    def q_values(self, state_features: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Q from e(s_t) ``[B, T, ·]`` and z ``[B, T, z_dim]`` → ``[B, T, A]``."""
        return self.head(torch.relu(self.fc(torch.cat([state_features, z], dim=-1))))

    def sequence_q(
        self, seq: TrialEntries, problems: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Q with z = e_φ(μ) and with z = e_θ(τ_{:k}) at every position ``[B, N+1, A]``.

        Also returns e_φ(μ) ``[B, z]`` and e_θ(τ_{:k}) ``[B, N+1, z]`` (for L_IMPORT).
        """
        feats = self.state(seq.obs)
        z_id = self.embed_problem(problems)
        z_hist, _ = self.embed_history(*seq.inputs())
        q_id = self.q_values(feats, z_id.unsqueeze(1).expand(-1, feats.shape[1], -1))
        q_hist = self.q_values(feats, z_hist)
        return q_id, q_hist, z_id, z_hist


# ---------------------------------------------------------------------------- the method
class Import(RecurrentBaseline):
    """IMPORT on the shared trial loop: acting, trial replay and the App. B.3 updates."""

    name = "import"
    config: ImportConfig
    network_names = ("q_net",)
    target_names = ("q_net",)
    informed_acting = True
    test_source: ZSource = "history"
    """z at test time: the paper's e_θ(τ_{:t}); ``"id"`` evaluates the informed policy."""
    last_q: torch.Tensor | None = None
    """Q-values ``[B, A]`` of the last :meth:`act` call (diagnostics and tests)."""
    _from_id = torch.zeros(0, dtype=torch.bool)
    _z_id: torch.Tensor | None = None

    def build_networks(self, observation_space: Any, n_actions: int) -> None:
        """Q̂(s, z) with both encoders e_φ(μ) and e_θ(τ_{:t}) (App. B.3)."""
        self.q_net = ImportQNetwork(
            observation_space, n_actions, self.family.n_problems, self.config.z_dim
        )

    def optimizer_groups(self) -> dict[str, OptimizerGroup]:
        """One optimiser on every weight (L_TD + L_IMPORT)."""
        return {"opt": OptimizerGroup("IMPORT", [*self.q_net.parameters()])}

    def record_fields(
        self, fields: dict[str, tuple[tuple[int, ...], np.dtype]]
    ) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
        """Each stored trial's id (its parity chose the z it was played with)."""
        return {**fields, "trial_id": ((), np.dtype(np.int64))}

    def extra_record(self, trials: TrialBatch) -> dict[str, np.ndarray]:
        """The wave's trial ids."""
        return {"trial_id": trials.trial_ids}

    # ---------------------------------------------------------------- acting
    def _obs_step(self, obs: Mapping[str, np.ndarray]) -> dict[str, torch.Tensor]:
        return {k: v.unsqueeze(1) for k, v in to_torch(dict(obs), self.device).items()}

    def z_sources(self, trials: TrialBatch, training: bool) -> np.ndarray:
        """Per trial: act with z = e_φ(μ) (True) or e_θ(τ_{:t}) (False).

        Training alternates by trial parity (even ids use the ID); test uses the history.
        """
        if training:
            return trials.trial_ids % 2 == 0
        return np.full(len(trials), self.test_source == "id" or self._informed)

    @torch.no_grad()
    def _advance_history(
        self,
        obs: dict[str, torch.Tensor],
        prev_a: np.ndarray,
        prev_r: np.ndarray,
        prev_d: np.ndarray,
    ) -> torch.Tensor:
        """Feed one experience per row to e_θ (every row; see :meth:`start_episode`)."""
        h, self._hidden = self.q_net.embed_history(
            obs,
            torch.from_numpy(prev_a).to(self.device, torch.int64).unsqueeze(1),
            torch.from_numpy(prev_r).to(self.device, torch.float32).unsqueeze(1),
            torch.from_numpy(prev_d).to(self.device, torch.int64).unsqueeze(1),
            self._hidden,
        )
        return h[:, 0]

    def start_episode(self, trials: TrialBatch, episode: int, training: bool) -> None:
        """Trial start: zero LSTM state, pick each trial's z source, compute e_φ(μ).

        Later episodes continue each row's LSTM state from its previous episode's last step
        (:meth:`act` steps every row, also those whose episode already ended and that wait for
        the others: their extra states are dropped here); with ``terminal_obs`` the previous
        episode's final experience (s_L, a_{L−1}, r_{L−1}, d = 1) is fed to it first.
        """
        b = len(trials)
        if not self.carry_state(trials, episode):
            self._from_id = torch.from_numpy(self.z_sources(trials, training)).to(self.device)
            with torch.no_grad():
                problems = torch.from_numpy(trials.problems).to(self.device)
                self._z_id = self.q_net.embed_problem(problems)
            return
        if self.config.terminal_obs:
            action, reward, obs = trials.last_step(episode - 1)
            done = np.ones(b, dtype=np.int64)
            self._advance_history(self._obs_step(obs), action, reward, done)

    def _previous_inputs(
        self, trials: TrialBatch, episode: int, t: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(a_{t−1}, r_{t−1}, d_{t−1}) per row for step t of ``episode``."""
        prev_d = np.zeros(len(trials), dtype=np.int64)
        if t == 0 and episode > 0 and not self.config.terminal_obs:
            prev_a, prev_r, _ = trials.last_step(episode - 1)
            return prev_a, prev_r, prev_d + 1
        prev_a, prev_r = trials.previous_step(episode, t)
        return prev_a, prev_r, prev_d

    @torch.no_grad()
    def act(
        self, obs: dict[str, np.ndarray], t: int, trials: TrialBatch, episode: int, training: bool
    ) -> np.ndarray:
        """ε-greedy (training) or greedy (test) actions of Q̂(s_t, z, ·) over the whole trial."""
        x = self._obs_step(obs)
        z_hist = self._advance_history(x, *self._previous_inputs(trials, episode, t))
        self.keep_state(self._hidden)
        assert self._z_id is not None, "start_episode(episode=0) must come first"
        z = torch.where(self._from_id.unsqueeze(-1), self._z_id, z_hist)
        q = self.q_net.q_values(self.q_net.state(x)[:, 0], z)
        self.last_q = q
        if not training:  # greedy, and no draw from the training random stream
            return q.argmax(-1).cpu().numpy()
        return epsilon_greedy(q.cpu(), self.epsilon(episode), self.gen).numpy()

    # ---------------------------------------------------------------- updates
    def sequences(self, batch: Mapping[str, np.ndarray]) -> TrialEntries:
        """The sampled trials as sequences (:func:`deep.sequences.trial_entries`)."""
        return trial_entries(
            batch, self.obs_names, self.device, terminal_obs=self.config.terminal_obs
        )

    def aux_loss(
        self, z_id: torch.Tensor, z_hist: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        """L_IMPORT(θ) = β·mean_trials Σ_t ‖e_θ(τ_{:t}) − sg(e_φ(μ))‖² over acting steps t.

        ``z_id`` ``[B, z]``, ``z_hist`` ``[B, N(+1), z]``, ``mask`` ``[B, N]``; e_φ gets no
        gradient (App. B.3: "optimized only w.r.t. θ").
        """
        n = mask.shape[1]
        dist = ((z_hist[:, :n] - z_id.detach().unsqueeze(1)) ** 2).sum(-1)
        return self.config.aux_weight * (dist * mask.float()).sum(1).mean()

    def _td_loss(self, q: torch.Tensor, q_target: torch.Tensor, seq: TrialEntries) -> torch.Tensor:
        """Double DQN over the trial: y_j = r̃_j + γ(1 − term_j) Q'(s_{next(j)}, ·) at acting j."""
        nxt = seq.next_entry
        y = double_q_targets(
            at_entries(q.detach(), nxt),
            at_entries(q_target, nxt),
            seq.td_reward,
            seq.terminal,
            self.config.gamma,
        )
        return masked_td_loss(q, seq.action, y, seq.acting)

    def loss_terms(self, batch: Mapping[str, np.ndarray]) -> dict[str, torch.Tensor]:
        """TD loss(es) (see ``update_source``) and L_IMPORT for a sampled batch of trials."""
        cfg = self.config
        seq = self.sequences(batch)
        problems = torch.from_numpy(batch["problem"]).to(self.device)
        q_id, q_hist, z_id, z_hist = self.q_net.sequence_q(seq, problems)
        with torch.no_grad():
            t_id, t_hist, _, _ = self.targets["q_net"].sequence_q(seq, problems)
        out: dict[str, torch.Tensor] = {}
        if cfg.update_source == "both":
            out["td_id"] = self._td_loss(q_id, t_id, seq)
            out["td_history"] = self._td_loss(q_hist, t_hist, seq)
        else:
            from_id = torch.from_numpy(batch["trial_id"] % 2 == 0).to(self.device)
            pick = from_id.view(-1, 1, 1)
            out["td"] = self._td_loss(
                torch.where(pick, q_id, q_hist), torch.where(pick, t_id, t_hist), seq
            )
        out["aux"] = self.aux_loss(z_id, z_hist, seq.acting)
        return out

    def losses(self, batch: dict[str, np.ndarray]) -> UpdateLosses:
        """One gradient step's objective: L_TD + L_IMPORT."""
        terms = self.loss_terms(batch)
        total = sum(terms.values())
        return UpdateLosses({"opt": total}, {k: v.detach() for k, v in terms.items()})  # type: ignore[dict-item]
