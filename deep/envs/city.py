"""The bus city grid worlds of DREAM Sec. 6.1 / App. B.1: vanilla bus, distracting bus and map.

A 9×9 city. The agent starts in the centre (4, 4). Four colored bus stops sit next to the start;
riding one teleports the agent next to one of the four green goal corners, and a return bus of
the same color at the destination leads back. The problem ID μ fixes which stop goes to which
corner (one of the 4! permutations). The grid coordinates are those of the authors' code
(``docs/benchmarks.md``); the paper gives only the picture.

* ``vanilla_bus``: the four colored buses only; μ ∈ 0..23.
* ``distracting_bus``: plus four gray buses on the diagonals of the start, leading to
  a permutation of the edge midpoints; μ ∈ 0..575, colored permutation ``μ % 24``, gray
  permutation ``μ // 24`` (App. B.1).
* ``map``: the vanilla city plus a map cell at (7, 3) whose observation reveals μ (App. B.1).

Two implementations with the same dynamics: :class:`CityEnv` (one Gymnasium 1.x env, plain
Python) and :class:`BatchedCityEnv` (NumPy, many independent episodes at once, table driven).
The tests check they agree step for step.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import gymnasium as gym
import numpy as np
from gymnasium import spaces

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
    grid_move_table,
    grid_visit_counts,
    register,
)

if TYPE_CHECKING:
    import pandas as pd

    from deep.envs.render import Policy

__all__ = [
    "COLORED_DESTS",
    "COLORED_STOPS",
    "GOALS",
    "GRAY_DESTS",
    "GRAY_STOPS",
    "MAP_CELL",
    "PERMUTATIONS",
    "START",
    "BatchedCityEnv",
    "CityConfig",
    "CityEnv",
    "CityFamily",
    "bus_rides",
]

SIZE = 9
"""Width and height of the grid; cells are (x, y) with x, y ∈ 0..8."""
START = (4, 4)
COLORED_STOPS = ((4, 5), (5, 4), (3, 4), (4, 3))
COLORED_DESTS = ((0, 1), (0, 7), (8, 1), (8, 7))
GOALS = ((0, 0), (0, 8), (8, 0), (8, 8))
"""Goal j is one step from ``COLORED_DESTS[j]``."""
GRAY_STOPS = ((5, 5), (3, 3), (3, 5), (5, 3))
GRAY_DESTS = ((0, 4), (4, 0), (8, 4), (4, 8))
MAP_CELL = (7, 3)
PERMUTATIONS = tuple(itertools.permutations(range(4)))
"""Permutation k sends stop i to destination ``PERMUTATIONS[k][i]``."""

KINDS = ("vanilla", "distracting", "map")
VARIANTS = ("paper", "official")
TRAIN_SPLITS = ("independent", "fixed_gray", "paired", "stride11")
"""Designs of the distracting bus's training IDs (:attr:`CityConfig.train_split`)."""
CYCLIC_GRAY = tuple(PERMUTATIONS.index(tuple((i + s) % 4 for i in range(4))) for s in range(4))
"""The 4 cyclic gray permutations: any two send every gray stop to different destinations."""

# Object codes of the paper's one-hot "object under the agent" (Sec. 6.1).
OBJ_NONE, OBJ_BUS, OBJ_MAP, OBJ_POT, OBJ_FRIDGE = range(5)
N_OBJ = 5
N_INV = 5  # none or one of 4 ingredients (always none in the city)

# Paper action set (Sec. 6.1): move ×4, ride bus, pick up, drop. "up" is y + 1.
PAPER_ACTIONS = ("up", "down", "left", "right", "ride_bus", "pick_up", "drop")
# Official action set and order (authors' GridEnv).
OFFICIAL_ACTIONS = (
    "left",
    "up",
    "right",
    "down",
    "noop",
    "ride_bus",
    "end_episode",
    "pick_up",
    "drop",
)
MOVES = {"up": (0, 1), "down": (0, -1), "left": (-1, 0), "right": (1, 0)}
STEP_REWARD = -0.1
GOAL_REWARD = 1.0


@dataclass(frozen=True)
class CityConfig:
    """Configuration of one city benchmark.

    Everything the paper fixes is a constant of this module; the fields are the choices a user
    may want to change (see ``docs/benchmarks.md`` for what each variant means).
    """

    kind: Literal["vanilla", "distracting", "map"] = "distracting"
    """Which benchmark: the 4-bus city, + gray distractor buses, or + map."""
    variant: Literal["paper", "official"] = "paper"
    """"paper": action set, observation and held-out split of the paper (default).
    "official": those of the authors' code (9 actions incl. end_episode, integer object code,
    map value μ+1, 53 train IDs for distracting bus)."""
    horizon: int = 20
    """Steps per episode (paper: 20)."""
    train_split: str | None = None
    """Distracting bus only: which problem IDs are meta-training ones (the rest are held out).
    "independent": every colored permutation with each of the 4 cyclic gray permutations (96
    IDs, 480 held out): in training the gray buses neither identify the colored permutation
    nor lead anywhere known. "fixed_gray": μ = 0..23, App. B.1's count of 24 (552 held out),
    every colored permutation with the identity gray one: the gray routes are known in
    training (a shortcut worth 0.4 without exploration, 0.3 on held-out IDs). "paired": μ =
    25k, k = 0..23, each colored and each gray permutation once: the gray permutation
    determines the colored one in training (one gray ride identifies the problem). "stride11":
    μ = 0, 11, 22, ... (53 IDs, the authors' code; a gray permutation leaves 2.3 colored ones
    on average). None: the variant's ("paper": independent, "official": stride11); the
    measurements behind the default are in ``docs/benchmarks.md``."""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown city kind {self.kind!r}; allowed: {', '.join(KINDS)}")
        if self.variant not in VARIANTS:
            raise ValueError(f"unknown variant {self.variant!r}; allowed: {', '.join(VARIANTS)}")
        if not (isinstance(self.horizon, int) and self.horizon >= 1):
            raise ValueError(f"horizon={self.horizon!r} is invalid; allowed: integers >= 1")
        if self.train_split is not None:
            if self.kind != "distracting":
                raise ValueError(
                    f"train_split={self.train_split!r} is invalid for {self.kind}; allowed: "
                    "only on distracting_bus"
                )
            if self.train_split not in TRAIN_SPLITS:
                raise ValueError(
                    f"train_split={self.train_split!r} is invalid; allowed: "
                    f"{', '.join(TRAIN_SPLITS)}"
                )

    @property
    def resolved_train_split(self) -> str | None:
        """The training-ID design in use (None: not the distracting bus, all 24 IDs train)."""
        if self.kind != "distracting":
            return None
        if self.train_split is not None:
            return self.train_split
        return "independent" if self.variant == "paper" else "stride11"

    @property
    def actions(self) -> tuple[str, ...]:
        """Action names, indexed by action."""
        return PAPER_ACTIONS if self.variant == "paper" else OFFICIAL_ACTIONS

    @property
    def n_problems(self) -> int:
        """Number of problem IDs μ."""
        return 576 if self.kind == "distracting" else 24


def bus_routes(kind: str, problem: int) -> dict[tuple[int, int], tuple[int, int]]:
    """Cell → destination of every bus (and return bus) in problem μ of ``kind``."""
    routes: dict[tuple[int, int], tuple[int, int]] = {}
    perm = PERMUTATIONS[problem % 24]
    for i, stop in enumerate(COLORED_STOPS):
        routes[stop] = COLORED_DESTS[perm[i]]
        routes[COLORED_DESTS[perm[i]]] = stop
    if kind == "distracting":
        gray = PERMUTATIONS[problem // 24]
        for i, stop in enumerate(GRAY_STOPS):
            routes[stop] = GRAY_DESTS[gray[i]]
            routes[GRAY_DESTS[gray[i]]] = stop
    return routes


def bus_rides(
    config: CityConfig, states: np.ndarray, actions: np.ndarray, lengths: np.ndarray
) -> dict[str, np.ndarray]:
    """Per episode: how many ride actions were taken at colored and at gray bus cells.

    ``states`` ``[B, T+1, D]`` (x, y first, both variants), ``actions`` ``[B, T]``,
    ``lengths`` ``[B]``. A ride anywhere else (no bus there) is counted as ``elsewhere``.
    """
    ride = config.actions.index("ride_bus")
    x, y = states[:, :-1, 0], states[:, :-1, 1]
    taken = (actions == ride) & (np.arange(actions.shape[1])[None, :] < lengths[:, None])

    def at(cells: tuple[tuple[int, int], ...]) -> np.ndarray:
        return np.any([(x == cx) & (y == cy) for cx, cy in cells], axis=0)

    colored = at(COLORED_STOPS + COLORED_DESTS)
    gray = at(GRAY_STOPS + GRAY_DESTS) if config.kind == "distracting" else np.zeros_like(taken)
    return {
        "colored": (taken & colored).sum(1),
        "gray": (taken & gray).sum(1),
        "elsewhere": (taken & ~colored & ~gray).sum(1),
    }


def observation_space(config: CityConfig) -> spaces.Box:
    """The Box of one observation vector (layout in :class:`CityEnv`)."""
    if config.variant == "paper":
        high = [SIZE - 1] * 2 + [1] * (N_OBJ + N_INV + len(GOALS))
        if config.kind == "map":
            high.append(23)
    else:
        high = [SIZE - 1, SIZE - 1, 3]
        if config.kind == "map":
            high.append(24)
        high += [SIZE, SIZE]
    high_arr = np.array(high, dtype=np.int64)
    return spaces.Box(low=np.zeros_like(high_arr), high=high_arr, dtype=np.int64)


class CityFamily(MetaProblemFamily):
    """The problem family p(μ) of one city benchmark, with its train/test split."""

    def __init__(self, config: CityConfig) -> None:
        self.config = config
        self.name = {"vanilla": "vanilla_bus", "distracting": "distracting_bus"}.get(
            config.kind, config.kind
        )
        self.n_problems = config.n_problems
        self.n_goals = len(GOALS)
        distracting = config.kind == "distracting"
        self.reference_variants = VARIANTS
        self.reference_splits = ("train", "test") if distracting else ("all",)
        self.reference_options: tuple[Mapping[str, Any], ...] = ({},)
        if distracting:
            self.reference_options += tuple({"train_split": s} for s in TRAIN_SPLITS)

    def _train_ids(self) -> np.ndarray:
        split = self.config.resolved_train_split
        if split is None:
            return np.arange(24)
        if split == "stride11":
            return np.arange(0, 576, 11)  # 53 IDs
        if split == "independent":  # μ = colored + 24 · gray
            return np.sort((np.arange(24)[:, None] + 24 * np.array(CYCLIC_GRAY)).ravel())
        if split == "paired":  # colored permutation k with gray permutation k
            return 25 * np.arange(24)
        # Paper: 24 train IDs (552 held out); which ones is not given. Every colored
        # permutation with the identity gray permutation (PERMUTATIONS[0]).
        return np.arange(24)

    def _split_ids(self, split: str) -> np.ndarray:
        if split == "all":
            return np.arange(self.n_problems)
        train = self._train_ids()
        if split == "train" or self.config.kind != "distracting":
            return train
        return np.setdiff1d(np.arange(self.n_problems), train)

    @property
    def gym_id(self) -> str:
        """The Gymnasium registry ID of this benchmark's single env."""
        return GYM_IDS[self.config.kind]

    def make_env(self, *, render_mode: str | None = None, split: str = "train") -> gym.Env:
        """Single Gymnasium env (via ``gymnasium.make``); default resets draw μ from ``split``.

        ``env.unwrapped`` is the :class:`CityEnv`.
        """
        self.problem_ids(split)  # validates the split name
        return gym.make(self.gym_id, config=self.config, render_mode=render_mode, split=split)

    def make_batched(self, num_envs: int, seed: int = 0) -> BatchedCityEnv:
        """Batched NumPy env with ``num_envs`` independent episodes (deterministic: no seed)."""
        return BatchedCityEnv(self.config, num_envs)

    def factors(self) -> tuple[ProblemFactor, ...]:
        """μ's colored permutation (task-relevant) and, on the distracting bus, its gray one.

        Each permutation also as the destination of every stop (``colored_stop{i}``: the index
        in :data:`COLORED_DESTS` of stop ``COLORED_STOPS[i]``'s destination; ``gray_stop{i}``
        likewise), so that a probe can be scored on permutations it was not fitted on.
        """
        parts = [("colored", True, COLORED_STOPS, "μ mod 24")]
        if self.config.kind == "distracting":
            parts.append(("gray", False, GRAY_STOPS, "μ // 24"))
        out: list[ProblemFactor] = []
        for part, relevant, stops, formula in parts:
            out.append(ProblemFactor(part, 24, relevant, f"{part} bus permutation, {formula}"))
            out += [
                ProblemFactor(
                    f"{part}_stop{i}", 4, relevant, f"destination of the {part} bus at {stop}"
                )
                for i, stop in enumerate(stops)
            ]
        return tuple(out)

    def problem_factors(self, problem: int) -> dict[str, int]:
        """Values of :meth:`factors`: ``PERMUTATIONS[μ % 24]`` and ``PERMUTATIONS[μ // 24]``."""
        problem = self.check_problem(problem)
        perms = {"colored": problem % 24}
        if self.config.kind == "distracting":
            perms["gray"] = problem // 24
        values: dict[str, int] = {}
        for part, k in perms.items():
            values[part] = k
            values.update({f"{part}_stop{i}": d for i, d in enumerate(PERMUTATIONS[k])})
        return values

    def exploration_visits(
        self,
        problems: np.ndarray,
        obs: Mapping[str, np.ndarray],
        actions: np.ndarray,
        lengths: np.ndarray,
    ) -> dict[str, np.ndarray]:
        """Per exploration episode: bus rides by kind, distinct cells occupied, map visits.

        Rides: :func:`bus_rides` (``rides_colored``, ``rides_gray``, ``rides_elsewhere``);
        ``cells_visited``: distinct cells among s_0..s_T; ``map`` only: ``map_visits``, the
        states s_0..s_T on the map cell.
        """
        states = obs["state"]
        rides = bus_rides(self.config, states, actions, lengths)
        visits = {f"rides_{kind}": n.astype(float) for kind, n in rides.items()}
        counts = grid_visit_counts(states, lengths, SIZE)
        if self.config.kind == "map":
            visits["map_visits"] = counts[:, MAP_CELL[1], MAP_CELL[0]].astype(float)
        visits["cells_visited"] = (counts > 0).sum(axis=(1, 2)).astype(float)
        return visits

    def cell_visits(self, obs: Mapping[str, np.ndarray], lengths: np.ndarray) -> np.ndarray:
        """Occupancy of the 9 × 9 cells (row y, column x), summed over the episodes."""
        return grid_visit_counts(obs["state"], lengths, SIZE).sum(axis=0)

    def reveal_oracle(self) -> RevealOracle:
        """:func:`deep.envs.reference_city.reveals_all` in this variant, cached."""
        from deep.envs import reference_city

        name, variant = self.name, self.config.variant

        def city(problem: int, actions: tuple[int, ...]) -> bool:
            return reference_city.reveals_all(name, problem, actions, variant)

        return cached_oracle(city)

    def oracle_policies(self, problem: int, *, seed: int = 0) -> tuple[Policy, Policy]:
        """(scripted exploration, then "drop"; π* of the exact model) for problem μ.

        The exploration is :func:`~deep.envs.reference_city.scripted_exploration`; ``seed`` is
        ignored (the agent always starts in the same cell).
        """
        from deep.envs import reference_city
        from deep.envs.render import scripted_policy

        self.check_problem(problem)
        variant = self.config.variant
        model = reference_city._model(self.name, variant)
        script = reference_city.scripted_exploration(self.name, variant)

        def exploit(env: Any, t: int) -> int:
            cell = env.pos[1] * SIZE + env.pos[0]
            return int(model.policy[env.problem, env.goal, cell])

        return scripted_policy(script, self.config.actions.index("drop")), exploit

    def optimal_action_values(self, env: Any, t: int) -> np.ndarray | None:
        """Q*(s_t, a) of the exact model (paper variant; None otherwise).

        The goal step pays +1 and ends the episode; any other step pays −0.1 plus the best
        return from the next cell with H − t − 1 steps left.
        """
        if self.config.variant != "paper":
            return None
        from deep.envs import reference_city

        model = reference_city._model(self.name, "paper")
        cell = env.pos[1] * SIZE + env.pos[0]
        nxt = model.next_cell[env.problem, cell]
        dist = model.dist_to_goal[env.problem, env.goal, nxt]
        left = self.config.horizon - t - 1
        later = np.where(dist <= left, GOAL_REWARD + STEP_REWARD * (dist - 1), STEP_REWARD * left)
        return np.where(dist == 0, GOAL_REWARD, STEP_REWARD + later)

    def reference_table(
        self, variant: str = "paper", split: str = "test", options: Mapping[str, Any] | None = None
    ) -> pd.DataFrame:
        """:func:`deep.envs.reference_city.reference_table`; options: ``{"train_split": ...}``."""
        from deep.envs import reference_city

        train_split = (options or {}).get("train_split")
        return reference_city.reference_table(self.name, variant, split, train_split)

    def reference_reveals_all(
        self, problem: int, exploration_trajectory: Sequence[int], variant: str = "paper"
    ) -> bool:
        """:func:`deep.envs.reference_city.reveals_all` of this benchmark."""
        from deep.envs import reference_city

        return reference_city.reveals_all(self.name, problem, exploration_trajectory, variant)


def _family_factory(kind: str) -> Any:
    def factory(**kwargs: Any) -> CityFamily:
        allowed = ("variant", "horizon") + (("train_split",) if kind == "distracting" else ())
        check_config_keys(kwargs, "a city env", allowed)
        return CityFamily(CityConfig(kind=kind, **kwargs))

    return factory


GYM_IDS = {
    "vanilla": "deep/VanillaBus-v0",
    "distracting": "deep/DistractingBus-v0",
    "map": "deep/MapCity-v0",
}
for _kind, _gym_id in GYM_IDS.items():
    if _gym_id not in gym.registry:
        gym.register(
            _gym_id, entry_point="deep.envs.city:CityEnv", kwargs={"config": CityConfig(_kind)}
        )

register("vanilla_bus")(_family_factory("vanilla"))
register("distracting_bus")(_family_factory("distracting"))
register("map")(_family_factory("map"))


_COLORS = {
    "floor": (235, 235, 235),
    "grid": (200, 200, 200),
    "goal": (60, 180, 75),
    "goal_active": (0, 110, 30),
    "gray": (128, 128, 128),
    "map": (150, 100, 50),
    "agent": (20, 20, 20),
}
_BUS_COLORS = ((230, 25, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180))


class CityEnv(gym.Env):
    """One episode of a DREAM bus city (vanilla bus, distracting bus or map).

    ## Description
    A 9×9 grid; the agent starts at (4, 4). Colored bus stops at (4,5), (5,4), (3,4), (4,3)
    teleport the agent to (0,1), (0,7), (8,1), (8,7) in the permutation given by μ (return
    buses lead back). Goals are the corners (0,0), (0,8), (8,0), (8,8), each one step from a
    colored-bus destination. ``distracting`` adds gray buses at (5,5), (3,3), (3,5), (5,3) to a
    μ-dependent permutation of the edge midpoints; ``map`` adds a map at (7, 3) that reveals μ.

    ## Action Space
    ``paper``: ``Discrete(7)``: 0 up (y+1), 1 down, 2 left, 3 right, 4 ride bus, 5 pick up,
    6 drop. ``official``: ``Discrete(9)``: 0 left, 1 up, 2 right, 3 down, 4 noop, 5 ride bus,
    6 end episode, 7 pick up, 8 drop. Moves are clipped to the grid; riding off a bus, pick up,
    drop (no fridge or pot in the city) and noop leave the state unchanged.

    ## Observation Space
    ``Box(int64)``. ``paper``: ``[x, y, object one-hot (none, bus, map, pot, fridge),
    inventory one-hot (none, 4 ingredients), goal one-hot (4; all 0 without a goal)]`` and,
    for ``map``, one more entry equal to μ on the map cell and 0 elsewhere (16 or 17 entries).
    ``official``: ``[x, y, object code (0 none, 1 bus), (map only: μ+1 on the map, else 0),
    goal x, goal y]`` with goal (9, 9) when there is no goal.

    ## Rewards
    With a goal: −0.1 per step, except the step that reaches the goal, which gives +1 and ends
    the episode (optimal return knowing μ: −0.1 −0.1 +1 = 0.8). ``official`` only: end episode
    ends it with −0.1 −0.1×(steps remaining). Without a goal (exploration episode): 0.

    ## Starting State
    Always (4, 4). μ and the goal are drawn from ``self.np_random`` (seeded by ``reset``) unless
    given as ``options={"problem": μ, "goal": g}``; ``"goal": None`` means no goal.

    ## Episode End
    Terminated on reaching the goal (or end episode); truncated after ``horizon`` steps.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(
        self,
        config: CityConfig | None = None,
        *,
        render_mode: str | None = None,
        split: str = "train",
    ) -> None:
        self.config = config if config is not None else CityConfig()
        self.render_mode = check_render_mode(render_mode, self.metadata["render_modes"])
        self.family = CityFamily(self.config)
        self.split_ids = self.family.problem_ids(split)
        self.action_space = spaces.Discrete(len(self.config.actions))
        self.observation_space = observation_space(self.config)
        self.problem = int(self.split_ids[0])
        self.goal = NO_GOAL
        self.pos = START
        self.t = 0
        self._routes = bus_routes(self.config.kind, self.problem)
        self._done = False

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode; see the class docstring for ``options``."""
        super().reset(seed=seed)
        options = check_reset_options(options)
        self.problem, self.goal = self.family.reset_task(options, self.np_random, self.split_ids)
        self._routes = bus_routes(self.config.kind, self.problem)
        self.pos = START
        self.t = 0
        self._done = False
        return self._obs(), self._info()

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Advance one step."""
        check_action(self.action_space, action, self._done)
        name = self.config.actions[int(action)]
        self.t += 1
        x, y = self.pos
        if name in MOVES:
            dx, dy = MOVES[name]
            self.pos = (min(max(x + dx, 0), SIZE - 1), min(max(y + dy, 0), SIZE - 1))
        elif name == "ride_bus":
            self.pos = self._routes.get(self.pos, self.pos)
        has_goal = self.goal != NO_GOAL
        reward, terminated = (STEP_REWARD if has_goal else 0.0), False
        if name == "end_episode":
            terminated = True
            if has_goal:
                reward = STEP_REWARD * (1 + self.config.horizon - self.t)
        elif has_goal and self.pos == GOALS[self.goal]:
            reward, terminated = GOAL_REWARD, True
        truncated = (not terminated) and self.t >= self.config.horizon
        self._done = terminated or truncated
        return self._obs(), float(reward), terminated, truncated, self._info()

    def _info(self) -> dict[str, Any]:
        return {"problem": self.problem, "goal": self.goal, "t": self.t}

    def _obs(self) -> np.ndarray:
        x, y = self.pos
        on_bus = self.pos in self._routes
        on_map = self.config.kind == "map" and self.pos == MAP_CELL
        if self.config.variant == "paper":
            obj = np.zeros(N_OBJ, dtype=np.int64)
            obj[OBJ_BUS if on_bus else OBJ_MAP if on_map else OBJ_NONE] = 1
            inv = np.zeros(N_INV, dtype=np.int64)
            inv[0] = 1
            goal = np.zeros(len(GOALS), dtype=np.int64)
            if self.goal != NO_GOAL:
                goal[self.goal] = 1
            parts = [np.array([x, y]), obj, inv, goal]
            if self.config.kind == "map":
                parts.append(np.array([self.problem if on_map else 0]))
        else:
            parts = [np.array([x, y, int(on_bus)])]
            if self.config.kind == "map":
                parts.append(np.array([self.problem + 1 if on_map else 0]))
            gx, gy = GOALS[self.goal] if self.goal != NO_GOAL else (SIZE, SIZE)
            parts.append(np.array([gx, gy]))
        return np.concatenate(parts).astype(np.int64)

    def render(self) -> np.ndarray | None:
        """RGB uint8 frame (H, W, 3) of the current state in ``rgb_array`` mode, else None."""
        if self.render_mode != "rgb_array":
            return None
        cell = 20
        img = np.empty((SIZE * cell, SIZE * cell, 3), dtype=np.uint8)
        img[:] = _COLORS["floor"]

        def fill(pos: tuple[int, int], color: tuple[int, int, int], margin: int = 1) -> None:
            row = SIZE - 1 - pos[1]  # y grows upwards
            r0, c0 = row * cell + margin, pos[0] * cell + margin
            img[r0 : r0 + cell - 2 * margin, c0 : c0 + cell - 2 * margin] = color

        for j, g in enumerate(GOALS):
            fill(g, _COLORS["goal_active"] if j == self.goal else _COLORS["goal"])
        perm = PERMUTATIONS[self.problem % 24]
        for i, stop in enumerate(COLORED_STOPS):
            fill(stop, _BUS_COLORS[i], 3)
            fill(COLORED_DESTS[perm[i]], _BUS_COLORS[i], 3)
        if self.config.kind == "distracting":
            for cell_pos in GRAY_STOPS + GRAY_DESTS:
                fill(cell_pos, _COLORS["gray"], 3)
        if self.config.kind == "map":
            fill(MAP_CELL, _COLORS["map"], 3)
        fill(self.pos, _COLORS["agent"], 7)
        img[::cell, :] = _COLORS["grid"]
        img[:, ::cell] = _COLORS["grid"]
        return img


class BatchedCityEnv(VectorisedBatchedEnv):
    """``num_envs`` independent city episodes stepped together with NumPy.

    Same dynamics, observations and rewards as :class:`CityEnv` (tested step for step), but
    implemented with lookup tables: ``_move[cell, action]`` and ``_ride[μ, cell]``.

    Resets are explicit, never automatic: :meth:`reset` takes the problems and goals (``-1`` =
    no goal) of the envs selected by ``mask``; an env whose episode has ended must be reset
    before it is stepped again (stepping it raises). State arrays (``pos``: cell index
    ``y * 9 + x``, ``problem``, ``goal``, ``t``, ``done``) are public and read-only by
    convention.
    """

    _step_state = ("pos", "t", "done")

    def __init__(self, config: CityConfig, num_envs: int) -> None:
        self.num_envs = check_num_envs(num_envs)
        self.config = config
        self.family = CityFamily(config)
        self.n_actions = len(config.actions)
        self.observation_space = observation_space(config)
        self._build_tables()
        n = self.num_envs
        self.pos = np.full(n, self._cell(START), dtype=np.int64)
        self.problem = np.zeros(n, dtype=np.int64)
        self.goal = np.full(n, NO_GOAL, dtype=np.int64)
        self.t = np.zeros(n, dtype=np.int64)
        self.done = np.ones(n, dtype=bool)

    @staticmethod
    def _cell(pos: tuple[int, int]) -> int:
        return pos[1] * SIZE + pos[0]

    def _build_tables(self) -> None:
        cfg, n_cells = self.config, SIZE * SIZE
        self._xy, self._move = grid_move_table(SIZE, cfg.actions, MOVES)
        self._ride_action = cfg.actions.index("ride_bus")
        self._end_action = cfg.actions.index("end_episode") if "end_episode" in cfg.actions else -1
        self._ride = np.tile(np.arange(n_cells)[None, :], (cfg.n_problems, 1))
        for mu in range(cfg.n_problems):
            for src, dst in bus_routes(cfg.kind, mu).items():
                self._ride[mu, self._cell(src)] = self._cell(dst)
        # The set of bus cells does not depend on μ.
        self._is_bus = self._ride[0] != np.arange(n_cells)
        self._goal_cell = np.array([self._cell(g) for g in GOALS] + [-1])  # index -1 = no goal
        self._goal_xy = np.array([*GOALS, (SIZE, SIZE)])
        self._map_cell = self._cell(MAP_CELL) if cfg.kind == "map" else -1
        if cfg.variant == "paper":
            base = np.zeros((n_cells, 2 + N_OBJ + N_INV), dtype=np.int64)
            base[:, :2] = self._xy
            obj = np.where(self._is_bus, OBJ_BUS, OBJ_NONE)
            if self._map_cell >= 0:
                obj[self._map_cell] = OBJ_MAP
            base[np.arange(n_cells), 2 + obj] = 1
            base[:, 2 + N_OBJ] = 1
            self._obs_base = base

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
        self.pos[idx] = self._cell(START)
        self.problem[idx] = problems
        self.goal[idx] = goals
        self.t[idx] = 0
        self.done[idx] = False
        return self._obs()

    def _advance(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Step every env in place (inputs already checked); ``(reward, terminated, truncated)``."""
        ride = actions == self._ride_action
        self.pos = np.where(ride, self._ride[self.problem, self.pos], self._move[self.pos, actions])
        self.t += 1
        has_goal = self.goal != NO_GOAL
        at_goal = has_goal & (self.pos == self._goal_cell[self.goal])
        end = actions == self._end_action
        reward = np.where(has_goal, STEP_REWARD, 0.0)
        reward = np.where(end & has_goal, STEP_REWARD * (1 + self.config.horizon - self.t), reward)
        reward = np.where(at_goal & ~end, GOAL_REWARD, reward)
        terminated = end | at_goal
        truncated = ~terminated & (self.t >= self.config.horizon)
        self.done = terminated | truncated
        return reward, terminated, truncated

    def _obs(self) -> np.ndarray:
        on_map = self.pos == self._map_cell
        if self.config.variant == "paper":
            goal = np.zeros((self.num_envs, len(GOALS)), dtype=np.int64)
            has = self.goal != NO_GOAL
            goal[np.flatnonzero(has), self.goal[has]] = 1
            parts = [self._obs_base[self.pos], goal]
            if self.config.kind == "map":
                parts.append(np.where(on_map, self.problem, 0)[:, None])
        else:
            parts = [self._xy[self.pos], self._is_bus[self.pos].astype(np.int64)[:, None]]
            if self.config.kind == "map":
                parts.append(np.where(on_map, self.problem + 1, 0)[:, None])
            parts.append(self._goal_xy[self.goal])
        return np.concatenate(parts, axis=1)
