"""E-RL²: one recurrent double dueling DQN over the whole trial (App. B.3; Stadie et al., 2018).

RL² (Duan et al., 2016) treats a trial as one long episode: a single recurrent policy
π(a_t | s_t, τ_{:t}) acts in the exploration *and* the exploitation episode, and its LSTM state
carries across the boundary, so what it saw while exploring can change how it exploits. Here
it is, as in App. B.3, a dueling double Q-network Q(s_t, τ_{:t}, a) on the experience
embedding e(s_t, a_{t−1}, r_{t−1}, d_{t−1}) → LSTM(64) (the episode-termination flag d is true
at *every* episode end within the trial), and the "E-" of E-RL² (Stadie et al., 2018): the
exploration episode's rewards are observed (as r_{t−1} inputs) but not optimised — they are
0 in the TD target, so only exploitation returns are maximised. The TD target crosses the
exploration → exploitation boundary (not terminal there) and is terminal at the trial's end:

    y_k = r̃_k + γ (1 − term_k) Q'(x_{k+1}, argmax_a Q(x_{k+1}, a)),
    r̃_k = 0 for exploration steps, r_k for exploitation steps,

over the trial's decision steps k = 0..T_e+T_x−1 (a_0..a_{T_e−1}, then a'_0..a'_{T_x−1}).

**The trial sequence** (:func:`trial_sequence`) reads the entries of
:func:`deep.sequences.trial_entries`, which IMPORT and VariBAD read too: one per observation of
the trial, s_0..s_{T_e} of the exploration episode, then s'_0..s'_{T_x} of the exploitation
episode (T_e + T_x + 2 entries), each carrying (a_{t−1}, r_{t−1}, d_{t−1}). The exploration
episode's last observation s_T is an entry where no action is taken: it passes its information
(in the App. C.2 bandit, the revealed μ is *only* there) into the LSTM state, and decision step
T_e − 1 bootstraps from s'_0, one entry further on. The authors' code instead replaces s_T by
s'_0 (which then carries a_{T−1}, r_{T−1}, d = 1); ``docs/baselines.md`` lists every such
choice.

Acting (:meth:`ERL2.start_episode`, :meth:`ERL2.act`) feeds the same entries one at a time:
the LSTM state is reset only before the exploration episode; before an exploitation episode,
the previous episode's last observation is fed with d = 1, each trial continuing from its
state after its own last step (a trial whose episode ended while others played on is still
fed by the batched step, and those inputs are dropped). So the Q-values used to act equal
those the update computes on the stored trial.

Defaults are App. B.4 / Table 1's, with the authors' code's values where the paper is silent
(replay minimum 800 trials).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

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
    to_torch,
)
from deep.sequences import TrialEntries, at_entries, trial_entries
from deep.trial_loop import TrialBatch

__all__ = ["ERL2", "ERL2Config", "ERL2QNetwork", "TrialSequence", "trial_sequence"]


@dataclass(frozen=True)
class ERL2Config(BaselineConfig):
    """E-RL²'s hyperparameters (App. B.4 and Table 1 unless noted).

    The ones every baseline shares are on :class:`deep.method.BaselineConfig`.
    """

    history_dim: int = 64
    """Width of the experience projection and LSTM (App. B.3: 64; the authors' code: 128 on
    MiniWorld)."""
    optimise_exploration_rewards: bool = False
    """False: E-RL² (exploration rewards are inputs only, 0 in the target). True: plain RL²
    (Duan et al., 2016), whose target sums the rewards of the whole trial."""

    positive_ints: ClassVar[tuple[str, ...]] = (*BaselineConfig.positive_ints, "history_dim")


class ERL2QNetwork(nn.Module):
    """Q(s_t, τ_{:t}, ·) = dueling(LSTM(Linear_64([e(s_t); e(a_{t−1}); e(r_{t−1}); e(d_{t−1})]))).

    The experience embedding of App. B.3 with reward and termination embeddings; the dueling
    heads sit directly on the LSTM output (App. B.3 "E-RL²": "two final linear layer heads").
    """

    def __init__(self, observation_space: Any, n_actions: int, history_dim: int = 64) -> None:
        super().__init__()
        self.history = ExperienceEmbedder(
            make_state_embedder(observation_space), n_actions, history_dim
        )
        self.head = DuelingHead(history_dim, n_actions)

    def forward(
        self, inputs: ExperienceInputs, hidden: Hidden | None = None
    ) -> tuple[torch.Tensor, Hidden]:
        """Entries ``[B, P, ...]`` → Q ``[B, P, A]`` and the final LSTM state."""
        h, hidden = self.history(*inputs, hidden)
        return self.head(h), hidden


class TrialSequence(NamedTuple):
    """A batch of stored trials as one sequence each (see the module docstring).

    Entries (LSTM inputs), ``P`` = the batch's largest T_e + T_x + 2, zero-padded:
    """

    obs: dict[str, torch.Tensor]
    """``[B, P, ...]`` s_0..s_{T_e}, s'_0..s'_{T_x}."""
    prev_action: torch.Tensor
    """``[B, P]`` int64 a_{t−1} of each entry (−1: first entry of an episode, or padding)."""
    prev_reward: torch.Tensor
    """``[B, P]`` float32 r_{t−1} as observed (exploration rewards included)."""
    prev_done: torch.Tensor
    """``[B, P]`` bool d: the entry is the last observation of an episode."""
    n_entries: torch.Tensor
    """``[B]`` T_e + T_x + 2."""
    actions: torch.Tensor
    """``[B, S]`` int64 a_0..a_{T_e−1}, a'_0..a'_{T_x−1} (−1 past the end), S = max T_e+T_x."""
    rewards: torch.Tensor
    """``[B, S]`` float32 r̃_k: the reward optimised at decision step k."""
    mask: torch.Tensor
    """``[B, S]`` step k < T_e + T_x."""
    terminal: torch.Tensor
    """``[B, S]`` step k is the trial's last (k = T_e + T_x − 1)."""
    positions: torch.Tensor
    """``[B, S+1]`` entry index of decision step k's state: k + [k >= T_e] (clamped to P−1)."""


def trial_sequence(entries: TrialEntries, optimise_rewards: bool = False) -> TrialSequence:
    """The trials' entries (:func:`deep.sequences.trial_entries`) read per decision step.

    ``optimise_rewards``: the exploration rewards are optimised too (plain RL²).
    """
    te = entries.start - 1
    n_steps = entries.length - 2
    last_entry = int(entries.length.max()) - 1
    k = torch.arange(int(n_steps.max()) + 1, device=te.device).unsqueeze(0)
    positions = (k + (k >= te.unsqueeze(1)).long()).clamp(max=last_entry)
    now = positions[:, :-1]
    mask = entries.acting.gather(1, now)
    actions = torch.where(mask, entries.action.gather(1, now), torch.full_like(now, -1))
    observed = entries.reward.gather(1, now)
    keep = mask if optimise_rewards else mask & entries.exploit.gather(1, now)
    rewards = torch.where(keep, observed, torch.zeros_like(observed))
    return TrialSequence(
        *entries.inputs(),
        entries.length,
        actions,
        rewards,
        mask,
        entries.terminal.gather(1, now),
        positions,
    )


class ERL2(RecurrentBaseline):
    """The E-RL² learner: acting for the trial loop, whole-trial replay, double DQN updates."""

    name = "erl2"
    config: ERL2Config
    network_names = ("q",)
    target_names = ("q",)

    def build_networks(self, observation_space: Any, n_actions: int) -> None:
        """Q(s_t, τ_{:t}, ·) over the whole trial."""
        self.q = ERL2QNetwork(observation_space, n_actions, self.config.history_dim)

    def optimizer_groups(self) -> dict[str, OptimizerGroup]:
        """One optimiser on the Q-network."""
        return {"opt": OptimizerGroup("E-RL²", [*self.q.parameters()])}

    # ---------------------------------------------------------------- acting
    def _entry(
        self, obs: dict[str, np.ndarray], prev_a: np.ndarray, prev_r: np.ndarray, done: bool
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor, torch.Tensor]:
        """One entry per trial as ``[B, 1, ...]`` tensors."""
        x = {k: v.unsqueeze(1) for k, v in to_torch(obs, self.device).items()}
        a = torch.from_numpy(np.asarray(prev_a, dtype=np.int64)).to(self.device).unsqueeze(1)
        r = torch.from_numpy(np.asarray(prev_r, dtype=np.float32)).to(self.device).unsqueeze(1)
        d = torch.full_like(a, int(done))
        return x, a, r, d

    @torch.no_grad()
    def start_episode(self, trials: TrialBatch, episode: int, training: bool) -> None:
        """Reset the LSTM state before exploring, and only then (the state carries on).

        Before a later episode, each trial continues from its state after its own last step
        T−1 (a trial that ended early was still fed while others played on; those inputs are
        dropped) and the episode's last observation s_T is fed with (a_{T−1}, r_{T−1}, d = 1).
        """
        if not self.carry_state(trials, episode):
            return
        action, reward, obs = trials.last_step(episode - 1)
        _, self._hidden = self.q(self._entry(obs, action, reward, True), self._hidden)

    @torch.no_grad()
    def act(
        self, obs: dict[str, np.ndarray], t: int, trials: TrialBatch, episode: int, training: bool
    ) -> np.ndarray:
        """ε-greedy actions (ε = 0 when not training) from Q(s_t, τ_{:t}, ·)."""
        prev_a, prev_r = trials.previous_step(episode, t)
        q, hidden = self.q(self._entry(obs, prev_a, prev_r, False), self._hidden)
        self.keep_state(hidden)
        if not training:  # greedy, and no draw from the training random stream
            return q[:, 0].argmax(-1).cpu().numpy()
        return epsilon_greedy(q[:, 0].cpu(), self.epsilon(episode), self.gen).numpy()

    # ---------------------------------------------------------------- updates
    def sequence(self, batch: dict[str, np.ndarray]) -> TrialSequence:
        """The sampled trials as sequences, with this config's reward reading."""
        entries = trial_entries(batch, self.obs_names, self.device)
        return trial_sequence(entries, self.config.optimise_exploration_rewards)

    def td_loss(self, seq: TrialSequence) -> torch.Tensor:
        """Mean over decision steps of (Q(x_k, a_k) − y_k)², y_k of the module docstring."""
        inputs = (seq.obs, seq.prev_action, seq.prev_reward, seq.prev_done)
        q, _ = self.q(inputs)
        with torch.no_grad():
            q_target, _ = self.targets["q"](inputs)
        now, nxt = seq.positions[:, :-1], seq.positions[:, 1:]
        q_k = at_entries(q, now)
        y = double_q_targets(
            at_entries(q, nxt).detach(),
            at_entries(q_target, nxt),
            seq.rewards,
            seq.terminal,
            self.config.gamma,
        )
        return masked_td_loss(q_k, seq.actions, y, seq.mask)

    def losses(self, batch: dict[str, np.ndarray]) -> UpdateLosses:
        """One double DQN objective on a batch of whole trials."""
        loss = self.td_loss(self.sequence(batch))
        return UpdateLosses({"opt": loss}, {"td": loss.detach()})
