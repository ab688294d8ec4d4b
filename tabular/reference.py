"""Slow, readable per-trajectory RL² and DREAM: the estimators of App. C.2 written literally.

This is the twin of the Numba kernels in :mod:`tabular.rl2` and :mod:`tabular.dream`.
It draws the same random numbers (plain-Python SplitMix64, :func:`tabular.rng.splitmix64_reference`)
but keeps every estimate as the paper states it, recomputed from counts:

* RL²: ``Q̂_task(tau, b)`` = mean return of ``b`` after ``tau`` (exact ``Fraction``);
  ``V̂_task(tau) = max_b Q̂_task(tau, b)``; ``Q̂_exp(a) = V̂_task((a, 0))`` for
  ``a != a_star`` and ``Q̂_exp(a_star)`` = mean over a_star-trials of the current
  ``V̂_task((a_star, mu_i))``.
* DREAM: decoder ``q̂(mu | tau)`` = count(tau, mu) / count(tau); ``Q̂_exp(a)`` = mean over
  the trials that explored ``a`` of ``log q̂(mu_i | tau_i)`` with the current decoder.
  The exploitation policy is trained on the problem ID (Algorithm 2 with ``z = f(mu)``,
  here the identity): ``Q̂_task(mu, b)`` = mean return of ``b`` in problem ``mu``.

It does not use any certificate: :meth:`ReferenceLearner.run` records whether the greedy
policy is optimal after every trial, so tests can check the kernels' certified measures
against a long literal run. It is also what draws the training traces of Figure 3b-d.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from fractions import Fraction

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


def _index(u: float, n: int) -> int:
    return min(int(u * n), n - 1)


def _argmax_set(values: list) -> list[int]:
    best = max(values)
    return [i for i, v in enumerate(values) if v == best]


@dataclass
class ReferenceLearner:
    """Per-trajectory epsilon-greedy tabular learner for ``method`` in {"rl2", "dream"}."""

    method: str
    family: BanditFamily
    epsilon: float
    key: int
    trial: int = 0
    # ---- data, as counts (everything else is derived from these on demand)
    explore_count: dict = field(default_factory=lambda: defaultdict(int))  # a -> n
    decoder_count: dict = field(default_factory=lambda: defaultdict(int))  # (a, outcome, mu) -> n
    outcome_count: dict = field(default_factory=lambda: defaultdict(int))  # (a, outcome) -> n
    task_n: dict = field(default_factory=lambda: defaultdict(int))  # (context, b) -> n
    task_r: dict = field(default_factory=lambda: defaultdict(int))  # (context, b) -> total return
    star_trials: dict = field(default_factory=lambda: defaultdict(int))  # mu -> a_star-trials

    def __post_init__(self) -> None:
        if self.method not in ("rl2", "dream"):
            raise ValueError(f"method={self.method!r} is not allowed: use 'rl2' or 'dream'")
        self.key = int(self.key)

    # ------------------------------------------------------------------ randomness
    def _u(self, slot: int) -> float:
        return splitmix64_reference(self.key, self.trial * N_SLOTS + slot)

    def _uniform_sequence(self, digit_slot: int) -> int:
        A, H = self.family.A, self.family.H
        return sum(_index(self._u(digit_slot + t), A) * A**t for t in range(H))

    def _pick(self, maximisers: list[int], tie_slot: int) -> int:
        return maximisers[_index(self._u(tie_slot), len(maximisers))]

    # ------------------------------------------------------------------ estimates
    @property
    def K(self) -> int:
        """Number of action sequences."""
        return self.family.n_sequences

    def q_task(self, context: tuple, b: int) -> Fraction:
        """``Q̂_task(context, b)``: mean return, 0 if unseen (context: tau for RL², mu for DREAM)."""
        n = self.task_n.get((context, b), 0)
        return Fraction(self.task_r[(context, b)], n) if n else Fraction(0)

    def v_task(self, context: tuple) -> Fraction:
        """``V̂_task(context) = max_b Q̂_task(context, b)``."""
        return max(self.q_task(context, b) for b in range(self.K))

    def decoder(self, a: int, outcome: int, mu: int) -> float:
        """``q̂(mu | tau = (a, outcome))``; the prior 1/M if ``tau`` was never seen."""
        n = self.outcome_count.get((a, outcome), 0)
        if n == 0:
            return 1.0 / self.family.n_problems
        return self.decoder_count.get((a, outcome, mu), 0) / n

    def q_exp(self, a: int) -> float | Fraction:
        """``Q̂_exp(a)`` with current targets (0 if ``a`` was never explored)."""
        n = self.explore_count.get(a, 0)
        if n == 0:
            return Fraction(0) if self.method == "rl2" else 0.0
        star = self.family.informative_index
        if self.method == "rl2":
            if a != star:
                return self.v_task(("seq", a, 0))
            total = sum(
                (
                    self.star_trials[mu] * self.v_task(("seq", star, mu + 1))
                    for mu in self.star_trials
                ),
                Fraction(0),
            )
            return total / n
        total = 0.0
        for (a_, outcome, mu), count in self.decoder_count.items():
            if a_ == a:
                total += count * math.log(self.decoder(a, outcome, mu))
        return total / n

    def q_exp_all(self) -> list:
        """``Q̂_exp`` of every sequence, index order."""
        return [self.q_exp(a) for a in range(self.K)]

    def greedy_optimal(self) -> bool:
        """True iff ``a_star`` is the unique maximiser of ``Q̂_exp`` (a tie is not optimal)."""
        return _argmax_set(self.q_exp_all()) == [self.family.informative_index]

    def event(self) -> bool:
        """The coupon event of the proof of Prop. 2 for this method."""
        star = self.family.informative_index
        if self.method == "rl2":
            solved = [
                self.task_r.get((("seq", star, mu + 1), mu), 0) > 0
                for mu in range(self.family.n_problems)
            ]
            return all(solved)
        distinct = defaultdict(set)
        for a, _, mu in self.decoder_count:
            distinct[a].add(mu)
        return self.explore_count.get(star, 0) > 0 and all(
            len(distinct[a]) >= 2 for a in range(self.K - 1)
        )

    def certificate(self) -> bool:
        """The certificate ``C_t`` of :mod:`tabular.rl2` / :mod:`tabular.dream`, from the counts."""
        if self.method == "dream":
            distinct = defaultdict(set)
            for a, _, mu in self.decoder_count:
                distinct[a].add(mu)
            return all(len(distinct[a]) >= 2 for a in range(self.K - 1))
        failures = all(
            self.task_n.get((("seq", a, 0), b), 0) > self.task_r.get((("seq", a, 0), b), 0)
            for a in range(self.K - 1)
            for b in range(self.K)
        )
        return failures and self.event()

    # ------------------------------------------------------------------ one trial
    def step(self) -> None:
        """Run trial ``t + 1``: draw mu, explore, exploit, update the counts."""
        self.trial += 1
        fam = self.family
        star = fam.informative_index
        mu = _index(self._u(SLOT_MU), fam.n_problems)
        if self._u(SLOT_EXP_EPS) < self.epsilon:
            a = self._uniform_sequence(SLOT_EXP_DIGIT)
        else:
            a = self._pick(_argmax_set(self.q_exp_all()), SLOT_EXP_TIE)
        outcome = fam.exploration_outcome(a, mu)
        context = ("seq", a, outcome) if self.method == "rl2" else ("id", mu)
        if self._u(SLOT_TASK_EPS) < self.epsilon:
            b = self._uniform_sequence(SLOT_TASK_DIGIT)
        else:
            b = self._pick(
                _argmax_set([self.q_task(context, j) for j in range(self.K)]), SLOT_TASK_TIE
            )
        _, ret = fam.rollout(fam.sequence(b), mu, "exploitation")
        self.explore_count[a] += 1
        self.outcome_count[(a, outcome)] += 1
        self.decoder_count[(a, outcome, mu)] += 1
        if a == star:
            self.star_trials[mu] += 1
        self.task_n[(context, b)] += 1
        self.task_r[(context, b)] += int(ret)

    def run(self, n_trials: int) -> dict:
        """Run ``n_trials`` trials and return the literal measures over that window.

        ``T_greedy`` = 1 + last trial in the window whose greedy policy is not optimal;
        ``T_event`` / ``T_certificate`` = first trial at which the event / the
        certificate holds (``-1`` if never in the window).
        """
        last_not_optimal = 0
        t_event = -1
        t_cert = -1
        for _ in range(n_trials):
            self.step()
            if not self.greedy_optimal():
                last_not_optimal = self.trial
            if t_event < 0 and self.event():
                t_event = self.trial
            if t_cert < 0 and self.certificate():
                t_cert = self.trial
        return {"T_greedy": last_not_optimal + 1, "T_event": t_event, "T_certificate": t_cert}

    # ------------------------------------------------------------------ Figure 3c-d quantities
    def v_task_informative(self) -> float:
        """Exploitation value after the informative trajectory, averaged over problems.

        RL²: mean over mu of ``V̂_task((a_star, mu))``. DREAM: mean over mu of
        ``sum_mu' q̂(mu' | (a_star, mu)) V̂_task(mu')`` (decode, then act on the decoded ID).
        """
        star = self.family.informative_index
        M = self.family.n_problems
        if self.method == "rl2":
            return float(sum(self.v_task(("seq", star, mu + 1)) for mu in range(M)) / M)
        values = [float(self.v_task(("id", m))) for m in range(M)]
        total = 0.0
        for mu in range(M):
            total += sum(self.decoder(star, mu + 1, m) * values[m] for m in range(M))
        return total / M

    def greedy_return(self) -> float:
        """Expected exploitation return of the greedy policies (epsilon = 0), ties averaged.

        This is what a test trial at epsilon = 0 returns on average over problems (Fig. 3d).
        """
        fam = self.family
        M = fam.n_problems
        explore = _argmax_set(self.q_exp_all())
        total = 0.0
        for mu in range(M):
            for a in explore:
                outcome = fam.exploration_outcome(a, mu)
                if self.method == "rl2":
                    contexts = [(("seq", a, outcome), 1.0)]
                else:
                    contexts = [(("id", m), self.decoder(a, outcome, m)) for m in range(M)]
                for context, weight in contexts:
                    if weight == 0.0:
                        continue
                    best = _argmax_set([self.q_task(context, b) for b in range(self.K)])
                    if mu in best:
                        total += weight / len(best) / len(explore)
        return total / M
