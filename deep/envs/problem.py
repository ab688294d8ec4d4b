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
import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

    from deep.envs.render import Policy

__all__ = [
    "NO_GOAL",
    "REFERENCE_COLUMNS",
    "SPLITS",
    "MetaProblemFamily",
    "ProblemFactor",
    "RevealOracle",
    "Trial",
    "VectorisedBatchedEnv",
    "check_action",
    "check_active",
    "check_config_keys",
    "check_num_envs",
    "check_render_mode",
    "check_reset_inputs",
    "check_reset_options",
    "check_step_inputs",
    "frozen_changes",
    "grid_move_table",
    "grid_visit_counts",
    "make",
    "options_label",
    "register",
    "registered_names",
]

NO_GOAL = -1
"""Goal value meaning "no goal": used for exploration episodes."""

SPLITS = ("train", "test", "all")
"""Names accepted wherever a split of the problem IDs is asked for."""

RevealOracle = Callable[..., bool]
"""``oracle(problem, exploration_actions)``: does the trajectory reveal μ's relevant part.

Where the actions alone do not decide it, the oracle takes the episode's start too,
``oracle(problem, exploration_actions, start)``: ``start`` is the row of the batched env's
``starts`` array recorded at the episode's reset (as a tuple; the sign task's start pose and
object orientations), which a family's batched env has only when its oracle needs it. An
oracle may also have ``reveal_step`` (same arguments): the fewest of the actions that reveal,
or None, found in one pass instead of asking the oracle about every prefix.
"""

REFERENCE_COLUMNS = (
    "optimal",
    "optimal_after_exploration",
    "pearl_ub",
    "pearl_ub_sampled",
    "pearl_ub_redraw",
    "no_exploration",
)
"""The reference returns every family's reference row has, in table order
(:mod:`deep.envs.reference_values`; PEARL-UB's three readings are in ``docs/benchmarks.md``)."""

ORACLE_CACHE_SIZE = 1 << 16
"""Action sequences remembered by each oracle of :meth:`MetaProblemFamily.reveal_oracle`."""


def options_label(name: str, options: Mapping[str, Any] | None = None) -> str:
    """The ``benchmark`` label of a reference row or a run: ``name[k=v,...]`` (keys sorted).

    The plain name for no options: :mod:`analysis.learning_curves` labels a run made with
    ``--env-arg k=v`` the same way, so its curve meets its own reference row.
    """
    if not options:
        return name
    return name + "[" + ",".join(f"{k}={v}" for k, v in sorted(options.items())) + "]"


def cached_oracle(fn: RevealOracle) -> RevealOracle:
    """``fn`` with an LRU cache per ``(problem, actions[, start])``, as every reveal oracle has."""
    return functools.lru_cache(maxsize=ORACLE_CACHE_SIZE)(fn)


def frozen_changes(
    changes: Mapping[str, Mapping[str, Any]],
) -> Mapping[str, Mapping[str, Any]]:
    """A read-only copy of a ``method_config_changes`` table (both levels)."""
    return MappingProxyType({role: MappingProxyType(dict(c)) for role, c in changes.items()})


@dataclass(frozen=True)
class ProblemFactor:
    """One named factor of a problem ID μ (:meth:`MetaProblemFamily.factors`).

    A family's factors decompose μ into the parts a diagnostic can name: the distracting bus's
    μ is its colored permutation μ mod 24 (task-relevant) and its gray permutation μ // 24
    (not), each also split into the destination of every stop. The factors need not be
    independent (a permutation and its stops' destinations), but together they determine μ.
    """

    name: str
    n_values: int
    """The factor takes the values ``0..n_values-1``."""
    relevant: bool
    """Task-relevant: some goal's optimal exploitation depends on it (Sec. 4.1: the information
    exploration must recover). False: a distractor, which an information bottleneck should drop
    (Sec. 4.2; the gray buses)."""
    about: str = ""
    """What the factor is, in words."""


@dataclass(frozen=True)
class Trial:
    """One meta-RL trial: a problem and the goals of its exploitation episodes."""

    problem: int
    """The problem ID μ, fixed for the whole trial."""
    goals: tuple[int, ...]
    """One goal per exploitation episode (empty tuple for goal-free families)."""


class MetaProblemFamily(abc.ABC):
    """A distribution over problems μ with a train/test split and per-episode goals.

    Subclasses define ``name``, ``n_problems``, ``n_goals``, ``config`` (with a ``horizon``),
    ``_split_ids`` and the two env constructors. All sampling goes through
    ``numpy.random.Generator`` objects passed in.

    Everything code outside :mod:`deep.envs` needs to know about a benchmark is asked of its
    family, never decided by testing ``name``: :attr:`horizon`, :meth:`make_batched`,
    :meth:`reveal_oracle`, :meth:`eval_num_envs`, :attr:`method_config_changes`,
    :attr:`requires`, :meth:`oracle_policies`, the diagnostics' :meth:`factors`,
    :meth:`problem_factors`, :meth:`exploration_visits` and :meth:`cell_visits` (Figs. 11-12)
    and the reference-value hooks
    (:attr:`reference_variants` .. :meth:`reference_reveals_all`, used by
    :mod:`deep.envs.reference_values`).
    """

    name: str
    n_problems: int
    n_goals: int
    config: Any
    """The family's frozen config dataclass (every one has a ``horizon``)."""
    uniform_goals: bool = True
    """Whether p(g | μ) is uniform over all goals for every μ (False: see goal_probabilities)."""

    method_config_changes: ClassVar[Mapping[str, Mapping[str, Any]]] = frozen_changes({})
    """Per-benchmark adjustments of method configs: ``{role: {field: value}}``.

    Roles: ``"dream"`` (DREAM and its ablations) and ``"baseline"`` (E-RL², IMPORT, VariBAD).
    A field is applied only to a config that has it. Empty unless the paper changes a
    method's setting for this benchmark.
    """

    requires: ClassVar[tuple[str, ...]] = ()
    """Optional Python modules this family's envs import (``find_spec`` names)."""

    reference_variants: tuple[str, ...] = ("paper",)
    """The ``variant`` values with reference returns (:mod:`deep.envs.reference_values`)."""
    reference_splits: tuple[str, ...] = ("all",)
    """The splits with a reference row: ``("train", "test")`` where they differ."""
    reference_options: tuple[Mapping[str, Any], ...] = ({},)
    """Env options with reference rows of their own, besides the default ``{}``: e.g. the
    distracting bus's ``{"train_split": "independent"}`` (labelled by :func:`options_label`)."""

    @property
    def horizon(self) -> int:
        """Steps per episode (the config's ``horizon``)."""
        return int(self.config.horizon)

    @property
    def reference_variant(self) -> str:
        """The ``variant`` label of this family's own reference row (its config's variant)."""
        return str(getattr(self.config, "variant", "paper"))

    @abc.abstractmethod
    def _split_ids(self, split: str) -> np.ndarray:
        """Return the sorted problem IDs of a (validated) split."""

    @abc.abstractmethod
    def make_env(self, *, render_mode: str | None = None, split: str = "train") -> Any:
        """Return a single Gymnasium environment for this family."""

    @abc.abstractmethod
    def make_batched(self, num_envs: int, seed: int = 0) -> Any:
        """Return a NumPy implementation stepping ``num_envs`` independent episodes at once.

        ``seed`` seeds whatever randomness the envs have of their own (the sign task's start
        poses); families whose envs have none ignore it.
        """

    def reveal_oracle(self) -> RevealOracle | None:
        """The exact oracle "does this exploration reveal μ's relevant part", or None.

        The oracle is cached per ``(problem, actions)`` (:func:`cached_oracle`; with ``start``
        where it takes one, see :data:`RevealOracle`); each call returns a new one with its own
        cache. None (the default) when no oracle exists.
        """
        return None

    def exploitation_progress(
        self, problem: int, goal: int, actions: Sequence[int]
    ) -> float | None:
        """How far an exploitation episode got through its task, in [0, 1].

        None: the family has no such measure. Cooking: the furthest recipe stage, over 4.
        """
        return None

    def observed_goals(self, obs: Mapping[str, np.ndarray]) -> np.ndarray | None:
        """The goal each of a batch of observations shows (``NO_GOAL``: none), or None.

        ``obs``: observation fields ``[N, ...]``. A stored episode keeps its observations but
        not its goal; this reads it back where the observation shows it (cooking's recipe).
        None (the default): the family cannot.
        """
        return None

    def goal_kind(self, goal: int) -> str:
        """A name for the kind of task ``goal`` sets, to group goals by ("" : one kind).

        Cooking: recipes of one ingredient twice against two different ones, which only a
        policy that remembers the recipe step can finish.
        """
        return ""

    def task_stage(self, env: Any) -> int | None:
        """The stage of the task a single env (``make_env(...).unwrapped``) is in, or None.

        A stage the observation may hide (cooking: the recipe step 0–4, which the paper's
        state does not show), for probing what an exploitation policy's memory holds
        (:mod:`analysis.diagnostics.exploitation`). None: the family has no stages.
        """
        return None

    def optimal_action_values(self, env: Any, t: int) -> np.ndarray | None:
        """Q*(s_t, ·): each action's exact optimal return from step ``t``, μ and goal known.

        ``env`` is a single env (``make_env(...).unwrapped``) in an exploitation episode.
        None: the family has no exact tabular model. Used to find the first step at which a
        policy leaves the optimum (:mod:`analysis.diagnostics.exploitation`).
        """
        return None

    def eval_num_envs(self, train_num_envs: int, eval_trials: int) -> int:
        """Batch size of the evaluation env of a run: ``min(eval_trials, 100)`` by default."""
        return min(eval_trials, 100)

    def oracle_policies(self, problem: int, *, seed: int = 0) -> tuple[Policy, Policy]:
        """(scripted exploration that reveals μ, optimal exploitation π*(μ, g)) for GIFs.

        ``seed``: the first reset seed of the trial, for families whose start is random.
        """
        raise ValueError(f"no scripted oracle policies for {self.name}")

    def factors(self) -> tuple[ProblemFactor, ...]:
        """The named factors of μ (:class:`ProblemFactor`); empty: the family declares none."""
        return ()

    def problem_factors(self, problem: int) -> dict[str, int]:
        """The value of every factor of :meth:`factors` for problem μ, in that order."""
        self.check_problem(problem)
        return {}

    def exploration_visits(
        self,
        problems: np.ndarray,
        obs: Mapping[str, np.ndarray],
        actions: np.ndarray,
        lengths: np.ndarray,
    ) -> dict[str, np.ndarray]:
        """What each exploration episode visits (Fig. 11): measure name → ``[B]`` values.

        ``problems`` ``[B]``; ``obs`` the episodes' observation fields ``[B, T+1, ...]``
        (``{"state": ...}`` for vector observations, the sign task's ``{"image", "goal"}``);
        ``actions`` ``[B, T]``; ``lengths`` ``[B]`` (steps past a length are padding). Empty
        (the default): the family names nothing an exploration episode visits.
        """
        return {}

    def cell_visits(self, obs: Mapping[str, np.ndarray], lengths: np.ndarray) -> np.ndarray | None:
        """Visits of each grid cell by the states s_0..s_T of the episodes, summed over them.

        ``[rows, cols]`` with row = y, column = x (:func:`grid_visit_counts`); None (the
        default): the family is not a grid world.
        """
        return None

    def reference_table(
        self, variant: str = "paper", split: str = "test", options: Mapping[str, Any] | None = None
    ) -> pd.DataFrame:
        """One-row table of the reference returns (arguments validated by the caller).

        ``options``: one of :attr:`reference_options` (None: the default ``{}``).
        """
        raise ValueError(f"no reference values for {self.name!r}")

    def code_suffices(self, problem: int, code: int, goal: int) -> bool | None:
        """Whether acting optimally for problem ``code`` is optimal in ``problem`` for ``goal``.

        Exact where the family can plan (None: it cannot). A training problem's code that
        suffices for a held-out problem is one DREAM's exploitation policy could act on there
        (:mod:`analysis.diagnostics.code_swap`).
        """
        return None

    def reference_reveals_all(
        self, problem: int, exploration_trajectory: Sequence[int], variant: str = "paper"
    ) -> bool:
        """The reference oracle of :func:`deep.envs.reference_values.reveals_all`."""
        raise ValueError(f"no reveal oracle for {self.name!r}")

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

    def goal_option(self, goal: int | None) -> int:
        """The goal of a ``reset(options={"goal": goal})``: ``None`` means ``NO_GOAL``."""
        return NO_GOAL if goal is None else self.check_goal(goal)

    def reset_task(
        self, options: dict[str, Any], rng: np.random.Generator, split_ids: np.ndarray
    ) -> tuple[int, int]:
        """``(problem, goal)`` of a single env's reset: from ``options`` where given, else drawn.

        The problem is drawn uniformly from ``split_ids``, then the goal from p(g | μ) (see
        :meth:`sample_goal`; ``NO_GOAL`` for goal-free families), with ``rng`` (the env's
        ``np_random``); a given value is validated and draws nothing.
        """
        if "problem" in options:
            problem = self.check_problem(options["problem"])
        else:
            problem = int(rng.choice(split_ids))
        if "goal" in options:
            return problem, self.goal_option(options["goal"])
        return problem, self.sample_goal(rng, problem)

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


def check_config_keys(
    kwargs: dict[str, Any], where: str, allowed: tuple[str, ...] = ("variant", "horizon")
) -> None:
    """ValueError naming the first key of a family's ``make(name, **kwargs)`` not in ``allowed``.

    ``where`` names the env in the message, e.g. ``"a city env"``.
    """
    for key in kwargs:
        if key not in allowed:
            raise ValueError(f"unknown option {key!r} for {where}; allowed: {allowed}")


def check_render_mode(render_mode: str | None, modes: Sequence[str]) -> str | None:
    """Return ``render_mode`` if it is None or one of ``modes``; else a one-line ValueError."""
    if render_mode is not None and render_mode not in modes:
        allowed = ", ".join(["None", *(repr(m) for m in modes)])
        raise ValueError(f"unknown render_mode {render_mode!r}; allowed: {allowed}")
    return render_mode


def check_reset_options(
    options: dict[str, Any] | None, allowed: Sequence[str] = ("problem", "goal")
) -> dict[str, Any]:
    """A copy of a reset's ``options`` (``{}`` for None); ValueError on a key not in ``allowed``."""
    options = dict(options or {})
    unknown = set(options) - set(allowed)
    if unknown:
        raise ValueError(f"unknown reset options {sorted(unknown)}; allowed: {', '.join(allowed)}")
    return options


def check_action(
    action_space: Any, action: Any, done: bool, show: Callable[[Any], str] = str
) -> None:
    """Validate a single env's ``step(action)``, ``done`` saying whether its episode has ended.

    ValueError for an action outside ``action_space`` (a ``Discrete``; ``show`` formats the
    action in the message), RuntimeError when the episode has ended.
    """
    if not action_space.contains(action):
        raise ValueError(
            f"action {show(action)} is outside the action space; "
            f"allowed: integers 0..{action_space.n - 1}"
        )
    if done:
        raise RuntimeError("step() called after the episode ended; call reset() first")


def check_num_envs(num_envs: Any) -> int:
    """``num_envs`` of a batched env as an int, or a one-line ValueError if it is not >= 1."""
    if not (isinstance(num_envs, int | np.integer) and num_envs >= 1):
        raise ValueError(f"batch size num_envs={num_envs!r} is invalid; allowed: integers >= 1")
    return int(num_envs)


def check_reset_inputs(
    family: MetaProblemFamily,
    num_envs: int,
    problems: Any,
    goals: Any,
    mask: Any,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate a batched ``reset(problems, goals, mask)``; return ``(rows, problems, goals)``.

    ``rows`` are the envs to reset (all when ``mask`` is None); ``problems`` and ``goals`` are
    broadcast to them as int64. A problem outside the family or a goal that is neither
    ``NO_GOAL`` nor a goal of it raises a one-line ValueError naming the first bad value.
    """
    rows = np.arange(num_envs) if mask is None else np.flatnonzero(np.asarray(mask))
    problems = np.broadcast_to(np.asarray(problems, dtype=np.int64), rows.shape)
    goals = np.broadcast_to(np.asarray(goals, dtype=np.int64), rows.shape)
    n_problems, n_goals = family.n_problems, family.n_goals
    bad = problems[(problems < 0) | (problems >= n_problems)]
    if bad.size:
        raise ValueError(
            f"problem ID {int(bad[0])} is outside the {family.name} family; "
            f"allowed: integers 0..{n_problems - 1}"
        )
    bad = goals[(goals < NO_GOAL) | (goals >= n_goals)]
    if bad.size:
        allowed = f"{NO_GOAL} (no goal)" + (f" or 0..{n_goals - 1}" if n_goals else "")
        raise ValueError(f"goal {int(bad[0])} is invalid; allowed: {allowed}")
    return rows, problems, goals


def grid_move_table(
    size: int, actions: Sequence[str], moves: dict[str, tuple[int, int]]
) -> tuple[np.ndarray, np.ndarray]:
    """``(xy, move)`` tables of a ``size`` × ``size`` grid whose cells are ``y * size + x``.

    ``xy[cell]`` is ``(x, y)``; ``move[cell, a]`` is the cell after action ``actions[a]``: the
    step ``moves[name]`` clipped to the grid, or the same cell for actions that do not move.
    """
    n_cells = size * size
    xs, ys = np.arange(n_cells) % size, np.arange(n_cells) // size
    move = np.tile(np.arange(n_cells)[:, None], (1, len(actions)))
    for a, name in enumerate(actions):
        if name in moves:
            dx, dy = moves[name]
            nx, ny = np.clip(xs + dx, 0, size - 1), np.clip(ys + dy, 0, size - 1)
            move[:, a] = ny * size + nx
    return np.stack([xs, ys], axis=1), move


def grid_visit_counts(states: np.ndarray, lengths: np.ndarray, size: int) -> np.ndarray:
    """Per episode, how often each cell of a ``size`` × ``size`` grid is occupied.

    ``states`` ``[B, T+1, D]`` with x, y in the first two entries; the states s_0..s_L of an
    episode of length L count (L + 1 of them). Returns ``[B, size (y), size (x)]`` counts.
    """
    b, steps = states.shape[:2]
    valid = np.arange(steps)[None, :] <= np.asarray(lengths)[:, None]
    cells = states[..., 1].astype(np.int64) * size + states[..., 0].astype(np.int64)
    counts = np.zeros((b, size * size), dtype=np.int64)
    rows = np.broadcast_to(np.arange(b)[:, None], cells.shape)
    np.add.at(counts, (rows[valid], cells[valid]), 1)
    return counts.reshape(b, size, size)


class VectorisedBatchedEnv(abc.ABC):
    """Base of the NumPy batched envs whose step is one vectorised update of every row.

    Subclasses set ``num_envs``, ``n_actions``, ``done`` (bool, per env) and ``_step_state``
    (the names of every state array :meth:`_advance` changes), and define :meth:`_advance`
    and :meth:`_obs`; this class gives them :meth:`step` with its checks and ``active`` rows.
    """

    num_envs: int
    n_actions: int
    done: np.ndarray
    _step_state: tuple[str, ...]

    @abc.abstractmethod
    def _advance(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Step every env in place (inputs checked); return ``(reward, terminated, truncated)``."""

    @abc.abstractmethod
    def _obs(self) -> Any:
        """The observations of every env."""

    def step(
        self, actions: np.ndarray, *, active: np.ndarray | None = None
    ) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray]:
        """Step the envs; return ``(obs, reward, terminated, truncated)`` arrays.

        ``active`` (bool, shape ``(num_envs,)``; None = all) selects the envs to step: the others
        keep their state, observation and ``t``, and get reward 0, terminated and truncated
        False; their actions are ignored (any integer, not checked) and they may have ended.
        """
        actions, active = check_step_inputs(
            actions, active, self.num_envs, self.n_actions, self.done
        )
        if active is None:
            reward, terminated, truncated = self._advance(actions)
        else:
            reward, terminated, truncated = self._advance_active(actions, active)
        return self._obs(), reward, terminated, truncated

    def _advance_active(
        self, actions: np.ndarray, active: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`_advance` on the rows where ``active`` is True only.

        It runs on all rows (inactive rows take action 0, whatever their state), then the
        arrays named in ``_step_state`` are put back on the inactive rows, whose reward is 0
        and terminated and truncated False: the vectorised step stays whole, at the cost of a
        copy of the state arrays.
        """
        saved = [(name, getattr(self, name).copy()) for name in self._step_state]
        reward, terminated, truncated = self._advance(np.where(active, actions, 0))
        idle = ~active
        for name, old in saved:
            getattr(self, name)[idle] = old[idle]
        reward[idle] = 0.0
        terminated[idle] = False
        truncated[idle] = False
        return reward, terminated, truncated
