"""The meta-RL problem-family interface shared by every benchmark (DREAM, Sec. 3 and Sec. 6).

A *problem family* is the distribution p(μ) over problems of Sec. 3: each problem ID μ is an
integer in ``0..n_problems-1`` that fixes the dynamics (for the city grid worlds, where each bus
goes). The family has an explicit train/test split of its IDs, and, where the benchmark is
goal-conditioned, a per-episode goal (the "instruction") drawn uniformly from ``0..n_goals-1``.

A *trial* is 1 exploration episode followed by ``n_exploit`` exploitation episodes in the same
problem μ (Sec. 3). The exploration episode has no goal; each exploitation episode has its own.
Everything random (which problem, which goals) is drawn from a ``numpy.random.Generator`` made
from an explicit seed, so a different seed gives a different task stream. (The official code draws
the same problems whatever its seed; see ``docs/benchmarks.md``.)
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "NO_GOAL",
    "SPLITS",
    "MetaProblemFamily",
    "Trial",
    "check_active",
    "check_step_inputs",
    "make",
    "register",
    "registered_names",
    "step_active_rows",
]

NO_GOAL = -1
"""Goal value meaning "no goal": used for exploration episodes."""

SPLITS = ("train", "test", "all")
"""Names accepted wherever a split of the problem IDs is asked for."""


@dataclass(frozen=True)
class Trial:
    """One meta-RL trial: a problem and the goals of its exploitation episodes."""

    problem: int
    """The problem ID μ, fixed for the whole trial."""
    goals: tuple[int, ...]
    """One goal per exploitation episode (empty tuple for goal-free families)."""


class MetaProblemFamily(abc.ABC):
    """A distribution over problems μ with a train/test split and per-episode goals.

    Subclasses define ``name``, ``n_problems``, ``n_goals``, ``_split_ids`` and the two env
    constructors. All sampling goes through ``numpy.random.Generator`` objects passed in.
    """

    name: str
    n_problems: int
    n_goals: int
    uniform_goals: bool = True
    """Whether p(g | μ) is uniform over all goals for every μ (False: see goal_probabilities)."""

    @abc.abstractmethod
    def _split_ids(self, split: str) -> np.ndarray:
        """Return the sorted problem IDs of a (validated) split."""

    @abc.abstractmethod
    def make_env(self, *, render_mode: str | None = None, split: str = "train") -> Any:
        """Return a single Gymnasium environment for this family."""

    @abc.abstractmethod
    def make_batched(self, num_envs: int) -> Any:
        """Return a NumPy implementation stepping ``num_envs`` independent episodes at once."""

    def problem_ids(self, split: str) -> np.ndarray:
        """Problem IDs of ``split`` ("train", "test" or "all"), sorted, as a read-only array."""
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; allowed: {', '.join(SPLITS)}")
        ids = np.array(self._split_ids(split), dtype=np.int64)
        ids.setflags(write=False)
        return ids

    def check_problem(self, problem: int) -> int:
        """Return ``problem`` as an int, or raise ValueError if it is not a problem ID."""
        if not (isinstance(problem, int | np.integer) and 0 <= int(problem) < self.n_problems):
            raise ValueError(
                f"problem ID {problem!r} is outside the {self.name} family; "
                f"allowed: integers 0..{self.n_problems - 1}"
            )
        return int(problem)

    def check_goal(self, goal: int) -> int:
        """Return ``goal`` as an int (``NO_GOAL`` allowed), or raise ValueError."""
        ok = isinstance(goal, int | np.integer) and (
            int(goal) == NO_GOAL or 0 <= int(goal) < self.n_goals
        )
        if not ok:
            raise ValueError(
                f"goal {goal!r} is not a goal of {self.name}; "
                f"allowed: {NO_GOAL} (no goal) or integers 0..{self.n_goals - 1}"
            )
        return int(goal)

    def sample_problem(self, rng: np.random.Generator, split: str = "train") -> int:
        """Draw μ uniformly from ``split``."""
        return int(rng.choice(self.problem_ids(split)))

    def goal_probabilities(self, problem: int) -> np.ndarray:
        """p(g | μ) over the ``n_goals`` goals: uniform unless a family says otherwise."""
        self.check_problem(problem)
        return np.full(self.n_goals, 1.0 / self.n_goals) if self.n_goals else np.zeros(0)

    def sample_goal(self, rng: np.random.Generator, problem: int | None = None) -> int:
        """Draw one goal of problem μ from :meth:`goal_probabilities` (``NO_GOAL`` if none).

        Families whose goals do not depend on μ accept ``problem=None``.
        """
        if self.n_goals == 0:
            return NO_GOAL
        if problem is None or self.uniform_goals:
            return int(rng.integers(self.n_goals))
        return int(rng.choice(self.n_goals, p=self.goal_probabilities(problem)))

    def sample_trial(
        self, rng: np.random.Generator, split: str = "train", n_exploit: int = 1
    ) -> Trial:
        """Draw a problem from ``split`` and ``n_exploit`` exploitation goals of it."""
        if not (isinstance(n_exploit, int) and n_exploit >= 1):
            raise ValueError(f"n_exploit={n_exploit!r} is invalid; allowed: integers >= 1")
        problem = self.sample_problem(rng, split)
        goals = tuple(self.sample_goal(rng, problem) for _ in range(n_exploit) if self.n_goals)
        return Trial(problem=problem, goals=goals)

    def trials(self, seed: int, split: str = "train", n_exploit: int = 1) -> Iterator[Trial]:
        """Endless stream of trials, fully determined by ``seed`` (different seeds differ)."""
        rng = np.random.default_rng(seed)
        while True:
            yield self.sample_trial(rng, split, n_exploit)


_REGISTRY: dict[str, Callable[..., MetaProblemFamily]] = {}


def register(name: str) -> Callable[[Callable[..., MetaProblemFamily]], Callable[..., Any]]:
    """Decorator adding a family factory to the registry under ``name``."""

    def deco(factory: Callable[..., MetaProblemFamily]) -> Callable[..., MetaProblemFamily]:
        if name in _REGISTRY:
            raise ValueError(f"env name {name!r} is already registered")
        _REGISTRY[name] = factory
        return factory

    return deco


def registered_names() -> tuple[str, ...]:
    """Names accepted by :func:`make`, sorted."""
    return tuple(sorted(_REGISTRY))


def make(name: str, **kwargs: Any) -> MetaProblemFamily:
    """Build the problem family registered as ``name``; ``kwargs`` go to its config."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown env name {name!r}; allowed: {', '.join(registered_names())}")
    return _REGISTRY[name](**kwargs)


def check_active(active: Any, num_envs: int) -> np.ndarray | None:
    """``active`` of a batched ``step`` as a bool array of shape ``(num_envs,)``; None stays None.

    Raises a one-line ValueError naming the value when it is not a bool array of that shape.
    """
    if active is None:
        return None
    arr = np.asarray(active)
    if arr.shape != (num_envs,) or arr.dtype != np.bool_:
        text = np.array2string(arr, threshold=8, max_line_width=10**6) if arr.ndim else repr(active)
        shown = " ".join(text.split())  # one line, also for 2-D arrays
        raise ValueError(
            f"active={shown} (shape {arr.shape}, dtype {arr.dtype}) is invalid; "
            f"allowed: None or a bool array of shape ({num_envs},)"
        )
    return arr


def check_step_inputs(
    actions: Any, active: Any, num_envs: int, n_actions: int, done: np.ndarray
) -> tuple[np.ndarray, np.ndarray | None]:
    """Validate the inputs of a batched ``step``; return ``(actions, active)`` as arrays.

    ``actions`` must be an integer array of shape ``(num_envs,)`` (whatever ``active`` is);
    only the entries of active envs (all when ``active`` is None) must be actions in
    ``0..n_actions-1``, and only active envs must not have ended (``done``): inactive envs'
    actions are ignored, so any integer (e.g. -1) may stand there. Errors: one-line ValueError
    (inputs) or RuntimeError (an active env has ended).
    """
    actions = np.asarray(actions)
    if actions.shape != (num_envs,) or not np.issubdtype(actions.dtype, np.integer):
        raise ValueError(
            f"actions must be an integer array of shape ({num_envs},); "
            f"got shape {actions.shape} dtype {actions.dtype}"
        )
    active = check_active(active, num_envs)
    live = actions if active is None else actions[active]
    bad = live[(live < 0) | (live >= n_actions)]
    if bad.size:
        raise ValueError(
            f"action {int(bad[0])} is outside the action space; "
            f"allowed: integers 0..{n_actions - 1}"
        )
    ended = done if active is None else done & active
    if ended.any():
        first = int(np.flatnonzero(ended)[0])
        raise RuntimeError(f"env {first} has ended; reset it before stepping")
    return actions, active


def step_active_rows(
    env: Any,
    advance: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]],
    actions: np.ndarray,
    active: np.ndarray,
    state: tuple[str, ...],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Partial step of a vectorised batched env: only the rows where ``active`` is True move.

    ``advance(actions)`` steps every row of ``env`` in place and returns ``(reward, terminated,
    truncated)``. It runs on all rows (inactive rows take action 0, whatever their state), then
    the attributes named in ``state`` (every array ``advance`` changes) are put back on the
    inactive rows, whose reward is 0 and terminated and truncated False. This keeps the
    vectorised step whole, at the cost of a copy of the state arrays.
    """
    saved = [(name, getattr(env, name).copy()) for name in state]
    reward, terminated, truncated = advance(np.where(active, actions, 0))
    idle = ~active
    for name, old in saved:
        getattr(env, name)[idle] = old[idle]
    reward[idle] = 0.0
    terminated[idle] = False
    truncated[idle] = False
    return reward, terminated, truncated
