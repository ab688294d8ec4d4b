"""Exact reference returns of the bus cities, by planning on the known model (DREAM Sec. 6.1).

All returns are *exploitation-episode* returns (what the paper's curves show), averaged
uniformly over the problems μ of a split and over the 4 goals. The envs are deterministic, so
everything below is an exact enumeration, with no sampling:

* ``optimal``: V*(μ), the optimal return knowing μ: breadth-first search over the grid with the
  buses as extra edges; reaching the goal in d steps returns 1 − 0.1(d − 1).
* ``optimal_after_exploration``: the best return after the best exploration episode. It is at
  most the mean of V*; it equals it when a scripted exploration (ride 3 colored buses; or read
  the map) reveals μ's colored permutation for every μ, which :func:`reveals_all` checks.
* ``no_exploration``: the best exploitation policy that does not know μ, i.e. the optimal
  policy of the POMDP whose belief starts uniform over the split. Exact dynamic programming over
  (time, cell, set of problems still consistent with what was seen). Moves do not depend on μ,
  so the belief only changes when riding a bus whose destination is still uncertain or when
  reading the map; between such events the optimal route is a shortest path in the graph of
  the buses whose destination the belief already determines.

PEARL-UB is Thompson sampling (TS) with the true posterior and the optimal problem-specific
policies π*(μ, g) (ties: lowest action index), under three readings. In all three the
exploration episode samples μ' from the prior (uniform over the split) and a goal g' uniformly
(the episode has no goal), and follows π*(μ', g') in the true problem until g' is reached or time
runs out. π* is a feedback policy of the cell, so the agent goes on from wherever the true buses
take it. The posterior is the set of problems of the split that give the same observations.

* ``pearl_ub`` (the line drawn as the paper's PEARL-UB): TS exploration with one sample per
  episode (PEARL's posterior sampling), then the **Bayes-optimal** exploitation policy for that
  posterior: the no-exploration belief planner above, started from the posterior instead of
  the prior (:func:`bayes_after_thompson_value`). The best any exploitation policy can do with
  what TS exploration found, so an upper bound on PEARL, and no_exploration ≤ pearl_ub ≤
  optimal by construction. 0.5 on the bus and map (hand computation in
  ``tests/test_pearl_readings.py``).
* ``pearl_ub_sampled``: per-episode TS in both episodes. Exploitation samples μ'' from the
  posterior once and follows π*(μ'', g) for the whole episode, even once observations
  contradict μ''; a wrong μ'' makes it ride back and forth between two buses until time runs
  out (−2.0), which makes this value −0.6 on the bus and map, below no exploration.
* ``pearl_ub_redraw``: committed TS: as ``pearl_ub_sampled``, but in both episodes the sample
  is redrawn from the updated posterior as soon as an observation rules it out (0.7 on the bus
  and map).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import pandas as pd

from deep.envs.city import GOALS, START, BatchedCityEnv, CityFamily
from deep.envs.problem import NO_GOAL, make, options_label

__all__ = [
    "bayes_after_thompson_value",
    "benchmark_label",
    "colored_left_given_gray",
    "exploitation_returns",
    "no_exploration_value",
    "optimal_values",
    "pearl_ub_redraw_value",
    "pearl_ub_sampled_value",
    "pearl_ub_value",
    "per_episode_thompson_value",
    "reference_table",
    "reveals_all",
    "scripted_exploration",
]

STEP, GOAL_R = -0.1, 1.0


class _Model:
    """Transition tables of one family, shared by the planners below."""

    def __init__(self, family: CityFamily) -> None:
        self.family = family
        self.horizon = family.config.horizon
        env = BatchedCityEnv(family.config, 1)
        self.ride = env._ride  # (n_problems, cells)
        self.move = env._move  # (cells, actions)
        self.ride_action = env._ride_action
        self.n_cells = self.move.shape[0]
        self.bus_cells = np.flatnonzero(env._is_bus)
        self.map_cell = env._map_cell
        self.start = env._cell(START)
        self.goal_cells = [env._cell(g) for g in GOALS]
        # next_cell[μ, c, a]
        nxt = np.broadcast_to(self.move, (len(self.ride), *self.move.shape)).copy()
        nxt[:, :, self.ride_action] = self.ride
        self.next_cell = nxt

    def return_for(self, steps: np.ndarray) -> np.ndarray:
        """Episode return when the goal is reached after ``steps`` steps (inf: never)."""
        steps = np.asarray(steps, dtype=float)
        return np.where(steps <= self.horizon, GOAL_R + STEP * (steps - 1), STEP * self.horizon)

    @functools.cached_property
    def dist_to_goal(self) -> np.ndarray:
        """Shortest number of steps from each cell to each goal, per problem: (μ, g, cell)."""
        n_mu = len(self.ride)
        dist = np.full((n_mu, len(GOALS), self.n_cells), np.inf)
        for g, cell in enumerate(self.goal_cells):
            dist[:, g, cell] = 0.0
        mu_idx = np.arange(n_mu)[:, None, None]
        while True:
            nd = dist[
                mu_idx[..., None],
                np.arange(len(GOALS))[None, :, None, None],
                self.next_cell[:, None, :, :],
            ]  # (μ, g, cell, a)
            new = np.minimum(dist, 1.0 + nd.min(axis=-1))
            if np.array_equal(new, dist):
                return dist
            dist = new

    @functools.cached_property
    def policy(self) -> np.ndarray:
        """π*(μ, g)(cell): the lowest-index action on a shortest path to the goal: (μ, g, cell)."""
        n_mu = len(self.ride)
        nd = self.dist_to_goal[
            np.arange(n_mu)[:, None, None, None],
            np.arange(len(GOALS))[None, :, None, None],
            self.next_cell[:, None, :, :],
        ]
        return nd.argmin(axis=-1)

    def rollout(
        self, true_mu: np.ndarray, policy_mu: int | np.ndarray, goal: int | np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Follow π*(policy_mu, goal) in each true problem; return cells (n, H+1) and steps.

        ``policy_mu`` and ``goal`` are scalars or arrays like ``true_mu`` (one per rollout).
        The policy is a feedback policy of the cell, so the agent always continues from the
        cell it actually reached: a bus whose destination differs in the true problem takes it
        elsewhere, and π*(policy_mu, goal) goes on from there. Cells after the goal is reached
        are −1; ``steps`` is inf where the goal is not reached.
        """
        true_mu = np.asarray(true_mu)
        n = len(true_mu)
        policy_mu = np.broadcast_to(np.asarray(policy_mu), (n,))
        goal = np.broadcast_to(np.asarray(goal), (n,))
        goal_cell = np.asarray(self.goal_cells)[goal]
        cells = np.full((n, self.horizon + 1), -1, dtype=np.int64)
        pos = np.full(n, self.start)
        cells[:, 0] = pos
        steps = np.full(n, np.inf)
        active = np.ones(n, dtype=bool)
        for t in range(1, self.horizon + 1):
            a = self.policy[policy_mu, goal, pos]
            pos = np.where(active, self.next_cell[true_mu, pos, a], pos)
            cells[active, t] = pos[active]
            reached = active & (pos == goal_cell)
            steps[reached] = t
            active &= ~reached
        return cells, steps


@functools.cache
def _model(name: str, variant: str, train_split: str | None = None) -> _Model:
    family = make(name, variant=variant, **({"train_split": train_split} if train_split else {}))
    assert isinstance(family, CityFamily)
    return _Model(family)


def optimal_values(name: str, variant: str = "paper") -> np.ndarray:
    """V*(μ, g) for every problem ID of the family: array (n_problems, n_goals)."""
    m = _model(name, variant)
    return m.return_for(m.dist_to_goal[:, :, m.start])


def exploitation_returns(name: str, variant: str, problems: np.ndarray) -> np.ndarray:
    """R[μ, μ'', g]: return of π*(μ'', g) run in the true problem μ, for μ, μ'' in ``problems``."""
    return _exploitation_returns(_model(name, variant), np.asarray(problems))


def _distinct_policies(m: _Model, problems: np.ndarray, goal: int) -> tuple[np.ndarray, np.ndarray]:
    """Samples with the same π*(·, goal) act the same: (one sample per policy, inverse map).

    ``problems[i]`` has the same policy table as ``representatives[inverse[i]]`` (e.g. the
    gray buses never change the distracting bus's shortest paths), so rollouts are computed
    once per distinct policy.
    """
    _, first, inverse = np.unique(
        m.policy[problems, goal], axis=0, return_index=True, return_inverse=True
    )
    return problems[first], inverse.ravel()


def _exploitation_returns(m: _Model, problems: np.ndarray) -> np.ndarray:
    """R[i, j, g] = return of π*(problems[j], g) followed for a whole episode in problems[i]."""
    n = len(problems)
    out = np.empty((n, n, len(GOALS)))
    for g in range(len(GOALS)):
        samples, inverse = _distinct_policies(m, problems, g)
        true, sample = np.repeat(problems, len(samples)), np.tile(samples, n)
        returns = m.return_for(m.rollout(true, sample, g)[1]).reshape(n, len(samples))
        out[:, :, g] = returns[:, inverse]
    return out


def _exploration_observations(
    m: _Model, problems: np.ndarray, sample: int, goal: int
) -> np.ndarray:
    """What exploring with π*(sample, goal) shows in each true μ of ``problems``: (n, H+1).

    Row i is the cell sequence in problems[i] (−1 after the goal cell is reached, where the
    exploration episode stops), with the map cell replaced by ``n_cells + μ``: reading the map
    shows μ. Two problems are indistinguishable after the episode iff their rows are equal.
    """
    cells, _ = m.rollout(problems, sample, goal)
    if m.map_cell >= 0:
        cells = np.where(cells == m.map_cell, m.n_cells + problems[:, None], cells)
    return cells


def _posterior_mean(values: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """out[i] = mean of values[i, j] over the j with labels[j] = labels[i] (j uniform on B(i))."""
    same = labels[:, None] == labels[None, :]
    return (values * same).sum(axis=1) / same.sum(axis=1)


def _exploration_classes(m: _Model, problems: np.ndarray):
    """Yield (weight, labels) for every TS exploration: sample s, exploration goal g'.

    ``labels[i]`` is the class of problems[i]: the problems whose exploration observations
    under π*(s, g') equal its own (the posterior when problems[i] is true). Samples with the
    same π*(·, g') explore alike; ``weight`` counts them (summing to len(problems) per g').
    """
    for goal in range(len(GOALS)):
        samples, inverse = _distinct_policies(m, problems, goal)
        weights = np.bincount(inverse, minlength=len(samples))  # samples sharing each policy
        for sample, weight in zip(samples.tolist(), weights.tolist(), strict=True):
            obs = _exploration_observations(m, problems, sample, goal)
            yield weight, np.unique(obs, axis=0, return_inverse=True)[1].ravel()


def per_episode_thompson_value(m: _Model, problems: Sequence[int]) -> float:
    """Exact ``pearl_ub_sampled`` (see the module doc), prior uniform on ``problems``.

    With R̄[μ, ν] = mean_g R[μ, ν, g] (the exploitation goal g is uniform) and B(μ; s, g') the
    problems whose exploration observations under π*(s, g') equal μ's::

        value = mean_{g'} mean_{s} mean_{μ} mean_{ν ∈ B(μ; s, g')} R̄[μ, ν]

    (μ, s uniform over ``problems``): the exploitation sample ν is drawn once from the
    posterior, and π*(ν, g) is followed to the end of the episode in the true μ.
    """
    problems_arr = np.asarray(problems, dtype=np.int64)
    returns = _exploitation_returns(m, problems_arr).mean(axis=2)
    total = 0.0
    for weight, labels in _exploration_classes(m, problems_arr):
        total += weight * float(_posterior_mean(returns, labels).mean())
    return total / (len(GOALS) * len(problems_arr))


def bayes_after_thompson_value(m: _Model, problems: Sequence[int]) -> float:
    """Exact ``pearl_ub``: TS exploration, then Bayes-optimal exploitation (module doc).

    Prior uniform on ``problems``. With B(μ; s, g') as in :func:`per_episode_thompson_value`
    and V_g(B) the optimal expected return of the exploitation POMDP for goal g whose belief
    starts uniform on B (the no-exploration planner, :class:`_BeliefPlanner`, from B)::

        value = mean_{g'} mean_{s} Σ_B (|B| / N) mean_g V_g(B)

    The true μ is uniform on ``problems``, so it is uniform on its class B, and V_g(B) is the
    expected return of the Bayes-optimal policy over the true μ of B.
    """
    problems_arr = np.asarray(problems, dtype=np.int64)
    planners = [_BeliefPlanner(m, g) for g in range(len(GOALS))]
    values: dict[tuple[int, ...], float] = {}

    def exploit(belief: tuple[int, ...]) -> float:
        if belief not in values:
            values[belief] = float(np.mean([p.value(0, m.start, belief) for p in planners]))
        return values[belief]

    total = 0.0
    for weight, labels in _exploration_classes(m, problems_arr):
        counts = np.bincount(labels)
        order = np.argsort(labels, kind="stable")
        classes = np.split(problems_arr[order], np.cumsum(counts)[:-1])
        total += weight * sum(len(b) * exploit(tuple(b.tolist())) for b in classes)
    return total / (len(GOALS) * len(problems_arr) ** 2)


def pearl_ub_value(
    name: str, variant: str = "paper", split: str = "test", train_split: str | None = None
) -> float:
    """Exact PEARL-UB as drawn: TS exploration, then Bayes-optimal exploitation.

    The exploration sample is drawn once per episode; exploitation is the Bayes-optimal policy
    for the posterior (module doc, ``pearl_ub``). ``train_split`` picks the distracting bus's
    training IDs (:attr:`CityConfig.train_split`; None: the variant's own), which fix the prior
    of both splits.
    """
    m = _model(name, variant, train_split)
    return bayes_after_thompson_value(m, tuple(int(p) for p in m.family.problem_ids(split)))


def pearl_ub_sampled_value(
    name: str, variant: str = "paper", split: str = "test", train_split: str | None = None
) -> float:
    """Exact expected exploitation return of per-episode Thompson sampling in both episodes.

    The sample is drawn once per episode and kept for the whole episode (module doc,
    ``pearl_ub_sampled``); ``train_split`` as in :func:`pearl_ub_value`.
    """
    m = _model(name, variant, train_split)
    return per_episode_thompson_value(m, tuple(int(p) for p in m.family.problem_ids(split)))


def pearl_ub_redraw_value(
    name: str, variant: str = "paper", split: str = "test", train_split: str | None = None
) -> float:
    """Exact expected exploitation return of committed Thompson sampling with redraws.

    The sample is redrawn from the posterior as soon as an observation rules it out (module
    doc, ``pearl_ub_redraw``); ``train_split`` as in :func:`pearl_ub_value`.
    """
    m = _model(name, variant, train_split)
    ts = _ThompsonSampling(m, tuple(int(p) for p in m.family.problem_ids(split)))
    return ts.value()


class _ThompsonSampling:
    """Exact expectation of committed Thompson sampling with redraws (``pearl_ub_redraw``).

    A recursion over (t, cell, posterior, sample). The true μ is uniform over the posterior
    B given the history and independent of the agent's current sample s ∈ B, so values can
    be taken in expectation over μ ∈ B. The sample is kept while it stays consistent and
    redrawn uniformly from the new posterior as soon as an observation rules it out.
    """

    def __init__(self, model: _Model, problems: tuple[int, ...]) -> None:
        self.m = model
        self.beliefs: list[tuple[int, ...]] = []
        self.belief_id: dict[tuple[int, ...], int] = {}
        self.prior = self._intern(problems)
        self.split_cache: dict[tuple[int, int, int], list[tuple[int, int, float]]] = {}
        self.memo: dict[tuple[int, int, int, int, int, int], float] = {}
        self.w_memo: dict[int, float] = {}

    def _intern(self, belief: tuple[int, ...]) -> int:
        if belief not in self.belief_id:
            self.belief_id[belief] = len(self.beliefs)
            self.beliefs.append(belief)
        return self.belief_id[belief]

    def _split(self, pos: int, a: int, b: int) -> list[tuple[int, int, float]]:
        """Outcomes (next cell, posterior id, probability) of action a in belief b."""
        key = (pos, a, b)
        if key not in self.split_cache:
            belief = self.beliefs[b]
            m = self.m
            nxt = m.next_cell[np.array(belief), pos, a]
            groups: dict[tuple[int, int], list[int]] = {}
            for mu, c in zip(belief, nxt.tolist(), strict=True):
                tag = mu if c == m.map_cell else -1  # the map shows μ
                groups.setdefault((c, tag), []).append(mu)
            self.split_cache[key] = [
                (c, self._intern(tuple(g)), len(g) / len(belief)) for (c, _), g in groups.items()
            ]
        return self.split_cache[key]

    def _rec(self, explore: bool, goal: int, t: int, pos: int, b: int, s: int) -> float:
        """Explore: expected final W; exploit: expected remaining return."""
        m = self.m
        if explore and (t == m.horizon or pos == m.goal_cells[goal]):
            return self._w(b)
        if t == m.horizon:
            return 0.0
        key = (int(explore), goal, t, pos, b, s)
        if key in self.memo:
            return self.memo[key]
        a = int(m.policy[s, goal, pos])
        total = 0.0
        for nxt, b2, prob in self._split(pos, a, b):
            if not explore and nxt == m.goal_cells[goal]:
                total += prob * GOAL_R
                continue
            belief2 = self.beliefs[b2]
            if s in belief2:
                future = self._rec(explore, goal, t + 1, nxt, b2, s)
            else:
                future = float(
                    np.mean([self._rec(explore, goal, t + 1, nxt, b2, s2) for s2 in belief2])
                )
            total += prob * (future + (0.0 if explore else STEP))
        self.memo[key] = total
        return total

    def _w(self, b: int) -> float:
        """Expected TS exploitation return from the start with posterior b."""
        if b not in self.w_memo:
            belief = self.beliefs[b]
            self.w_memo[b] = float(
                np.mean(
                    [
                        self._rec(False, g, 0, self.m.start, b, s)
                        for g in range(len(GOALS))
                        for s in belief
                    ]
                )
            )
        return self.w_memo[b]

    def value(self) -> float:
        """PEARL-UB: exploration sample s and goal g' uniform, then exploitation."""
        prior = self.beliefs[self.prior]
        return float(
            np.mean(
                [
                    self._rec(True, g, 0, self.m.start, self.prior, s)
                    for g in range(len(GOALS))
                    for s in prior
                ]
            )
        )


def no_exploration_value(
    name: str, variant: str = "paper", split: str = "test", train_split: str | None = None
) -> float:
    """Exact optimal exploitation return without exploration information (see module doc)."""
    m = _model(name, variant, train_split)
    problems = tuple(int(p) for p in m.family.problem_ids(split))
    return float(
        np.mean([_BeliefPlanner(m, g).value(0, m.start, problems) for g in range(len(GOALS))])
    )


class _BeliefPlanner:
    """Dynamic programming over (t, cell, consistent problems) for one goal."""

    def __init__(self, model: _Model, goal: int) -> None:
        self.m = model
        self.goal_cell = model.goal_cells[goal]
        self.memo: dict[tuple[int, int, int], float] = {}
        self.bfs_cache: dict[tuple[int, int], list[float]] = {}
        self.moves = [sorted(set(row) - {c}) for c, row in enumerate(model.move.tolist())]
        self.belief_id: dict[tuple[int, ...], int] = {}
        self.beliefs: list[tuple[int, ...]] = []
        # per belief id: (known routes, undetermined bus cells (column, cell))
        self.info: list[tuple[int, list[tuple[int, int]]]] = []
        self.known_id: dict[tuple[tuple[int, int], ...], int] = {}
        self.knowns: list[tuple[tuple[int, int], ...]] = []
        self.outcome_cache: dict[tuple[int, int], list[tuple[int, int, float]]] = {}
        # Fewest steps from each cell to the goal in any problem: bounds every option.
        self.min_steps = model.dist_to_goal[:, goal, :].min(axis=0).tolist()

    def _intern(self, belief: tuple[int, ...]) -> int:
        if belief in self.belief_id:
            return self.belief_id[belief]
        m = self.m
        dests = m.ride[np.array(belief)][:, m.bus_cells]  # (|B|, bus cells)
        determined = (dests == dests[0]).all(axis=0)
        known = tuple(
            (int(c), int(d)) for c, d, k in zip(m.bus_cells, dests[0], determined, strict=True) if k
        )
        self.belief_id[belief] = len(self.beliefs)
        self.beliefs.append(belief)
        if known not in self.known_id:
            self.known_id[known] = len(self.knowns)
            self.knowns.append(known)
        kid = self.known_id[known]
        self.info.append(
            (kid, [(int(j), int(m.bus_cells[j])) for j in np.flatnonzero(~determined)])
        )
        return self.belief_id[belief]

    def _outcomes(self, b: int, j: int) -> list[tuple[int, int, float]]:
        """(destination, posterior id, probability) of riding bus column j in belief b."""
        if (b, j) not in self.outcome_cache:
            belief = self.beliefs[b]
            dests = self.m.ride[np.array(belief), self.m.bus_cells[j]]
            groups: dict[int, list[int]] = {}
            for mu, dest in zip(belief, dests.tolist(), strict=True):
                groups.setdefault(dest, []).append(mu)
            self.outcome_cache[(b, j)] = [
                (dest, self._intern(tuple(g)), len(g) / len(belief)) for dest, g in groups.items()
            ]
        return self.outcome_cache[(b, j)]

    def _dist(self, src: int, kid: int) -> list[float]:
        """BFS distances from ``src`` using moves and the buses the belief determines."""
        key = (src, kid)
        if key not in self.bfs_cache:
            rides = dict(self.knowns[kid])
            dist = [np.inf] * self.m.n_cells
            dist[src] = 0
            frontier = [src]
            while frontier:
                nxt = []
                for c in frontier:
                    succ = self.moves[c]
                    if c in rides:
                        succ = [*succ, rides[c]]
                    for x in succ:
                        if dist[x] == np.inf:
                            dist[x] = dist[c] + 1
                            nxt.append(x)
                frontier = nxt
            self.bfs_cache[key] = dist
        return self.bfs_cache[key]

    def value(self, t: int, pos: int, belief: tuple[int, ...]) -> float:
        """Optimal expected return of the remaining H − t steps with belief ``belief``."""
        return self._value(t, pos, self._intern(belief))

    def _value(self, t: int, pos: int, b: int) -> float:
        key = (t, pos, b)
        if key in self.memo:
            return self.memo[key]
        m, horizon = self.m, self.m.horizon
        kid, undetermined = self.info[b]
        dist = self._dist(pos, kid)
        best = STEP * (horizon - t)  # never reach the goal
        d_goal = dist[self.goal_cell]
        if t + d_goal <= horizon:
            best = max(best, GOAL_R + STEP * (d_goal - 1))
        options = []
        for j, cell in undetermined:
            d = dist[cell]
            if t + d + 1 > horizon:
                continue
            outcomes = self._outcomes(b, j)
            # Upper bound: after the ride, the goal is reached as fast as in any problem.
            bound = STEP * d + sum(
                p * (STEP + GOAL_R + STEP * (self.min_steps[c] - 1)) for c, _, p in outcomes
            )
            options.append((bound, d, outcomes))
        for bound, d, outcomes in sorted(options, key=lambda o: -o[0]):
            if bound <= best:
                break
            v = STEP * d
            for dest, sub, prob in outcomes:
                if dest == self.goal_cell:
                    v += prob * GOAL_R
                else:
                    v += prob * (STEP + self._value(int(t + d + 1), dest, sub))
            best = max(best, v)
        belief = self.beliefs[b]
        if m.map_cell >= 0 and len(belief) > 1 and t + dist[m.map_cell] <= horizon:
            d = dist[m.map_cell]
            v = STEP * d + float(
                np.mean([self.value(int(t + d), m.map_cell, (mu,)) for mu in belief])
            )
            best = max(best, v)
        self.memo[key] = float(best)
        return float(best)


def scripted_exploration(name: str, variant: str = "paper") -> list[int]:
    """An exploration action sequence that reveals μ's colored permutation (see reveals_all).

    Bus: ride the colored buses at (4,5), (5,4), (3,4) and back (the 4th is implied); map:
    walk to the map at (7, 3).
    """
    actions = make(name, variant=variant).config.actions  # type: ignore[attr-defined]
    if name == "map":
        seq = ["right", "right", "right", "down"]
    else:
        seq = [
            "up",
            "ride_bus",
            "ride_bus",
            "right",
            "down",
            "ride_bus",
            "ride_bus",
            "left",
            "left",
            "ride_bus",
        ]
    return [actions.index(a) for a in seq]


def reveals_all(
    name: str, problem: int, exploration_trajectory: Sequence[int], variant: str = "paper"
) -> bool:
    """Whether the exploration reveals all task-relevant information of ``problem``.

    ``exploration_trajectory`` is the exploration episode's action sequence (the envs are
    deterministic, so it fixes the observations). The task-relevant information is the colored
    bus permutation ``μ % 24``; it is revealed when every problem ID of the family that would
    have produced the same observations has the same colored permutation (so riding 3 colored
    buses, or reading the map, suffices; gray buses are irrelevant). Actions after the episode
    ends are ignored.
    """
    family = make(name, variant=variant)
    problem = family.check_problem(problem)
    env = family.make_batched(family.n_problems)
    obs = [env.reset(np.arange(family.n_problems), NO_GOAL)]
    for a in exploration_trajectory:
        if env.done.any():
            break
        obs.append(env.step(np.full(family.n_problems, a, dtype=np.int64))[0])
    seq = np.stack(obs, axis=1).reshape(family.n_problems, -1)
    consistent = np.flatnonzero((seq == seq[problem]).all(axis=1))
    return bool(np.all(consistent % 24 == problem % 24))


def colored_left_given_gray(train_split: str | None = None, variant: str = "paper") -> float:
    """How many colored permutations the training IDs leave once the gray one is known.

    The mean over the distracting bus's training IDs μ of |{μ' % 24 : μ' a training ID with
    μ' // 24 = μ // 24}|. 24 means the gray buses carry no information about the colored ones
    in training ("independent"); 1 means the gray permutation determines the colored one
    ("paired": riding gray buses identifies a training problem, and fails on held-out IDs).
    """
    kwargs = {"variant": variant} | ({"train_split": train_split} if train_split else {})
    train = make("distracting_bus", **kwargs).problem_ids("train")
    left = {gray: len(set(train[train // 24 == gray] % 24)) for gray in set(train // 24)}
    return float(np.mean([left[mu // 24] for mu in train]))


def benchmark_label(name: str, train_split: str | None = None) -> str:
    """The ``benchmark`` label of a reference row (:func:`~deep.envs.problem.options_label`).

    ``distracting_bus[train_split=independent]`` for an explicit training split, the name as it
    is otherwise: the label :mod:`analysis.learning_curves` gives runs with those ``env_kwargs``.
    """
    return options_label(name, {"train_split": train_split} if train_split else None)


@functools.cache
def reference_table(
    name: str, variant: str = "paper", split: str = "test", train_split: str | None = None
) -> pd.DataFrame:
    """One-row table of the reference exploitation returns of a benchmark (see module doc).

    ``train_split`` (distracting bus only) recomputes the values for another choice of training
    IDs: it changes which problems each split holds, so the prior of PEARL-UB and of the
    no-exploration planner.
    """
    m = _model(name, variant, train_split)
    problems = m.family.problem_ids(split)
    v_star = optimal_values(name, variant)[problems]
    script = scripted_exploration(name, variant)
    all_revealed = all(reveals_all(name, int(p), script, variant) for p in problems)
    row = {
        "benchmark": benchmark_label(name, train_split),
        "variant": variant,
        "split": split,
        "n_problems": len(problems),
        "optimal": float(v_star.mean()),
        "optimal_after_exploration": float(v_star.mean()) if all_revealed else np.nan,
        "pearl_ub": pearl_ub_value(name, variant, split, train_split),
        "pearl_ub_sampled": pearl_ub_sampled_value(name, variant, split, train_split),
        "pearl_ub_redraw": pearl_ub_redraw_value(name, variant, split, train_split),
        "no_exploration": no_exploration_value(name, variant, split, train_split),
    }
    return pd.DataFrame([row])


def all_reference_tables() -> pd.DataFrame:
    """Every city benchmark x variant x split (about 30 s on one core)."""
    rows = []
    for name in ("vanilla_bus", "distracting_bus", "map"):
        for variant in ("paper", "official"):
            splits = ("train", "test") if name == "distracting_bus" else ("all",)
            rows += [reference_table(name, variant, split) for split in splits]
    return pd.concat(rows, ignore_index=True)
