"""DREAM: decoupled exploration and exploitation (Sec. 4.2–4.3, Alg. 1–2, App. A, B.3, B.4).

Four learned components:

* encoder f_ψ(μ) of the problem ID, stochastic as F_ψ(z | μ) = N(f_ψ(μ), ρ²I) (Sec. 4.3);
* exploitation policy Q_task(s, z; θ), a double dueling DQN trained on z from the encoder and
  from the decoder (Alg. 2 lines 16–18) with losses L_task-id and L_task-traj (App. A);
* decoder g_ω(τ^exp_{:t}) for every prefix t of the exploration trajectory, trained with
  L_decoder = E[Σ_t ‖f_ψ(μ) − g_ω(τ^exp_{:t})‖²] (App. A, f held fixed);
* exploration policy Q_exp(s_t, τ^exp_{:t}; φ), a recurrent double dueling DQN rewarded by the
  information gain of Eq. 5, recomputed for every sampled batch with the current f and g:
  with d_t = ‖g_ω(τ^exp_{:t}) − f_ψ(μ)‖², r^exp_t = d_t − d_{t+1} − c, which telescopes to
  Σ_t r^exp_t = d_0 − d_T − cT (Eq. 4). (App. A prints the two distances the other way round;
  the log-ratio of Eq. 5 with Gaussian q_ω is a *decrease* of the distance, which is what is
  implemented.)

The information bottleneck (Eq. 3) is λ·L_bottleneck with three readings
(:attr:`DreamConfig.bottleneck`): ``"hinge"`` (default) λ·max(‖f‖² − K, 0) — App. A's text,
"only minimize the magnitude when it is larger than K", and the authors' code (whose
max(‖f‖², K) has the same gradient); ``"min"`` λ·min(‖f‖², K), the formula as printed, which
shrinks ‖f‖ only while it is *below* K; ``"none"``, no penalty (the Fig. 6 ablation keeps
the encoder noise ρ: :meth:`DreamConfig.no_bottleneck`).

Defaults are App. B.4's; :meth:`DreamConfig.official` gives the authors' code's values where
they differ (c = 0.1, ρ = 0.1, recurrent exploitation policy, the wider head of Q_task). Every
choice the paper leaves open is listed in ``docs/dream.md``.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Literal, NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from deep.dqn import LinearSchedule, double_q_targets, epsilon_greedy, masked_td_loss
from deep.method import MetaRLMethod, MethodConfig, OptimizerGroup, UpdateLosses
from deep.networks import (
    TRAJECTORY_DECODERS,
    DuelingHead,
    ExperienceEmbedder,
    GridStateEmbedder,
    Obs,
    make_state_embedder,
    previous_inputs,
    to_torch,
)
from deep.replay import EpisodeTensors, episode_tensors
from deep.trial_loop import TrialBatch

__all__ = ["Dream", "DreamConfig", "SampledTrials"]

Bottleneck = Literal["hinge", "min", "none"]
TaskHead = Literal["paper", "authors"]
Decoder = Literal["lstm", "pooled"]


@dataclass(frozen=True)
class DreamConfig(MethodConfig):
    """DREAM's hyperparameters (App. B.4 and Table 1 unless noted).

    The ones every method shares are on :class:`deep.method.MethodConfig`.
    """

    explore_epsilon: LinearSchedule = field(default_factory=LinearSchedule)
    """ε of π^exp against its own steps: 1 → 0.01 over 250k (App. B.4)."""
    exploit_epsilon: LinearSchedule = field(default_factory=LinearSchedule)
    """ε of π^task against its own steps: 1 → 0.01 over 250k (App. B.4)."""
    min_explore_replay: int = 8_000
    """Trials stored before π^exp is updated (paper silent; the authors' code: 8000)."""
    min_exploit_replay: int = 500
    """Trials stored before π^task, f and g are updated (authors' code: 500)."""
    exploration_penalty: float = 0.01
    """c of Eq. 5 (App. B.4: 0.01; 0 for MiniWorld; authors' code: 0.1 for the grids)."""
    exploration_gamma: float | None = None
    """γ of π^exp's DDQN targets; None: ``gamma``, as in the paper and the authors' code. The
    information gain telescopes over the fixed-length exploration episode, so γ is all that
    makes an earlier reveal worth more than a later one (an ablation knob, see
    docs/grid_worlds.md on the late reveals)."""
    encoder_std: float = math.sqrt(0.1)
    """ρ: F_ψ(z|μ) = N(f_ψ(μ), ρ²I), App. B.4's ρ² = 0.1 (authors' code: ρ = 0.1)."""
    bottleneck: Bottleneck = "hinge"
    bottleneck_weight: float = 1.0
    """λ of Eq. 3."""
    bottleneck_threshold: float = 10.0
    """K of App. A (its value is not in the paper; the authors' code uses 10)."""
    exploitation_policy: Literal["feedforward", "recurrent"] = "feedforward"
    """π^task(a | s, z) of Sec. 4.3, or the authors' recurrent one (LSTM over its episode)."""
    task_head: TaskHead = "paper"
    """The layers of Q_task between [e(s_t); e(τ_:t); z] and the dueling heads. ``"paper"``
    (App. B.3): Linear(64) + ReLU. ``"authors"`` (the authors' code): Linear(256) + ReLU, then
    Linear(256, 64), as their code lists it (no activation after the 64)."""
    decoder: Decoder = "lstm"
    """g_ω's memory over τ^exp: ``"lstm"`` (App. B.3), or ``"pooled"``, an element-wise
    maximum over the embedded transitions (:class:`deep.networks.PooledTrajectoryDecoder`; not
    the paper's: the code then depends on what exploration saw, not on its order)."""
    z_dim: int = 64
    id_labels: int = 1
    """Problem IDs per problem (App. B.2's robustness test uses 3 on map): each training trial's
    μ is shown to the encoder as one of ``id_labels`` IDs, drawn uniformly per trial."""

    role: ClassVar[str] = "dream"
    positive_ints: ClassVar[tuple[str, ...]] = (*MethodConfig.positive_ints, "id_labels")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.exploration_gamma is not None and not 0.0 <= self.exploration_gamma <= 1.0:
            raise ValueError(
                f"exploration_gamma={self.exploration_gamma!r} is invalid; "
                "allowed: numbers in [0, 1], or None for gamma"
            )
        if self.bottleneck not in ("hinge", "min", "none"):
            raise ValueError(
                f"bottleneck {self.bottleneck!r} is unknown; allowed: hinge, min, none"
            )
        if self.exploitation_policy not in ("feedforward", "recurrent"):
            raise ValueError(
                f"exploitation_policy {self.exploitation_policy!r} is unknown; "
                "allowed: feedforward, recurrent"
            )
        if self.task_head not in ("paper", "authors"):
            raise ValueError(f"task_head {self.task_head!r} is unknown; allowed: paper, authors")
        if self.decoder not in TRAJECTORY_DECODERS:
            raise ValueError(
                f"decoder {self.decoder!r} is unknown; allowed: {', '.join(TRAJECTORY_DECODERS)}"
            )

    @classmethod
    def official(cls, **changes: Any) -> DreamConfig:
        """The authors' code's values where they differ from the paper."""
        base = cls(
            exploration_penalty=0.1,
            encoder_std=0.1,
            exploitation_policy="recurrent",
            task_head="authors",
        )
        return replace(base, **changes)

    @classmethod
    def no_bottleneck(cls, **changes: Any) -> DreamConfig:
        """DREAM (no bottleneck) of Fig. 6: no penalty on ‖f‖; the encoder noise ρ is kept.

        The paper drops "the information bottleneck"; of its two parts (Eq. 4's penalty and
        the noise ρ), dropping the penalty alone is the reading kept here, because without the
        noise f(μ) is free to grow (on map the decoder error then reached 3,300):
        :meth:`no_bottleneck_no_noise` is the other reading.
        """
        return replace(cls(bottleneck="none"), **changes)

    @classmethod
    def no_bottleneck_no_noise(cls, **changes: Any) -> DreamConfig:
        """The other reading of DREAM (no bottleneck): no penalty on ‖f‖ and no encoder noise."""
        return replace(cls(bottleneck="none", encoder_std=0.0), **changes)


class SampledTrials(NamedTuple):
    """A sampled batch of stored trials and what DREAM's losses share, computed once."""

    batch: dict[str, np.ndarray]
    explore: EpisodeTensors
    """The exploration episodes as tensors."""
    f: torch.Tensor
    """f_ψ(μ) ``[B, z]``."""
    g: torch.Tensor
    """g_ω(τ^exp_{:t}) at every prefix t ``[B, T+1, z]``."""


class TaskQNetwork(nn.Module):
    """Q_task(s, z) = dueling(ReLU(Linear_64([e(s); (e(τ_:t));  z])))  (App. B.3).

    ``head="authors"``: dueling(Linear_64(ReLU(Linear_256([e(s); e(τ_:t); z])))), the
    authors' code's wider head.
    """

    def __init__(
        self,
        family_space: Any,
        n_actions: int,
        z_dim: int,
        recurrent: bool,
        head: TaskHead = "paper",
    ) -> None:
        super().__init__()
        self.state = make_state_embedder(family_space)
        self.history = (
            ExperienceEmbedder(
                make_state_embedder(family_space), n_actions, use_reward=False, use_done=False
            )
            if recurrent
            else None
        )
        n_in = self.state.out_dim + z_dim + (self.history.out_dim if recurrent else 0)
        self.fc = nn.Linear(n_in, 256 if head == "authors" else 64)
        self.fc_out = nn.Linear(256, 64) if head == "authors" else None
        self.head = DuelingHead(64, n_actions)

    def forward(
        self, obs: Obs, prev_action: Tensor, z: Tensor, hidden: Any = None
    ) -> tuple[Tensor, Any]:
        """Inputs ``[B, T, ...]``, ``z`` ``[B, z_dim]`` → Q ``[B, T, A]`` and the LSTM state."""
        features, hidden = self.features(obs, prev_action, hidden)
        return self.head_on(features, z.unsqueeze(0))[0], hidden

    def features(
        self, obs: dict[str, torch.Tensor], prev_action: torch.Tensor, hidden: Any = None
    ) -> tuple[torch.Tensor, Any]:
        """The z-independent part [e(s_t); e(τ_:t)] ``[B, T, ·]`` (computed once per batch)."""
        parts = [self.state(obs)]
        if self.history is not None:
            zeros = torch.zeros_like(prev_action, dtype=torch.float32)
            h, hidden = self.history(obs, prev_action, zeros, zeros, hidden)
            parts.append(h)
        return torch.cat(parts, dim=-1) if len(parts) > 1 else parts[0], hidden

    def head_on(self, features: torch.Tensor, zs: torch.Tensor) -> torch.Tensor:
        """Q for K encodings: ``features`` [B, T, ·], ``zs`` [K, B, z] → [K, B, T, A]."""
        k, t = zs.shape[0], features.shape[1]
        x = torch.cat(
            [
                features.unsqueeze(0).expand(k, -1, -1, -1),
                zs.unsqueeze(2).expand(-1, -1, t, -1),
            ],
            dim=-1,
        )
        h = torch.relu(self.fc(x))
        return self.head(h if self.fc_out is None else self.fc_out(h))


class ExploreQNetwork(nn.Module):
    """Q_exp(s_t, τ^exp_{:t}): experience LSTM over (s_t, a_{t−1}, r_{t−1}) → dueling heads."""

    def __init__(self, family_space: Any, n_actions: int) -> None:
        super().__init__()
        self.history = ExperienceEmbedder(
            make_state_embedder(family_space), n_actions, use_done=False
        )
        self.head = DuelingHead(self.history.out_dim, n_actions)

    def forward(
        self, obs: Obs, prev_action: Tensor, prev_reward: Tensor, hidden: Any = None
    ) -> tuple[Tensor, Any]:
        """Inputs ``[B, T, ...]`` → Q ``[B, T, A]`` and the LSTM state."""
        zeros = torch.zeros_like(prev_action)
        h, hidden = self.history(obs, prev_action, prev_reward, zeros, hidden)
        return self.head(h), hidden


class Dream(MetaRLMethod):
    """The DREAM learner: acting for the trial loop, replay, and the App. A updates."""

    name = "dream"
    config: DreamConfig
    network_names = ("explore_q", "task_q", "encoder", "decoder")
    target_names = network_names
    informed_acting = True
    _hidden: Any = None
    """The acting policy's LSTM state (per episode)."""
    _z: torch.Tensor | None = None
    """z of the current exploitation episode ``[B, z_dim]``."""
    _ids: np.ndarray = np.zeros(0, dtype=np.int64)
    """The IDs the current wave's problems are shown to the encoder as (``id_labels > 1``)."""
    _shown_codes: torch.Tensor | None = None
    """Under :meth:`showing_codes`: the code z exploitation gets, per problem μ."""

    def build_networks(self, observation_space: Any, n_actions: int) -> None:
        """Q_exp(φ), Q_task(θ), the encoder f_ψ and the decoder g_ω (App. B.3)."""
        cfg = self.config
        self.explore_q = ExploreQNetwork(observation_space, n_actions)
        self.task_q = TaskQNetwork(
            observation_space,
            n_actions,
            cfg.z_dim,
            cfg.exploitation_policy == "recurrent",
            cfg.task_head,
        )
        self.encoder = GridStateEmbedder([self.family.n_problems * cfg.id_labels - 1], cfg.z_dim)
        self.decoder = TRAJECTORY_DECODERS[cfg.decoder](
            make_state_embedder(observation_space), n_actions, cfg.z_dim
        )

    def optimizer_groups(self) -> dict[str, OptimizerGroup]:
        """π^exp on its own; π^task, f and g on the exploitation objective (Alg. 2)."""
        return {
            "explore": OptimizerGroup("exploration", [*self.explore_q.parameters()]),
            "task": OptimizerGroup(
                "exploitation",
                [
                    *self.task_q.parameters(),
                    *self.encoder.parameters(),
                    *self.decoder.parameters(),
                ],
            ),
        }

    def record_fields(
        self, fields: dict[str, tuple[tuple[int, ...], np.dtype]]
    ) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
        """With ``id_labels > 1``, the ID each stored trial was labelled with."""
        if self.config.id_labels > 1:
            return {**fields, "problem_id": ((), np.dtype(np.int64))}
        return fields

    def extra_record(self, trials: TrialBatch) -> dict[str, np.ndarray]:
        """The wave's ID labels (``id_labels > 1``)."""
        return {"problem_id": self._ids} if self.config.id_labels > 1 else {}

    def ready(self) -> bool:
        """Either replay minimum is met (π^task, f, g at 500 trials; π^exp at 8000)."""
        cfg = self.config
        return len(self.replay) >= min(cfg.min_explore_replay, cfg.min_exploit_replay)

    def losses_autocast(self) -> contextlib.AbstractContextManager[None]:
        """No autocast around the whole loss: only the Q-networks run in bf16 (Eq. 5 in fp32)."""
        return contextlib.nullcontext()

    def epsilon(self, episode: int) -> float:
        """ε of π^exp (episode 0) or π^task, each against its own steps (App. B.4)."""
        if episode == 0:
            return self.config.explore_epsilon.value(self.explore_steps)
        return self.config.exploit_epsilon.value(self.exploit_steps)

    # ---------------------------------------------------------------- acting (Alg. 1)
    def _tensor_obs(self, obs: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
        return {k: v.unsqueeze(1) for k, v in to_torch(obs, self.device).items()}

    @torch.no_grad()
    def encode_trajectory(self, episode: Any) -> torch.Tensor:
        """g_ω(τ^exp) at the full trajectory of each trial of ``episode`` ``[B, z_dim]``."""
        g = self.decoder(
            to_torch(episode.obs, self.device),
            torch.from_numpy(episode.actions).to(self.device),
            torch.from_numpy(episode.rewards).to(self.device),
        )
        idx = torch.from_numpy(episode.length).to(self.device)
        return g[torch.arange(len(idx)), idx]

    @torch.no_grad()
    def informed_task_values(
        self, problems: np.ndarray, episode: Any
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Q_task(s_t, τ_{:t}, z = f(μ)) along recorded exploitation episodes, and e(τ_{:t}).

        ``episode`` holds ``obs`` (fields ``[B, T+1, ...]``), ``actions`` and ``rewards``
        ``[B, T]`` of one exploitation episode per problem in ``problems`` (z without noise).
        Returns Q ``[B, T+1, A]`` (entry t: after a_{:t}) and the history embedding of a
        recurrent π^task ``[B, T+1, H]`` (None: feed-forward), which
        :mod:`analysis.diagnostics.exploitation` probes for the task stage.
        """
        obs = to_torch(episode.obs, self.device)
        actions = torch.from_numpy(np.asarray(episode.actions)).to(self.device)
        rewards = torch.from_numpy(np.asarray(episode.rewards, dtype=np.float32)).to(self.device)
        prev_a, _ = previous_inputs(actions, rewards)
        z = self.encode_problem(np.asarray(problems) * self.config.id_labels, noise=False)
        features, _ = self.task_q.features(obs, prev_a)
        q = self.task_q.head_on(features, z.unsqueeze(0))[0]
        history = None
        if self.task_q.history is not None:
            history = features[..., -self.task_q.history.out_dim :].cpu().numpy()
        return q.float().cpu().numpy(), history

    @contextlib.contextmanager
    def showing(self, shown: np.ndarray) -> Iterator[None]:
        """Greedy exploitation on another problem's code: z = f(shown[μ]) (a code swap).

        ``shown`` maps every problem ID μ to the ID μ' whose encoding π^task gets instead of
        g(τ^exp); the identity is :meth:`informed`. Played on a held-out μ with the code of each
        training μ', it tells whether π^task can solve μ from any code it was trained on, i.e.
        whether a failure there lies in π^task or in where g(τ^exp) lands
        (:mod:`analysis.diagnostics.code_swap`).
        """
        n = self.family.n_problems
        shown = np.asarray(shown, dtype=np.int64)
        if shown.shape != (n,) or not ((shown >= 0) & (shown < n)).all():
            raise ValueError(
                f"shown of shape {shown.shape} is invalid; allowed: shape ({n},), IDs 0..{n - 1}"
            )
        codes = self.encode_problem(shown * self.config.id_labels, noise=False)
        with self.showing_codes(codes.cpu().numpy()):
            yield

    @contextlib.contextmanager
    def showing_codes(self, codes: np.ndarray) -> Iterator[None]:
        """Greedy exploitation on given codes: z = ``codes[μ]`` (``[n_problems, z_dim]``).

        :meth:`showing` with any point of the code space, e.g. a code composed from the
        factors of a held-out μ (:mod:`analysis.diagnostics.composite`).
        """
        n, z_dim = self.family.n_problems, self.config.z_dim
        codes = np.asarray(codes, dtype=np.float32)
        if codes.shape != (n, z_dim) or not np.isfinite(codes).all():
            raise ValueError(
                f"codes of shape {codes.shape} are invalid; allowed: finite, shape ({n}, {z_dim})"
            )
        with self.informed():
            self._shown_codes = torch.from_numpy(codes).to(self.device)
            try:
                yield
            finally:
                self._shown_codes = None

    @torch.no_grad()
    def encode_problem(self, ids: np.ndarray, noise: bool) -> torch.Tensor:
        """Z = f_ψ(μ) (+ ρ·N(0, I) when ``noise``) of problem IDs ``[B]`` → ``[B, z_dim]``."""
        f = self.encoder(torch.from_numpy(ids).to(self.device).unsqueeze(-1))
        if noise and self.config.encoder_std > 0:
            eps = torch.randn(f.shape, generator=self.gen).to(self.device)
            f = f + self.config.encoder_std * eps
        return f

    def start_episode(self, trials: TrialBatch, episode: int, training: bool) -> None:
        """Reset the recurrent state; before exploiting, pick z (Alg. 2 line 10)."""
        self._hidden = None
        k = self.config.id_labels
        if episode == 0:
            if training and k > 1:  # label each trial's μ with one of its k IDs
                self._ids = trials.problems * k + self.rng.integers(k, size=len(trials))
            return
        if self._informed and not training:  # π^task told μ: z = f(μ) (the first ID label)
            if self._shown_codes is not None:  # or the codes it is shown instead
                rows = torch.from_numpy(np.asarray(trials.problems)).to(self.device)
                self._z = self._shown_codes[rows]
            else:
                self._z = self.encode_problem(trials.problems * k, noise=False)
            return
        z = self.encode_trajectory(trials.episodes[0])
        if training:  # even trials: z ~ N(f(μ), ρ²I); odd trials: z = g(τ^exp)
            from_id = torch.from_numpy(trials.trial_ids % 2 == 0).to(self.device)
            z_id = self.encode_problem(self._ids if k > 1 else trials.problems, noise=True)
            z = torch.where(from_id.unsqueeze(-1), z_id, z)
        self._z = z

    @torch.no_grad()
    def act(
        self, obs: dict[str, np.ndarray], t: int, trials: TrialBatch, episode: int, training: bool
    ) -> np.ndarray:
        """ε-greedy actions of π^exp (episode 0) or π^task (later episodes); ε = 0 in tests."""
        a, r = trials.previous_step(episode, t)
        prev_a = torch.from_numpy(a).to(self.device).unsqueeze(1)
        prev_r = torch.from_numpy(r).to(self.device).unsqueeze(1)
        x = self._tensor_obs(obs)
        if episode == 0:
            q, self._hidden = self.explore_q(x, prev_a, prev_r, self._hidden)
        else:
            q, self._hidden = self.task_q(x, prev_a, self._z, self._hidden)
        if not training:  # greedy, and no draw from the training random stream
            return q[:, 0].argmax(-1).cpu().numpy()
        return epsilon_greedy(q[:, 0].cpu(), self.epsilon(episode), self.gen).numpy()

    # ---------------------------------------------------------------- updates (App. A)
    def sample_inputs(self, batch: dict[str, np.ndarray], grad: bool = True) -> SampledTrials:
        """The batch with its exploration episodes as tensors, f_ψ(μ) and g_ω(τ^exp_{:t})."""
        explore = self._episode(batch, "explore")
        with torch.set_grad_enabled(grad):
            f = self.encoder(self._encoder_ids(batch))
            g = self.decoder(*explore[:3])
        return SampledTrials(batch, explore, f, g)

    def _encoder_ids(self, batch: dict[str, np.ndarray]) -> torch.Tensor:
        """The encoder's input ``[B, 1]``: μ, or the ID the trial was labelled with."""
        ids = batch["problem_id"] if self.config.id_labels > 1 else batch["problem"]
        return torch.from_numpy(ids).to(self.device).unsqueeze(-1)

    def _episode(self, batch: dict[str, np.ndarray], prefix: str) -> EpisodeTensors:
        """Tensors of one episode kind of a sampled batch, cut to its longest episode."""
        return episode_tensors(batch, prefix, self.obs_names, self.device)

    def exploration_rewards(
        self, f: torch.Tensor, g: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """r^exp_t = d_t − d_{t+1} − c, d_t = ‖g(τ_{:t}) − f(μ)‖² (Eq. 5), and d ``[B, T+1]``.

        ``f`` ``[B, z]`` and ``g`` ``[B, T+1, z]`` are used without gradient.
        """
        d = ((g.detach() - f.detach().unsqueeze(1)) ** 2).sum(-1)
        return d[:, :-1] - d[:, 1:] - self.config.exploration_penalty, d

    def relabel_exploration(self, sampled: SampledTrials) -> torch.Tensor:
        """r^exp ``[B, T]`` of a sampled batch: Eq. 5's information gain.

        The objective ablations of ``deep.dream_ablations`` reward exploration otherwise.
        """
        return self.exploration_rewards(sampled.f, sampled.g)[0]

    def _explore_loss(self, sampled: SampledTrials) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """L_exp(φ): DDQN on the relabelled information-gain rewards (Alg. 2 lines 13–15)."""
        obs, actions, env_rewards, _, mask, dones = sampled.explore
        r_exp = self.relabel_exploration(sampled)
        prev_a, prev_r = previous_inputs(actions, env_rewards)
        with self.autocast():  # Q-networks only: r^exp above stays in fp32
            q, _ = self.explore_q(obs, prev_a, prev_r)
            with torch.no_grad():
                q_next_target, _ = self.targets["explore_q"](obs, prev_a, prev_r)
        q, q_next_target = q.float(), q_next_target.float()
        gamma = self.config.exploration_gamma
        y = double_q_targets(
            q[:, 1:].detach(), q_next_target[:, 1:], r_exp, dones,
            self.config.gamma if gamma is None else gamma,
        )  # fmt: skip
        loss = masked_td_loss(q[:, :-1], actions, y, mask)
        reward_sum = (r_exp * mask).sum(1).mean()
        return loss, {"explore_td": loss.detach(), "explore_reward": reward_sum}

    def bottleneck_loss(self, f: torch.Tensor) -> torch.Tensor:
        """λ·L_bottleneck(ψ) for encodings f ``[B, z_dim]`` (reading: ``config.bottleneck``)."""
        cfg = self.config
        sq = (f**2).sum(-1)
        if cfg.bottleneck == "hinge":
            per = torch.relu(sq - cfg.bottleneck_threshold)
        elif cfg.bottleneck == "min":
            per = torch.clamp(sq, max=cfg.bottleneck_threshold)
        else:
            per = torch.zeros_like(sq)
        return cfg.bottleneck_weight * per.mean()

    def task_loss_terms(self, sampled: SampledTrials) -> dict[str, torch.Tensor]:
        """App. A's exploitation terms, with their graphs (Alg. 2 lines 16–20).

        ``task_id`` L_task-id (z = f(μ) + ρε), ``task_traj`` L_task-traj (z = g(τ^exp)),
        ``bottleneck`` λ L_bottleneck and ``decoder`` L_decoder: one optimiser steps on their sum.
        """
        cfg, dev = self.config, self.device
        batch, f, g = sampled.batch, sampled.f, sampled.g
        problems = self._encoder_ids(batch)
        e_obs, e_actions, e_rewards, e_length, _, _ = sampled.explore
        obs, actions, rewards, _, mask, dones = self._episode(batch, "exploit")
        rows = torch.arange(len(e_length), device=dev)
        # z ~ N(f(μ), ρ²I); the target net gets f_ψ'(μ) with the same noise draw.
        noise = cfg.encoder_std * torch.randn(f.shape, generator=self.gen).to(dev)
        with torch.no_grad():
            z_id_target = self.targets["encoder"](problems) + noise
            g_target = self.targets["decoder"](e_obs, e_actions, e_rewards)
        prev_a, _ = previous_inputs(actions, rewards)
        # Both encodings through one pass: index 0 is L_task-id's z, index 1 L_task-traj's.
        zs = torch.stack([f + noise, g[rows, e_length]])
        with self.autocast():  # Q-networks only: f, g and L_decoder stay in fp32
            features, _ = self.task_q.features(obs, prev_a)
            q_both = self.task_q.head_on(features, zs).float()
            with torch.no_grad():
                target_net = self.targets["task_q"]
                zs_target = torch.stack([z_id_target, g_target[rows, e_length]])
                features_target = target_net.features(obs, prev_a)[0]
                q_target_both = target_net.head_on(features_target, zs_target).float()
        losses = {}
        for k, name in enumerate(("task_id", "task_traj")):
            q, q_target = q_both[k], q_target_both[k]
            y = double_q_targets(q[:, 1:].detach(), q_target[:, 1:], rewards, dones, cfg.gamma)
            losses[name] = masked_td_loss(q[:, :-1], actions, y, mask)
        losses["bottleneck"] = self.bottleneck_loss(f)
        losses["decoder"] = self.decoder_loss(f, g, e_length)
        return losses

    def _task_loss(
        self, sampled: SampledTrials
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """L_task-id + L_task-traj + λ L_bottleneck + L_decoder (App. A; Alg. 2 lines 16–20).

        Returns the objective of each optimiser it feeds (``task``) and the loss terms.
        """
        losses = self.task_loss_terms(sampled)
        total = sum(losses.values())
        stats = {k: v.detach() for k, v in losses.items()}
        stats["f_norm_sq"] = (sampled.f.detach() ** 2).sum(-1).mean()
        return {"task": total}, stats  # type: ignore[dict-item]

    def decoder_loss(self, f: torch.Tensor, g: torch.Tensor, length: torch.Tensor) -> torch.Tensor:
        """L_decoder(ω) = Σ_{t ≤ T} ‖f(μ) − g(τ_{:t})‖², f fixed, mean over the batch (App. A)."""
        prefix_mask = torch.arange(g.shape[1], device=g.device).unsqueeze(0) <= length.unsqueeze(1)
        dist = ((g - f.detach().unsqueeze(1)) ** 2).sum(-1)
        return (dist * prefix_mask).sum(1).mean()

    def losses(self, batch: dict[str, np.ndarray]) -> UpdateLosses:
        """The objectives of every component whose replay minimum is met (App. A, B.4).

        One batch of stored trials feeds both policies' losses (each trial holds the
        exploration and the exploitation episode), so f(μ) and g(τ^exp) are computed once;
        the exploration rewards use them without gradient.
        """
        cfg = self.config
        explore_ready = len(self.replay) >= cfg.min_explore_replay
        task_ready = len(self.replay) >= cfg.min_exploit_replay
        sampled = self.sample_inputs(batch, grad=task_ready)
        out = UpdateLosses({}, {})
        if explore_ready:
            loss, stats = self._explore_loss(sampled)
            out.objectives["explore"] = loss
            out.stats.update(stats)
        if task_ready:
            objectives, stats = self._task_loss(sampled)
            out.objectives.update(objectives)
            out.stats.update(stats)
        return out

    # ---------------------------------------------------------------- diagnostics
    @torch.no_grad()
    def decoder_error(self, trials: TrialBatch) -> np.ndarray | None:
        """‖g(τ^exp) − f(μ)‖² per trial (0 when exploration recovered what f encodes)."""
        g = self.encode_trajectory(trials.episodes[0])
        f = self.encode_problem(trials.problems * self.config.id_labels, noise=False)
        return ((g - f) ** 2).sum(-1).cpu().numpy()
