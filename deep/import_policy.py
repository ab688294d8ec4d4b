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

import copy
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal, NamedTuple

import numpy as np
import torch
from torch import nn

from deep.dqn import (
    LinearSchedule,
    StepSchedule,
    double_q_targets,
    epsilon_greedy,
    masked_td_loss,
    optimizer_step,
)
from deep.envs.problem import MetaProblemFamily
from deep.networks import (
    DuelingHead,
    ExperienceEmbedder,
    GridStateEmbedder,
    make_state_embedder,
    observation_fields,
    to_torch,
)
from deep.replay import EpisodeReplay, trial_record, trial_record_fields
from deep.trial_loop import TrialBatch, horizon_of

__all__ = ["Import", "ImportConfig", "ImportQNetwork", "TrialSequence", "trial_sequence"]

UpdateSource = Literal["played", "both"]
ZSource = Literal["history", "id"]


@dataclass(frozen=True)
class ImportConfig:
    """IMPORT's hyperparameters (Table 1 and App. B.4 unless noted)."""

    gamma: float = 0.99
    lr: float = 1e-4
    batch_size: int = 32
    """Trials per sampled batch (one batch per update)."""
    update_every: int = 4
    """Env steps (exploration + exploitation) per update."""
    target_sync_every: int = 5000
    """Env steps between hard target-network syncs (one update() call per env step)."""
    grad_clip: float = 10.0
    epsilon: LinearSchedule = field(default_factory=lambda: LinearSchedule(1.0, 0.01, 500_000))
    """ε against all env steps: 1 → 0.01 over 500k for the baselines (App. B.4)."""
    replay_capacity: int = 16_000
    """Trials kept (App. B.4: 16000 sequences; 10000 on the sign task, see :meth:`for_env`)."""
    min_replay: int = 800
    """Trials stored before updates start (paper silent; the authors' baselines: 800)."""
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

    def __post_init__(self) -> None:
        if self.update_source not in ("played", "both"):
            raise ValueError(
                f"update_source {self.update_source!r} is unknown; allowed: played, both"
            )
        for name in (
            "batch_size",
            "update_every",
            "target_sync_every",
            "replay_capacity",
            "min_replay",
            "z_dim",
        ):
            value = getattr(self, name)
            if not (isinstance(value, int) and value >= 1):
                raise ValueError(f"{name}={value!r} is invalid; allowed: integers >= 1")
        if not self.aux_weight >= 0.0:
            raise ValueError(f"aux_weight={self.aux_weight!r} is invalid; allowed: floats >= 0")

    def for_env(self, env_name: str) -> ImportConfig:
        """App. B.4's per-benchmark change: a 10000-trial replay on the MiniWorld sign task."""
        return replace(self, replay_capacity=10_000) if env_name == "sign" else self

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (for result files)."""
        return asdict(self)


# ---------------------------------------------------------------------------- trial sequences
class TrialSequence(NamedTuple):
    """A batch of stored trials laid out as one sequence each (positions k = 0..N).

    Position k holds an experience (s_k, a_{k−1}, r_{k−1}, d_{k−1}) for the history LSTM; the
    *action positions* (``mask``) are those where the policy acted. With ``terminal_obs`` the
    exploration episode's final state sits at position L_e (not an action position) and the
    exploitation episode starts at ``start`` = L_e + 1, else at L_e.
    """

    obs: dict[str, torch.Tensor]
    """``[B, N+1, ...]`` s_k."""
    prev_actions: torch.Tensor
    """``[B, N+1]`` a_{k−1} (−1: none)."""
    prev_rewards: torch.Tensor
    """``[B, N+1]`` r_{k−1} as observed (exploration rewards included)."""
    prev_dones: torch.Tensor
    """``[B, N+1]`` d_{k−1}: an episode ended on the previous experience."""
    actions: torch.Tensor
    """``[B, N]`` a_k at action positions (−1 elsewhere)."""
    rewards: torch.Tensor
    """``[B, N]`` rewards optimised: exploitation rewards; 0 in exploration and elsewhere."""
    next_index: torch.Tensor
    """``[B, N]`` the position whose Q bootstraps position k (k + 1, or ``start`` after L_e)."""
    mask: torch.Tensor
    """``[B, N]`` k is an action position."""
    dones: torch.Tensor
    """``[B, N]`` k is the trial's last action (terminal: no bootstrap)."""
    start: torch.Tensor
    """``[B]`` position of the exploitation episode's first state."""


def _shifted(values: np.ndarray, fill: float) -> np.ndarray:
    """``[B, T]`` → ``[B, T+1]``: entry j is values[j−1], entry 0 is ``fill``."""
    first = np.full_like(values[:, :1], fill)
    return np.concatenate([first, values], axis=1)


def trial_sequence(
    batch: Mapping[str, np.ndarray],
    obs_names: list[str],
    terminal_obs: bool,
    device: torch.device | str = "cpu",
) -> TrialSequence:
    """Concatenate each stored trial's exploration and exploitation episode (see TrialSequence).

    ``batch`` has the fields of :func:`deep.replay.trial_record_fields` (episodes padded to the
    horizon H). With L_e, L_x the episode lengths, E = L_e + ``terminal_obs`` and the trial's last
    observation at position E + L_x: position k < E reads exploration step k, k >= E reads
    exploitation step k − E.
    """
    le = batch["explore_length"].astype(np.int64)
    lx = batch["exploit_length"].astype(np.int64)
    if (le < 1).any() or (lx < 1).any():
        raise ValueError("every stored episode must have at least one step")
    b, horizon = len(le), batch["explore_actions"].shape[1]
    rows = np.arange(b)[:, None]
    start = le + int(terminal_obs)
    last = start + lx
    n = int(last.max())
    k = np.arange(n + 1)[None, :]
    in_explore = k < start[:, None]
    j = np.clip(np.where(in_explore, k, k - start[:, None]), 0, horizon)
    src = np.where(in_explore, j, horizon + 1 + j)  # into [explore (H+1) | exploit (H+1)]
    pairs = {
        name: (batch[f"explore_obs_{name}"], batch[f"exploit_obs_{name}"]) for name in obs_names
    }
    obs = {name: np.concatenate(pair, axis=1)[rows, src] for name, pair in pairs.items()}
    ea, xa = batch["explore_actions"], batch["exploit_actions"]
    er, xr = batch["explore_rewards"], batch["exploit_rewards"]
    prev_a = np.concatenate([_shifted(ea, -1), _shifted(xa, -1)], axis=1)[rows, src]
    prev_r = np.concatenate([_shifted(er, 0.0), _shifted(xr, 0.0)], axis=1)[rows, src]
    if not terminal_obs:  # the reset state carries the last exploration experience
        prev_a[rows[:, 0], start] = ea[rows[:, 0], le - 1]
        prev_r[rows[:, 0], start] = er[rows[:, 0], le - 1]
    prev_d = (k == le[:, None]) | (k == last[:, None])
    ka, ja = k[:, :n], np.minimum(j[:, :n], horizon - 1)  # action positions 0..N−1
    explore_step = ka < le[:, None]
    exploit_step = (ka >= start[:, None]) & (ka < last[:, None])
    mask = explore_step | exploit_step
    act_src = np.where(in_explore[:, :n], ja, horizon + ja)  # into [explore (H) | exploit (H)]
    actions = np.where(mask, np.concatenate([ea, xa], axis=1)[rows, act_src], -1)
    rewards = np.where(exploit_step, xr[rows, ja], 0.0)  # exploration rewards optimised as 0
    next_index = np.where(ka == (le - 1)[:, None], start[:, None], ka + 1)
    dones = ka == (last - 1)[:, None]

    def t(x: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(x)).to(device, dtype)

    return TrialSequence(
        obs=to_torch(obs, device),
        prev_actions=t(prev_a, torch.int64),
        prev_rewards=t(prev_r, torch.float32),
        prev_dones=t(prev_d, torch.int64),
        actions=t(actions, torch.int64),
        rewards=t(rewards, torch.float32),
        next_index=t(next_index, torch.int64),
        mask=t(mask, torch.bool),
        dones=t(dones, torch.bool),
        start=t(start, torch.int64),
    )


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
        self, seq: TrialSequence, problems: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Q with z = e_φ(μ) and with z = e_θ(τ_{:k}) at every position ``[B, N+1, A]``.

        Also returns e_φ(μ) ``[B, z]`` and e_θ(τ_{:k}) ``[B, N+1, z]`` (for L_IMPORT).
        """
        feats = self.state(seq.obs)
        z_id = self.embed_problem(problems)
        z_hist, _ = self.embed_history(seq.obs, seq.prev_actions, seq.prev_rewards, seq.prev_dones)
        q_id = self.q_values(feats, z_id.unsqueeze(1).expand(-1, feats.shape[1], -1))
        q_hist = self.q_values(feats, z_hist)
        return q_id, q_hist, z_id, z_hist


def _at(q: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``q`` ``[B, N+1, A]`` at positions ``index`` ``[B, N]`` → ``[B, N, A]``."""
    return q.gather(1, index.unsqueeze(-1).expand(-1, -1, q.shape[-1]))


def _hidden_at(steps: list[Any], last: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Row b's LSTM state right after its step ``last[b]`` (``steps[t]``: the state after t)."""
    idx = torch.from_numpy(last)

    def pick(part: int) -> torch.Tensor:
        stacked = torch.stack([s[part][0] for s in steps])  # [T, B, z]
        rows = torch.arange(stacked.shape[1], device=stacked.device)
        return stacked[idx.to(stacked.device), rows].unsqueeze(0)  # [1, B, z]

    return pick(0), pick(1)


# ---------------------------------------------------------------------------- the method
class Import:
    """IMPORT on the shared trial loop: acting, trial replay and the App. B.3 updates."""

    name = "import"

    def __init__(
        self,
        family: MetaProblemFamily,
        observation_space: Any,
        n_actions: int,
        config: ImportConfig,
        seed: int,
        device: str = "cpu",
    ) -> None:
        self.family, self.config, self.device = family, config, torch.device(device)
        self.n_actions = n_actions
        self.horizon = horizon_of(family)
        with torch.random.fork_rng(devices=[]):  # seeded init, global RNG left untouched
            torch.manual_seed(seed)
            self.q_net = ImportQNetwork(
                observation_space, n_actions, family.n_problems, config.z_dim
            ).to(self.device)
        self.target_net = copy.deepcopy(self.q_net).requires_grad_(False)
        self.opt = torch.optim.Adam(self.q_net.parameters(), lr=config.lr)
        fields = observation_fields(observation_space)
        self.obs_names = list(fields)
        record = trial_record_fields(fields, self.horizon)
        record["trial_id"] = ((), np.dtype(np.int64))
        self.replay = EpisodeReplay(config.replay_capacity, record)
        self.rng = np.random.default_rng([seed, 7])
        self.gen = torch.Generator().manual_seed(seed)
        self.updates = 0
        self.schedule = StepSchedule(config.update_every, config.target_sync_every)
        self.last_stats: dict[str, float] = {}
        self.test_source: ZSource = "history"
        """z at test time: the paper's e_θ(τ_{:t}); ``"id"`` evaluates the informed policy."""
        self.last_q: torch.Tensor | None = None
        """Q-values ``[B, A]`` of the last :meth:`act` call (diagnostics and tests)."""
        self._hidden: Any = None
        self._hidden_steps: list[Any] = []
        self._from_id = torch.zeros(0, dtype=torch.bool)
        self._z_id: torch.Tensor | None = None

    # ---------------------------------------------------------------- acting
    def _obs_step(self, obs: Mapping[str, np.ndarray]) -> dict[str, torch.Tensor]:
        return {k: v.unsqueeze(1) for k, v in to_torch(dict(obs), self.device).items()}

    def z_sources(self, trials: TrialBatch, training: bool) -> np.ndarray:
        """Per trial: act with z = e_φ(μ) (True) or e_θ(τ_{:t}) (False).

        Training alternates by trial parity (even ids use the ID); test uses the history.
        """
        if training:
            return trials.trial_ids % 2 == 0
        return np.full(len(trials), self.test_source == "id")

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

    @property
    def env_steps(self) -> int:
        """Training env steps taken (exploration and exploitation)."""
        return self.schedule.env_steps

    def start_episode(self, trials: TrialBatch, episode: int, training: bool) -> None:
        """Trial start: zero LSTM state, pick each trial's z source, compute e_φ(μ).

        Later episodes continue each row's LSTM state from its previous episode's last step
        (:meth:`act` steps every row, also those whose episode already ended and that wait for
        the others: their extra states are dropped here); with ``terminal_obs`` the previous
        episode's final experience (s_L, a_{L−1}, r_{L−1}, d = 1) is fed to it first.
        """
        b = len(trials)
        steps, self._hidden_steps = self._hidden_steps, []
        if episode == 0:
            self._hidden = None
            self._from_id = torch.from_numpy(self.z_sources(trials, training)).to(self.device)
            with torch.no_grad():
                problems = torch.from_numpy(trials.problems).to(self.device)
                self._z_id = self.q_net.embed_problem(problems)
            return
        prev = trials.episodes[episode - 1]
        rows, last = np.arange(b), prev.length - 1
        self._hidden = _hidden_at(steps, last)
        if self.config.terminal_obs:
            obs = {k: v[rows, prev.length] for k, v in prev.obs.items()}
            self._advance_history(
                self._obs_step(obs),
                prev.actions[rows, last],
                prev.rewards[rows, last],
                np.ones(b, dtype=np.int64),
            )

    def _previous_inputs(
        self, trials: TrialBatch, episode: int, t: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(a_{t−1}, r_{t−1}, d_{t−1}) per row for step t of ``episode``."""
        b = len(trials)
        prev_a = np.full(b, -1, dtype=np.int64)
        prev_r = np.zeros(b, dtype=np.float32)
        prev_d = np.zeros(b, dtype=np.int64)
        ep = trials.episodes[episode]
        if t > 0:
            prev_a[:] = ep.actions[:, t - 1]
            prev_r[:] = ep.rewards[:, t - 1]
        elif episode > 0 and not self.config.terminal_obs:
            prev = trials.episodes[episode - 1]
            rows, last = np.arange(b), prev.length - 1
            prev_a[:], prev_r[:], prev_d[:] = prev.actions[rows, last], prev.rewards[rows, last], 1
        return prev_a, prev_r, prev_d

    @torch.no_grad()
    def act(
        self, obs: dict[str, np.ndarray], t: int, trials: TrialBatch, episode: int, training: bool
    ) -> np.ndarray:
        """ε-greedy (training) or greedy (test) actions of Q̂(s_t, z, ·) over the whole trial."""
        x = self._obs_step(obs)
        z_hist = self._advance_history(x, *self._previous_inputs(trials, episode, t))
        self._hidden_steps.append(self._hidden)
        assert self._z_id is not None, "start_episode(episode=0) must come first"
        z = torch.where(self._from_id.unsqueeze(-1), self._z_id, z_hist)
        q = self.q_net.q_values(self.q_net.state(x)[:, 0], z)
        self.last_q = q
        if not training:  # greedy, and no draw from the training random stream
            return q.argmax(-1).cpu().numpy()
        return epsilon_greedy(q.cpu(), self.config.epsilon.value(self.env_steps), self.gen).numpy()

    def after_env_steps(self, n_steps: int, episode: int) -> None:
        """Count steps; update every ``update_every`` and sync the target on schedule."""
        self.schedule.advance(n_steps, self.update, self.sync_targets)

    def end_trials(self, trials: TrialBatch) -> None:
        """Store each trial's exploration and first exploitation episode, and its id."""
        record = trial_record(trials, self.obs_names)
        record["trial_id"] = trials.trial_ids
        self.replay.add(record)

    def sync_targets(self) -> None:
        """Hard copy of every weight into the target network."""
        self.target_net.load_state_dict(self.q_net.state_dict())

    # ---------------------------------------------------------------- updates
    def sequences(self, batch: Mapping[str, np.ndarray]) -> TrialSequence:
        """The sampled trials as sequences (see :func:`trial_sequence`)."""
        return trial_sequence(batch, self.obs_names, self.config.terminal_obs, self.device)

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

    def _td_loss(self, q: torch.Tensor, q_target: torch.Tensor, seq: TrialSequence) -> torch.Tensor:
        """Double DQN over the trial sequence: y_k = r_k + γ(1 − done_k) Q'(s_{next(k)}, ·)."""
        nxt = seq.next_index
        y = double_q_targets(
            _at(q.detach(), nxt), _at(q_target, nxt), seq.rewards, seq.dones, self.config.gamma
        )
        return masked_td_loss(q[:, : nxt.shape[1]], seq.actions, y, seq.mask)

    def losses(self, batch: Mapping[str, np.ndarray]) -> dict[str, torch.Tensor]:
        """TD loss(es) (see ``update_source``) and L_IMPORT for a sampled batch of trials."""
        cfg = self.config
        seq = self.sequences(batch)
        problems = torch.from_numpy(batch["problem"]).to(self.device)
        q_id, q_hist, z_id, z_hist = self.q_net.sequence_q(seq, problems)
        with torch.no_grad():
            t_id, t_hist, _, _ = self.target_net.sequence_q(seq, problems)
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
        out["aux"] = self.aux_loss(z_id, z_hist, seq.mask)
        return out

    def _step(self, loss: torch.Tensor) -> float:
        """Backward, clip the gradient norm, step; a non-finite loss stops the run."""
        return optimizer_step(self.opt, loss, self.config.grad_clip, "IMPORT", self.updates)

    def update(self) -> dict[str, float]:
        """One gradient step on L_TD + L_IMPORT once ``min_replay`` trials are stored."""
        cfg = self.config
        if len(self.replay) < cfg.min_replay:
            return {}
        batch = self.replay.sample(cfg.batch_size, self.rng)
        losses = self.losses(batch)
        total = sum(losses.values())
        stats = {k: v.item() for k, v in losses.items()}
        stats["grad_norm"] = self._step(total)  # type: ignore[arg-type]
        self.updates += 1
        self.last_stats = stats
        return stats

    # ---------------------------------------------------------------- diagnostics
    def epsilons(self) -> dict[str, float]:
        """Current ε (one schedule over all env steps)."""
        return {"epsilon": self.config.epsilon.value(self.env_steps)}

    # ---------------------------------------------------------------- checkpointing
    def state_dict(self) -> dict[str, Any]:
        """Weights, target, optimiser, replay, counters and RNG states (a snapshot: copies).

        ``nn.Module.state_dict`` and ``Optimizer.state_dict`` return the live tensors, which
        later steps change in place; copying makes the result a checkpoint even in memory.
        """
        return {
            "nets": {"q_net": copy.deepcopy(self.q_net.state_dict())},
            "targets": {"q_net": copy.deepcopy(self.target_net.state_dict())},
            "opt": copy.deepcopy(self.opt.state_dict()),
            "replay": self.replay.state_dict(),
            "rng": self.rng.bit_generator.state,
            "gen": self.gen.get_state(),
            "counters": {
                "updates": self.updates,
                **self.schedule.state_dict(),
            },
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore everything saved by :meth:`state_dict`."""
        self.q_net.load_state_dict(state["nets"]["q_net"])
        self.target_net.load_state_dict(state["targets"]["q_net"])
        self.opt.load_state_dict(copy.deepcopy(state["opt"]))  # loads keep the given tensors
        self.replay.load_state_dict(state["replay"])
        self.rng.bit_generator.state = state["rng"]
        self.gen.set_state(state["gen"])
        c = state["counters"]
        self.updates = c["updates"]
        self.schedule.load_state_dict(c)
