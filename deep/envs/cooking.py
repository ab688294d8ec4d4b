"""The cooking grid worlds of DREAM Sec. 6.2 / App. B.1: cooking and cooking without goals.

A 3×3 kitchen. The agent starts at (1, 1), where the pot is. Three fridges stand at (2, 0),
(2, 1) and (2, 2); each holds one ingredient, fixed by the problem ID μ and unseen until the
agent uses "pick up" at the fridge. A recipe (a, b) asks for ingredient a in the pot, then b.

* ``cooking``: 4 ingredients, μ = 16·(top fridge (2,2)) + 4·(middle (2,1)) + (bottom (2,0)),
  μ ∈ 0..63 (App. B.1). The recipe is the per-episode goal g = 4a + b, drawn only among the
  ingredients present in μ. Held out: μ = 11 (paper) or μ = 10 (official code), or
  ``held_out``.
* ``cooking_no_goals``: App. B.1's variant. 7 ingredients, no goal: the recipe is folded into
  μ (μ indexes :data:`NO_GOAL_PROBLEMS`, the 2401 (fridges, recipe) pairs whose recipe uses
  present ingredients), the agent can only pick up with an empty inventory, and picking up the
  second ingredient out of order gives +0.25 (dropping it again −0.25), so the rewards reveal
  the recipe.

Two implementations with the same dynamics: :class:`CookingEnv` (one Gymnasium 1.x env, plain
Python) and :class:`BatchedCookingEnv` (NumPy, many independent episodes at once). The tests
check they agree step for step. The choices the paper leaves open are in ``docs/benchmarks.md``.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from deep.envs.city import (
    MOVES,
    N_OBJ,
    OBJ_FRIDGE,
    OBJ_NONE,
    OBJ_POT,
    OFFICIAL_ACTIONS,
    PAPER_ACTIONS,
    STEP_REWARD,
)
from deep.envs.problem import (
    NO_GOAL,
    MetaProblemFamily,
    ProblemFactor,
    RevealOracle,
    VectorisedBatchedEnv,
    cached_oracle,
    check_action,
    check_config_keys,
    check_num_envs,
    check_render_mode,
    check_reset_inputs,
    check_reset_options,
    frozen_changes,
    grid_move_table,
    grid_visit_counts,
    register,
)

if TYPE_CHECKING:
    import pandas as pd

    from deep.envs.render import Policy

__all__ = [
    "FRIDGES",
    "NO_GOAL_PROBLEMS",
    "POT",
    "START",
    "BatchedCookingEnv",
    "CookingConfig",
    "CookingEnv",
    "CookingFamily",
    "fridge_contents",
]

SIZE = 3
"""Width and height of the kitchen; cells are (x, y) with x, y ∈ 0..2."""
START = (1, 1)
POT = (1, 1)
FRIDGES = ((2, 0), (2, 1), (2, 2))
"""Fridge i holds ingredient ``(fridge code // n_ingredients**i) % n_ingredients``."""
N_FRIDGES = 3
POT_CAPACITY = 3  # official variant only: the bowl holds at most 3 ingredients

KINDS = ("cooking", "no_goals")
VARIANTS = ("paper", "official")

# The object codes of the paper's one-hot "object under the agent" (Sec. 6.1), both action
# sets, the moves and the step cost are the city's (imported above).
# Official status codes: class index + 1 (0 none, 1 bus, 2 bowl, 3 drawer).
STATUS_NONE, STATUS_BOWL, STATUS_DRAWER = 0, 2, 3
STAGE_BONUS = 0.25
STAGE_PENALTY = -0.25
STAGE_REWARDS = ("replace", "add")
"""Readings of App. B.1's +0.25 for a completed recipe step (:attr:`CookingConfig.stage_reward`)."""
POT_VIEWS = ("hidden", "observed")
"""Whether the paper variant's observation shows the pot (:attr:`CookingConfig.pot`)."""
HELD_OUT = MappingProxyType({"paper": 11, "official": 10})
"""The problem each cooking variant holds out of training by default (App. B.1; the code)."""


def _no_goal_problems(n_ing: int = 7) -> tuple[tuple[int, int, int], ...]:
    rows = []
    for code in range(n_ing**N_FRIDGES):
        present = {(code // n_ing**i) % n_ing for i in range(N_FRIDGES)}
        rows += [(code, a, b) for a in range(n_ing) for b in range(n_ing) if {a, b} <= present]
    return tuple(rows)


NO_GOAL_PROBLEMS = _no_goal_problems()
"""μ → (fridge code, first ingredient a, second ingredient b) of ``cooking_no_goals``."""


def fridge_contents(code: int, n_ingredients: int) -> tuple[int, int, int]:
    """Ingredients of fridges 0, 1, 2 (at (2,0), (2,1), (2,2)) for a fridge code."""
    return tuple((code // n_ingredients**i) % n_ingredients for i in range(N_FRIDGES))  # type: ignore[return-value]


@dataclass(frozen=True)
class CookingConfig:
    """Configuration of one cooking benchmark (see ``docs/benchmarks.md`` for the variants)."""

    kind: Literal["cooking", "no_goals"] = "cooking"
    """"cooking" (4 ingredients, recipe goals) or "no_goals" (App. B.1's variant)."""
    variant: Literal["paper", "official"] = "paper"
    """"paper" (default) or "official": action set, observation, reward rules and held-out ID
    of the authors' code (cooking only; the code has no goal-free variant)."""
    horizon: int = 20
    """Steps per episode (paper: 20)."""
    stage_reward: Literal["replace", "add"] = "replace"
    """How a step that completes a recipe step is paid. "replace" (default): +0.25 instead of the
    −0.1 step cost, as the authors' code does; with it the returns are positive and the paper's
    "3.8x lower returns" reads as a ratio. "add": −0.1 + 0.25 = +0.15. Either way a penalised
    step pays −0.1 − 0.25 = −0.35 (``docs/benchmarks.md``)."""
    pot: Literal["hidden", "observed"] | None = None
    """Whether the paper variant's observation shows the pot. "observed" (cooking's default
    since issue 14): one more entry, 1 once ingredient a is in the pot (recipe step ii done),
    the part of the pot's contents a recipe reads. "hidden": Sec. 6.1's state as written, which
    does not show it, so the recipe stage is hidden (the default before; the only value for
    cooking without goals and for the "official" variant, whose observation shows the pot's
    slots). None: the default of the kind and variant. Why the default changed, by measurement:
    ``docs/benchmarks.md``."""

    held_out: int | None = None
    """The problem μ held out of training (cooking only; the goal-free variant holds none out).
    None: the variant's, μ = 11 for "paper" (App. B.1) and μ = 10 for "official" (the authors'
    code; fridges (2, 2, 0), two of them alike, where μ = 11 has three different ingredients)."""

    FIELDS_ADDED: ClassVar[Mapping[str, Any]] = MappingProxyType({"pot": "hidden"})
    """Fields added after runs were recorded, with the value that stood for before they
    existed: a checkpoint that does not name one ran with that value."""

    def __post_init__(self) -> None:
        if self.pot is None:
            default = "observed" if (self.kind, self.variant) == ("cooking", "paper") else "hidden"
            object.__setattr__(self, "pot", default)
        if self.held_out is None and self.kind == "cooking":
            object.__setattr__(self, "held_out", HELD_OUT.get(self.variant))
        if self.kind not in KINDS:
            raise ValueError(f"unknown cooking kind {self.kind!r}; allowed: {', '.join(KINDS)}")
        if self.stage_reward not in STAGE_REWARDS:
            raise ValueError(
                f"stage_reward={self.stage_reward!r} is invalid; allowed: "
                f"{', '.join(STAGE_REWARDS)}"
            )
        if self.variant not in VARIANTS:
            raise ValueError(f"unknown variant {self.variant!r}; allowed: {', '.join(VARIANTS)}")
        if self.pot not in POT_VIEWS:
            raise ValueError(f"pot={self.pot!r} is invalid; allowed: {', '.join(POT_VIEWS)}")
        if self.pot == "observed" and (self.kind, self.variant) != ("cooking", "paper"):
            raise ValueError(
                f"pot='observed' is for cooking's paper variant, not {self.kind} "
                f"({self.variant}); allowed: pot='hidden'"
            )
        if self.kind == "no_goals" and self.variant != "paper":
            raise ValueError(
                f"variant {self.variant!r} does not exist for cooking_no_goals (the official "
                "code has no such env); allowed: 'paper'"
            )
        if self.kind == "no_goals" and self.held_out is not None:
            raise ValueError(
                f"held_out={self.held_out!r}: cooking without goals holds no problem out; "
                "allowed: none"
            )
        if self.kind == "cooking" and not (
            isinstance(self.held_out, int) and 0 <= self.held_out < self.n_problems
        ):
            raise ValueError(
                f"held_out={self.held_out!r} is invalid; "
                f"allowed: a problem ID 0..{self.n_problems - 1}"
            )
        if not (isinstance(self.horizon, int) and self.horizon >= 1):
            raise ValueError(f"horizon={self.horizon!r} is invalid; allowed: integers >= 1")

    @property
    def actions(self) -> tuple[str, ...]:
        """Action names, indexed by action."""
        return PAPER_ACTIONS if self.variant == "paper" else OFFICIAL_ACTIONS

    @property
    def n_ingredients(self) -> int:
        """Number of ingredient types."""
        return 4 if self.kind == "cooking" else 7

    @property
    def n_problems(self) -> int:
        """Number of problem IDs μ."""
        return 64 if self.kind == "cooking" else len(NO_GOAL_PROBLEMS)

    @property
    def n_goals(self) -> int:
        """Number of goals (recipes); 0 when the recipe is part of μ."""
        return 16 if self.kind == "cooking" else 0


def step_reward(bonus: Any, stage_reward: str) -> Any:
    """The reward of a rewarded step whose stage machine paid ``bonus`` (scalar or array).

    −0.1 + bonus, except that a completed recipe step (bonus > 0) pays the bonus alone under
    the "replace" reading (:attr:`CookingConfig.stage_reward`).
    """
    added = STEP_REWARD + np.asarray(bonus, dtype=float)
    if stage_reward == "add":
        return added
    return np.where(np.asarray(bonus) > 0, bonus, added)


def problem_layout(config: CookingConfig, problem: int) -> tuple[tuple[int, int, int], int, int]:
    """(fridge contents, recipe a, recipe b) of μ; the recipe is (-1, -1) for ``cooking``."""
    if config.kind == "cooking":
        return fridge_contents(problem, 4), -1, -1
    code, a, b = NO_GOAL_PROBLEMS[problem]
    return fridge_contents(code, 7), a, b


def paper_observation_layout(config: CookingConfig) -> dict[str, slice]:
    """Where each part of the paper variant's observation vector sits, in order.

    ``cell`` (x, y), ``object`` (one-hot: none, bus, map, pot, fridge), ``inventory``
    (one-hot: empty, then each ingredient), for cooking with goals ``goal_a`` and ``goal_b``
    (one-hots of the recipe, all zero in exploration), and with ``pot="observed"`` ``pot``
    (1 once a is in the pot). The one definition that :func:`observation_space`, both
    ``_obs`` builders (tested) and :meth:`CookingFamily.observed_goals` share.
    """
    n = config.n_ingredients
    sizes = {"cell": 2, "object": N_OBJ, "inventory": 1 + n}
    if config.kind == "cooking":
        sizes |= {"goal_a": n, "goal_b": n}
    if config.pot == "observed":
        sizes["pot"] = 1
    ends = list(itertools.accumulate(sizes.values()))
    return {
        name: slice(end - size, end) for (name, size), end in zip(sizes.items(), ends, strict=True)
    }


def observation_space(config: CookingConfig) -> spaces.Box:
    """The Box of one observation vector (layout in :class:`CookingEnv`)."""
    n = config.n_ingredients
    if config.variant == "paper":
        layout = paper_observation_layout(config)
        high = [1] * layout[next(reversed(layout))].stop
        high[layout["cell"]] = [SIZE - 1] * 2
    else:
        high = [SIZE - 1, SIZE - 1, STATUS_DRAWER] + [n] * (1 + POT_CAPACITY + 2)
    high_arr = np.array(high, dtype=np.int64)
    return spaces.Box(low=np.zeros_like(high_arr), high=high_arr, dtype=np.int64)


class CookingFamily(MetaProblemFamily):
    """The problem family p(μ) of a cooking benchmark, with its train/test split.

    Goals depend on μ (only recipes of present ingredients), so :meth:`sample_goal` needs the
    problem and :meth:`sample_trial` draws the goals given the drawn problem.
    """

    method_config_changes: ClassVar[Mapping[str, Mapping[str, Any]]] = frozen_changes(
        {"dream": {"exploitation_policy": "recurrent"}}
    )
    """DREAM's exploitation policy is recurrent on the kitchens. Sec. 6.1's observation (cell,
    object under the agent, inventory, goal; ``pot="hidden"``) does not show the recipe stage:
    after ingredient a is in the pot the agent stands on the pot with empty hands, exactly as
    at the start, so a feed-forward Q(s, z) must act the same in both and cannot finish a
    recipe with a ≠ b (tested in ``tests/test_envs_cooking.py``). An LSTM over the episode, as
    in the authors' code and App. B.3's history embedding, tells them apart. It stays the
    choice with the pot observed (the default, which the measurements were made with); the
    baselines are recurrent already."""

    def __init__(self, config: CookingConfig) -> None:
        self.config = config
        self.name = "cooking" if config.kind == "cooking" else "cooking_no_goals"
        self.n_problems = config.n_problems
        self.n_goals = config.n_goals
        self.uniform_goals = False
        self.reference_splits = ("train", "test") if config.kind == "cooking" else ("all",)
        self.reference_options: tuple[Mapping[str, Any], ...] = ({}, {"stage_reward": "add"})
        if config.kind == "cooking":  # the authors' code's held-out kitchen, in the paper variant
            self.reference_options += ({"held_out": HELD_OUT["official"]},)

    def _split_ids(self, split: str) -> np.ndarray:
        everything = np.arange(self.n_problems)
        if split == "all" or self.config.kind == "no_goals":
            return everything  # the paper names no held-out problem for the goal-free variant
        held_out = [self.config.held_out]
        return np.array(held_out) if split == "test" else np.setdiff1d(everything, held_out)

    def goal_probabilities(self, problem: int) -> np.ndarray:
        """p(g | μ) over the ``n_goals`` recipes g = 4a + b (empty for the goal-free variant).

        ``paper``: uniform over the recipes whose two ingredients are both present in μ.
        ``official``: a and b drawn independently, each uniformly from the 3 fridges (so an
        ingredient in 2 fridges is twice as likely).
        """
        problem = self.check_problem(problem)
        probs = np.zeros(self.n_goals)
        if self.n_goals == 0:
            return probs
        contents = fridge_contents(problem, 4)
        if self.config.variant == "paper":
            present = sorted(set(contents))
            for a, b in itertools.product(present, present):
                probs[4 * a + b] = 1.0
        else:
            for a, b in itertools.product(contents, contents):
                probs[4 * a + b] += 1.0
        return probs / probs.sum()

    def factors(self) -> tuple[ProblemFactor, ...]:
        """The ingredient in each fridge and, without goals, the recipe: all task-relevant.

        ``fridge{i}``: the ingredient at ``FRIDGES[i]``; ``cooking_no_goals`` only: ``recipe_a``
        and ``recipe_b`` (with goals, the recipe is the goal, not part of μ).
        """
        n = self.config.n_ingredients
        out = [
            ProblemFactor(f"fridge{i}", n, True, f"ingredient in the fridge at {cell}")
            for i, cell in enumerate(FRIDGES)
        ]
        if self.config.kind == "no_goals":
            out += [
                ProblemFactor("recipe_a", n, True, "the recipe's first ingredient"),
                ProblemFactor("recipe_b", n, True, "the recipe's second ingredient"),
            ]
        return tuple(out)

    def problem_factors(self, problem: int) -> dict[str, int]:
        """Values of :meth:`factors` (:func:`problem_layout`)."""
        contents, a, b = problem_layout(self.config, self.check_problem(problem))
        values = {f"fridge{i}": int(c) for i, c in enumerate(contents)}
        if self.config.kind == "no_goals":
            values.update(recipe_a=int(a), recipe_b=int(b))
        return values

    def exploration_visits(
        self,
        problems: np.ndarray,
        obs: Mapping[str, np.ndarray],
        actions: np.ndarray,
        lengths: np.ndarray,
    ) -> dict[str, np.ndarray]:
        """Per exploration episode: fridges opened, pick-ups at each, distinct cells occupied.

        ``pickups_fridge{i}``: "pick up" actions taken at ``FRIDGES[i]``; ``fridges_picked``:
        the distinct fridges picked from; ``cells_visited``: distinct cells among s_0..s_T.
        """
        states = obs["state"]
        pick = self.config.actions.index("pick_up")
        taken = (actions == pick) & (np.arange(actions.shape[1])[None, :] < lengths[:, None])
        x, y = states[:, :-1, 0], states[:, :-1, 1]
        visits: dict[str, np.ndarray] = {}
        for i, (fx, fy) in enumerate(FRIDGES):
            visits[f"pickups_fridge{i}"] = (taken & (x == fx) & (y == fy)).sum(1).astype(float)
        picked = np.stack([visits[f"pickups_fridge{i}"] > 0 for i in range(N_FRIDGES)], axis=1)
        visits["fridges_picked"] = picked.sum(1).astype(float)
        counts = grid_visit_counts(states, lengths, SIZE)
        visits["cells_visited"] = (counts > 0).sum(axis=(1, 2)).astype(float)
        return visits

    def cell_visits(self, obs: Mapping[str, np.ndarray], lengths: np.ndarray) -> np.ndarray:
        """Occupancy of the 3 × 3 cells (row y, column x), summed over the episodes."""
        return grid_visit_counts(obs["state"], lengths, SIZE).sum(axis=0)

    @property
    def gym_id(self) -> str:
        """The Gymnasium registry ID of this benchmark's single env."""
        return GYM_IDS[self.config.kind]

    def make_env(self, *, render_mode: str | None = None, split: str = "train") -> gym.Env:
        """Single Gymnasium env (via ``gymnasium.make``); ``env.unwrapped`` is a CookingEnv."""
        self.problem_ids(split)  # validates the split name
        return gym.make(self.gym_id, config=self.config, render_mode=render_mode, split=split)

    def make_batched(self, num_envs: int, seed: int = 0) -> BatchedCookingEnv:
        """Batched NumPy env with ``num_envs`` independent episodes (deterministic: no seed)."""
        return BatchedCookingEnv(self.config, num_envs)

    def reveal_oracle(self) -> RevealOracle | None:
        """:func:`deep.envs.reference_cooking.identified`, cached (paper variant; else None)."""
        if self.config.variant != "paper":
            return None
        from deep.envs import reference_cooking

        name = self.name

        def cooking(problem: int, actions: tuple[int, ...]) -> bool:
            return bool(reference_cooking.identified(name, actions)[problem])

        return cached_oracle(cooking)

    def exploitation_progress(
        self, problem: int, goal: int, actions: Sequence[int]
    ) -> float | None:
        """The furthest recipe stage an episode reached, over 4 (steps (i)-(iv) of the recipe).

        Replays ``actions`` from problem μ with goal ``goal`` in one env (the stage can fall
        back, e.g. when a held ingredient is dropped; the furthest counts).
        """
        env = self.make_env(split="all").unwrapped
        env.reset(options={"problem": int(problem), "goal": None if goal < 0 else int(goal)})
        furthest = env.stage
        for action in actions:
            _, _, terminated, truncated, _ = env.step(int(action))
            furthest = max(furthest, env.stage)
            if terminated or truncated:
                break
        return furthest / 4

    def observed_goals(self, obs: Mapping[str, np.ndarray]) -> np.ndarray | None:
        """The recipe g = 4a + b each observation ``obs["state"]`` ``[N, D]`` shows.

        ``NO_GOAL`` where it shows none (an exploration episode); None for cooking without
        goals, whose recipe is part of μ. Paper variant: the goal one-hots; official: the last
        two entries (4: no goal).
        """
        if self.config.kind != "cooking":
            return None
        state = np.asarray(obs["state"])
        n = self.config.n_ingredients
        if self.config.variant == "paper":
            layout = paper_observation_layout(self.config)
            a_hot, b_hot = state[:, layout["goal_a"]], state[:, layout["goal_b"]]
            shown = a_hot.any(1)
            a, b = a_hot.argmax(1), b_hot.argmax(1)
        else:
            a, b = state[:, -2], state[:, -1]
            shown = a < n
        return np.where(shown, 4 * a + b, NO_GOAL).astype(np.int64)

    def goal_kind(self, goal: int) -> str:
        """``"a, a"`` (one ingredient twice) or ``"a, b"`` (two different ones); "" : no goal.

        Without the recipe step in the observation, only (a, b) needs memory: on the pot with
        empty hands, an (a, a) recipe always wants a next.
        """
        if goal < 0:
            return ""
        n = self.config.n_ingredients  # goal g = n·a + b (4 ingredients in goal mode)
        return "a, a" if goal // n == goal % n else "a, b"

    def task_stage(self, env: Any) -> int | None:
        """The recipe stage 0–4 of a single env: how many of steps (i)-(iv) are done.

        The paper's observation does not show it (on the pot with empty hands at stage 0 and 2).
        """
        return int(env.stage)

    def oracle_policies(self, problem: int, *, seed: int = 0) -> tuple[Policy, Policy]:
        """(scripted exploration, then "ride bus"; π* of the exact model) for problem μ.

        The exploration is :func:`~deep.envs.reference_cooking.scripted_exploration`. Paper
        variant only; ``seed`` is ignored (the start is fixed).
        """
        if self.config.variant != "paper":
            raise ValueError(
                f"no scripted oracle policies for {self.name} variant "
                f"{self.config.variant!r}; allowed: 'paper'"
            )
        from deep.envs import reference_cooking
        from deep.envs.render import scripted_policy

        model = self._exact_model()
        script = reference_cooking.scripted_exploration(self.name, problem)

        def exploit(env: Any, t: int) -> int:
            return int(model.policy[t, self._model_state(model, env)])

        return scripted_policy(script, self.config.actions.index("ride_bus")), exploit

    def optimal_action_values(self, env: Any, t: int) -> np.ndarray | None:
        """Q*(s_t, a) = r(s_t, a) + V*_{t+1}(s_{t+1}) of the exact model, this family's reading.

        Paper variant only (None otherwise).
        """
        if self.config.variant != "paper":
            return None
        model = self._exact_model()
        s = self._model_state(model, env)
        after = np.where(model.terminated[s], 0.0, model.value[t + 1][model.next[s]])
        return model.reward[s] + after

    def _exact_model(self) -> Any:
        """The cached exact model of this family's name, horizon and reward reading."""
        from deep.envs import reference_cooking

        return reference_cooking.cooking_model(self.name, self.horizon, self.config.stage_reward)

    @staticmethod
    def _model_state(model: Any, env: Any) -> int:
        """The index in ``model`` of a single env's full state (μ, goal, cell, inventory, stage)."""
        from deep.envs import reference_cooking

        cell = env.pos[1] * SIZE + env.pos[0]
        key = reference_cooking._encode(env.problem, env.goal, cell, env.inventory, env.stage)
        return int(np.searchsorted(model.keys, key))

    def reference_table(
        self, variant: str = "paper", split: str = "test", options: Mapping[str, Any] | None = None
    ) -> pd.DataFrame:
        """:func:`deep.envs.reference_cooking.reference_table` (paper variant).

        ``options``: ``{"stage_reward": "add"}`` for the other reading of the recipe-step reward,
        ``{"held_out": 10}`` for the authors' code's held-out problem.
        """
        from deep.envs import reference_cooking

        options = options or {}
        stage_reward = options.get("stage_reward", "replace")
        held_out = options.get("held_out")
        return reference_cooking.reference_table(self.name, split, stage_reward, held_out)

    def code_suffices(self, problem: int, code: int, goal: int) -> bool | None:
        """:func:`deep.envs.reference_cooking.code_suffices_table` (paper variant; else None)."""
        if self.config.variant != "paper":
            return None
        from deep.envs import reference_cooking

        table = reference_cooking.code_suffices_table(
            self.name, int(goal), self.config.horizon, self.config.stage_reward
        )
        return bool(table[self.check_problem(problem), self.check_problem(code)])

    def reference_reveals_all(
        self, problem: int, exploration_trajectory: Sequence[int], variant: str = "paper"
    ) -> bool:
        """:func:`deep.envs.reference_cooking.reveals_all` (paper variant)."""
        from deep.envs import reference_cooking

        return reference_cooking.reveals_all(self.name, problem, exploration_trajectory)


def _family_factory(kind: str) -> Any:
    def factory(**kwargs: Any) -> CookingFamily:
        check_config_keys(
            kwargs, "a cooking env", ("variant", "horizon", "stage_reward", "pot", "held_out")
        )
        return CookingFamily(CookingConfig(kind=kind, **kwargs))

    return factory


GYM_IDS = {"cooking": "deep/Cooking-v0", "no_goals": "deep/CookingNoGoals-v0"}
for _kind, _gym_id in GYM_IDS.items():
    if _gym_id not in gym.registry:
        gym.register(
            _gym_id,
            entry_point="deep.envs.cooking:CookingEnv",
            kwargs={"config": CookingConfig(_kind)},
        )

register("cooking")(_family_factory("cooking"))
register("cooking_no_goals")(_family_factory("no_goals"))


_INGREDIENT_COLORS = (
    (230, 25, 75),
    (60, 180, 75),
    (0, 130, 200),
    (245, 130, 48),
    (145, 30, 180),
    (70, 240, 240),
    (240, 50, 230),
)


class CookingEnv(gym.Env):
    """One episode of a DREAM cooking kitchen (cooking or cooking without goals).

    ## Description
    A 3×3 grid; the agent starts at (1, 1), on the pot. Fridges 0, 1, 2 at (2,0), (2,1), (2,2)
    hold the ingredients given by μ. A recipe (a, b) asks to (i) pick up a, (ii) drop it in
    the pot, (iii) pick up b, (iv) drop it in the pot. The recipe is the goal g = 4a + b
    (``cooking``) or part of μ (``cooking_no_goals``, 7 ingredients).

    ## Action Space
    ``paper``: ``Discrete(7)``: 0 up (y+1), 1 down, 2 left, 3 right, 4 ride bus, 5 pick up,
    6 drop. ``official``: ``Discrete(9)``: 0 left, 1 up, 2 right, 3 down, 4 noop, 5 ride bus,
    6 end episode, 7 pick up, 8 drop. Moves are clipped to the grid; ride bus does nothing.
    Pick up at a fridge puts its ingredient in the inventory (replacing what was held; in
    ``cooking_no_goals`` only with an empty inventory, otherwise nothing happens). Drop with a
    non-empty inventory empties it, anywhere (into the pot on the pot). ``official``: pick up
    on the pot empties the inventory, and the pot keeps up to 3 dropped ingredients.

    ## Observation Space
    ``Box(int64)``. ``paper``: ``[x, y, object one-hot (none, bus, map, pot, fridge),
    inventory one-hot (none, n ingredients), (cooking only) goal a one-hot (4), goal b
    one-hot (4), all 0 without a goal), pot]``: 21 entries (cooking), where ``pot`` is 1
    once a is in the pot (``pot="observed"``, cooking's default). With ``pot="hidden"``
    (Sec. 6.1's state, and cooking without goals) the pot is not observed: 20 entries
    (cooking) or 15 (no goals). ``official``: ``[x, y, status (0 none,
    2 pot, 3 fridge), inventory, pot slot 0, 1, 2, goal a, goal b]``, 4 meaning "empty" or
    "no goal".

    ## Rewards
    With a recipe: −0.1 per step, plus +0.25 for completing each of the steps (i)-(iv) in
    order and −0.25 for picking up a wrong ingredient or for dropping a recipe ingredient that
    was picked up in order anywhere but in the pot (which undoes its step). ``no_goals``:
    picking up b before a is in the pot gives +0.25 instead, and dropping that b −0.25.
    ``official``: the code's staged rules (``docs/benchmarks.md``) and the end-episode
    penalty. Without a goal (a ``cooking`` exploration episode): 0.

    ## Starting State
    Always (1, 1) with an empty inventory and pot. μ and the goal are drawn from
    ``self.np_random`` (seeded by ``reset``) unless given as ``options={"problem": μ,
    "goal": g}``; ``"goal": None`` means no goal (the only choice for ``cooking_no_goals``).

    ## Episode End
    Terminated on completing step (iv) (or end episode); truncated after ``horizon`` steps.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(
        self,
        config: CookingConfig | None = None,
        *,
        render_mode: str | None = None,
        split: str = "train",
    ) -> None:
        self.config = config if config is not None else CookingConfig()
        self.render_mode = check_render_mode(render_mode, self.metadata["render_modes"])
        self.family = CookingFamily(self.config)
        self.split_ids = self.family.problem_ids(split)
        self.action_space = spaces.Discrete(len(self.config.actions))
        self.observation_space = observation_space(self.config)
        self.n_ing = self.config.n_ingredients
        self.empty = self.n_ing  # inventory / pot code for "nothing"
        self.problem = int(self.split_ids[0])
        self.goal = NO_GOAL
        self._set_problem()
        self._start()

    def _set_problem(self) -> None:
        self.contents, a, b = problem_layout(self.config, self.problem)
        if self.config.kind == "cooking":
            a, b = (self.goal // 4, self.goal % 4) if self.goal != NO_GOAL else (-1, -1)
        self.recipe = (a, b)

    def _start(self) -> None:
        self.pos = START
        self.inventory = self.empty
        self.pot: list[int] = []
        self.stage = 0
        self.t = 0
        self._done = False

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode; see the class docstring for ``options``."""
        super().reset(seed=seed)
        options = check_reset_options(options)
        self.problem, self.goal = self.family.reset_task(options, self.np_random, self.split_ids)
        self._set_problem()
        self._start()
        return self._obs(), self._info()

    @property
    def rewarded(self) -> bool:
        """Whether this episode has a recipe (a goal, or the goal-free variant)."""
        return self.recipe[0] >= 0

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Advance one step."""
        check_action(self.action_space, action, self._done)
        name = self.config.actions[int(action)]
        self.t += 1
        if self.config.variant == "paper":
            bonus, terminated = self._paper_step(name)
        else:
            bonus, terminated = self._official_step(name)
        reward = float(step_reward(bonus, self.config.stage_reward)) if self.rewarded else 0.0
        if name == "end_episode":
            terminated = True
            if self.rewarded:
                reward = STEP_REWARD * (1 + self.config.horizon - self.t)
        truncated = (not terminated) and self.t >= self.config.horizon
        self._done = terminated or truncated
        return self._obs(), float(reward), terminated, truncated, self._info()

    def _move(self, name: str) -> None:
        x, y = self.pos
        dx, dy = MOVES[name]
        self.pos = (min(max(x + dx, 0), SIZE - 1), min(max(y + dy, 0), SIZE - 1))

    def _paper_step(self, name: str) -> tuple[float, bool]:
        a, b = self.recipe
        no_goals = self.config.kind == "no_goals"
        if name in MOVES:
            self._move(name)
            return 0.0, False
        if name == "pick_up" and self.pos in FRIDGES:
            if no_goals and self.inventory != self.empty:
                return 0.0, False
            item = self.contents[FRIDGES.index(self.pos)]
            self.inventory = item
            if self.stage in (0, 2):
                wanted = a if self.stage == 0 else b
                if item == wanted:
                    self.stage += 1
                    return STAGE_BONUS, False
                if no_goals and self.stage == 0 and item == b:
                    return STAGE_BONUS, False  # the second ingredient, out of order
                return STAGE_PENALTY, False
            held = a if self.stage == 1 else b  # stage 1 holds a, stage 3 holds b
            if item == held:
                return 0.0, False
            self.stage -= 1
            return STAGE_PENALTY, False
        if name == "drop" and self.inventory != self.empty:
            item, self.inventory = self.inventory, self.empty
            if self.stage in (1, 3):
                if self.pos == POT:
                    self.stage += 1
                    return STAGE_BONUS, self.stage == 4
                self.stage -= 1
                return STAGE_PENALTY, False
            if no_goals and self.stage == 0 and item == b:
                return STAGE_PENALTY, False
        return 0.0, False

    def _official_step(self, name: str) -> tuple[float, bool]:
        if name in MOVES:
            self._move(name)
        elif name == "pick_up":
            if self.pos in FRIDGES:
                self.inventory = self.contents[FRIDGES.index(self.pos)]
            elif self.pos == POT:
                self.inventory = self.empty
        elif name == "drop":
            if self.pos == POT and self.inventory != self.empty and len(self.pot) < POT_CAPACITY:
                self.pot.append(self.inventory)
            self.inventory = self.empty
        if not self.rewarded:
            return 0.0, False
        a, b = self.recipe
        if self.stage in (0, 2):
            if self.inventory == (a if self.stage == 0 else b):
                self.stage += 1
                return STAGE_BONUS, False
            return (STAGE_PENALTY if name == "pick_up" else 0.0), False
        if self.pot[: (self.stage + 1) // 2] == [a, b][: (self.stage + 1) // 2]:
            self.stage += 1
            return STAGE_BONUS, self.stage == 4
        if self.inventory != (a if self.stage == 1 else b):
            self.stage -= 1
            return STAGE_PENALTY, False
        return 0.0, False

    def _info(self) -> dict[str, Any]:
        return {"problem": self.problem, "goal": self.goal, "t": self.t, "stage": self.stage}

    def _obs(self) -> np.ndarray:
        x, y = self.pos
        n = self.n_ing
        if self.config.variant == "paper":
            obj = np.zeros(N_OBJ, dtype=np.int64)
            obj[OBJ_POT if self.pos == POT else OBJ_FRIDGE if self.pos in FRIDGES else 0] = 1
            inv = np.zeros(1 + n, dtype=np.int64)
            inv[0 if self.inventory == self.empty else 1 + self.inventory] = 1
            parts = [np.array([x, y]), obj, inv]
            if self.config.kind == "cooking":
                goal = np.zeros(2 * n, dtype=np.int64)
                if self.goal != NO_GOAL:
                    goal[self.goal // 4] = 1
                    goal[n + self.goal % 4] = 1
                parts.append(goal)
            if self.config.pot == "observed":
                parts.append(np.array([int(self.stage >= 2)]))
            return np.concatenate(parts).astype(np.int64)
        status = STATUS_BOWL if self.pos == POT else STATUS_DRAWER if self.pos in FRIDGES else 0
        pot = self.pot + [self.empty] * (POT_CAPACITY - len(self.pot))
        goal = [self.goal // 4, self.goal % 4] if self.goal != NO_GOAL else [n, n]
        return np.array([x, y, status, self.inventory, *pot, *goal], dtype=np.int64)

    def render(self) -> np.ndarray | None:
        """RGB uint8 frame (H, W, 3) of the current state in ``rgb_array`` mode, else None."""
        if self.render_mode != "rgb_array":
            return None
        cell = 40
        img = np.empty((SIZE * cell, SIZE * cell, 3), dtype=np.uint8)
        img[:] = (235, 235, 235)

        def fill(pos: tuple[int, int], color: Sequence[int], margin: int, size: int = 0) -> None:
            row = SIZE - 1 - pos[1]  # y grows upwards
            r0, c0 = row * cell + margin, pos[0] * cell + margin
            side = size or cell - 2 * margin
            img[r0 : r0 + side, c0 : c0 + side] = color

        fill(POT, (90, 90, 90), 3)
        for i, fridge in enumerate(FRIDGES):
            fill(fridge, (200, 200, 255), 3)
            fill(fridge, _INGREDIENT_COLORS[self.contents[i]], 12)
        for k, item in enumerate(self.pot):
            r0 = (SIZE - 1 - POT[1]) * cell + 28
            img[r0 : r0 + 8, POT[0] * cell + 4 + 11 * k : POT[0] * cell + 12 + 11 * k] = (
                _INGREDIENT_COLORS[item]
            )
        fill(self.pos, (20, 20, 20), 15)
        if self.inventory != self.empty:
            fill(self.pos, _INGREDIENT_COLORS[self.inventory], 18, 4)
        img[::cell, :] = (200, 200, 200)
        img[:, ::cell] = (200, 200, 200)
        return img


class BatchedCookingEnv(VectorisedBatchedEnv):
    """``num_envs`` independent cooking episodes stepped together with NumPy.

    Same dynamics, observations and rewards as :class:`CookingEnv` (tested step for step),
    vectorised with lookup tables (``_move[cell, action]``, ``_contents[μ]``) and masks.

    Resets are explicit, never automatic: :meth:`reset` takes the problems and goals (``-1`` =
    no goal) of the envs selected by ``mask``; an env whose episode has ended must be reset
    before it is stepped again (stepping it raises). State arrays (``pos``: cell index
    ``y * 3 + x``, ``inventory`` (n_ingredients = empty), ``stage``, ``pot`` (official),
    ``problem``, ``goal``, ``t``, ``done``) are public and read-only by convention.
    """

    _step_state = ("pos", "inventory", "stage", "pot", "pot_len", "t", "done")

    def __init__(self, config: CookingConfig, num_envs: int) -> None:
        self.num_envs = n = check_num_envs(num_envs)
        self.config = config
        self.family = CookingFamily(config)
        self.n_actions = len(config.actions)
        self.n_ing = config.n_ingredients
        self.observation_space = observation_space(config)
        self._build_tables()
        self.pos = np.full(n, self._cell(START), dtype=np.int64)
        self.inventory = np.full(n, self.n_ing, dtype=np.int64)
        self.stage = np.zeros(n, dtype=np.int64)
        self.pot = np.full((n, POT_CAPACITY), self.n_ing, dtype=np.int64)
        self.pot_len = np.zeros(n, dtype=np.int64)
        self.problem = np.zeros(n, dtype=np.int64)
        self.goal = np.full(n, NO_GOAL, dtype=np.int64)
        self.recipe = np.full((n, 2), -1, dtype=np.int64)
        self.t = np.zeros(n, dtype=np.int64)
        self.done = np.ones(n, dtype=bool)

    @staticmethod
    def _cell(pos: tuple[int, int]) -> int:
        return pos[1] * SIZE + pos[0]

    def _build_tables(self) -> None:
        cfg, n_cells = self.config, SIZE * SIZE
        self._xy, self._move = grid_move_table(SIZE, cfg.actions, MOVES)
        self._pick = cfg.actions.index("pick_up")
        self._drop = cfg.actions.index("drop")
        self._end = cfg.actions.index("end_episode") if "end_episode" in cfg.actions else -1
        self._fridge_of = np.full(n_cells, -1)
        for i, f in enumerate(FRIDGES):
            self._fridge_of[self._cell(f)] = i
        self._pot_cell = self._cell(POT)
        layouts = [problem_layout(cfg, mu) for mu in range(cfg.n_problems)]
        self._contents = np.array([c for c, _, _ in layouts], dtype=np.int64)
        self._mu_recipe = np.array([(a, b) for _, a, b in layouts], dtype=np.int64)

    def reset(
        self,
        problems: np.ndarray | int,
        goals: np.ndarray | int,
        mask: np.ndarray | None = None,
    ) -> np.ndarray:
        """Reset the envs where ``mask`` is True (all if None); return all observations.

        ``problems`` and ``goals`` broadcast to the number of selected envs.
        """
        idx, problems, goals = check_reset_inputs(self.family, self.num_envs, problems, goals, mask)
        self.problem[idx] = problems
        self.goal[idx] = goals
        if self.config.kind == "cooking":
            has = goals != NO_GOAL
            self.recipe[idx] = np.where(has[:, None], np.stack([goals // 4, goals % 4], 1), -1)
        else:
            self.recipe[idx] = self._mu_recipe[problems]
        self.pos[idx] = self._cell(START)
        self.inventory[idx] = self.n_ing
        self.stage[idx] = 0
        self.pot[idx] = self.n_ing
        self.pot_len[idx] = 0
        self.t[idx] = 0
        self.done[idx] = False
        return self._obs()

    def _advance(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Step every env in place (inputs already checked); ``(reward, terminated, truncated)``."""
        self.t += 1
        if self.config.variant == "paper":
            bonus, terminated = self._paper_step(actions)
        else:
            bonus, terminated = self._official_step(actions)
        rewarded = self.recipe[:, 0] >= 0
        reward = np.where(rewarded, step_reward(bonus, self.config.stage_reward), 0.0)
        end = actions == self._end
        penalty = STEP_REWARD * (1 + self.config.horizon - self.t)
        reward = np.where(end & rewarded, penalty, reward)
        terminated = terminated | end
        truncated = ~terminated & (self.t >= self.config.horizon)
        self.done = terminated | truncated
        return reward, terminated, truncated

    def _paper_step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The paper's reward stages (see :meth:`CookingEnv._paper_step`), vectorised."""
        empty, no_goals = self.n_ing, self.config.kind == "no_goals"
        a, b = self.recipe[:, 0], self.recipe[:, 1]
        stage, inv = self.stage, self.inventory
        fridge = self._fridge_of[self.pos]
        # pick up: at a fridge (and, without goals, only with an empty inventory)
        pick = (actions == self._pick) & (fridge >= 0)
        if no_goals:
            pick &= inv == empty
        item = self._contents[self.problem, np.maximum(fridge, 0)]
        wanted = np.where(stage < 2, a, b)  # the ingredient sought (even stage) or held (odd)
        seeking = (stage % 2) == 0
        hit = pick & seeking & (item == wanted)
        out_of_order = pick & seeking & ~hit & (stage == 0) & (item == b) & no_goals
        wrong = pick & ~hit & ~out_of_order & (seeking | (item != wanted))
        bonus = np.where(hit | out_of_order, STAGE_BONUS, 0.0)
        bonus += np.where(wrong, STAGE_PENALTY, 0.0)
        new_stage = np.where(hit, stage + 1, np.where(wrong & ~seeking, stage - 1, stage))
        new_inv = np.where(pick, item, inv)
        # drop: empties a non-empty inventory; into the pot when on it
        drop = (actions == self._drop) & (inv != empty)
        holding = drop & ~seeking
        placed = holding & (self.pos == self._pot_cell)
        lost = holding & ~placed
        stray_b = drop & (stage == 0) & (inv == b) & no_goals
        bonus += np.where(placed, STAGE_BONUS, 0.0) + np.where(lost | stray_b, STAGE_PENALTY, 0.0)
        new_stage = np.where(placed, stage + 1, np.where(lost, stage - 1, new_stage))
        new_inv = np.where(drop, empty, new_inv)
        self.pos = self._move[self.pos, actions]  # pick up and drop never move
        self.stage, self.inventory = new_stage, new_inv
        return bonus, placed & (new_stage == 4)

    def _official_step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n, empty = self.num_envs, self.n_ing
        rows = np.arange(n)
        fridge = self._fridge_of[self.pos]
        at_pot = self.pos == self._pot_cell
        pick = actions == self._pick
        item = self._contents[self.problem, np.maximum(fridge, 0)]
        inv = np.where(pick & (fridge >= 0), item, self.inventory)
        inv = np.where(pick & at_pot, empty, inv)
        drop = actions == self._drop
        put = drop & at_pot & (inv != empty) & (self.pot_len < POT_CAPACITY)
        slot = np.minimum(self.pot_len, POT_CAPACITY - 1)
        self.pot[rows[put], slot[put]] = inv[put]
        self.pot_len = self.pot_len + put
        inv = np.where(drop, empty, inv)
        self.pos = self._move[self.pos, actions]
        self.inventory = inv
        rewarded = self.recipe[:, 0] >= 0
        a, b = self.recipe[:, 0], self.recipe[:, 1]
        stage = self.stage
        seeking = (stage % 2) == 0
        wanted = np.where(stage < 2, a, b)
        got = seeking & (inv == wanted)
        first_ok = self.pot[:, 0] == a
        pot_ok = np.where(stage == 1, first_ok, first_ok & (self.pot[:, 1] == b))
        placed = ~seeking & pot_ok
        fell_back = ~seeking & ~pot_ok & (inv != wanted)
        advance = rewarded & (got | placed)
        bonus = np.where(advance, STAGE_BONUS, 0.0)
        penalised = rewarded & ((seeking & ~got & pick) | fell_back)
        bonus += np.where(penalised, STAGE_PENALTY, 0.0)
        self.stage = np.where(advance, stage + 1, np.where(rewarded & fell_back, stage - 1, stage))
        return bonus, rewarded & placed & (self.stage == 4)

    def _obs(self) -> np.ndarray:
        n, ni = self.num_envs, self.n_ing
        rows = np.arange(n)
        xy = self._xy[self.pos]
        at_pot = self.pos == self._pot_cell
        at_fridge = self._fridge_of[self.pos] >= 0
        has_goal = self.goal != NO_GOAL
        if self.config.variant == "paper":
            obj = np.zeros((n, N_OBJ), dtype=np.int64)
            obj[rows, np.where(at_pot, OBJ_POT, np.where(at_fridge, OBJ_FRIDGE, OBJ_NONE))] = 1
            inv = np.zeros((n, 1 + ni), dtype=np.int64)
            inv[rows, np.where(self.inventory == ni, 0, 1 + self.inventory)] = 1
            parts = [xy, obj, inv]
            if self.config.kind == "cooking":
                goal = np.zeros((n, 2 * ni), dtype=np.int64)
                hr = rows[has_goal]
                goal[hr, self.goal[has_goal] // 4] = 1
                goal[hr, ni + self.goal[has_goal] % 4] = 1
                parts.append(goal)
            if self.config.pot == "observed":
                parts.append((self.stage >= 2).astype(np.int64)[:, None])
            return np.concatenate(parts, axis=1)
        status = np.where(at_pot, STATUS_BOWL, np.where(at_fridge, STATUS_DRAWER, STATUS_NONE))
        goal = np.where(has_goal[:, None], np.stack([self.goal // 4, self.goal % 4], 1), ni)
        return np.concatenate(
            [xy, status[:, None], self.inventory[:, None], self.pot, goal], axis=1
        ).astype(np.int64)
