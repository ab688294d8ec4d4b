"""Reference returns of the 3D sign task, by planning on the known simulator (DREAM Sec. 6.2).

With ``domain_rand=False`` MiniWorld is deterministic given the start pose, so every value below
is exact for a given start pose: a breadth-first search over the action tree, on MiniWorld's own
geometry (its wall segments, :func:`miniworld.math.intersect_circle_segs` arithmetic, entity
radii and ``near`` test), and MiniWorld's own renderer for what the agent sees. The start pose is
continuous, so the table averages over ``n_starts`` start poses: the poses of
``SignEnv.reset(seed=s)`` for the seeds ``s`` of :func:`start_seeds` (default 100 poses from
seed 0), reported with the standard error of that Monte Carlo average. The exploration and
exploitation episodes of a trial start from independent poses (every reset draws one).

The search. A state is ``(x, z, heading)``; the heading is the start heading plus a multiple of
45°, so there are 8. States are merged when x and z agree after rounding to 1e-4: that merges
paths that differ only by floating-point noise and nothing else (distinct states with the same
heading are 0.0497 apart at the closest, measured), so the search is exhaustive. A step that
touches an object is terminal. Up to depth 20 there are about 56,000 states per start pose.

"The observation reveals μ" is taken literally: the frame at a pose is rendered with the sign
saying BLUE, RED and GREEN (three envs reset with the same seed, so the objects and the pose are
identical) and compared pixel for pixel. A pose can only show a difference when the sign is in
the camera's horizontal field of view (37.6° each side, plus a 3° margin) and, from the top
room, when the line of sight passes through the opening (0.2 margin); only those poses are
rendered, so every other pose is provably uninformative. Values:

* ``optimal``: V*(μ, g) = +1 if the target object can be touched within the horizon without
  touching another one first, else 0 (never −1: the agent can always keep turning).
* ``no_exploration``: the best exploitation return without knowing μ, per goal. Touching
  nothing gives 0, touching an object without information gives −1/3 on average, and "read then
  go" gives, from the best pose s whose frame differs for all three words, the fraction of the
  μ whose target can still be touched in the steps left (the others: 0). This is exact among
  policies that act on a complete reading; ``no_exploration_ub`` is the same value when every
  pose that may show the sign counts as a complete reading, an upper bound on every policy
  (partial readings included). When the two agree, the value is exact.
* ``optimal_after_exploration``: mean V* if, from every exploration start pose, some pose
  within the horizon gives a frame that differs for all three words (``frac_explore_reveals``),
  else NaN.
* PEARL-UB: Thompson sampling (TS) with the true posterior and the optimal problem-specific
  policies, under the three readings of :mod:`deep.envs.reference_values`. The exploration
  episode draws μ' and g' uniformly and follows π*(μ', g'), a shortest path to that object
  (ties: lowest action index; when it cannot be reached in time: turn left throughout). The
  posterior is the set of μ whose rendered frames along that trajectory (reset frame and final
  frame included) equal the true μ's.

  - ``pearl_ub_sampled``: the exploitation episode, from an independent start pose, draws μ''
    from the posterior and follows π*(μ'', g): +1 if μ'' = μ and the target is reachable, −1 if
    μ'' ≠ μ and its object is, 0 otherwise. Averaged over all ordered pairs of distinct start
    poses (exploration, exploitation).
  - ``pearl_ub`` (the line drawn): TS exploration, then the Bayes-optimal exploitation policy
    for the posterior. More information cannot lower a Bayes-optimal value, and no policy beats
    knowing μ, so no_exploration ≤ pearl_ub ≤ optimal, pose by pose (the exploitation pose is
    independent of the exploration). Where the exact ``no_exploration`` equals ``optimal`` (as
    in the default table: the exploitation episode reads the sign itself, pixel-exact) the
    sandwich closes and ``pearl_ub`` = ``optimal`` exactly, with ``optimal``'s standard error
    (:func:`bayes_after_thompson_value`); otherwise it is NaN (not computed).
  - ``pearl_ub_redraw``: NaN (not computed). Redrawing when a frame rules the sample out
    needs, per start pose, the frames along each path followed (in both episodes) and new
    shortest paths from wherever a redraw happens: a new pass over the search, not a function
    of the columns above.

What the default table shows (100 start poses, seed 0): every object is within reach
(V* = 1 everywhere), and the sign can be read from the top room, through the opening, after
2.45 steps on average (at most 7; the first frame already reads it from 14% of the poses), so
an exploitation episode alone can read the sign and still reach every target:
``no_exploration`` = ``optimal`` = 1, exactly (the upper bound agrees), hence ``pearl_ub`` = 1.
``pearl_ub_sampled`` is −0.05 ± 0.05: the walk to a random object reads the sign in about a
fifth of the episodes.

``python -m deep.envs.reference_sign [--n-starts N] [--seed S] [--variant V] [--workers W]
[--out CSV]`` prints the one-row table (and writes the CSV atomically). The default 100 start
poses take about 30 s with 2 worker processes (the command's default on 2 cores) and 55 s in
one (the default of :func:`reference_table`); almost all of it is the search, since only about
120 frames per start pose need rendering.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from common.cli import DefaultsHelpFormatter, run_main
from common.io import atomic_write_text
from deep.envs.problem import NO_GOAL
from deep.envs.sign import (
    COLORS,
    END_EPISODE,
    OBJECTS,
    SignConfig,
    SignEnv,
    target_object,
)

__all__ = [
    "DEFAULT_N_STARTS",
    "DEFAULT_SEED",
    "StateGraph",
    "actions_to",
    "bayes_after_thompson_value",
    "build_graph",
    "first_reveal",
    "object_distances",
    "optimal_actions",
    "optimal_exploitation",
    "plan_start",
    "reference_table",
    "reveal_actions",
    "reveal_step",
    "reveals_all",
    "start_seeds",
]

DEFAULT_N_STARTS = 100
DEFAULT_SEED = 0
QUANTUM = 1e-4
"""States whose x and z agree after rounding to this are merged."""
FORWARD, TURN = 0.7, math.pi / 4
HALF_FOV_X = math.degrees(math.atan(math.tan(math.radians(30.0)) * 80 / 60))
FOV_MARGIN = 3.0  # degrees
PORTAL_MARGIN = 0.2
SIGN_X = 9.95  # the sign's face is 0.05 in front of the east wall (x = 10)
SIGN_Z = (7.7, 12.8)  # "GREEN" spans z 7.75..12.75 (5 letters of width 1 around z = 10.25)
OPENING_X, OPENING_Z = 6.0, 6.75  # the top room opens on the bottom room at x < 6
UNKNOWN = -100
"""Successor code of a state at the horizon (its successors are never needed)."""
N_OBJECTS = len(OBJECTS)


def start_seeds(n_starts: int = DEFAULT_N_STARTS, seed: int = DEFAULT_SEED) -> np.ndarray:
    """The reset seeds of the ``n_starts`` start poses: ``default_rng(seed)`` integers."""
    if not (isinstance(n_starts, int) and n_starts >= 1):
        raise ValueError(f"n_starts={n_starts!r} is invalid; allowed: integers >= 1")
    return np.random.default_rng(seed).integers(0, 2**31 - 1, size=n_starts)


@dataclass(frozen=True)
class StateGraph:
    """The deduplicated action tree from one start pose, up to the horizon.

    ``succ[s, a]``: the next state's index, ``-1`` when the episode ends without a touch (end
    episode), ``-2 - j`` when the step touches object ``j`` (:data:`deep.envs.sign.OBJECTS`),
    :data:`UNKNOWN` for states at the horizon. A blocked move leaves the state unchanged.
    """

    x: np.ndarray
    z: np.ndarray
    k: np.ndarray
    """Heading index: heading = ``heading0 + k * 45°``."""
    depth: np.ndarray
    """Fewest steps from the start."""
    succ: np.ndarray
    heading0: float
    horizon: int

    def heading(self, s: int | np.ndarray) -> Any:
        """Heading in radians of state(s) ``s``."""
        return self.heading0 + self.k[s] * TURN

    def __len__(self) -> int:
        return len(self.x)


class _Geometry:
    """Collision and touch tests of one MiniWorld world, vectorised over positions."""

    def __init__(self, env: SignEnv) -> None:
        core = env.core
        segs = np.asarray(core.wall_segs, dtype=float)
        self.a, self.ab = segs[:, 0, :], segs[:, 1, :] - segs[:, 0, :]
        self.abab = np.sum(self.ab * self.ab, axis=1)
        agent = core.agent
        self.radius = agent.radius
        others = [e for e in core.entities if e is not agent]
        self.ent_pos = np.array([[e.pos[0], 0.0, e.pos[2]] for e in others], dtype=float)
        self.ent_rad = np.array([e.radius for e in others], dtype=float)
        objs = [o for pair in core._objects for o in pair]
        self.obj_pos = np.array([np.asarray(o.pos, dtype=float) for o in objs])
        self.obj_rad = np.array([o.radius for o in objs])
        self.reach = 1.1 * core.max_forward_step

    def blocked(self, p: np.ndarray) -> np.ndarray:
        """``MiniWorldEnv.intersect(agent, p, radius)`` for each row of ``p`` (N, 3)."""
        ap = p[:, None, :] - self.a[None]
        proj = np.clip(np.sum(ap * self.ab[None], axis=2) / self.abab[None], 0, 1)
        c = self.a[None] + proj[..., None] * self.ab[None]
        walls = (np.linalg.norm(c - p[:, None, :], axis=2) < self.radius).any(axis=1)
        d = np.linalg.norm(self.ent_pos[None] - p[:, None, :], axis=2)
        return walls | (d < self.radius + self.ent_rad[None]).any(axis=1)

    def touched(self, p: np.ndarray) -> np.ndarray:
        """Index of the last object ``near`` each row of ``p``, or -1 (as ``Sign.step``)."""
        d = np.linalg.norm(self.obj_pos[None] - p[:, None, :], axis=2)
        near = d < self.obj_rad[None] + self.radius + self.reach
        last = N_OBJECTS - 1 - np.argmax(near[:, ::-1], axis=1)
        return np.where(near.any(axis=1), last, -1)

    def move(
        self, x: np.ndarray, z: np.ndarray, heading: np.ndarray, dist: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Positions after moving ``dist`` along the headings (blocked: unchanged), touches."""
        p = np.stack([x + dist * np.cos(heading), np.zeros_like(x), z - dist * np.sin(heading)], 1)
        stay = self.blocked(p)
        nx, nz = np.where(stay, x, p[:, 0]), np.where(stay, z, p[:, 2])
        touched = self.touched(np.stack([nx, np.zeros_like(nx), nz], 1))
        return nx, nz, touched


def build_graph(env: SignEnv) -> StateGraph:
    """Breadth-first search from ``env``'s current pose (just after a reset) to the horizon."""
    geo = _Geometry(env)
    horizon, variant = env.config.horizon, env.config.variant
    x0, z0, heading0 = env.agent_pose
    xs, zs, ks, depths = [x0], [z0], [0], [0]
    index = {_key(np.array([x0]), np.array([z0]), np.array([0]))[0]: 0}
    rows = []
    lo = 0
    for depth in range(horizon):
        hi = len(xs)
        x, z, k = np.array(xs[lo:hi]), np.array(zs[lo:hi]), np.array(ks[lo:hi])
        succ = np.full((hi - lo, 4), UNKNOWN, dtype=np.int64)
        heading = heading0 + k * TURN
        none = np.full(len(x), -1)
        fx, fz, ftouch = geo.move(x, z, heading, FORWARD)
        moves = [(x, z, (k + 1) % 8, none), (x, z, (k - 1) % 8, none), (fx, fz, k, ftouch)]
        for action, (nx, nz, nk, touched) in enumerate(moves):
            keys = _key(nx, nz, nk)
            for i, (key, t) in enumerate(zip(keys.tolist(), touched.tolist(), strict=True)):
                if t >= 0:
                    succ[i, action] = -2 - t
                    continue
                j = index.get(key)
                if j is None:
                    j = index[key] = len(xs)
                    xs.append(float(nx[i]))
                    zs.append(float(nz[i]))
                    ks.append(int(nk[i]))
                    depths.append(depth + 1)
                succ[i, action] = j
        if variant == "official":  # end episode = move back, then end (a touch counts)
            touched = geo.move(x, z, heading, -FORWARD)[2]
            succ[:, END_EPISODE] = np.where(touched >= 0, -2 - touched, -1)
        else:
            succ[:, END_EPISODE] = -1
        rows.append(succ)
        lo = hi
    rows.append(np.full((len(xs) - lo, 4), UNKNOWN, dtype=np.int64))
    return StateGraph(
        x=np.array(xs),
        z=np.array(zs),
        k=np.array(ks, dtype=np.int64),
        depth=np.array(depths, dtype=np.int64),
        succ=np.concatenate(rows),
        heading0=heading0,
        horizon=horizon,
    )


def _key(x: np.ndarray, z: np.ndarray, k: np.ndarray) -> np.ndarray:
    """One int64 per state: rounded x and z (units of QUANTUM) and the heading index."""
    qx = np.rint(x / QUANTUM).astype(np.int64) + (1 << 20)
    qz = np.rint(z / QUANTUM).astype(np.int64) + (1 << 20)
    return (qx << 24 | qz) << 3 | k


def object_distances(graph: StateGraph) -> np.ndarray:
    """``(n_states, 6)``: fewest steps from each state to touch each object (inf: > horizon)."""
    n, succ = len(graph), graph.succ
    dist = np.full((n + 1, N_OBJECTS), np.inf)  # row n: no successor
    nxt = np.where(succ >= 0, succ, n)
    touch_now = np.zeros((n, N_OBJECTS), dtype=bool)
    for j in range(N_OBJECTS):
        touch_now[:, j] = (succ == -2 - j).any(axis=1)
    for _ in range(graph.horizon):
        new = (dist[nxt] + 1).min(axis=1)
        new[touch_now] = 1
        dist[:n] = new
    return dist[:n]


def optimal_actions(graph: StateGraph, dist: np.ndarray, obj: int) -> tuple[list[int], list[int]]:
    """π* for object ``obj`` from the start: (actions, visited states), touch step included.

    A shortest path (ties: lowest action index); turn left throughout if out of reach.
    """
    s, actions, states = 0, [], [0]
    if dist[0, obj] > graph.horizon:
        for _ in range(graph.horizon):
            actions.append(0)
            s = int(graph.succ[s, 0])
            states.append(s)
        return actions, states
    while True:
        for a in range(4):
            nxt = int(graph.succ[s, a])
            if nxt == -2 - obj or (nxt >= 0 and dist[nxt, obj] == dist[s, obj] - 1):
                break
        else:  # pragma: no cover - dist is consistent with succ
            raise AssertionError(f"no step towards object {obj} from state {s}")
        actions.append(a)
        if nxt < 0:
            return actions, states
        s = nxt
        states.append(s)


def first_reveal(graph: StateGraph, equal: Callable[[int], np.ndarray]) -> int:
    """The state reached in the fewest steps whose frame reads the sign, or -1 if none.

    ``equal(s)`` gives the pairwise frame equality of state ``s`` for the three words (as
    :meth:`_Frames.equal`); a state reads the sign when all three frames differ. Only the poses
    :func:`_sign_maybe_visible` keeps are tried, in depth order (so the depth is the exact
    minimum), ties broken by how close the sign is to the centre of the view.
    """
    heading = graph.heading(np.arange(len(graph)))
    cand = np.flatnonzero(_sign_maybe_visible(graph.x, graph.z, heading))
    centre = np.arctan2(-(10.25 - graph.z[cand]), SIGN_X - graph.x[cand])
    off = np.abs(_wrap(centre - heading[cand]))
    for s in cand[np.lexsort((off, graph.depth[cand]))]:
        if not equal(int(s)).any():
            return int(s)
    return -1


def actions_to(graph: StateGraph, state: int) -> list[int]:
    """A shortest action sequence from the start (state 0) to ``state`` (ties: lowest index)."""
    if not (isinstance(state, int | np.integer) and 0 <= int(state) < len(graph)):
        raise ValueError(f"state {state!r} is not in the graph; allowed: 0..{len(graph) - 1}")
    actions: list[int] = []
    s = int(state)
    while s != 0:
        preds, acts = np.nonzero(graph.succ == s)
        step_back = graph.depth[preds] == graph.depth[s] - 1  # exists: depth is a BFS depth
        s, action = int(preds[step_back][0]), int(acts[step_back][0])
        actions.append(action)
    return actions[::-1]


def reveal_actions(seed: int, config: SignConfig | None = None) -> list[int]:
    """The fewest actions from the pose of ``SignEnv.reset(seed=seed)`` to one that reads the sign.

    See :func:`first_reveal`; empty when the first frame already reads it. Raises ValueError
    when no pose within the horizon reads it (never, for the default table's 100 start poses).
    """
    config = config if config is not None else SignConfig()
    frames = _Frames(config)
    graph = build_graph(frames.reset(seed))
    state = first_reveal(
        graph, lambda s: frames.equal(graph.x[s], graph.z[s], float(graph.heading(s)))
    )
    if state < 0:
        raise ValueError(
            f"no pose within {config.horizon} steps of seed {seed}'s start reads the sign; "
            "allowed: a seed whose start can see the sign in time"
        )
    return actions_to(graph, state)


def optimal_exploitation(env: SignEnv) -> list[int]:
    """π*(μ, g)'s actions from ``env``'s current pose (just after a reset, with a goal).

    A shortest path to the target object of ``env.problem`` and ``env.goal`` (ties: lowest
    action index; turn left throughout when it is out of reach), from
    :func:`optimal_actions`. Only the live env's geometry and pose are read.
    """
    if env.goal == NO_GOAL:
        raise ValueError(f"goal {env.goal} (no goal) has no target; allowed: goals 0, 1")
    graph = build_graph(env)
    obj = target_object(env.problem, env.goal, env.config.variant)
    return optimal_actions(graph, object_distances(graph), obj)[0]


def _sign_maybe_visible(x: np.ndarray, z: np.ndarray, heading: np.ndarray) -> np.ndarray:
    """False only where the sign is certainly outside the frame (a conservative test)."""
    z_lo, z_hi = np.full_like(z, SIGN_Z[0]), np.full_like(z, SIGN_Z[1])
    # From the top room (or the gap), only lines of sight through the opening reach the sign:
    # the line to (SIGN_X, zs) must cross z = OPENING_Z at x <= OPENING_X (+ margin).
    top = z < OPENING_Z
    room = OPENING_X + PORTAL_MARGIN - x
    with np.errstate(divide="ignore", invalid="ignore"):
        z_min = z + (SIGN_X - x) * (OPENING_Z - z) / room
    z_min = np.where(room > 0, z_min, np.inf)
    z_lo = np.where(top, np.maximum(z_lo, z_min), z_lo)
    seen = z_lo <= z_hi
    # Angles (forward = (cos h, -sin h)) of the ends of the visible part of the sign.
    a_lo = np.arctan2(-(z_lo - z), SIGN_X - x)
    a_hi = np.arctan2(-(np.where(seen, z_hi, z_lo) - z), SIGN_X - x)
    start = _wrap(a_hi - heading)
    width = np.mod(a_lo - a_hi, 2 * np.pi)
    half = math.radians(HALF_FOV_X + FOV_MARGIN)
    overlap = (start <= half) & (start + width >= -half)
    overlap |= start + width - 2 * np.pi >= -half
    return seen & overlap


def _wrap(a: np.ndarray) -> np.ndarray:
    return (a + np.pi) % (2 * np.pi) - np.pi


class _Frames:
    """Three envs with the same start seed, the sign saying BLUE, RED, GREEN."""

    def __init__(self, config: SignConfig) -> None:
        self.envs = [SignEnv(config) for _ in COLORS]
        self.renders = 0

    def reset(self, seed: int) -> SignEnv:
        for mu, env in enumerate(self.envs):
            env.reset(seed=int(seed), options={"problem": mu, "goal": NO_GOAL})
        return self.envs[0]

    def equal(self, x: float, z: float, heading: float) -> np.ndarray:
        """``[f0 == f1, f0 == f2, f1 == f2]`` for the frames rendered at this pose."""
        frames = []
        for env in self.envs:
            agent = env.core.agent
            agent.pos = np.array([x, 0.0, z])
            agent.dir = heading
            frames.append(env.core.render_obs())
        self.renders += 3
        f0, f1, f2 = frames
        return np.array(
            [np.array_equal(f0, f1), np.array_equal(f0, f2), np.array_equal(f1, f2)], dtype=bool
        )


def _posterior(eq: np.ndarray) -> np.ndarray:
    """``P[μ, μ'']`` of the uniform posterior given pairwise frame equality ``eq`` (3,)."""
    same = np.eye(3, dtype=bool)
    same[0, 1] = same[1, 0] = eq[0]
    same[0, 2] = same[2, 0] = eq[1]
    same[1, 2] = same[2, 1] = eq[2]
    return same / same.sum(axis=1, keepdims=True)


def plan_start(frames: _Frames, seed: int, config: SignConfig) -> dict[str, Any]:
    """Every per-start-pose quantity of the module doc, for the pose of ``reset(seed=seed)``."""
    renders0 = frames.renders
    env = frames.reset(seed)
    graph = build_graph(env)
    dist = object_distances(graph)
    horizon, variant = config.horizon, config.variant
    targets = np.array([[target_object(mu, g, variant) for g in range(2)] for mu in range(3)])
    reach0 = dist[0] <= horizon  # (6,)
    vstar = reach0[targets].astype(float)  # (μ, g)
    cache: dict[int, np.ndarray] = {}

    def equal(s: int) -> np.ndarray:
        if s not in cache:
            cache[s] = frames.equal(graph.x[s], graph.z[s], graph.heading(s))
        return cache[s]

    # Poses that may show the sign; the rest show the same frame for every μ.
    heading = graph.heading(np.arange(len(graph)))
    maybe = _sign_maybe_visible(graph.x, graph.z, heading)
    reveal_state = first_reveal(graph, equal)
    # Read-then-go inside one exploitation episode.
    left = horizon - graph.depth
    can = dist <= left[:, None]  # (n, 6): object still reachable after reaching the state
    value = can[:, targets].mean(axis=1)  # (n, g): fraction of μ whose target is reachable
    useful = np.flatnonzero(maybe & can.any(axis=1))
    ub = value[useful].max(axis=0) if len(useful) else np.zeros(2)
    lb = np.zeros(2)
    order = useful[np.lexsort((graph.depth[useful], -value[useful].sum(axis=1)))]
    for s in order:
        if np.all(lb >= ub):
            break
        if np.all(value[s] <= lb):
            continue
        if not equal(int(s)).any():
            lb = np.maximum(lb, value[s])
    # PEARL-UB: the posterior after following π*(μ', g') in the exploration episode.
    geo = _Geometry(env)
    posterior = np.zeros((N_OBJECTS, 3, 3))
    for obj in range(N_OBJECTS):
        actions, states = optimal_actions(graph, dist, obj)
        eq = np.ones(3, dtype=bool)
        for s in states:
            eq &= equal(s)
        if graph.succ[states[-1], actions[-1]] == -2 - obj:  # the touching step's frame
            s = states[-1]
            step = -FORWARD if actions[-1] == END_EPISODE else FORWARD
            hx = np.array([graph.heading(s)])
            nx, nz, _ = geo.move(graph.x[s : s + 1], graph.z[s : s + 1], hx, step)
            eq &= frames.equal(float(nx[0]), float(nz[0]), float(hx[0]))
        posterior[obj] = _posterior(eq)
    return {
        "seed": int(seed),
        "n_states": len(graph),
        "vstar": vstar,
        "reach": reach0,
        "no_exploration": np.maximum(lb, 0.0),
        "no_exploration_ub": np.maximum(ub, 0.0),
        "explore_reveals": reveal_state >= 0,
        "reveal_depth": int(graph.depth[reveal_state]) if reveal_state >= 0 else -1,
        "posterior": posterior.mean(axis=0),  # over (μ', g') uniform = the 6 objects
        "renders": frames.renders - renders0,
    }


_WORKER: dict[str, Any] = {}


def _worker_init(config: SignConfig) -> None:
    _WORKER["frames"] = _Frames(config)
    _WORKER["config"] = config


def _worker_plan(seed: int) -> dict[str, Any]:
    return plan_start(_WORKER["frames"], seed, _WORKER["config"])


def _plan_all(seeds: Sequence[int], config: SignConfig, workers: int) -> list[dict[str, Any]]:
    if workers <= 1:
        frames = _Frames(config)
        return [plan_start(frames, int(s), config) for s in seeds]
    ctx = multiprocessing.get_context("spawn")  # never fork a process holding a GL context
    with ProcessPoolExecutor(workers, ctx, _worker_init, (config,)) as pool:
        return list(pool.map(_worker_plan, [int(s) for s in seeds], chunksize=4))


def _mean_se(values: np.ndarray) -> tuple[float, float]:
    values = np.asarray(values, dtype=float)
    se = values.std(ddof=1) / math.sqrt(len(values)) if len(values) > 1 else float("nan")
    return float(values.mean()), float(se)


def bayes_after_thompson_value(
    optimal: float, optimal_se: float, no_exploration: float
) -> tuple[float, float]:
    """``pearl_ub`` (module doc) and its standard error, from the sandwich.

    ``no_exploration`` is the return of a policy that does not explore (read then go), so
    no_exploration ≤ pearl_ub ≤ optimal for every exploitation start pose; when the means
    agree, so does pearl_ub. Otherwise (NaN, NaN): the Bayes-optimal exploitation after TS
    exploration is not computed.
    """
    if math.isclose(no_exploration, optimal, rel_tol=0.0, abs_tol=1e-12):
        return float(optimal), float(optimal_se)
    return float("nan"), float("nan")


def _pearl_ub_sampled(plans: list[dict[str, Any]], variant: str) -> tuple[float, float]:
    """Mean over ordered pairs (exploration start i, exploitation start j), i != j."""
    post = np.stack([p["posterior"] for p in plans])  # (N, μ, μ'')
    reach = np.stack([p["reach"] for p in plans])  # (N, 6)
    n = len(plans)
    ret = np.zeros((n, 2, 3, 3))  # (j, g, μ, μ'')
    for g in range(2):
        for mu in range(3):
            for mu2 in range(3):
                obj = target_object(mu2, g, variant)
                ret[:, g, mu, mu2] = np.where(reach[:, obj], 1.0 if mu2 == mu else -1.0, 0.0)
    # f[i, j] = mean over g, μ of sum over μ'' of post[i, μ, μ''] * ret[j, g, μ, μ''].
    f = np.einsum("iab,jgab->ij", post, ret) / 6.0
    if n == 1:
        return float(f[0, 0]), float("nan")
    off = ~np.eye(n, dtype=bool)
    mean = float(f[off].mean())
    a = np.where(off, f, 0).sum(axis=1) / (n - 1)  # per exploration start
    b = np.where(off, f, 0).sum(axis=0) / (n - 1)  # per exploitation start
    se = math.sqrt(a.var(ddof=1) / n + b.var(ddof=1) / n)
    return mean, float(se)


def reference_table(
    variant: str = "paper",
    n_starts: int = DEFAULT_N_STARTS,
    seed: int = DEFAULT_SEED,
    horizon: int = 20,
    workers: int = 1,
) -> pd.DataFrame:
    """One-row table of the sign task's reference returns (see the module doc)."""
    config = SignConfig(variant=variant, horizon=horizon)
    if not (isinstance(workers, int) and workers >= 1):
        raise ValueError(f"workers={workers!r} is invalid; allowed: integers >= 1")
    plans = _plan_all(start_seeds(n_starts, seed), config, workers)
    optimal, optimal_se = _mean_se([p["vstar"].mean() for p in plans])
    no_expl, no_expl_se = _mean_se([p["no_exploration"].mean() for p in plans])
    no_expl_ub, _ = _mean_se([p["no_exploration_ub"].mean() for p in plans])
    reveals = float(np.mean([p["explore_reveals"] for p in plans]))
    depths = np.array([p["reveal_depth"] for p in plans if p["explore_reveals"]])
    sampled, sampled_se = _pearl_ub_sampled(plans, variant)
    pearl, pearl_se = bayes_after_thompson_value(optimal, optimal_se, no_expl)
    row = {
        "benchmark": "sign",
        "variant": variant,
        "split": "all",
        "n_problems": len(COLORS),
        "optimal": optimal,
        "optimal_after_exploration": optimal if reveals == 1.0 else np.nan,
        "pearl_ub": pearl,
        "pearl_ub_sampled": sampled,
        "pearl_ub_redraw": np.nan,
        "no_exploration": no_expl,
        "n_starts": n_starts,
        "start_seed": seed,
        "optimal_se": optimal_se,
        "pearl_ub_se": pearl_se,
        "pearl_ub_sampled_se": sampled_se,
        "no_exploration_se": no_expl_se,
        "no_exploration_ub": no_expl_ub,
        "frac_explore_reveals": reveals,
        "frac_first_frame_reveals": float(np.mean(depths == 0)) * reveals if len(depths) else 0.0,
        "mean_reveal_steps": float(depths.mean()) if len(depths) else np.nan,
        "max_reveal_steps": int(depths.max()) if len(depths) else -1,
        "mean_states": float(np.mean([p["n_states"] for p in plans])),
        "renders": int(sum(p["renders"] for p in plans)),
    }
    return pd.DataFrame([row])


def _replay(
    env: SignEnv, start: Any, mu: int, actions: Sequence[int], stop: Sequence[np.ndarray] = ()
) -> list[np.ndarray]:
    """The frames of ``actions`` from ``start`` with the sign saying word ``mu``.

    Frame ``i`` follows ``i`` actions; actions after the episode ends are ignored. With
    ``stop`` (frames of another word's replay), the replay stops at the first frame that
    differs from ``stop``'s frame of the same index.
    """
    if isinstance(start, int | np.integer):
        obs, _ = env.reset(seed=int(start), options={"problem": mu, "goal": NO_GOAL})
    else:
        options = {"problem": mu, "goal": NO_GOAL, "start": tuple(start)}
        obs, _ = env.reset(seed=0, options=options)
    frames = [obs["image"]]
    for a in actions:
        if len(stop) and not np.array_equal(frames[-1], stop[len(frames) - 1]):
            break
        obs, _, terminated, truncated, _ = env.step(a)
        frames.append(obs["image"])
        if terminated or truncated:
            break  # actions after the episode ends are ignored
    return frames


def _first_difference(frames: Sequence[np.ndarray], truth: Sequence[np.ndarray]) -> int | None:
    """The first index where the two frame sequences differ, or None where they never do."""
    pairs = enumerate(zip(frames, truth, strict=False))
    return next((i for i, (a, b) in pairs if not np.array_equal(a, b)), None)


def reveal_step(
    problem: int,
    start: int | Sequence[float],
    actions: Sequence[int],
    variant: str = "paper",
    env: SignEnv | None = None,
) -> int | None:
    """How many of ``actions`` the exploration episode from ``start`` needs to identify μ.

    The smallest ``k`` such that, for every word other than μ = ``problem``'s, one of the
    frames 0..k (frame ``i`` follows ``i`` actions; actions after the episode ends are
    ignored) differs from the true word's; None when the whole episode does not identify μ.
    ``start`` is a reset seed, a pose ``(x, z, heading)`` (objects then as for seed 0) or an
    episode's :attr:`~deep.envs.sign.SignEnv.start` (the episode exactly). One replay per word:
    the true word's, then each other word's up to its first differing frame. ``env`` may be
    given to reuse one (its config is used).
    """
    env = env if env is not None else SignEnv(SignConfig(variant=variant))
    problem = env.family.check_problem(problem)
    truth = _replay(env, start, problem, actions)
    first = 0
    for mu in range(len(COLORS)):
        if mu != problem:
            differs = _first_difference(_replay(env, start, mu, actions, stop=truth), truth)
            if differs is None:
                return None
            first = max(first, differs)
    return first


def reveals_all(
    problem: int,
    start: int | Sequence[float],
    actions: Sequence[int],
    variant: str = "paper",
    env: SignEnv | None = None,
) -> bool:
    """Whether the exploration episode ``actions`` from ``start`` identifies μ = ``problem``.

    ``start`` is a reset seed, a pose ``(x, z, heading)`` (objects then as for seed 0) or an
    episode's :attr:`~deep.envs.sign.SignEnv.start`. The episode is replayed with the sign
    saying each word; μ is revealed when the frames of every other word differ from the true
    one's somewhere along the episode (:func:`reveal_step` is not None). ``env`` may be given
    to reuse one (its config is used).
    """
    return reveal_step(problem, start, actions, variant, env) is not None


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: print the table; ``--out`` writes it as CSV (atomically)."""
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=DefaultsHelpFormatter
    )
    parser.add_argument("--n-starts", type=int, default=DEFAULT_N_STARTS)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--variant", choices=("paper", "official"), default="paper")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--out", help="CSV path (written to a temporary file, then renamed)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    table = reference_table(args.variant, args.n_starts, args.seed, workers=args.workers)
    seconds = time.perf_counter() - start
    print(table.T.to_string(header=False, float_format=lambda v: f"{v:.4f}"))
    print(f"({args.n_starts} start poses, {args.workers} worker(s), {seconds:.1f} s)")
    if args.out:
        atomic_write_text(args.out, table.to_csv(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
