"""Slow, readable pure-Python reference for the per-step learners of :mod:`tabular.per_step`.

Everything here is deliberately plain: Q-tables are dicts keyed by the real MDP states that
:meth:`tabular.bandit.BanditFamily.step` returns, values are Python floats, random numbers
come from :func:`tabular.rng.splitmix64_reference` with ``counter = trial * N_SLOTS + slot``
(an index in ``0 .. n-1`` is ``min(int(u * n), n - 1)``), and the exploration trajectory
``tau`` is the terminal exploration state ``s_H`` itself (it holds the actions and, after
``a_star``, the revealed problem). The DREAM decoder is the empirical one for *every*
trajectory, ``a_star``'s included; that it gives ``log 1 = 0`` there is a consequence here,
not a shortcut as in the kernel. DREAM's exploitation episode is not simulated (it does not
influence exploration; see :mod:`tabular.per_step`).

:func:`run_reference` plays a *fixed* number of trials and records whether the greedy
exploration policy is optimal after every trial, so its measures do not rely on the
certificate arguments of :mod:`tabular.per_step`:

* ``T_greedy`` = 1 + the last non-optimal trial of the run (trial 0 is never optimal);
* ``T_event`` = the trial that completed the coupon event, or -1;
* ``T_optimal_to_end`` = the first trial from which greedy stayed optimal to the end of the
  run (-1 if the last trial is not optimal). It is the run-length-limited stand-in for
  ``T_guaranteed``: no finite simulation can check every continuation.

:class:`PerStepReference` also plays trials with *forced* problems and action sequences,
which the tests use to build the adversarial continuations of the RL² argument.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

from tabular.bandit import BanditFamily
from tabular.rng import (
    N_SLOTS,
    SLOT_EXP_DIGIT,
    SLOT_EXP_EPS,
    SLOT_EXP_TIE,
    SLOT_MU,
    SLOT_TASK_DIGIT,
    SLOT_TASK_EPS,
    SLOT_TASK_TIE,
    splitmix64_reference,
)

State = tuple[int, ...]


class PerStepReference:
    """One seed of per-step RL² or DREAM on the real MDP, played one trial at a time.

    Attributes:
        q_exp, n_exp: exploration values and visit counts, keyed by the MDP state.
        q_task, n_task: RL²'s exploitation values and counts, keyed by ``(tau, state)``.
        decoder: DREAM's counts ``decoder[tau][mu]``.
        t_event: the trial that completed the coupon event (-1 until then).
    """

    def __init__(self, method: str, A: int, H: int, epsilon: float, key: int) -> None:
        if method not in ("rl2", "dream"):
            raise ValueError(f"method={method!r} is not allowed: use rl2 or dream")
        self.method = method
        self.family = BanditFamily(A, H)
        self.A = A
        self.H = H
        self.epsilon = epsilon
        self.key = int(key)
        self.q_exp: dict[State, list[float]] = {}
        self.n_exp: dict[State, list[int]] = {}
        self.q_task: dict[tuple[State, State], list[float]] = {}
        self.n_task: dict[tuple[State, State], list[int]] = {}
        self.decoder: dict[State, Counter[int]] = {}
        self.problems_seen: dict[tuple[int, ...], set[int]] = {}
        self.star_seen = False
        self.solved: set[int] = set()
        self.t_event = -1
        self.trials = 0

    # ----------------------------------------------------------------- random numbers
    def uniform(self, trial: int, slot: int) -> float:
        """The uniform number of ``slot`` in ``trial``."""
        return splitmix64_reference(self.key, trial * N_SLOTS + slot)

    def index(self, trial: int, slot: int, n: int) -> int:
        """A uniform integer in ``0 .. n-1`` from ``slot`` in ``trial``."""
        return min(int(self.uniform(trial, slot) * n), n - 1)

    # ----------------------------------------------------------------------- tables
    def values(self, table: dict, key: object) -> list[float]:
        """The row of ``table`` at ``key`` (all zeros, the initial values, if never updated)."""
        return table.get(key, [0.0] * self.A)

    def _update(self, q: dict, n: dict, key: object, a: int, target: float) -> None:
        q.setdefault(key, [0.0] * self.A)
        n.setdefault(key, [0] * self.A)
        n[key][a] += 1
        q[key][a] = q[key][a] + (target - q[key][a]) / n[key][a]

    def _choose(self, row: list[float], trial: int, slots: tuple[int, int, int]) -> int:
        eps_slot, digit_slot, tie_slot = slots
        if self.uniform(trial, eps_slot) < self.epsilon:
            return self.index(trial, digit_slot, self.A)
        maximisers = [b for b in range(self.A) if row[b] == max(row)]
        return maximisers[self.index(trial, tie_slot, len(maximisers))]

    # ----------------------------------------------------------------------- greedy
    def path_states(self) -> list[State]:
        """The states reached by taking ``A - 1`` for ``0 .. H-1`` steps (the a_star path)."""
        states = [self.family.initial_state()]
        for _ in range(self.H - 1):
            states.append(self.family.step(states[-1], self.A - 1, 0, "exploration")[0])
        return states

    def greedy_optimal(self) -> bool:
        """Whether ``A - 1`` is the unique greedy action at every state of the a_star path."""
        for s in self.path_states():
            row = self.values(self.q_exp, s)
            if any(row[b] >= row[self.A - 1] for b in range(self.A - 1)):
                return False
        return True

    # ----------------------------------------------------------------------- trials
    def decoder_log_prob(self, tau: State, mu: int) -> float:
        """``log q̂(mu | tau)`` of the empirical decoder."""
        counts = self.decoder[tau]
        return math.log(counts[mu] / sum(counts.values()))

    def _explore(self, trial: int, mu: int, forced: tuple[int, ...] | None) -> State:
        s = self.family.initial_state()
        done = False
        while not done:
            step = s[0]
            if forced is not None:
                a = forced[step]
            else:
                slots = (SLOT_EXP_EPS + step, SLOT_EXP_DIGIT + step, SLOT_EXP_TIE + step)
                a = self._choose(self.values(self.q_exp, s), trial, slots)
            s_next, r, done = self.family.step(s, a, mu, "exploration")
            if not done:
                target = r + max(self.values(self.q_exp, s_next))
            elif self.method == "rl2":
                root = self.family.initial_state()
                target = r + max(self.values(self.q_task, (s_next, root)))  # V_task(tau)
            else:
                self.decoder.setdefault(s_next, Counter())[mu] += 1
                target = r + self.decoder_log_prob(s_next, mu)
            self._update(self.q_exp, self.n_exp, s, a, target)
            s = s_next
        return s

    def _exploit(self, trial: int, mu: int, tau: State, forced: tuple[int, ...] | None) -> float:
        s = self.family.initial_state()
        done = False
        total = 0.0
        while not done:
            step = s[0]
            if forced is not None:
                a = forced[step]
            else:
                slots = (SLOT_TASK_EPS + step, SLOT_TASK_DIGIT + step, SLOT_TASK_TIE + step)
                a = self._choose(self.values(self.q_task, (tau, s)), trial, slots)
            s_next, r, done = self.family.step(s, a, mu, "exploitation")
            target = r if done else r + max(self.values(self.q_task, (tau, s_next)))
            self._update(self.q_task, self.n_task, (tau, s), a, target)
            total += r
            s = s_next
        return total

    def play_trial(
        self,
        mu: int | None = None,
        exploration: tuple[int, ...] | None = None,
        exploitation: tuple[int, ...] | None = None,
    ) -> None:
        """Play the next trial; problem and action sequences are drawn unless forced."""
        self.trials += 1
        trial = self.trials
        if mu is None:
            mu = self.index(trial, SLOT_MU, self.family.n_problems)
        tau = self._explore(trial, mu, exploration)
        actions = tuple(h - 1 for h in tau[1 : 1 + self.H])
        is_star = actions == self.family.informative_sequence
        if self.method == "rl2":
            if self._exploit(trial, mu, tau, exploitation) == 1.0 and is_star:
                self.solved.add(mu)
            event = len(self.solved) == self.family.n_problems
        else:
            if is_star:
                self.star_seen = True
            else:
                self.problems_seen.setdefault(actions, set()).add(mu)
            n_other = self.family.n_sequences - 1
            two = sum(len(problems) >= 2 for problems in self.problems_seen.values())
            event = self.star_seen and two == n_other
        if event and self.t_event < 0:
            self.t_event = trial


@dataclass
class ReferenceResult:
    """Measures of one reference run of a fixed number of trials (see the module docstring)."""

    T_greedy: int
    T_event: int
    T_optimal_to_end: int
    optimal: list[bool]
    learner: PerStepReference


def run_reference(
    method: str, A: int, H: int, epsilon: float, key: int, n_trials: int
) -> ReferenceResult:
    """Play ``n_trials`` trials of one seed and record greedy optimality after each."""
    learner = PerStepReference(method, A, H, epsilon, key)
    optimal = [learner.greedy_optimal()]
    for _ in range(n_trials):
        learner.play_trial()
        optimal.append(learner.greedy_optimal())
    last_not_optimal = max(t for t, ok in enumerate(optimal) if not ok)
    t_greedy = last_not_optimal + 1
    return ReferenceResult(
        T_greedy=t_greedy,
        T_event=learner.t_event,
        T_optimal_to_end=t_greedy if optimal[-1] else -1,
        optimal=optimal,
        learner=learner,
    )
