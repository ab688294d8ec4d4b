"""VariBAD as a meta-RL baseline (App. B.3 "VARIBAD"; Zintgraf et al., 2019).

A recurrent *belief encoder* reads the whole trial and gives a Gaussian belief over the task,

    enc(z | s_t, τ_{:t}) = N(m_t, σ_t² I),   m_t = LSTM_64(x_0, ..., x_t),

where x_t is App. B.3's experience embedding of (s_t, a_{t−1}, r_{t−1}, d_{t−1}) (d: the
episode-termination flag, true at *every* episode end within the trial) and the LSTM state is
carried across the exploration → exploitation boundary. App. B.3 fixes σ² = ν² = 10⁻⁵ and
drops the KL term; with ``kl_weight > 0`` a linear head gives log σ_t² and the loss gains
kl_weight · KL(N(m_t, σ_t²I) ‖ N(0, I)) (Zintgraf et al.'s prior term, the paper's "KL loss").
z_t = m_t + σ_t ε, ε ~ N(0, I) (reparameterised).

* **Policy.** A double dueling DQN Q(s_t, z_t, a) = dueling(ReLU(Linear_64([e(s_t); z_t]))).
  As for E-RL², exploration-episode rewards are observed (as r_{t−1} inputs) but not optimised
  (0 in the TD target), the target crosses the episode boundary and is terminal at the
  trial's end. By default the TD loss does not reach the encoder (App. B.3: "VARIBAD does
  not update the encoder via gradients through the policy"); ``rl_grad_to_encoder=True`` lets
  it through, as the authors' code does.
* **Decoders** (the VAE's likelihood). R̂(r | s, a, z) and T̂(s' | s, a, z): [e(s); e(a) (32);
  z] → Linear 128 → ReLU → Linear 128 → ReLU → a reward head and a next-state head. For every
  belief z_t (every prefix t of the trial) and every transition i = (s_i, a_i, r_i, s_{i+1}) of
  the trial (past and future, both episodes), the loss is the mean over all those (t, i) pairs
  of (R̂ − r_i)² + w_T · mean_d (T̂ − s_{i+1})_d², the state being the integer state vector as
  a regression target (App. B.3: "the mean-squared error with the true next state"). There is
  no state decoder on the image-based sign task (App. B.3).

**The trial sequence** is :func:`deep.sequences.trial_entries`'s, shared with E-RL² and
IMPORT: s_0..s_{T_e}, then s'_0..s'_{T_x}, each entry with the action, reward and termination
flag of the step that led to it. The exploration episode's final observation s_{T_e} is read
by the encoder (in the App. C.2 bandit μ is revealed only there) and is the true next state of
the last exploration transition; the TD target of that transition bootstraps from s'_0. (The
authors' code drops s_{T_e}: its reset state carries the last action, reward and d = 1.)

Defaults are App. B.4 / Table 1's (ε 1 → 0.01 over 500k steps for the baselines), with the
authors' code's values where the paper is silent (replay minimum 800 trials). One Adam
optimiser (lr 10⁻⁴, gradient norm clipped to 10) steps the encoder, the Q-network and the
decoders on td + reward + w_T·state (+ kl_weight·kl); the target Q-network and a target copy
of the encoder (which gives z' for the TD target) are hard-synced every 5000 env steps. Each
choice the paper leaves open is stated at its config field.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from deep.dqn import double_q_targets, epsilon_greedy, masked_td_loss
from deep.method import BaselineConfig, OptimizerGroup, RecurrentBaseline, UpdateLosses
from deep.networks import (
    DuelingHead,
    ExperienceEmbedder,
    ExperienceInputs,
    Hidden,
    make_state_embedder,
    observation_fields,
    to_torch,
)
from deep.replay import trial_record
from deep.sequences import TrialEntries, at_entries, trial_entries
from deep.trial_loop import TrialBatch

__all__ = [
    "BeliefEncoder",
    "BeliefQNetwork",
    "TransitionDecoder",
    "VariBad",
    "VariBadConfig",
    "gaussian_kl",
]


@dataclass(frozen=True)
class VariBadConfig(BaselineConfig):
    """VariBAD's hyperparameters (App. B.3, B.4 and Table 1 unless noted).

    The ones every baseline shares are on :class:`deep.method.BaselineConfig`.
    """

    z_dim: int = 64
    """Belief size = the experience LSTM's width (App. B.3: its output is the mean m)."""
    latent_var: float = 1e-5
    """ν² of enc(z | ·) = N(m, ν²I) when the variance is not learned (App. B.3: 0.00001;
    the authors' code: std 1e-6)."""
    kl_weight: float = 0.0
    """0: no KL term, fixed variance ν² (App. B.3's final setting). > 0: a linear head learns
    log σ² and kl_weight · KL(N(m, σ²I) ‖ N(0, I)) is added to the loss."""
    state_decoder: bool = True
    """Predict s' with T̂ (grid worlds); App. B.3 removes it on the sign task."""
    state_loss_weight: float = 1.0
    """w_T: weight of the state MSE against the reward MSE (paper silent: 1; the authors'
    code weighs summed squared errors by 0.01)."""
    rl_grad_to_encoder: bool = False
    """False: the TD loss does not reach the encoder (App. B.3). True: it does (the authors'
    code, where z is not detached)."""
    decode_beliefs: int = 0
    """0: the decoder loss uses every belief z_t of the trial. k > 0: k beliefs per trial,
    drawn uniformly without replacement from its real entries at each update (Zintgraf et
    al.'s ``vae_subsample_elbos``): an unbiased estimate of the same per-trial mean, and about
    N/k times cheaper. Not in the paper; a speed option for CPU runs."""
    decode_transitions: int = 0
    """0: every transition i of the trial is decoded. k > 0: k transitions per trial, drawn
    like ``decode_beliefs`` (Zintgraf et al.'s ``vae_subsample_decodes``)."""

    positive_ints: ClassVar[tuple[str, ...]] = (*BaselineConfig.positive_ints, "z_dim")

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.latent_var > 0.0:
            raise ValueError(f"latent_var={self.latent_var!r} is invalid; allowed: numbers > 0")
        for name in ("kl_weight", "state_loss_weight"):
            if not getattr(self, name) >= 0.0:
                raise ValueError(f"{name}={getattr(self, name)!r} is invalid; allowed: >= 0")
        for name in ("decode_beliefs", "decode_transitions"):
            value = getattr(self, name)
            if not (isinstance(value, int) and value >= 0):
                raise ValueError(
                    f"{name}={value!r} is invalid; allowed: 0 (all) or an integer >= 1"
                )


def gaussian_kl(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(m, diag σ²) ‖ N(0, I)) = ½ Σ_d (σ_d² + m_d² − 1 − log σ_d²), over the last dim."""
    return 0.5 * (logvar.exp() + mean**2 - 1.0 - logvar).sum(-1)


# ------------------------------------------------------------------------- networks
class BeliefEncoder(nn.Module):
    """enc(z | s_t, τ_{:t}) = N(m_t, σ_t²I): m_t = the experience LSTM's output (App. B.3)."""

    def __init__(
        self, observation_space: Any, n_actions: int, z_dim: int, learn_variance: bool
    ) -> None:
        super().__init__()
        self.experience = ExperienceEmbedder(
            make_state_embedder(observation_space), n_actions, z_dim
        )
        self.logvar = nn.Linear(z_dim, z_dim) if learn_variance else None

    def forward(
        self, inputs: ExperienceInputs, hidden: Hidden | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None, Hidden]:
        """Entries ``[B, N, ...]`` → m ``[B, N, z]``, log σ² (None: fixed) and the LSTM state."""
        m, hidden = self.experience(*inputs, hidden)
        return m, None if self.logvar is None else self.logvar(m), hidden


class BeliefQNetwork(nn.Module):
    """Q(s_t, z_t, ·) = dueling(ReLU(Linear_64([e(s_t); z_t])))  (App. B.3)."""

    def __init__(self, observation_space: Any, n_actions: int, z_dim: int) -> None:
        super().__init__()
        self.state = make_state_embedder(observation_space)
        self.fc = nn.Linear(self.state.out_dim + z_dim, 64)
        self.head = DuelingHead(64, n_actions)

    def forward(self, obs: dict[str, torch.Tensor], z: torch.Tensor) -> torch.Tensor:
        """``obs`` ``[B, N, ...]``, ``z`` ``[B, N, z]`` → Q ``[B, N, A]``."""
        return self.head(torch.relu(self.fc(torch.cat([self.state(obs), z], dim=-1))))


class TransitionDecoder(nn.Module):
    """R̂(r | s, a, z) and T̂(s' | s, a, z) for every (belief t, transition i) pair (App. B.3).

    [e(s_i); e(a_i); z_t] → Linear 128 → ReLU → Linear 128 → ReLU → heads. The first layer's
    weight is split into its (s, a) columns and its z columns, so it is applied once per
    transition and once per belief and the two are added for each pair: the same function as
    the layer on the concatenation, without building the ``[B, N, N, ·]`` input.
    """

    def __init__(
        self, observation_space: Any, n_actions: int, z_dim: int, state_dim: int | None
    ) -> None:
        super().__init__()
        self.state = make_state_embedder(observation_space)
        self.action = nn.Embedding(n_actions, 32)
        self.fc_sa = nn.Linear(self.state.out_dim + 32, 128)
        self.fc_z = nn.Linear(z_dim, 128, bias=False)
        self.fc2 = nn.Linear(128, 128)
        self.reward = nn.Linear(128, 1)
        self.next_state = nn.Linear(128, state_dim) if state_dim else None

    def forward(
        self, z: torch.Tensor, obs: dict[str, torch.Tensor], action: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Predictions for beliefs ``z`` ``[B, Nt, z]`` × transitions ``[B, Ni, ...]``.

        Returns r̂ ``[B, Nt, Ni]`` and ŝ' ``[B, Nt, Ni, D]`` (None without a state decoder).
        Actions −1 (no transition) are read as 0; such pairs must be masked by the caller.
        """
        sa = self.fc_sa(torch.cat([self.state(obs), self.action(action.clamp(min=0))], dim=-1))
        h = (self.fc_z(z).unsqueeze(2) + sa.unsqueeze(1)).relu_()  # [B, Nt, Ni, 128]
        lead = h.shape[:-1]
        h = self.fc2(h.reshape(-1, h.shape[-1])).relu_()  # 2-D matmuls: faster on CPU
        r_hat = self.reward(h).reshape(lead)
        if self.next_state is None:
            return r_hat, None
        return r_hat, self.next_state(h).reshape(*lead, -1)


# ------------------------------------------------------------------------- the method
class VariBad(RecurrentBaseline):
    """The VariBAD learner: acting for the trial loop, whole-trial replay, the App. B.3 losses."""

    name = "varibad"
    config: VariBadConfig
    network_names = ("encoder", "q_net", "decoder")
    target_names = ("encoder", "q_net")
    last_belief: torch.Tensor | None = None
    """m_t of the last acting step ``[B, z]`` (diagnostics and tests)."""

    def build_networks(self, observation_space: Any, n_actions: int) -> None:
        """The belief encoder, Q(s, z) and the reward (and state) decoders (App. B.3)."""
        cfg = self.config
        fields = observation_fields(observation_space)
        if cfg.state_decoder and "state" not in fields:
            raise ValueError(
                "state_decoder=True needs an integer state vector; this observation space has "
                f"{sorted(fields)} (the sign task: state_decoder=False, App. B.3)"
            )
        state_dim = int(np.prod(fields["state"][0])) if cfg.state_decoder else None
        self.encoder = BeliefEncoder(
            observation_space, n_actions, cfg.z_dim, learn_variance=cfg.kl_weight > 0
        )
        self.q_net = BeliefQNetwork(observation_space, n_actions, cfg.z_dim)
        self.decoder = TransitionDecoder(observation_space, n_actions, cfg.z_dim, state_dim)

    def optimizer_groups(self) -> dict[str, OptimizerGroup]:
        """One optimiser on the encoder, the Q-network and the decoders."""
        params = [
            *self.encoder.parameters(),
            *self.q_net.parameters(),
            *self.decoder.parameters(),
        ]
        return {"opt": OptimizerGroup("VariBAD", params)}

    # ---------------------------------------------------------------- beliefs
    def _logvar(self, m: torch.Tensor, logvar: torch.Tensor | None) -> torch.Tensor:
        if logvar is not None:
            return logvar
        return torch.full_like(m, math.log(self.config.latent_var))

    def sample_belief(
        self, m: torch.Tensor, logvar: torch.Tensor | None, eps: torch.Tensor
    ) -> torch.Tensor:
        """The belief sample z = m + σ ε (reparameterised), σ² = exp(log σ²) or the fixed ν²."""
        return m + torch.exp(0.5 * self._logvar(m, logvar)) * eps

    def sequence(self, batch: dict[str, np.ndarray]) -> TrialEntries:
        """The sampled trials as sequences (:func:`deep.sequences.trial_entries`)."""
        return trial_entries(batch, self.obs_names, self.device)

    def beliefs(
        self, seq: TrialEntries, target: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The mean m and log σ² (None: fixed) at every entry ``[B, N, z]``, from a zero state."""
        encoder = self.targets["encoder"] if target else self.encoder
        m, logvar, _ = encoder(seq.inputs())
        return m, logvar

    # ---------------------------------------------------------------- acting
    def _encode_step(
        self,
        obs: dict[str, np.ndarray],
        prev_action: np.ndarray,
        prev_reward: np.ndarray,
        prev_done: int,
        hidden: Hidden | None,
    ) -> tuple[torch.Tensor, torch.Tensor | None, Hidden]:
        """One encoder step of every row: m_t, log σ_t² (None: fixed) ``[B, z]``, LSTM state."""
        b = len(prev_action)
        x = {k: v.unsqueeze(1) for k, v in to_torch(obs, self.device).items()}
        prev_a = torch.from_numpy(prev_action.astype(np.int64)).reshape(b, 1).to(self.device)
        prev_r = torch.from_numpy(prev_reward.astype(np.float32)).reshape(b, 1).to(self.device)
        prev_d = torch.full((b, 1), prev_done, dtype=torch.int64, device=self.device)
        m, logvar, hidden = self.encoder((x, prev_a, prev_r, prev_d), hidden)
        return m[:, 0], None if logvar is None else logvar[:, 0], hidden

    @torch.no_grad()
    def start_episode(self, trials: TrialBatch, episode: int, training: bool) -> None:
        """Zero the encoder state before exploring; later, carry the belief across the boundary.

        Before episode k ≥ 1 each trial continues from its encoder state after its own last
        step T − 1 (a trial that ended early was fed on while others played; those steps are
        dropped), and the encoder reads episode k − 1's last observation s_T with
        (a_{T−1}, r_{T−1}, d = 1), as in the stored trial sequence.
        """
        if not self.carry_state(trials, episode):
            return
        action, reward, obs = trials.last_step(episode - 1)
        _, _, self._hidden = self._encode_step(obs, action, reward, 1, self._hidden)

    @torch.no_grad()
    def act(
        self, obs: dict[str, np.ndarray], t: int, trials: TrialBatch, episode: int, training: bool
    ) -> np.ndarray:
        """ε-greedy on Q(s_t, z_t): z_t sampled in training, the mean m_t (and ε = 0) in tests."""
        prev_a, prev_r = trials.previous_step(episode, t)
        m, logvar, hidden = self._encode_step(obs, prev_a, prev_r, 0, self._hidden)
        self.keep_state(hidden)
        self.last_belief = m
        z = m
        if training:
            eps = torch.randn(m.shape, generator=self.gen).to(self.device)
            z = self.sample_belief(m, logvar, eps)
        x = {k: v.unsqueeze(1) for k, v in to_torch(obs, self.device).items()}
        q = self.q_net(x, z.unsqueeze(1))[:, 0]
        if not training:  # greedy, and no draw from the training random stream
            return q.argmax(-1).cpu().numpy()
        return epsilon_greedy(q.cpu(), self.epsilon(episode), self.gen).numpy()

    # ---------------------------------------------------------------- losses
    def decoder_errors(
        self,
        z: torch.Tensor,
        seq: TrialEntries,
        beliefs: torch.Tensor | None = None,
        transitions: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """Squared errors of (belief t, transition i) pairs and the mask of real pairs.

        Every pair by default; ``beliefs`` ``[B, Kt]`` / ``transitions`` ``[B, Ki]`` pick entry
        indices per trial instead (see :meth:`decode_picks`). Returns (r̂_{t,i} − r_i)²
        ``[B, Kt, Ki]``, mean_d (ŝ_{t,i} − s_{i+1})_d² ``[B, Kt, Ki]`` (None without a state
        decoder), and the mask ``valid_t ∧ acting_i``.
        """
        obs, action, reward, acting = seq.obs, seq.action, seq.reward, seq.acting
        valid = seq.valid
        s_next = None
        if self.decoder.next_state is not None:
            s = obs["state"].float()
            s_next = torch.cat([s[:, 1:], torch.zeros_like(s[:, :1])], dim=1)
        if beliefs is not None:
            z = at_entries(z, beliefs)
            valid = valid.gather(1, beliefs)
        if transitions is not None:
            obs = {k: at_entries(v, transitions) for k, v in obs.items()}
            action, reward, acting = (x.gather(1, transitions) for x in (action, reward, acting))
            s_next = None if s_next is None else at_entries(s_next, transitions)
        r_hat, s_hat = self.decoder(z, obs, action)
        reward_err = (r_hat - reward.unsqueeze(1)) ** 2
        pairs = valid.unsqueeze(2) & acting.unsqueeze(1)
        state_err = None
        if s_hat is not None and s_next is not None:
            state_err = ((s_hat - s_next.unsqueeze(1)) ** 2).mean(-1)
        return reward_err, state_err, pairs

    def decode_picks(self, seq: TrialEntries) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Entry indices of the beliefs and transitions to decode, per trial (None: all).

        k of a trial's real entries (``valid`` for beliefs, ``acting`` for transitions),
        uniformly without replacement: the top k of uniform scores, −1 on the others (a trial
        with fewer than k real entries gets them all plus masked ones).
        """

        def pick(k: int, real: torch.Tensor) -> torch.Tensor | None:
            if k == 0 or k >= real.shape[1]:
                return None
            scores = torch.rand(real.shape, generator=self.gen).to(self.device)
            return scores.masked_fill(~real, -1.0).topk(k, dim=1).indices

        cfg = self.config
        return pick(cfg.decode_beliefs, seq.valid), pick(cfg.decode_transitions, seq.acting)

    def loss_terms(self, batch: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
        """The loss terms on a batch of stored trials (unweighted; see :meth:`total_loss`).

        * ``td``: double DQN of Q(s_j, z_j) against Q'(s_{next}, z'_{next}) (z' from the target
          encoder, same ε), r̃ = 0 while exploring, terminal at the trial's end;
        * ``reward`` / ``state``: mean over real (t, i) pairs of the decoders' squared errors;
        * ``kl`` (``kl_weight > 0`` only): mean over entries of KL(enc(z | τ_{:t}) ‖ N(0, I)).
        """
        cfg = self.config
        seq = self.sequence(batch)
        m, logvar = self.beliefs(seq)
        eps = torch.randn(m.shape, generator=self.gen).to(self.device)
        z = self.sample_belief(m, logvar, eps)
        with torch.no_grad():
            m_t, logvar_t = self.beliefs(seq, target=True)
            q_target = self.targets["q_net"](seq.obs, self.sample_belief(m_t, logvar_t, eps))
        q = self.q_net(seq.obs, z if cfg.rl_grad_to_encoder else z.detach())
        at = seq.next_entry.unsqueeze(-1).expand(-1, -1, q.shape[-1])
        y = double_q_targets(
            q.detach().gather(1, at),
            q_target.gather(1, at),
            seq.td_reward,
            seq.terminal,
            cfg.gamma,
        )
        out = {"td": masked_td_loss(q, seq.action, y, seq.acting)}
        reward_err, state_err, pairs = self.decoder_errors(z, seq, *self.decode_picks(seq))
        n_pairs = pairs.sum().clamp(min=1)
        out["reward"] = (reward_err * pairs).sum() / n_pairs
        if state_err is not None:
            out["state"] = (state_err * pairs).sum() / n_pairs
        if cfg.kl_weight > 0:
            kl = gaussian_kl(m, self._logvar(m, logvar))
            out["kl"] = (kl * seq.valid).sum() / seq.valid.sum()
        return out

    def total_loss(self, losses: dict[str, torch.Tensor]) -> torch.Tensor:
        """The weighted sum: td + reward + w_T · state + kl_weight · kl."""
        cfg = self.config
        total = losses["td"] + losses["reward"]
        if "state" in losses:
            total = total + cfg.state_loss_weight * losses["state"]
        if "kl" in losses:
            total = total + cfg.kl_weight * losses["kl"]
        return total

    def losses(self, batch: dict[str, np.ndarray]) -> UpdateLosses:
        """One gradient step's objective, :meth:`total_loss`, and the unweighted terms."""
        terms = self.loss_terms(batch)
        stats = {k: v.detach() for k, v in terms.items()}
        return UpdateLosses({"opt": self.total_loss(terms)}, stats)

    # ---------------------------------------------------------------- diagnostics
    @torch.no_grad()
    def decoder_error(self, trials: TrialBatch) -> np.ndarray | None:
        """Per trial: mean over its (t, i) pairs of (R̂(s_i, a_i, m_t) − r_i)² ``[B]``.

        The reward decoder's error on the trial's exploration and first exploitation episode,
        with the belief means; it is lowest when exploration has revealed the rewards.
        """
        seq = self.sequence(trial_record(trials, self.obs_names))
        m, _ = self.beliefs(seq)
        reward_err, _, pairs = self.decoder_errors(m, seq)
        return ((reward_err * pairs).sum((1, 2)) / pairs.sum((1, 2))).cpu().numpy()
