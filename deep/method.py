"""What every meta-RL method shares: config, seeding, schedules, updates and checkpoints.

A method (DREAM, its ablations, E-RL², IMPORT, VariBAD) subclasses :class:`MetaRLMethod` and
keeps only what is its own: its networks (:meth:`MetaRLMethod.build_networks`), which
parameters each optimiser steps (:meth:`MetaRLMethod.optimizer_groups`), its acting
(``start_episode`` / ``act``) and its losses (:meth:`MetaRLMethod.losses`). The base owns the
lifecycle, the same for all (App. B.4, Table 1):

* **Seeding.** Network initialisation draws from ``torch.manual_seed(seed)`` inside
  ``torch.random.fork_rng`` (the global torch RNG is left as it was); every later draw comes
  from the method's own generators: ``self.gen`` (torch: ε-greedy, encoder noise) and
  ``self.rng`` (numpy: replay sampling). Both are checkpointed.
* **Schedules.** One update every ``update_every`` env steps and a hard target sync every
  ``target_sync_every`` env steps, counted over exploration and exploitation steps
  (:class:`deep.dqn.StepSchedule`); ε columns ``epsilon_explore`` / ``epsilon_exploit`` for
  every method (one-policy methods report the same ε in both).
* **The update template** (:meth:`MetaRLMethod.update`): sample a batch of stored trials →
  the method's losses (one objective per optimiser, plus statistics) → for each optimiser:
  backward, clip the gradient norm at ``grad_clip``. Then ONE host transfer carries every
  statistic, objective and gradient norm; a non-finite objective stops the run before any
  optimiser steps (the last checkpoint stays usable); otherwise every optimiser steps.
* **Checkpoints** (:meth:`MetaRLMethod.state_dict`): weights, targets, optimisers (copies, so
  a state dict is a snapshot even in memory), replay, both generators and every counter.
"""

from __future__ import annotations

import abc
import contextlib
import copy
import dataclasses
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, NamedTuple

import numpy as np
import torch
from torch import nn

from deep.dqn import LinearSchedule, StepSchedule
from deep.envs.problem import MetaProblemFamily
from deep.networks import Hidden, observation_fields, state_after_last_step
from deep.replay import EpisodeReplay, trial_record, trial_record_fields
from deep.trial_loop import TrialBatch

__all__ = [
    "BaselineConfig",
    "BaselineMethod",
    "MetaRLMethod",
    "MethodConfig",
    "OptimizerGroup",
    "RecurrentBaseline",
    "UpdateLosses",
]


@dataclass(frozen=True)
class MethodConfig:
    """The hyperparameters every method has (App. B.4 and Table 1)."""

    gamma: float = 0.99
    lr: float = 1e-4
    batch_size: int = 32
    """Trials per sampled batch (one batch per update)."""
    update_every: int = 4
    """Env steps (exploration + exploitation) per update."""
    target_sync_every: int = 5000
    """Env steps between hard target-network syncs (Table 1's "5000 updates", read as the
    authors' code does: one update() call per env step)."""
    grad_clip: float = 10.0
    """Gradient-norm clip of every optimiser step."""
    replay_capacity: int = 16_000
    """Trials kept (each: its exploration and first exploitation episode; App. B.4)."""
    autocast_bf16: bool = False
    """Run the networks of an update under bf16 autocast on the CPU (matmuls in bf16, the
    distances of Eq. 5 and the decoder loss in fp32). Off by default: see
    ``benchmarks/bench_train.py`` for what it buys."""

    role: ClassVar[str] = "baseline"
    """Which of a benchmark's ``method_config_changes`` apply: "dream" or "baseline"."""
    positive_ints: ClassVar[tuple[str, ...]] = (
        "batch_size",
        "update_every",
        "target_sync_every",
        "replay_capacity",
    )
    """Fields that must be integers >= 1 (subclasses extend the tuple)."""

    def __post_init__(self) -> None:
        for name in self.positive_ints:
            value = getattr(self, name)
            if not (isinstance(value, int) and value >= 1):
                raise ValueError(f"{name}={value!r} is invalid; allowed: integers >= 1")
        if not 0.0 <= self.gamma <= 1.0:
            raise ValueError(f"gamma={self.gamma!r} is invalid; allowed: numbers in [0, 1]")
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, LinearSchedule):
                continue
            if f.name in ("lr", "grad_clip") and not value > 0:
                raise ValueError(f"{f.name}={value!r} is invalid; allowed: numbers > 0")

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (for result files)."""
        return asdict(self)


@dataclass(frozen=True)
class BaselineConfig(MethodConfig):
    """What the end-to-end baselines (E-RL², IMPORT, VariBAD) add: one ε and one minimum."""

    epsilon: LinearSchedule = dataclasses.field(
        default_factory=lambda: LinearSchedule(1.0, 0.01, 500_000)
    )
    """ε against all env steps of training: 1 → 0.01 over 500k (App. B.4, the baselines)."""
    min_replay: int = 800
    """Trials stored before updates start (paper silent; the authors' baselines: 800)."""

    positive_ints: ClassVar[tuple[str, ...]] = (*MethodConfig.positive_ints, "min_replay")


class OptimizerGroup(NamedTuple):
    """One Adam optimiser: the name its loss is reported by, and the parameters it steps."""

    label: str
    parameters: list[nn.Parameter]


@dataclass
class UpdateLosses:
    """What a method's losses give the update template."""

    objectives: dict[str, torch.Tensor]
    """Optimiser name → the scalar it minimises (only the optimisers that step this update)."""
    stats: dict[str, torch.Tensor]
    """Named scalar diagnostics (detached; they leave the device with the objectives)."""


class MetaRLMethod(abc.ABC):
    """The lifecycle of a meta-RL method on the shared trial loop (module docstring)."""

    name: ClassVar[str]
    network_names: ClassVar[tuple[str, ...]]
    """Attributes holding the trained networks (checkpointed)."""
    target_names: ClassVar[tuple[str, ...]]
    """Networks with a hard-synced target copy in ``self.targets``."""

    def __init__(
        self,
        family: MetaProblemFamily,
        observation_space: Any,
        n_actions: int,
        config: MethodConfig,
        seed: int,
        device: str = "cpu",
    ) -> None:
        self.family, self.config, self.device = family, config, torch.device(device)
        self.n_actions = n_actions
        self.horizon = family.horizon
        fields = observation_fields(observation_space)
        self.obs_names = list(fields)
        with torch.random.fork_rng(devices=[]):  # seeded init; the global RNG is left alone
            torch.manual_seed(seed)
            self.build_networks(observation_space, n_actions)
        for name in self.network_names:
            getattr(self, name).to(self.device)
        self.targets: dict[str, nn.Module] = {
            name: copy.deepcopy(getattr(self, name)).requires_grad_(False)
            for name in self.target_names
        }
        self.optimizer_labels: dict[str, str] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        for opt_name, group in self.optimizer_groups().items():
            self.optimizer_labels[opt_name] = group.label
            self.optimizers[opt_name] = torch.optim.Adam(group.parameters, lr=config.lr, fused=True)
        self.replay = EpisodeReplay(
            config.replay_capacity, self.record_fields(trial_record_fields(fields, self.horizon))
        )
        self.rng = np.random.default_rng([seed, 7])
        self.gen = torch.Generator().manual_seed(seed)
        self.updates = 0
        self.explore_steps = 0
        self.exploit_steps = 0
        self.schedule = StepSchedule(config.update_every, config.target_sync_every)
        self.last_stats: dict[str, float] = {}

    # ---------------------------------------------------------------- what a method defines
    @abc.abstractmethod
    def build_networks(self, observation_space: Any, n_actions: int) -> None:
        """Create the networks named in ``network_names`` (on the CPU, from the seeded RNG)."""

    @abc.abstractmethod
    def optimizer_groups(self) -> dict[str, OptimizerGroup]:
        """Optimiser name → its label and parameters (one Adam each, lr = ``config.lr``)."""

    @abc.abstractmethod
    def start_episode(self, trials: TrialBatch, episode: int, training: bool) -> None:
        """Episode ``episode`` of every trial is about to start (reset per-episode state)."""

    @abc.abstractmethod
    def act(
        self, obs: dict[str, np.ndarray], t: int, trials: TrialBatch, episode: int, training: bool
    ) -> np.ndarray:
        """Actions ``[B]`` at step ``t`` of ``episode`` (ε-greedy in training, greedy else)."""

    @abc.abstractmethod
    def ready(self) -> bool:
        """Whether enough trials are stored for an update (the replay minimum)."""

    @abc.abstractmethod
    def losses(self, batch: dict[str, np.ndarray]) -> UpdateLosses:
        """The objectives and statistics of one sampled batch of stored trials."""

    @abc.abstractmethod
    def epsilon(self, episode: int) -> float:
        """The current ε of the policy acting in ``episode`` (0: exploration)."""

    def record_fields(
        self, fields: dict[str, tuple[tuple[int, ...], np.dtype]]
    ) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
        """The replay's record layout; a method storing more per trial adds fields here."""
        return fields

    def extra_record(self, trials: TrialBatch) -> dict[str, np.ndarray]:
        """The values of the fields :meth:`record_fields` added, for a finished wave."""
        return {}

    def decoder_error(self, trials: TrialBatch) -> np.ndarray | None:
        """Per trial, how far the method's reading of τ^exp is from the truth (None: none)."""
        return None

    informed_acting: ClassVar[bool] = False
    """Whether the exploitation policy can act on the problem ID itself (:meth:`informed`)."""
    _informed: bool = False

    @contextlib.contextmanager
    def informed(self) -> Iterator[None]:
        """Greedy exploitation given the true problem (DREAM: z = f(μ); IMPORT: e_φ(μ)).

        Evaluated next to the usual return, it tells where a failure sits: an exploitation
        policy that fails even when told μ, or an exploration or decoder that does not tell it.
        Only for methods with ``informed_acting``.
        """
        if not self.informed_acting:
            raise ValueError(f"{self.name} has no informed exploitation policy")
        self._informed = True
        try:
            yield
        finally:
            self._informed = False

    # ---------------------------------------------------------------- the trial loop's calls
    @property
    def env_steps(self) -> int:
        """Training env steps taken (exploration and exploitation)."""
        return self.schedule.env_steps

    def after_env_steps(self, n_steps: int, episode: int) -> None:
        """Count ``n_steps`` of ``episode``; run the updates and target syncs that are due."""
        if episode == 0:
            self.explore_steps += n_steps
        else:
            self.exploit_steps += n_steps
        self.schedule.advance(n_steps, self.update, self.sync_targets)

    def end_trials(self, trials: TrialBatch) -> None:
        """Store each trial's exploration and first exploitation episode."""
        self.replay.add({**trial_record(trials, self.obs_names), **self.extra_record(trials)})

    def sync_targets(self) -> None:
        """Hard copy of every network that has a target."""
        for name, target in self.targets.items():
            target.load_state_dict(getattr(self, name).state_dict())

    def epsilons(self) -> dict[str, float]:
        """The ε columns of ``metrics.csv``, the same two for every method."""
        return {"epsilon_explore": self.epsilon(0), "epsilon_exploit": self.epsilon(1)}

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        """bf16 autocast for network passes when ``config.autocast_bf16`` (else nothing).

        The base runs a whole update's losses under it (:meth:`losses_autocast`); a method
        whose losses hold distances that must stay in fp32 (DREAM's Eq. 5) narrows it to its
        Q-networks instead.
        """
        with torch.autocast(self.device.type, torch.bfloat16, self.config.autocast_bf16):
            yield

    def losses_autocast(self) -> contextlib.AbstractContextManager[None]:
        """The context :meth:`update` computes the losses in (default: :meth:`autocast`)."""
        return self.autocast()

    # ---------------------------------------------------------------- the update
    def update(self) -> dict[str, float]:
        """One update (module docstring); ``{}`` while the replay minimum is not met."""
        if not self.ready():
            return {}
        batch = self.replay.sample(self.config.batch_size, self.rng)
        with self.losses_autocast():
            out = self.losses(batch)
        norms = {}
        for opt_name, loss in out.objectives.items():
            opt = self.optimizers[opt_name]
            opt.zero_grad(set_to_none=True)
            loss.backward()
            params = [p for group in opt.param_groups for p in group["params"]]
            norms[self._norm_key(opt_name)] = torch.nn.utils.clip_grad_norm_(
                params, self.config.grad_clip
            )
        values = {**out.objectives, **out.stats, **norms}
        host = torch.stack([v.detach().float().reshape(()) for v in values.values()]).tolist()
        numbers = dict(zip(values, host, strict=True))
        for opt_name in out.objectives:  # before any step: the weights stay as they were
            loss = numbers[opt_name]
            if not np.isfinite(loss):
                label = self.optimizer_labels[opt_name]
                raise FloatingPointError(
                    f"{label} loss is {loss} at update {self.updates}; stopping"
                )
        for opt_name in out.objectives:
            self.optimizers[opt_name].step()
        self.updates += 1
        self.last_stats = {k: numbers[k] for k in (*out.stats, *norms)}
        return self.last_stats

    def _norm_key(self, opt_name: str) -> str:
        return "grad_norm" if len(self.optimizers) == 1 else f"{opt_name}_grad_norm"

    # ---------------------------------------------------------------- checkpoints
    def state_dict(self, *, replay: bool = True) -> dict[str, Any]:
        """Weights, targets, optimisers, replay, generators and counters (a snapshot).

        ``replay=False`` leaves the replay out: a cheap snapshot to return to within a wave
        (the replay only changes when a wave ends).
        """
        state = {
            "nets": {n: copy.deepcopy(getattr(self, n).state_dict()) for n in self.network_names},
            "targets": {n: copy.deepcopy(t.state_dict()) for n, t in self.targets.items()},
            "optimizers": {n: copy.deepcopy(o.state_dict()) for n, o in self.optimizers.items()},
            "rng": self.rng.bit_generator.state,
            "gen": self.gen.get_state(),
            "counters": {
                "explore_steps": self.explore_steps,
                "exploit_steps": self.exploit_steps,
                "updates": self.updates,
                **self.schedule.state_dict(),
            },
        }
        if replay:
            state["replay"] = self.replay.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` (also the per-method layout of earlier versions).

        A state without ``replay`` leaves the replay as it is.
        """
        missing = set(self.network_names) - set(state["nets"])
        if missing:
            raise ValueError(f"the checkpoint holds no weights for {', '.join(sorted(missing))}")
        for n, sd in state["nets"].items():
            getattr(self, n).load_state_dict(sd)
        for n, sd in state["targets"].items():
            self.targets[n].load_state_dict(sd)
        saved = state.get("optimizers") or _legacy_optimizers(state, self.optimizers)
        for n, opt in self.optimizers.items():
            opt.load_state_dict(copy.deepcopy(saved[n]))  # loads alias same-device tensors
        if "replay" in state:
            self.replay.load_state_dict(state["replay"])
        self.rng.bit_generator.state = state["rng"]
        self.gen.set_state(state["gen"])
        c = state["counters"]
        self.explore_steps = c.get("explore_steps", 0)
        self.exploit_steps = c.get("exploit_steps", 0)
        self.updates = c["updates"]
        self.schedule.load_state_dict(c)


class BaselineMethod(MetaRLMethod):
    """A method whose one policy acts in every episode of the trial (E-RL², IMPORT, VariBAD)."""

    config: BaselineConfig

    def ready(self) -> bool:
        """``min_replay`` trials are stored."""
        return len(self.replay) >= self.config.min_replay

    def epsilon(self, episode: int) -> float:
        """One schedule over all env steps, whatever the episode (App. B.4)."""
        return self.config.epsilon.value(self.env_steps)


class RecurrentBaseline(BaselineMethod):
    """A baseline whose one LSTM reads the whole trial while acting (E-RL², IMPORT, VariBAD).

    The state carries across the episode boundary: before episode k ≥ 1 each trial continues
    from its state after its own last step of episode k − 1 (acting steps every row, also rows
    whose episode ended while the others play on; those extra states are dropped).
    """

    _hidden: Hidden | None = None
    """The LSTM state after the last experience fed."""
    _states: list[Hidden] = []  # noqa: RUF012 (carry_state gives each episode its own list)
    """The state after each acting step of the current episode."""

    def carry_state(self, trials: TrialBatch, episode: int) -> bool:
        """Set the state for ``episode``: none before exploring (False), else carried (True)."""
        states, self._states = self._states, []
        if episode == 0:
            self._hidden = None
            return False
        self._hidden = state_after_last_step(states, trials.episodes[episode - 1].length - 1)
        return True

    def keep_state(self, hidden: Hidden) -> None:
        """The state after this acting step."""
        self._hidden = hidden
        self._states.append(hidden)


def _legacy_optimizers(state: dict[str, Any], names: dict[str, Any]) -> dict[str, Any]:
    """Optimiser states of checkpoints written before this base existed.

    They stored ``opt`` (one optimiser) or ``<name>_opt`` (DREAM: ``explore_opt``, ``task_opt``).
    """
    if len(names) == 1:
        return {next(iter(names)): state["opt"]}
    return {n: state[f"{n}_opt"] for n in names}
