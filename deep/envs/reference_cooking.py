r"""Exact reference returns of the cooking benchmarks, by planning on the known model (App. B.1).

The kitchens are deterministic and small, so everything is computed exactly:

1. **The full model.** Breadth-first search from every start state (μ, goal) enumerates every
   reachable full state (μ, goal, cell, inventory, reward stage) by stepping
   :class:`~deep.envs.cooking.BatchedCookingEnv` itself, and records the tables
   ``next[s, a]``, ``reward[s, a]`` and ``terminated[s, a]``.
2. **V\*(μ, g)**: finite-horizon dynamic programming on those tables,
   ``V_t(s) = max_a r(s, a) + [not terminated] V_{t+1}(next(s, a))``, ``V_H = 0``.
   π\*(μ, g) takes the lowest-index maximiser.
3. **No exploration**: the exploitation episode with the goal g known but μ not: dynamic
   programming over beliefs, a belief being the set of full states still consistent with the
   observations (and rewards) seen, weighted by p(μ) p(g | μ). The goal itself is evidence:
   recipes are drawn only among the ingredients present in μ.
4. **PEARL-UB**: Thompson sampling (TS) with the true posterior and the optimal
   problem-specific policies, as in :mod:`deep.envs.reference_city`, under three readings.
   Exploration (all three): sample μ' from the prior and a goal g' ~ p(g | μ'), follow
   π\*(μ', g') in the true problem (with goal g') until its recipe is done or time runs out;
   the posterior is the set of μ with the same observations (and rewards, in
   ``cooking_no_goals``), weighted by the prior times p(g | μ) once the exploitation goal g
   is seen.

   - ``pearl_ub`` (the line drawn): one sample for the whole exploration episode, then the
     **Bayes-optimal** exploitation policy for the posterior: step 3's belief dynamic
     programming started from the posterior's start states instead of the prior's
     (:func:`bayes_after_thompson_value`). An upper bound on PEARL; no_exploration ≤
     pearl_ub ≤ optimal by construction.
   - ``pearl_ub_sampled``: one sample per episode in both episodes. Exploitation samples μ''
     once from the posterior given the goal and follows π\*(μ'', g) in the true problem to
     the end of the episode, even when what it sees contradicts μ''. π\*(μ'', g) is
     evaluated at the agent's actual state (cell, inventory, stage), which μ'' itself may
     never reach (an ingredient μ'' has in no fridge): :func:`covering_model` solves the same
     dynamic programming on every (μ, agent state) pair, :func:`per_episode_thompson_value`
     enumerates the exploration classes and the exploitation returns R[μ, μ''] exactly. In
     ``cooking`` the stage is a function of the observed history and the goal, so an agent
     can track it; in ``cooking_no_goals`` it counts progress on the true recipe, which a
     wrong μ'' does not know (a convention of this reading there).
   - ``pearl_ub_redraw``: committed TS, as ``pearl_ub_sampled`` except that the sample is
     kept only while consistent and re-drawn from the posterior when ruled out.
5. **Optimal after exploration** equals the mean V\* when a scripted exploration identifies μ
   for every problem of the split (:func:`scripted_exploration`, checked by
   :func:`reveals_all`); the script takes 7 steps (``cooking``) or at most 14
   (``cooking_no_goals``), well within the 20-step episode.

Only the paper variant is planned: the official variant's pot remembers up to 3 ingredients,
which multiplies the state space by 85 (see ``docs/benchmarks.md``).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from deep.envs.cooking import FRIDGES, POT, BatchedCookingEnv, CookingConfig, CookingEnv
from deep.envs.problem import NO_GOAL, make, options_label

__all__ = [
    "CookingModel",
    "bayes_after_thompson_value",
    "cooking_model",
    "covering_model",
    "memoryless_values",
    "pearl_ub_redraw_value",
    "pearl_ub_sampled_value",
    "pearl_ub_value",
    "per_episode_thompson_value",
    "reference_table",
    "reveals_all",
    "scripted_exploration",
]

# Full-state key: μ (12 bits) | goal + 1 (5) | cell (4) | inventory (3) | stage (3).
_SHIFTS = {"stage": 0, "inv": 3, "pos": 6, "goal": 10, "mu": 15}
_MASKS = {"stage": 7, "inv": 7, "pos": 15, "goal": 31, "mu": 4095}


_LOW_MASK = (1 << _SHIFTS["mu"]) - 1
"""The bits of a full-state key below μ: the agent state (goal, cell, inventory, stage)."""


def _encode(mu, goal, pos, inv, stage) -> np.ndarray:
    return (
        (np.asarray(mu, dtype=np.int64) << _SHIFTS["mu"])
        | ((np.asarray(goal) + 1) << _SHIFTS["goal"])
        | (np.asarray(pos) << _SHIFTS["pos"])
        | (np.asarray(inv) << _SHIFTS["inv"])
        | np.asarray(stage)
    )


def _field(keys: np.ndarray, name: str) -> np.ndarray:
    value = (keys >> _SHIFTS[name]) & _MASKS[name]
    return value - 1 if name == "goal" else value


class CookingModel:
    """The exact tabular model of one cooking family (paper variant) and its optimal values."""

    def __init__(
        self,
        name: str,
        horizon: int = 20,
        stage_reward: str = "replace",
        cover_agent_states: bool = False,
    ) -> None:
        family = make(name, horizon=horizon, stage_reward=stage_reward)
        config = family.config  # type: ignore[attr-defined]
        if config.variant != "paper":  # pragma: no cover - make() gives the paper default
            raise ValueError("exact cooking references exist for variant='paper' only")
        self.family = family
        self.config: CookingConfig = config
        self.horizon = config.horizon
        self.n_actions = len(config.actions)
        self.observes_reward_in_exploration = config.kind == "no_goals"
        mus = np.arange(family.n_problems)
        if config.kind == "cooking":
            goals = np.arange(family.n_goals)
            self.goal_probs = np.stack([family.goal_probabilities(int(m)) for m in mus])
        else:
            goals = np.array([NO_GOAL])
            self.goal_probs = np.ones((family.n_problems, 1))
        self.goals = goals
        start_mu, start_goal = (g.ravel() for g in np.meshgrid(mus, goals, indexing="ij"))
        env = BatchedCookingEnv(config, 1)
        start = env._cell((1, 1))
        self.empty = config.n_ingredients
        start_keys = _encode(start_mu, start_goal, start, self.empty, 0)
        self._explore(start_keys)
        if cover_agent_states:
            self._cover_agent_states()
        self.start_index = np.searchsorted(self.keys, start_keys).reshape(len(mus), len(goals))
        self._solve()

    def _step_all(self, keys: np.ndarray, action: int) -> tuple[np.ndarray, ...]:
        """Step every full state in ``keys`` with ``action``: next keys, rewards, terminated."""
        env = BatchedCookingEnv(self.config, len(keys))
        env.reset(_field(keys, "mu"), _field(keys, "goal"))
        env.pos[:] = _field(keys, "pos")
        env.inventory[:] = _field(keys, "inv")
        env.stage[:] = _field(keys, "stage")
        _, reward, terminated, _ = env.step(np.full(len(keys), action, dtype=np.int64))
        nxt = _encode(env.problem, env.goal, env.pos, env.inventory, env.stage)
        return nxt, reward, terminated

    def _explore(self, start_keys: np.ndarray) -> None:
        """Breadth-first enumeration of the reachable full states and their tables."""
        seen = np.unique(start_keys)
        frontier = seen
        while frontier.size:
            found = []
            for a in range(self.n_actions):
                nxt, _, term = self._step_all(frontier, a)
                found.append(nxt[~term])  # the episode ends: nothing to expand
            new = np.setdiff1d(np.unique(np.concatenate(found)), seen)
            seen = np.union1d(seen, new)
            frontier = new
        self.keys = seen
        n = len(seen)
        self.next = np.empty((n, self.n_actions), dtype=np.int64)
        self.reward = np.empty((n, self.n_actions))
        self.terminated = np.empty((n, self.n_actions), dtype=bool)
        for a in range(self.n_actions):
            nxt, r, term = self._step_all(seen, a)
            own = np.arange(n)  # after termination the next state is never used
            self.next[:, a] = np.where(term, own, np.searchsorted(seen, nxt).clip(max=n - 1))
            self.reward[:, a] = r
            self.terminated[:, a] = term
        self.mu = _field(seen, "mu")
        # What the agent observes of a state (paper observation: cell, inventory, goal).
        self.obs_key = (seen & ((1 << _SHIFTS["mu"]) - 1)) >> _SHIFTS["inv"]

    def _cover_agent_states(self) -> None:
        """Extend the tables to every μ at every agent state reachable in some problem.

        An agent state is (goal, cell, inventory, stage), the full state without μ. With L the
        agent states of the reachable full states, the enumeration restarts from
        {(μ, x) : μ any problem, x ∈ L} and closes it under the dynamics, so π*(μ'') is
        defined (by the same dynamic programming) wherever an episode of another problem can
        lead. Sets ``agent_lows`` (L, sorted), ``agent_index[μ, l]`` (the index of (μ, L[l]))
        and ``low_id[s]`` (the position of state s's agent state in L, −1 if none).
        """
        lows = np.unique(self.keys & _LOW_MASK)
        mus = np.arange(self.family.n_problems, dtype=np.int64)
        extra = ((mus[:, None] << _SHIFTS["mu"]) | lows[None, :]).ravel()
        self._explore(np.union1d(self.keys, extra))
        self.agent_lows = lows
        self.agent_index = np.searchsorted(self.keys, extra).reshape(len(mus), len(lows))
        own = self.keys & _LOW_MASK
        pos = np.searchsorted(lows, own).clip(max=len(lows) - 1)
        self.low_id = np.where(lows[pos] == own, pos, -1)

    def _solve(self) -> None:
        """Finite-horizon DP: ``value[t, s]`` and the lowest-index greedy ``policy[t, s]``."""
        h, n = self.horizon, len(self.keys)
        self.value = np.zeros((h + 1, n))
        self.policy = np.zeros((h, n), dtype=np.int64)
        for t in range(h - 1, -1, -1):
            q = self.reward + np.where(self.terminated, 0.0, self.value[t + 1][self.next])
            self.policy[t] = q.argmax(axis=1)
            self.value[t] = q[np.arange(n), self.policy[t]]

    def optimal_values(self) -> np.ndarray:
        r"""V\*(μ, g) from the start state: array (n_problems, n_goals); goal-free: 1 column."""
        return self.value[0][self.start_index]

    def outcomes(
        self, idx: np.ndarray, action: int, observe_reward: bool = True
    ) -> list[tuple[np.ndarray, np.ndarray, float, bool]]:
        """Split the belief ``idx`` by what the agent sees after ``action``.

        Returns (positions in ``idx``, next states, reward, terminated) per observation class.
        (The paper variant's rewards do not depend on time.)
        """
        acts = np.broadcast_to(np.asarray(action), idx.shape)
        nxt = self.next[idx, acts]
        rew = self.reward[idx, acts]
        term = self.terminated[idx, acts]
        tag = (self.obs_key[nxt] << 1) | term
        if observe_reward:  # rewards are multiples of 0.05 in [-2, 1]
            tag = (tag << 16) | (np.round(rew * 1000).astype(np.int64) + 2**15)
        order = np.argsort(tag, kind="stable")
        cuts = np.flatnonzero(np.diff(tag[order])) + 1
        out = []
        for pos in np.split(order, cuts):
            out.append((pos, nxt[pos], float(rew[pos[0]]), bool(term[pos[0]])))
        return out


@functools.cache
def cooking_model(name: str, horizon: int = 20, stage_reward: str = "replace") -> CookingModel:
    """The cached exact model of ``name`` ("cooking" or "cooking_no_goals").

    ``stage_reward``: the reading of the recipe-step reward (:attr:`CookingConfig.stage_reward`).
    """
    return CookingModel(name, horizon, stage_reward)


def split_problems(name: str, split: str, held_out: int | None = None) -> np.ndarray:
    """The problem IDs of ``split`` when ``held_out`` is the held-out problem.

    None: the default, :attr:`deep.envs.cooking.CookingConfig.held_out`. The models do not
    depend on it: the agent's prior is over the whole family either way.
    """
    return make(name, **({} if held_out is None else {"held_out": held_out})).problem_ids(split)


@functools.cache
def covering_model(name: str, horizon: int = 20, stage_reward: str = "replace") -> CookingModel:
    """:func:`cooking_model` whose tables cover every (μ, agent state) pair (sampled TS).

    Its values and greedy actions agree with :func:`cooking_model`'s on the states both have:
    the dynamic programming of a state only reads its successors.
    """
    return CookingModel(name, horizon, stage_reward, cover_agent_states=True)


class _NoExploration:
    """Belief DP for one goal: the Bayes-optimal exploitation policy without exploration.

    ``value`` solves the belief MDP (beliefs weighted by the prior times p(g | μ)); ``evaluate``
    then follows the resulting policy in one true problem.
    """

    def __init__(self, model: CookingModel) -> None:
        self.m = model
        self.memo: dict[tuple[int, bytes], tuple[float, int]] = {}

    def value(self, t: int, idx: np.ndarray, weight: np.ndarray) -> float:
        """Optimal expected remaining return from belief ``idx`` (weights ∝ posterior)."""
        m = self.m
        if t == m.horizon:
            return 0.0
        if len(idx) == 1:
            return float(m.value[t, idx[0]])
        key = (t, idx.tobytes())
        if key not in self.memo:
            total_w = weight.sum()
            best, best_a = -np.inf, 0
            for a in range(m.n_actions):
                v = 0.0
                for pos, nxt, r, term in m.outcomes(idx, a):
                    p = weight[pos].sum() / total_w
                    v += p * (r + (0.0 if term else self.value(t + 1, nxt, weight[pos])))
                if v > best + 1e-12:
                    best, best_a = v, a
            self.memo[key] = (best, best_a)
        return self.memo[key][0]

    def evaluate(self, t: int, idx: np.ndarray, weight: np.ndarray, true: int) -> float:
        """Return of the Bayes-optimal policy when the true state is ``idx[true]``."""
        m = self.m
        if t == m.horizon:
            return 0.0
        if len(idx) == 1:
            return float(m.value[t, idx[0]])
        self.value(t, idx, weight)
        action = self.memo[(t, idx.tobytes())][1]
        for pos, nxt, r, term in m.outcomes(idx, action):
            hit = np.flatnonzero(pos == true)
            if hit.size:
                if term:
                    return r
                return r + self.evaluate(t + 1, nxt, weight[pos], int(hit[0]))
        raise AssertionError("the true state belongs to one outcome")  # pragma: no cover


def _belief(model: CookingModel, goal_col: int) -> tuple[np.ndarray, np.ndarray]:
    """Start states of every problem under goal column ``goal_col``, weighted by p(g | μ).

    The prior over μ is uniform over the whole family (see :func:`no_exploration_value`);
    problems that cannot have this goal (weight 0) are left out.
    """
    w = model.goal_probs[:, goal_col]
    keep = np.flatnonzero(w > 0)
    return model.start_index[keep, goal_col], w[keep]


@functools.cache
def no_exploration_value(
    name: str,
    split: str = "test",
    horizon: int = 20,
    stage_reward: str = "replace",
    held_out: int | None = None,
) -> float:
    """Exact return of the Bayes-optimal exploitation policy without exploration information.

    The agent's prior is uniform over all problems of the family (a held-out problem is one
    the agent was not trained on, not one it could rule out); the return is averaged over the
    true μ of ``split`` and its goals g ~ p(g | μ).
    """
    m = cooking_model(name, horizon, stage_reward)
    solver = _NoExploration(m)
    returns = []
    for mu in split_problems(name, split, held_out):
        total = 0.0
        for col, pg in enumerate(m.goal_probs[mu]):
            if pg > 0:
                idx, w = _belief(m, col)
                true = int(np.flatnonzero(idx == m.start_index[mu, col])[0])
                total += pg * solver.evaluate(0, idx, w, true)
        returns.append(total)
    return float(np.mean(returns))


class _ThompsonSampling:
    """Committed Thompson sampling with redraws (``pearl_ub_redraw``), exactly, in one problem.

    The sample (a position in the belief ``idx``) is kept while consistent with what was seen
    and re-drawn from the posterior when ruled out; the expectation is over those draws.
    """

    def __init__(self, model: CookingModel) -> None:
        self.m = model
        self.memo: dict[tuple, float] = {}

    def _step(self, t, idx, w, s, true, explore):
        """Act with π*(sample); return (reward, terminated, next belief, weights, true pos)."""
        m = self.m
        action = int(m.policy[t, idx[s]])
        observe_reward = (not explore) or m.observes_reward_in_exploration
        for pos, nxt, r, term in m.outcomes(idx, action, observe_reward):
            hit = np.flatnonzero(pos == true)
            if hit.size:
                return r, term, pos, nxt, w[pos], int(hit[0])
        raise AssertionError("the true state belongs to one outcome")  # pragma: no cover

    def run(self, t: int, idx: np.ndarray, w: np.ndarray, s: int, true: int, explore: bool):
        """Exploitation: expected remaining return; exploration: expected W(posterior)."""
        m = self.m
        if t == m.horizon:
            return self.after(idx[true], idx) if explore else 0.0
        key = (explore, t, idx.tobytes(), s, true)
        if key in self.memo:
            return self.memo[key]
        r, term, pos, nxt, w2, true2 = self._step(t, idx, w, s, true, explore)
        if term:
            value = self.after(nxt[true2], nxt) if explore else r
        else:
            kept = np.flatnonzero(pos == s)
            samples = [(int(kept[0]), 1.0)] if kept.size else list(enumerate(w2 / w2.sum()))
            future = sum(p * self.run(t + 1, nxt, w2, j, true2, explore) for j, p in samples)
            value = future if explore else r + future
        self.memo[key] = value
        return value

    def after(self, true_state: int, idx: np.ndarray) -> float:
        """W: expected TS exploitation return in the true problem, posterior = μ of ``idx``."""
        m = self.m
        true_mu = int(m.mu[true_state])
        posterior = np.unique(m.mu[idx])
        key = ("w", true_mu, tuple(posterior.tolist()))
        if key not in self.memo:
            total = 0.0
            for col, pg in enumerate(m.goal_probs[true_mu]):
                if pg == 0:
                    continue
                w = m.goal_probs[posterior, col]
                keep = w > 0
                b, w = m.start_index[posterior[keep], col], w[keep]
                true = int(np.flatnonzero(b == m.start_index[true_mu, col])[0])
                exp = sum(w[j] * self.run(0, b, w, j, true, False) for j in range(len(b)))
                total += pg * exp / w.sum()
            self.memo[key] = total
        return self.memo[key]

    def run_mixed(self, t: int, idx: np.ndarray, w: np.ndarray, s: int, explore: bool) -> float:
        """:meth:`run` averaged over a true μ drawn from the belief itself (weights ``w``).

        Equal to the average of :meth:`run` over the true states of ``idx``, but shares work
        across them; used when the evaluated problems are the whole prior.
        """
        m = self.m
        if t == m.horizon:
            return self.after_mixed(idx) if explore else 0.0
        key = ("m", explore, t, idx.tobytes(), s)
        if key in self.memo:
            return self.memo[key]
        action = int(m.policy[t, idx[s]])
        observe_reward = (not explore) or m.observes_reward_in_exploration
        total = 0.0
        for pos, nxt, r, term in m.outcomes(idx, action, observe_reward):
            p = w[pos].sum() / w.sum()
            if term:
                total += p * (self.after_mixed(nxt) if explore else r)
                continue
            w2 = w[pos]
            kept = np.flatnonzero(pos == s)
            samples = [(int(kept[0]), 1.0)] if kept.size else list(enumerate(w2 / w2.sum()))
            future = sum(q * self.run_mixed(t + 1, nxt, w2, j, explore) for j, q in samples)
            total += p * (future if explore else r + future)
        self.memo[key] = total
        return total

    def after_mixed(self, idx: np.ndarray) -> float:
        """W averaged over a true μ uniform over the posterior ``mu[idx]``."""
        m = self.m
        posterior = np.unique(m.mu[idx])
        key = ("wm", tuple(posterior.tolist()))
        if key not in self.memo:
            total = 0.0
            for col in range(len(m.goals)):
                w = m.goal_probs[posterior, col]
                pg = w.mean()  # p(g) when μ is uniform over the posterior
                if pg == 0:
                    continue
                keep = w > 0
                b, w = m.start_index[posterior[keep], col], w[keep]
                exp = sum(w[j] * self.run_mixed(0, b, w, j, False) for j in range(len(b)))
                total += pg * exp / w.sum()
            self.memo[key] = total
        return self.memo[key]


@functools.cache
def pearl_ub_redraw_value(
    name: str,
    split: str = "test",
    horizon: int = 20,
    stage_reward: str = "replace",
    held_out: int | None = None,
) -> float:
    """Exact expected exploitation return of committed Thompson sampling with redraws.

    The module doc's ``pearl_ub_redraw``. Prior uniform over the whole family (as in
    :func:`no_exploration_value`); averaged over the true μ of ``split``.
    """
    m = cooking_model(name, horizon, stage_reward)
    everything = np.arange(m.family.n_problems)
    ts = _ThompsonSampling(m)
    split_ids = split_problems(name, split, held_out)
    mixed = len(split_ids) == len(everything)  # true μ ~ prior: share the work
    returns = []
    for mu in [None] if mixed else split_ids:
        total = 0.0
        # Exploration sample μ' uniform over the family, its goal g' ~ p(g | μ').
        for col in range(len(m.goals)):
            weights = m.goal_probs[:, col]
            idx = m.start_index[everything, col]
            w = np.ones(len(everything))
            for s_mu in np.flatnonzero(weights > 0):
                if mixed:
                    value = ts.run_mixed(0, idx, w, int(s_mu), True)
                else:
                    value = ts.run(0, idx, w, int(s_mu), int(mu), True)
                total += weights[s_mu] * value
        returns.append(total / len(everything))
    return float(np.mean(returns))


def _follow(
    m: CookingModel, start: np.ndarray, sample: np.ndarray, observe_reward: bool | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Follow π*(sample[i], g) for a whole episode from the true full state start[i].

    ``m`` is a :func:`covering_model`; g is start[i]'s goal. At time t in true state s the
    action is ``policy[t, (sample, agent state of s)]``: the agent acts on the problem it
    sampled wherever the true problem takes it, and never redraws. The episode ends on
    termination (in the true problem) or at the horizon. Returns the undiscounted returns
    and, unless ``observe_reward`` is None, what the agent saw: one tag per step (next cell,
    inventory, goal, termination, and the reward when ``observe_reward``), 0 after the end.
    """
    state = np.asarray(start, dtype=np.int64).copy()
    sample = np.broadcast_to(np.asarray(sample, dtype=np.int64), state.shape)
    returns = np.zeros(len(state))
    active = np.ones(len(state), dtype=bool)
    tags = None if observe_reward is None else np.zeros((len(state), m.horizon), dtype=np.int64)
    for t in range(m.horizon):
        low = m.low_id[state]
        if (low < 0).any():  # pragma: no cover - true episodes stay among reachable states
            raise AssertionError("a true state outside the covering model's agent states")
        agent = m.agent_index[sample, low]
        action = m.policy[t, agent]
        reward = m.reward[state, action]
        term = m.terminated[state, action]
        nxt = m.next[state, action]
        returns += np.where(active, reward, 0.0)
        if tags is not None:
            tag = ((m.obs_key[nxt] << 1) | term) + 1
            if observe_reward:  # rewards are multiples of 0.05 in [-2, 1]
                tag = (tag << 16) | (np.round(reward * 1000).astype(np.int64) + 2**15)
            tags[:, t] = np.where(active, tag, 0)
        state = np.where(active, nxt, state)
        active &= ~term
    return returns, tags


def _exploitation_returns(m: CookingModel, col: int, chunk: int = 1 << 20) -> np.ndarray:
    """R[μ, ν] for goal column ``col``: return of π*(ν, g) followed in the true μ (n × n).

    Entries where p(g | μ) = 0 or p(g | ν) = 0 are 0 (never used).
    """
    n = m.family.n_problems
    out = np.zeros((n, n))
    members = np.flatnonzero(m.goal_probs[:, col] > 0)
    true, sample = np.repeat(members, len(members)), np.tile(members, len(members))
    values = np.concatenate(
        [
            _follow(m, m.start_index[true[i : i + chunk], col], sample[i : i + chunk])[0]
            for i in range(0, len(true), chunk)
        ]
    )
    out[np.ix_(members, members)] = values.reshape(len(members), len(members))
    return out


@functools.cache
def code_suffices_table(
    name: str, goal: int, horizon: int = 20, stage_reward: str = "replace"
) -> np.ndarray:
    """S[μ, ν]: π*(ν, g) followed in the true μ earns V*(μ, g), exactly (no redraws).

    ``goal`` g is a goal index (−1: the goal-free variant); S is False where g is not a goal of
    μ or ν (:func:`_follow` plays π*(ν, g)).

    Whether acting on problem ν's information is as good as knowing μ: the yardstick of
    :mod:`analysis.diagnostics.code_swap` (a training code shown on a held-out problem).
    """
    m = covering_model(name, horizon, stage_reward)
    col = max(goal, 0)
    possible = m.goal_probs[:, col] > 0
    best = m.optimal_values()[:, col]
    returns = _exploitation_returns(m, col)
    return np.isclose(returns, best[:, None]) & possible[:, None] & possible[None, :]


def _class_pairs(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every ordered pair (i, j) with labels[i] = labels[j] (i = j included), as two arrays."""
    order = np.argsort(labels, kind="stable")
    sizes = np.bincount(labels)
    starts = np.cumsum(sizes) - sizes
    size_of = sizes[labels[order]]  # for each sorted position, its class size
    first_of = starts[labels[order]]
    i = np.repeat(order, size_of)
    offsets = np.arange(len(i)) - np.repeat(np.cumsum(size_of) - size_of, size_of)
    j = order[np.repeat(first_of, size_of) + offsets]
    return i, j


def _posterior_returns(m: CookingModel, returns: list[np.ndarray], labels: np.ndarray):
    """W[μ]: exploitation return of per-episode TS when the posterior is μ's class in ``labels``.

    W[μ] = Σ_g p(g | μ) Σ_{ν ∈ B} p(g | ν) R_g[μ, ν] / Σ_{ν ∈ B} p(g | ν), B = {ν : labels[ν]
    = labels[μ]}: the goal g ~ p(g | μ), then ν ~ p(ν | B, g) ∝ p(g | ν) drawn once.
    """
    i, j = _class_pairs(labels)
    n = len(labels)
    total = np.zeros(n)
    for col, r in enumerate(returns):
        pg = m.goal_probs[:, col]
        num = np.bincount(i, weights=pg[j] * r[i, j], minlength=n)
        den = np.bincount(i, weights=pg[j], minlength=n)
        total += np.where(pg > 0, pg * num / np.where(den > 0, den, 1.0), 0.0)
    return total


def _exploration_classes(m: CookingModel):
    """Yield (weight, labels) for every TS exploration: sample s, exploration goal column.

    ``labels[μ]`` is the class of μ (every problem of the family): the problems whose
    exploration observations (and rewards, when the exploration episode is rewarded) under
    π*(s, g') equal μ's. ``weight`` = p(s) p(g' | s) = p(g' | s) / N; they sum to 1.
    """
    n = m.family.n_problems
    everything = np.arange(n)
    observe = m.observes_reward_in_exploration
    for col in range(len(m.goals)):
        for sample in np.flatnonzero(m.goal_probs[:, col] > 0):
            _, tags = _follow(m, m.start_index[everything, col], sample, observe)
            labels = np.unique(tags, axis=0, return_inverse=True)[1].ravel()
            yield m.goal_probs[sample, col] / n, labels


def per_episode_thompson_value(m: CookingModel, split_ids: np.ndarray) -> float:
    """Exact ``pearl_ub_sampled`` (module doc), on a :func:`covering_model`.

    value = mean_{μ ∈ split} (1/N) Σ_{s} Σ_{g'} p(g' | s) W_{s,g'}[μ]: the exploration sample s
    is uniform over the family's N problems with its goal g' ~ p(g' | s); π*(s, g') is followed
    in the true (μ, g'); the posterior is the class of problems with the same observations
    (and rewards, when the exploration episode is rewarded), and W is
    :func:`_posterior_returns`.
    """
    returns = [_exploitation_returns(m, col) for col in range(len(m.goals))]
    total = np.zeros(m.family.n_problems)
    for weight, labels in _exploration_classes(m):
        total += weight * _posterior_returns(m, returns, labels)
    return float(total[split_ids].mean())


def bayes_after_thompson_value(m: CookingModel, split_ids: np.ndarray) -> float:
    """Exact ``pearl_ub``: TS exploration, then Bayes-optimal exploitation (module doc).

    value = mean_{μ ∈ split} Σ_{s, g'} p(s) p(g' | s) Σ_g p(g | μ) E_g[B(μ; s, g'), μ], where
    B(μ; s, g') is μ's exploration class (:func:`_exploration_classes`) and E_g[B, μ] the
    return in the true μ of the Bayes-optimal exploitation policy for goal g whose belief
    starts on the start states of the ν ∈ B with p(g | ν) > 0, weighted by p(g | ν) (the
    prior is uniform; the goal is evidence): :class:`_NoExploration` from that belief. When
    the whole class lies in the split, Σ_{μ ∈ B} p(g | μ) E_g[B, μ] is Σ_{ν ∈ B} p(g | ν) times
    the belief's value (one dynamic programming, no per-μ evaluation). ``m`` may be a
    :func:`cooking_model` or a :func:`covering_model`.
    """
    solver = _NoExploration(m)
    n = m.family.n_problems
    in_split = np.zeros(n, dtype=bool)
    in_split[np.asarray(split_ids)] = True
    cache: dict[bytes, float] = {}

    def exploit(members: np.ndarray) -> float:
        """Σ_{μ ∈ B ∩ split} Σ_g p(g | μ) E_g[B, μ] for the class B = ``members``."""
        key = members.tobytes()
        if key not in cache:
            total = 0.0
            inside = members[in_split[members]]
            for col in range(len(m.goals)):
                w = m.goal_probs[members, col]
                keep = w > 0
                if not keep.any() or not (m.goal_probs[inside, col] > 0).any():
                    continue
                idx, w = m.start_index[members[keep], col], w[keep]
                if len(inside) == len(members):  # μ ~ p(μ | B, g) ∝ p(g | μ): the belief value
                    total += w.sum() * solver.value(0, idx, w)
                    continue
                for mu in inside[m.goal_probs[inside, col] > 0].tolist():
                    true = int(np.flatnonzero(idx == m.start_index[mu, col])[0])
                    total += m.goal_probs[mu, col] * solver.evaluate(0, idx, w, true)
            cache[key] = total
        return cache[key]

    value = 0.0
    for weight, labels in _exploration_classes(m):
        order = np.argsort(labels, kind="stable")
        classes = np.split(order, np.cumsum(np.bincount(labels))[:-1])
        value += weight * sum(exploit(b) for b in classes if in_split[b].any())
    return value / int(in_split.sum())


@functools.cache
def pearl_ub_value(
    name: str,
    split: str = "test",
    horizon: int = 20,
    stage_reward: str = "replace",
    held_out: int | None = None,
) -> float:
    """Exact PEARL-UB as drawn: TS exploration, then Bayes-optimal exploitation.

    The module doc's ``pearl_ub``. Prior uniform over the whole family (as in
    :func:`no_exploration_value`); averaged over the true μ of ``split``.
    """
    m = covering_model(name, horizon, stage_reward)
    return bayes_after_thompson_value(m, split_problems(name, split, held_out))


@functools.cache
def pearl_ub_sampled_value(
    name: str,
    split: str = "test",
    horizon: int = 20,
    stage_reward: str = "replace",
    held_out: int | None = None,
) -> float:
    """Exact expected exploitation return of per-episode Thompson sampling in both episodes.

    The module doc's ``pearl_ub_sampled``: each episode's sample is drawn once and kept. Prior
    uniform over the whole family (as in :func:`no_exploration_value`); averaged over the
    true μ of ``split``.
    """
    m = covering_model(name, horizon, stage_reward)
    return per_episode_thompson_value(m, split_problems(name, split, held_out))


def memoryless_values(
    name: str, problem: int, horizon: int = 20, stage_reward: str = "replace"
) -> np.ndarray:
    """Per goal column: the best return of a policy of the current observation alone, μ known.

    The best deterministic map from the paper observation (cell, object under the agent,
    inventory, goal) to actions, for the true μ: what a feed-forward exploitation policy
    Q(s, z) with z = f(μ) can reach at best. The observation does not show the recipe stage,
    so such a policy acts the same at the start and after ingredient a is in the pot.
    Exact: depth-first search over the policy's choices along its own trajectory (an
    observation seen before repeats its action), pruned with the unrestricted optimum V*_t.
    NaN for goals μ cannot have.
    """
    m = cooking_model(name, horizon, stage_reward)
    values = np.full(len(m.goals), np.nan)
    for col in np.flatnonzero(m.goal_probs[problem] > 0):
        values[col] = _best_memoryless(m, int(m.start_index[problem, col]))
    return values


def _best_memoryless(m: CookingModel, start: int) -> float:
    """Best return over deterministic policies of ``m.obs_key`` from state ``start``."""
    best = -np.inf
    policy: dict[int, int] = {}

    def search(t: int, s: int, ret: float) -> None:
        nonlocal best
        if t == m.horizon:
            best = max(best, ret)
            return
        if ret + m.value[t, s] <= best + 1e-12:
            return  # not even the unrestricted optimum would beat the best found
        obs = int(m.obs_key[s])
        chosen = policy.get(obs)
        for a in range(m.n_actions) if chosen is None else (chosen,):
            if chosen is None:
                policy[obs] = a
            r = float(m.reward[s, a])
            if m.terminated[s, a]:
                best = max(best, ret + r)
            else:
                search(t + 1, int(m.next[s, a]), ret + r)
        if chosen is None:
            del policy[obs]

    search(0, start, 0.0)
    return float(best)


def scripted_exploration(name: str, problem: int) -> list[int]:
    """An exploration action sequence that identifies μ (and so every fridge and the recipe).

    ``cooking``: pick up at the middle, bottom and top fridge (7 steps, the same for every μ).
    ``cooking_no_goals`` (adaptive, uses the rewards): at each fridge pick up; an ingredient
    rewarded +0.25 is carried to the pot and dropped there, where +0.25 means it was the
    first recipe ingredient and −0.25 the second (unless the first is already in the pot: then
    it is the second and is dropped off the pot, so the episode does not end); any other
    ingredient is dropped on the spot.
    """
    family = make(name)
    problem = family.check_problem(problem)
    cfg = family.config  # type: ignore[attr-defined]
    act = {n: i for i, n in enumerate(cfg.actions)}
    route = {FRIDGES[1]: ["right"], FRIDGES[0]: ["down"], FRIDGES[2]: ["up", "up"]}
    if cfg.kind == "cooking":
        return [
            act[n] for f in (FRIDGES[1], FRIDGES[0], FRIDGES[2]) for n in [*route[f], "pick_up"]
        ]
    env = CookingEnv(cfg)
    env.reset(options={"problem": problem, "goal": None})
    actions: list[int] = []

    def do(names: Sequence[str]) -> float:
        r = 0.0
        for n in names:
            actions.append(act[n])
            r = env.step(act[n])[1]
        return r

    def path(src: tuple[int, int], dst: tuple[int, int]) -> list[str]:
        (x0, y0), (x1, y1) = src, dst
        moves = ["right" if x1 > x0 else "left"] * abs(x1 - x0)
        return moves + ["up" if y1 > y0 else "down"] * abs(y1 - y0)

    first_in_pot = False
    for fridge in (FRIDGES[1], FRIDGES[0], FRIDGES[2]):
        do(path(env.pos, fridge))
        if do(["pick_up"]) > 0:  # +0.25 - 0.1: a recipe ingredient
            if first_in_pot:
                do(["drop"])  # the second ingredient: off the pot, so the episode goes on
            else:
                do(path(env.pos, POT))
                first_in_pot = do(["drop"]) > 0
        else:
            do(["drop"])
    return actions


def reveals_all(name: str, problem: int, exploration_trajectory: Sequence[int]) -> bool:
    """Whether the exploration episode's actions identify every fridge's content (and recipe).

    The kitchens are deterministic, so the actions fix what is seen: the observations, plus the
    rewards in ``cooking_no_goals`` (its exploration episodes are rewarded). The trajectory
    reveals all task-relevant information when ``problem`` is the only μ of the family that
    gives the same observations (and rewards); in ``cooking`` μ is exactly the fridge contents,
    in ``cooking_no_goals`` the contents and the recipe. Actions after the end are ignored.
    """
    family = make(name)
    problem = family.check_problem(problem)
    return bool(identified(name, tuple(exploration_trajectory))[problem])


def identified(name: str, exploration_trajectory: tuple[int, ...]) -> np.ndarray:
    """For every μ of the family: whether these exploration actions single it out."""
    family = make(name)
    n = family.n_problems
    env = family.make_batched(n)
    obs = env.reset(np.arange(n), NO_GOAL)
    seen = [obs]
    ended = np.zeros(n, dtype=bool)
    for a in exploration_trajectory:
        if ended.all():
            break
        env.done[:] = False  # ended envs keep stepping, but what they show stays frozen
        new, rew, term, trunc = env.step(np.full(n, a, dtype=np.int64))
        new[ended], rew[ended] = obs[ended], 0.0
        ended |= term | trunc
        obs = new
        seen.append(np.concatenate([new, np.round(rew * 1000)[:, None], ended[:, None]], axis=1))
    seq = np.concatenate([s.reshape(n, -1) for s in seen], axis=1)
    _, inverse, counts = np.unique(seq, axis=0, return_inverse=True, return_counts=True)
    return counts[inverse.ravel()] == 1


@functools.cache
def reference_table(
    name: str, split: str = "test", stage_reward: str = "replace", held_out: int | None = None
) -> pd.DataFrame:
    """One-row table of the exact reference exploitation returns (paper variant).

    ``stage_reward``: the reading of the recipe-step reward; ``held_out``: the held-out problem
    (None: the default). Rows of a non-default value are labelled with it, as
    ``cooking[stage_reward=add]`` and ``cooking[held_out=10]``.
    """
    m = cooking_model(name, stage_reward=stage_reward)
    problems = split_problems(name, split, held_out)
    options: dict[str, Any] = {"stage_reward": stage_reward} if stage_reward != "replace" else {}
    if held_out is not None:
        options["held_out"] = held_out
    v_star = m.optimal_values()[problems]  # (problems, goal columns)
    optimal = float((v_star * m.goal_probs[problems]).sum(axis=1).mean())
    scripts: dict[tuple[int, ...], list[int]] = {}
    for p in problems:
        scripts.setdefault(tuple(scripted_exploration(name, int(p))), []).append(int(p))
    all_revealed = all(identified(name, sc)[ps].all() for sc, ps in scripts.items())
    row = {
        "benchmark": options_label(name, options),
        "variant": "paper",
        "split": split,
        "n_problems": len(problems),
        "optimal": optimal,
        "optimal_after_exploration": optimal if all_revealed else np.nan,
        "pearl_ub": pearl_ub_value(name, split, stage_reward=stage_reward, held_out=held_out),
        "pearl_ub_sampled": pearl_ub_sampled_value(
            name, split, stage_reward=stage_reward, held_out=held_out
        ),
        "pearl_ub_redraw": pearl_ub_redraw_value(
            name, split, stage_reward=stage_reward, held_out=held_out
        ),
        "no_exploration": no_exploration_value(
            name, split, stage_reward=stage_reward, held_out=held_out
        ),
    }
    return pd.DataFrame([row])
