"""The horizon-H bandit of App. C.2 as a meta-RL benchmark for the neural agent ("bandit").

The family is :class:`tabular.bandit.BanditFamily` (``A >= 2`` actions, horizon ``H >= 1``)
with exactly its conventions:

* ``K = A**H`` action sequences; the sequence ``(a_0, ..., a_{H-1})`` has the index
  ``sum_t a_t A**t``. Problems ``μ ∈ 0..K-1``, uniform; train = test = all (the tabular
  experiments hold nothing out).
* The rewarded exploitation sequence ``a_μ`` is μ written in base A (its index is μ); the
  informative exploration sequence ``a★`` is action ``A-1`` at every step (index ``K-1``).
* Observation = the real MDP's state ``(t, h_0, ..., h_{H-1}, revealed)``: ``h_i = a_i + 1``
  is the 1-based label of the i-th action taken (0 = not taken yet), ``revealed = μ + 1``
  once the whole of ``a★`` was taken in an *exploration* episode (0 otherwise).
* Rewards: exploration episodes pay 0; an exploitation episode pays 1 on its last step iff
  its whole sequence is ``a_μ``. Every episode lasts exactly H steps and ends *terminated*
  (the state with ``t = H`` is terminal in App. C.2's MDP; nothing is truncated).

**Exploration vs exploitation is signalled by the goal.** The family has ``n_goals = 1``:
goal ``0`` (:data:`EXPLOIT`) marks an exploitation episode and ``NO_GOAL = -1``
(:data:`EXPLORE`; ``None`` in the single env's reset options) an exploration episode. So the
generic trial loop needs nothing special: it resets the exploration episode with ``NO_GOAL``
and each exploitation episode with ``family.sample_goal(rng, μ)``, which is always 0, and
``sample_trial(..., n_exploit)`` returns ``goals = (0,) * n_exploit``. The goal is not part
of the observation (the tabular state has no slot for it); an agent knows which episode it is
in the way DREAM's separate exploration and exploitation policies do.

Two implementations: :class:`BanditEnv` (one Gymnasium 1.x env whose steps are those of
``tabular.bandit.BanditFamily.step`` itself) and :class:`BatchedBanditEnv` (NumPy, written
independently; the tests check both against the tabular functions for every (μ, sequence)).

Exact reference exploitation returns (:func:`reference_table`, averaged over the uniform μ):

* ``optimal`` = 1: knowing μ, play ``a_μ``.
* ``optimal_after_exploration`` = 1: ``a★`` reveals μ (:func:`reveals_all`), then play ``a_μ``.
* ``no_exploration`` = 1/K: exploitation observations never depend on μ, so every policy is a
  mixture of fixed sequences, and each fixed sequence is ``a_μ`` for exactly one μ.
* ``pearl_ub`` = ``pearl_ub_sampled`` = ``pearl_ub_redraw`` = (2K − 1)/K²: Thompson sampling
  (TS) with the true posterior and the optimal problem-specific policies (the paper's
  PEARL-UB; the three readings of :mod:`deep.envs.reference_values` coincide here).
  Exploration: sample μ' from the prior (uniform) and play π*(μ') = ``a_μ'``. That reveals μ
  iff ``a_μ' = a★`` (μ' = K−1, chance 1/K), after which exploitation plays ``a_μ`` (return
  1); any other sequence leaves the posterior uniform (the exploration observations are the
  same in every problem). Then ``pearl_ub`` exploits Bayes-optimally: with a uniform
  posterior every sequence wins with chance 1/K; ``pearl_ub_sampled`` samples μ'' uniformly
  and plays ``a_μ''``: 1/K too. Total 1/K + (1 − 1/K)/K. ``pearl_ub_redraw`` (redraw the sample
  when an observation rules it out) equals ``pearl_ub_sampled``: before an episode's last step
  nothing it shows depends on μ, so no sample is ever ruled out while it is acted on (for
  H = 1 each episode is a single pull).

:func:`exact_values` computes the values by enumeration against :class:`BatchedBanditEnv`
(posteriors = the problems with identical exploration observations), in rational arithmetic,
for ``K <=`` :data:`ENUMERATION_LIMIT`; beyond that :func:`reference_table` uses the closed
forms above (the tests check that both agree).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from deep.envs.problem import (
    NO_GOAL,
    REFERENCE_COLUMNS,
    SPLITS,
    MetaProblemFamily,
    ProblemFactor,
    RevealOracle,
    cached_oracle,
    register,
)

if TYPE_CHECKING:
    import pandas as pd

    from tabular.bandit import BanditFamily

__all__ = [
    "ENUMERATION_LIMIT",
    "EXPLOIT",
    "EXPLORE",
    "BanditConfig",
    "BanditEnv",
    "BanditProblemFamily",
    "BatchedBanditEnv",
    "closed_form_values",
    "exact_values",
    "parse_variant",
    "reference_table",
    "reveals_all",
    "scripted_exploration",
    "variant_name",
]

EXPLORE = NO_GOAL
"""Goal of an exploration episode (no reward; ``a★`` reveals μ)."""
EXPLOIT = 0
"""Goal of an exploitation episode (the family's only goal; reward 1 for ``a_μ``)."""
MAX_PROBLEMS = 2**20
"""Largest ``K = A**H`` accepted (problem IDs are materialised as arrays)."""
ENUMERATION_LIMIT = 256
"""Largest ``K`` for which :func:`exact_values` enumerates (it costs O(K³))."""
MAX_H = 16  # tabular.bandit.MAX_H (not imported: importing tabular loads Numba)


def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


@dataclass(frozen=True)
class BanditConfig:
    """The bandit of App. C.2 with ``A`` actions and horizon ``H`` (K = A**H problems)."""

    A: int = 2
    """Actions per step (App. C.2's |A|; ``A >= 2``)."""
    H: int = 1
    """Steps per episode (``1 <= H <= 16``; Sec. 5.2 is H = 1)."""
    horizon: int | None = None
    """Steps per episode; always H (None means H). Kept for the grid worlds' interface."""

    def __post_init__(self) -> None:
        if not (_is_int(self.A) and self.A >= 2):
            raise ValueError(f"A={self.A!r} is invalid; allowed: integers >= 2")
        if not (_is_int(self.H) and 1 <= self.H <= MAX_H):
            raise ValueError(f"H={self.H!r} is invalid; allowed: integers 1..{MAX_H}")
        k = int(self.A) ** int(self.H)
        if k > MAX_PROBLEMS:
            raise ValueError(
                f"A={self.A}, H={self.H} gives A**H={k} problems; allowed: A**H <= {MAX_PROBLEMS}"
            )
        if self.horizon is not None and not (_is_int(self.horizon) and self.horizon == self.H):
            raise ValueError(
                f"horizon={self.horizon!r} is invalid; allowed: None or H={self.H} "
                "(every episode lasts exactly H steps)"
            )
        object.__setattr__(self, "A", int(self.A))
        object.__setattr__(self, "H", int(self.H))
        object.__setattr__(self, "horizon", int(self.H))

    @property
    def n_problems(self) -> int:
        """``K = A**H``: problems μ, and also action sequences."""
        return self.A**self.H

    @property
    def actions(self) -> tuple[str, ...]:
        """Action names, indexed by action (``arm0 .. arm{A-1}``)."""
        return tuple(f"arm{a}" for a in range(self.A))

    @property
    def informative_sequence(self) -> tuple[int, ...]:
        """``a★``: action ``A-1`` at every step (index K-1)."""
        return (self.A - 1,) * self.H

    def rewarded_sequence(self, problem: int) -> tuple[int, ...]:
        """``a_μ``: the base-A digits of μ, least significant first."""
        return tuple((int(problem) // self.A**t) % self.A for t in range(self.H))


def observation_space(config: BanditConfig) -> spaces.Box:
    """Box of ``(t, h_0..h_{H-1}, revealed)``: ``t ≤ H``, ``h_i ≤ A``, ``revealed ≤ K``."""
    high = np.array([config.H] + [config.A] * config.H + [config.n_problems], dtype=np.int64)
    return spaces.Box(low=np.zeros_like(high), high=high, dtype=np.int64)


def phase_of(goal: int) -> Literal["exploration", "exploitation"]:
    """``"exploration"`` for ``NO_GOAL``, ``"exploitation"`` for goal 0 (see module doc)."""
    return "exploration" if int(goal) == EXPLORE else "exploitation"


class BanditProblemFamily(MetaProblemFamily):
    """p(μ) uniform over ``0..A**H-1``; every split is all of it; one goal (= exploit)."""

    def __init__(self, config: BanditConfig | None = None) -> None:
        self.config = config if config is not None else BanditConfig()
        self.name = "bandit"
        self.n_problems = self.config.n_problems
        self.n_goals = 1
        self.uniform_goals = True
        self.reference_variants = REFERENCE_VARIANTS

    @functools.cached_property
    def bandit(self) -> BanditFamily:
        """The tabular family of App. C.2 (imported lazily: ``tabular`` loads Numba)."""
        from tabular.bandit import BanditFamily

        return BanditFamily(self.config.A, self.config.H)

    def _split_ids(self, split: str) -> np.ndarray:
        return np.arange(self.n_problems)

    def check_goal(self, goal: int) -> int:
        """Return ``goal`` as an int (-1 = exploration, 0 = exploitation), or raise."""
        if not (_is_int(goal) and int(goal) in (EXPLORE, EXPLOIT)):
            raise ValueError(
                f"goal {goal!r} is not a goal of bandit; allowed: {EXPLORE} (no goal: "
                f"exploration episode) or {EXPLOIT} (exploitation episode)"
            )
        return int(goal)

    def make_env(self, *, render_mode: str | None = None, split: str = "train") -> gym.Env:
        """Single Gymnasium env (via ``gymnasium.make``); ``env.unwrapped`` is a BanditEnv."""
        self.problem_ids(split)  # validates the split name
        return gym.make(GYM_ID, config=self.config, render_mode=render_mode, split=split)

    def make_batched(self, num_envs: int, seed: int = 0) -> BatchedBanditEnv:
        """Batched NumPy env with ``num_envs`` independent episodes (deterministic: no seed)."""
        return BatchedBanditEnv(self.config, num_envs)

    def factors(self) -> tuple[ProblemFactor, ...]:
        """The rewarded action at each step (``arm{t}``, the base-A digits of μ; relevant)."""
        return tuple(
            ProblemFactor(f"arm{t}", self.config.A, True, f"the rewarded action at step {t}")
            for t in range(self.config.H)
        )

    def problem_factors(self, problem: int) -> dict[str, int]:
        """Values of :meth:`factors`: ``a_μ`` digit by digit."""
        digits = self.config.rewarded_sequence(self.check_problem(problem))
        return {f"arm{t}": int(a) for t, a in enumerate(digits)}

    def exploration_visits(
        self,
        problems: np.ndarray,
        obs: Mapping[str, np.ndarray],
        actions: np.ndarray,
        lengths: np.ndarray,
    ) -> dict[str, np.ndarray]:
        """Per exploration episode: steps that took ``a★``'s action ``A-1`` (which reveals μ)."""
        taken = np.arange(actions.shape[1])[None, :] < lengths[:, None]
        informative = self.config.A - 1
        return {"informative_steps": ((actions == informative) & taken).sum(1).astype(float)}

    def reveal_oracle(self) -> RevealOracle:
        """:func:`reveals_all` of this bandit, cached."""

        def bandit_oracle(problem: int, actions: tuple[int, ...]) -> bool:
            return reveals_all(self, problem, actions)

        return cached_oracle(bandit_oracle)

    @property
    def reference_variant(self) -> str:
        """The ``variant`` label of this bandit's reference row: ``"A=..,H=.."``."""
        return variant_name(self.config.A, self.config.H)

    def reference_table(
        self, variant: str = "paper", split: str = "test", options: Mapping[str, str] | None = None
    ) -> pd.DataFrame:
        """:func:`reference_table` of the bandit ``variant`` names (any A, H)."""
        return reference_table(*parse_variant(variant), split=split)

    def reference_reveals_all(
        self, problem: int, exploration_trajectory: Sequence[int], variant: str = "paper"
    ) -> bool:
        """:func:`reveals_all` in the bandit ``variant`` names (not this family's A, H)."""
        a, h = parse_variant(variant)
        return reveals_all(BanditConfig(A=a, H=h), problem, exploration_trajectory)


def _factory(**kwargs: Any) -> BanditProblemFamily:
    allowed = ("A", "H", "horizon")
    for key in kwargs:
        if key not in allowed:
            raise ValueError(f"unknown option {key!r} for the bandit env; allowed: {allowed}")
    return BanditProblemFamily(BanditConfig(**kwargs))


GYM_ID = "deep/Bandit-v0"
if GYM_ID not in gym.registry:
    gym.register(GYM_ID, entry_point="deep.envs.bandit:BanditEnv", kwargs={"config": None})
register("bandit")(_factory)

_COLORS = {
    "floor": (235, 235, 235),
    "grid": (200, 200, 200),
    "explore": (0, 130, 200),
    "exploit": (245, 130, 48),
    "target_explore": (190, 220, 245),
    "target_exploit": (200, 235, 200),
    "revealed": (60, 180, 75),
    "paid": (230, 190, 0),
    "unpaid": (200, 60, 60),
    "pending": (150, 150, 150),
}


class BanditEnv(gym.Env):
    """One episode of the horizon-H bandit of App. C.2 (steps: ``BanditFamily.step``).

    ## Action Space
    ``Discrete(A)``: the arm pulled at this step.

    ## Observation Space
    ``Box(int64, (H + 2,))``: ``(t, h_0, ..., h_{H-1}, revealed)``, ``h_i = a_i + 1`` (0 = not
    taken yet), ``revealed = μ + 1`` after ``a★ = (A-1, ..., A-1)`` in an exploration episode.

    ## Rewards
    Exploitation (goal 0): 1 on the last step iff the sequence is ``a_μ`` (μ in base A,
    least significant digit first), else 0. Exploration (no goal): always 0.

    ## Starting State
    The zero vector. μ is drawn from ``self.np_random`` (seeded by ``reset``) unless given as
    ``options={"problem": μ}``; ``options={"goal": None or -1}`` starts an exploration episode,
    ``{"goal": 0}`` (the default) an exploitation episode.

    ## Episode End
    Terminated after exactly H steps (never truncated).
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(
        self,
        config: BanditConfig | None = None,
        *,
        render_mode: str | None = None,
        split: str = "train",
    ) -> None:
        self.config = config if config is not None else BanditConfig()
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"unknown render_mode {render_mode!r}; allowed: None, 'rgb_array'")
        self.render_mode = render_mode
        self.family = BanditProblemFamily(self.config)
        self._bandit = self.family.bandit
        self.split_ids = self.family.problem_ids(split)
        self.action_space = spaces.Discrete(self.config.A)
        self.observation_space = observation_space(self.config)
        self.problem = int(self.split_ids[0])
        self.goal = EXPLOIT
        self.state: tuple[int, ...] = self._bandit.initial_state()
        self.last_reward = 0.0
        self._done = False

    @property
    def t(self) -> int:
        """Steps taken in this episode."""
        return self.state[0]

    @property
    def phase(self) -> Literal["exploration", "exploitation"]:
        """``"exploration"`` or ``"exploitation"`` (from the goal; see the module doc)."""
        return phase_of(self.goal)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode; see the class docstring for ``options``."""
        super().reset(seed=seed)
        options = dict(options or {})
        unknown = set(options) - {"problem", "goal"}
        if unknown:
            raise ValueError(f"unknown reset options {sorted(unknown)}; allowed: problem, goal")
        if "problem" in options:
            self.problem = self.family.check_problem(options["problem"])
        else:
            self.problem = int(self.np_random.choice(self.split_ids))
        goal = options.get("goal", EXPLOIT)
        self.goal = EXPLORE if goal is None else self.family.check_goal(goal)
        self.state = self._bandit.initial_state()
        self.last_reward = 0.0
        self._done = False
        return self._obs(), self._info()

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Advance one step (App. C.2's transition ``T_μ`` and reward ``R_μ``)."""
        if not self.action_space.contains(action):
            raise ValueError(
                f"action {action} is outside the action space; "
                f"allowed: integers 0..{self.config.A - 1}"
            )
        if self._done:
            raise RuntimeError("step() called after the episode ended; call reset() first")
        self.state, reward, terminated = self._bandit.step(
            self.state, int(action), self.problem, self.phase
        )
        self.last_reward = float(reward)
        self._done = terminated
        return self._obs(), float(reward), terminated, False, self._info()

    def _info(self) -> dict[str, Any]:
        return {"problem": self.problem, "goal": self.goal, "t": self.t}

    def _obs(self) -> np.ndarray:
        return np.array(self.state, dtype=np.int64)

    def render(self) -> np.ndarray | None:
        """RGB uint8 frame in ``rgb_array`` mode (else None).

        One column per step, one row per action (action A-1 on top): the pulled arms are
        filled (blue: exploration, orange: exploitation) over a tinted background marking
        ``a★`` (exploration) or ``a_μ`` (exploitation). The bottom strip turns green when μ
        is revealed, gold when the exploitation episode paid 1, red when it paid 0.
        """
        if self.render_mode != "rgb_array":
            return None
        cell, strip = 16, 8
        a_n, h_n = self.config.A, self.config.H
        img = np.empty((a_n * cell + strip, h_n * cell, 3), dtype=np.uint8)
        img[:] = _COLORS["floor"]
        explore = self.goal == EXPLORE
        target = (
            self.config.informative_sequence
            if explore
            else self.config.rewarded_sequence(self.problem)
        )

        def fill(step: int, action: int, color: tuple[int, int, int], margin: int) -> None:
            r0, c0 = (a_n - 1 - action) * cell + margin, step * cell + margin
            img[r0 : r0 + cell - 2 * margin, c0 : c0 + cell - 2 * margin] = color

        for i, a in enumerate(target):
            fill(i, a, _COLORS["target_explore" if explore else "target_exploit"], 0)
        for i, h in enumerate(self.state[1 : 1 + h_n]):
            if h:
                fill(i, h - 1, _COLORS["explore" if explore else "exploit"], 3)
        if self.state[-1]:
            status = "revealed"
        elif self._done and not explore:
            status = "paid" if self.last_reward > 0 else "unpaid"
        else:
            status = "pending"
        img[a_n * cell :, :] = _COLORS[status]
        img[: a_n * cell : cell, :] = _COLORS["grid"]
        img[: a_n * cell, ::cell] = _COLORS["grid"]
        return img


class BatchedBanditEnv:
    """``num_envs`` independent bandit episodes stepped together with NumPy.

    Same observations and rewards as :class:`BanditEnv` (tested step for step and against
    ``tabular.bandit`` for every (μ, sequence)), implemented independently: the history
    ``h`` is an ``(num_envs, H)`` array, the sequence index at the last step is
    ``(h - 1) @ (A**0, ..., A**(H-1))``.

    Resets are explicit, never automatic: :meth:`reset` takes the problems and goals (``-1`` =
    exploration, ``0`` = exploitation) of the envs selected by ``mask``; an env whose episode
    has ended must be reset before it is stepped again (stepping it raises). State arrays
    (``problem``, ``goal``, ``t``, ``done``, ``history``, ``revealed``) are public and
    read-only by convention.
    """

    def __init__(self, config: BanditConfig, num_envs: int) -> None:
        if not (_is_int(num_envs) and num_envs >= 1):
            raise ValueError(f"batch size num_envs={num_envs!r} is invalid; allowed: integers >= 1")
        self.config = config
        self.family = BanditProblemFamily(config)
        self.num_envs = int(num_envs)
        self.n_actions = config.A
        self.observation_space = observation_space(config)
        self._powers = config.A ** np.arange(config.H, dtype=np.int64)
        n = self.num_envs
        self.problem = np.zeros(n, dtype=np.int64)
        self.goal = np.full(n, EXPLOIT, dtype=np.int64)
        self.t = np.zeros(n, dtype=np.int64)
        self.done = np.ones(n, dtype=bool)
        self.history = np.zeros((n, config.H), dtype=np.int64)
        self.revealed = np.zeros(n, dtype=np.int64)

    def _selector(self, mask: np.ndarray | None, name: str) -> np.ndarray:
        """Indices where a boolean (num_envs,) array is True (all if None)."""
        if mask is None:
            return np.arange(self.num_envs)
        arr = np.asarray(mask)
        if arr.shape != (self.num_envs,) or arr.dtype != bool:
            raise ValueError(
                f"{name} of shape {arr.shape} dtype {arr.dtype} is invalid; "
                f"allowed: None or a boolean array of shape ({self.num_envs},)"
            )
        return np.flatnonzero(arr)

    def _ids(self, values: np.ndarray | int, n: int, what: str) -> np.ndarray:
        arr = np.asarray(values)
        if arr.size and not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f"{what} {arr.flat[0]!r} is not an integer; allowed: integer arrays")
        try:
            return np.broadcast_to(arr.astype(np.int64), (n,))
        except ValueError:
            raise ValueError(
                f"{what}s of shape {arr.shape} do not fit the {n} selected envs; "
                f"allowed: a scalar or shape ({n},)"
            ) from None

    def reset(
        self,
        problems: np.ndarray | int,
        goals: np.ndarray | int,
        mask: np.ndarray | None = None,
    ) -> np.ndarray:
        """Reset the envs where ``mask`` is True (all if None); return all observations.

        ``problems`` and ``goals`` broadcast to the number of selected envs.
        """
        idx = self._selector(mask, "mask")
        problems = self._ids(problems, len(idx), "problem ID")
        goals = self._ids(goals, len(idx), "goal")
        k = self.config.n_problems
        bad = problems[(problems < 0) | (problems >= k)]
        if bad.size:
            raise ValueError(
                f"problem ID {int(bad[0])} is outside the bandit family; "
                f"allowed: integers 0..{k - 1}"
            )
        bad = goals[(goals != EXPLORE) & (goals != EXPLOIT)]
        if bad.size:
            raise ValueError(
                f"goal {int(bad[0])} is invalid; allowed: {EXPLORE} (no goal: exploration "
                f"episode) or {EXPLOIT} (exploitation episode)"
            )
        self.problem[idx] = problems
        self.goal[idx] = goals
        self.t[idx] = 0
        self.history[idx] = 0
        self.revealed[idx] = 0
        self.done[idx] = False
        return self._obs()

    def step(
        self, actions: np.ndarray, active: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Step the envs where ``active`` is True (all if None).

        Returns ``(obs, reward, terminated, truncated)`` for all envs; inactive envs keep
        their state and get reward 0, terminated and truncated False, and their actions are
        not checked.
        """
        actions = np.asarray(actions)
        if actions.shape != (self.num_envs,) or not np.issubdtype(actions.dtype, np.integer):
            raise ValueError(
                f"actions of shape {actions.shape} dtype {actions.dtype} are invalid; "
                f"allowed: an integer array of shape ({self.num_envs},)"
            )
        idx = self._selector(active, "active")
        a = actions[idx].astype(np.int64)
        bad = a[(a < 0) | (a >= self.n_actions)]
        if bad.size:
            raise ValueError(
                f"action {int(bad[0])} is outside the action space; "
                f"allowed: integers 0..{self.n_actions - 1}"
            )
        ended = idx[self.done[idx]]
        if ended.size:
            raise RuntimeError(f"env {int(ended[0])} has ended; reset it before stepping")
        cfg = self.config
        t = self.t[idx]
        self.history[idx, t] = a + 1
        t = t + 1
        self.t[idx] = t
        last = t == cfg.H
        sequence = (self.history[idx] - 1) @ self._powers  # meaningful where ``last``
        explore = self.goal[idx] == EXPLORE
        mu = self.problem[idx]
        self.revealed[idx] = np.where(last & explore & (sequence == cfg.n_problems - 1), mu + 1, 0)
        reward = np.zeros(self.num_envs)
        reward[idx] = np.where(last & ~explore & (sequence == mu), 1.0, 0.0)
        terminated = np.zeros(self.num_envs, dtype=bool)
        terminated[idx] = last
        self.done[idx] = last
        return self._obs(), reward, terminated, np.zeros(self.num_envs, dtype=bool)

    def _obs(self) -> np.ndarray:
        return np.concatenate([self.t[:, None], self.history, self.revealed[:, None]], axis=1)


# ---------------------------------------------------------------------------- oracles


def _as_config(config_or_family: Any) -> BanditConfig:
    """A BanditConfig from a config, a :class:`BanditProblemFamily` or a tabular family."""
    if isinstance(config_or_family, BanditConfig):
        return config_or_family
    if isinstance(config_or_family, BanditProblemFamily):
        return config_or_family.config
    a, h = getattr(config_or_family, "A", None), getattr(config_or_family, "H", None)
    if a is None or h is None:
        raise ValueError(
            f"{config_or_family!r} is not a bandit; allowed: BanditConfig, "
            "BanditProblemFamily or tabular.bandit.BanditFamily"
        )
    return BanditConfig(A=a, H=h)


def scripted_exploration(config_or_family: Any) -> list[int]:
    """``a★`` as a list of actions: ``[A-1] * H``, the only sequence that reveals μ."""
    return list(_as_config(config_or_family).informative_sequence)


def reveals_all(config_or_family: Any, problem: int, exploration_actions: Sequence[int]) -> bool:
    """Whether an exploration episode's actions reveal μ: iff its H actions are ``a★``.

    Any other sequence leaves ``revealed = 0`` and observations identical in every problem,
    so the posterior stays uniform (App. C.2). Actions after the H-th are ignored (the
    episode has ended); fewer than H actions reveal nothing.
    """
    cfg = _as_config(config_or_family)
    BanditProblemFamily(cfg).check_problem(problem)
    actions = list(exploration_actions)
    for a in actions:
        if not (_is_int(a) and 0 <= int(a) < cfg.A):
            raise ValueError(
                f"action {a!r} is outside the action space; allowed: integers 0..{cfg.A - 1}"
            )
    return tuple(int(a) for a in actions[: cfg.H]) == cfg.informative_sequence


# ---------------------------------------------------------------------- reference values


def _digits(config: BanditConfig, indices: np.ndarray) -> np.ndarray:
    """Actions of the sequences with the given indices: ``(len(indices), H)``."""
    return (indices[:, None] // config.A ** np.arange(config.H)) % config.A


def _run_all_pairs(config: BanditConfig, goal: int) -> tuple[np.ndarray, np.ndarray]:
    """Play every sequence b in every problem μ with :class:`BatchedBanditEnv`.

    Returns ``(obs, ret)``: observations ``(K, K, (H+1)(H+2))`` and returns ``(K, K)``,
    indexed ``[μ, b]``.
    """
    k = config.n_problems
    env = BatchedBanditEnv(config, k * k)
    mu, seq = np.divmod(np.arange(k * k), k)
    actions = _digits(config, seq)
    observations = [env.reset(mu, goal)]
    ret = np.zeros(k * k)
    for t in range(config.H):
        obs, reward, _, _ = env.step(actions[:, t])
        observations.append(obs)
        ret += reward
    assert env.done.all()
    obs_all = np.concatenate(observations, axis=1).reshape(k, k, -1)
    return obs_all, ret.reshape(k, k)


def exact_values(config_or_family: Any) -> dict[str, Fraction]:
    """The reference returns by enumeration against the batched env (module doc).

    With ``R[μ, b]`` the exploitation return of sequence b in problem μ and ``B(μ, a)`` the
    problems whose exploration observations under sequence a equal μ's:
    optimal = mean_μ max_b R[μ, b]; no_exploration = max_b mean_μ R[μ, b];
    optimal_after_exploration = max_a mean_μ max_b mean_{ν∈B(μ,a)} R[ν, b] (adaptive
    exploration gains nothing: observations within an episode are μ-independent until its
    end); pearl_ub = mean_{μ'} mean_μ max_b mean_{ν∈B(μ,μ')} R[ν, b] (sampled μ' explores
    with ``a_μ'``, whose index is μ'; Bayes-optimal exploitation: a fixed sequence suffices,
    the exploitation observations being μ-independent); pearl_ub_sampled =
    mean_{μ,μ'} mean_{ν∈B(μ,μ')} R[μ, ν] (sampled ν exploits with ``a_ν``); pearl_ub_redraw =
    pearl_ub_sampled, after checking that no observation before an episode's last step
    depends on μ (so a redraw can never happen).
    """
    cfg = _as_config(config_or_family)
    k = cfg.n_problems
    if k > ENUMERATION_LIMIT:
        raise ValueError(
            f"A**H={k} problems is too many to enumerate; allowed: A**H <= {ENUMERATION_LIMIT}"
        )
    obs, _ = _run_all_pairs(cfg, EXPLORE)
    obs_exploit, ret_f = _run_all_pairs(cfg, EXPLOIT)
    before_end = cfg.H * (cfg.H + 2)  # the observations before the last step
    if not (
        (obs[:, :, :before_end] == obs[:1, :, :before_end]).all()
        and (obs_exploit == obs_exploit[:1]).all()
    ):  # pragma: no cover - a property of the env, checked here
        raise AssertionError("an observation within an episode depends on μ: redraws matter")
    ret = ret_f.astype(np.int64)  # returns are 0 or 1: integer counts keep everything exact
    optimal = Fraction(int(ret.max(axis=1).sum()), k)
    no_exploration = Fraction(int(ret.sum(axis=0).max()), k)
    after = Fraction(0)
    bayes = 0
    sampled = Fraction(0)
    for a in range(k):
        _, labels = np.unique(obs[:, a], axis=0, return_inverse=True)
        labels = labels.reshape(-1)
        best = 0
        for g in range(int(labels.max()) + 1):
            members = np.flatnonzero(labels == g)
            block = ret[np.ix_(members, members)]  # R[μ, ν] for μ, ν in the posterior
            best += int(ret[members].sum(axis=0).max())
            sampled += Fraction(int(block.sum()), len(members))
        after = max(after, Fraction(best, k))
        bayes += best
    return {
        "optimal": optimal,
        "optimal_after_exploration": after,
        "pearl_ub": Fraction(bayes, k * k),
        "pearl_ub_sampled": sampled / (k * k),
        "pearl_ub_redraw": sampled / (k * k),
        "no_exploration": no_exploration,
    }


def closed_form_values(config_or_family: Any) -> dict[str, Fraction]:
    """The reference returns in closed form: 1, 1, (2K−1)/K² (×3) and 1/K (module doc)."""
    k = _as_config(config_or_family).n_problems
    return {
        "optimal": Fraction(1),
        "optimal_after_exploration": Fraction(1),
        "pearl_ub": Fraction(2 * k - 1, k * k),
        "pearl_ub_sampled": Fraction(2 * k - 1, k * k),
        "pearl_ub_redraw": Fraction(2 * k - 1, k * k),
        "no_exploration": Fraction(1, k),
    }


def variant_name(A: int, H: int) -> str:
    """The ``variant`` label of a bandit row in the reference table: ``"A=4,H=1"``."""
    return f"A={A},H={H}"


REFERENCE_VARIANTS = tuple(variant_name(a, 1) for a in range(2, 7))
"""The bandit rows of the reference table (:func:`reference_table` takes any A, H)."""


def parse_variant(variant: str) -> tuple[int, int]:
    """Inverse of :func:`variant_name`."""
    match = re.fullmatch(r"A=(\d+),H=(\d+)", str(variant))
    if match is None:
        raise ValueError(
            f"bandit variant {variant!r} is invalid; allowed: 'A=<int>,H=<int>', e.g. 'A=2,H=1'"
        )
    return int(match.group(1)), int(match.group(2))


@functools.cache
def reference_table(A: int, H: int = 1, split: str = "all") -> pd.DataFrame:
    """One-row table of the exact reference exploitation returns, columns as the grid worlds'.

    ``variant`` is ``"A=..,H=.."``; every split is all K problems. Enumerated
    (:func:`exact_values`) when ``K <= ENUMERATION_LIMIT``, closed forms otherwise.
    """
    import pandas as pd  # lazily: ``import deep.envs`` stays light

    cfg = BanditConfig(A=A, H=H)
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; allowed: {', '.join(SPLITS)}")
    k = cfg.n_problems
    values = exact_values(cfg) if k <= ENUMERATION_LIMIT else closed_form_values(cfg)
    row = {
        "benchmark": "bandit",
        "variant": variant_name(cfg.A, cfg.H),
        "split": split,
        "n_problems": k,
        **{key: float(values[key]) for key in REFERENCE_COLUMNS},
    }
    return pd.DataFrame([row])
