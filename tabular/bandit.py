"""The horizon-H bandit family of App. C.2 (Sec. 5.2 is the case H = 1).

A problem family of ``M = A**H`` episodic MDPs indexed by the problem ID ``mu``.

Indexing conventions (the paper is 1-based and not fully consistent; we fix them here):

* Actions are the integers ``0 .. A-1`` (the paper's ``1 .. A``).
* An action *sequence* ``a = (a_0, ..., a_{H-1})`` has the index
  ``sum_t a_t * A**t`` in ``0 .. K-1`` with ``K = A**H`` (``a_0`` least significant).
* Problems are ``mu in 0 .. M-1``. The rewarded exploitation sequence is
  ``a_mu`` = the base-A digits of ``mu`` (App. C.2: "the problem mu in base |A|"),
  so **the index of a_mu is mu itself**.
* The informative exploration sequence ``a_star`` takes the last action ``A-1`` at every
  step (the paper's "action |A| for H timesteps"), so its index is ``K-1``. (The paper's
  text also writes "a_0 = 1, ..., a_{H-1} = 1" for it, which contradicts "action |A|";
  we follow "action |A|".)

The real MDP (App. C.2, "States"): a state is the ``(H+2)``-vector
``(t, h_0, ..., h_{H-1}, revealed)`` where ``h_i = a_i + 1`` is the 1-based label of the
i-th action taken (0 = not taken yet), and ``revealed = mu + 1`` once the whole of
``a_star`` has been taken in the exploration episode (0 otherwise). Using 1-based labels
in the state keeps the paper's convention that 0 means "empty". Exploitation episodes
never reveal ``mu``; the last exploitation action pays ``R_mu = 1`` iff the whole
exploitation sequence is ``a_mu``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

Phase = Literal["exploration", "exploitation"]

MAX_H = 16
"""Largest supported horizon (the random-number slot layout in :mod:`tabular.rng` uses it)."""


@dataclass(frozen=True)
class BanditFamily:
    """The family of App. C.2 for ``A >= 2`` actions and horizon ``H >= 1``.

    Attributes:
        A: number of actions per step.
        H: horizon of every exploration and exploitation episode.
    """

    A: int
    H: int

    def __post_init__(self) -> None:
        if isinstance(self.A, bool) or not isinstance(self.A, int | np.integer) or self.A < 2:
            raise ValueError(f"A={self.A!r} is not allowed: A must be an integer >= 2")
        if isinstance(self.H, bool) or not isinstance(self.H, int | np.integer) or self.H < 1:
            raise ValueError(f"H={self.H!r} is not allowed: H must be an integer >= 1")
        if self.H > MAX_H:
            raise ValueError(f"H={self.H} is not allowed: H must be <= {MAX_H}")

    @property
    def n_sequences(self) -> int:
        """``K = A**H``, the number of action sequences of one episode."""
        return int(self.A) ** int(self.H)

    @property
    def n_problems(self) -> int:
        """``|M| = A**H`` (App. C.2: "M = {1, 2, ..., |A|^H}")."""
        return int(self.A) ** int(self.H)

    @property
    def informative_index(self) -> int:
        """Index of ``a_star`` (action ``A-1`` at every step): ``K - 1``."""
        return self.n_sequences - 1

    @property
    def informative_sequence(self) -> tuple[int, ...]:
        """``a_star`` as a tuple of 0-based actions."""
        return (self.A - 1,) * self.H

    def sequence_index(self, actions: tuple[int, ...] | list[int]) -> int:
        """Index ``sum_t a_t A**t`` of an action sequence."""
        if len(actions) != self.H:
            raise ValueError(
                f"sequence of length {len(actions)} given: it must have length H={self.H}"
            )
        index = 0
        for t, a in enumerate(actions):
            self.check_action(a)
            index += int(a) * self.A**t
        return index

    def sequence(self, index: int) -> tuple[int, ...]:
        """Inverse of :meth:`sequence_index`: the base-A digits, least significant first."""
        if not 0 <= index < self.n_sequences:
            raise ValueError(
                f"sequence index {index} is out of range: allowed 0..{self.n_sequences - 1}"
            )
        digits = []
        for _ in range(self.H):
            digits.append(index % self.A)
            index //= self.A
        return tuple(digits)

    def rewarded_sequence(self, mu: int) -> tuple[int, ...]:
        """``a_mu``: the problem ID written in base A (its index is ``mu``)."""
        self.check_problem(mu)
        return self.sequence(mu)

    def check_action(self, a: int) -> None:
        """Raise ``ValueError`` unless ``a`` is an action ``0 .. A-1``."""
        if not 0 <= int(a) < self.A:
            raise ValueError(f"action {a} is not allowed: actions are 0..{self.A - 1}")

    def check_problem(self, mu: int) -> None:
        """Raise ``ValueError`` unless ``mu`` is a problem ID ``0 .. M-1``."""
        if not 0 <= int(mu) < self.n_problems:
            raise ValueError(
                f"problem ID {mu} is not allowed: problems are 0..{self.n_problems - 1}"
            )

    # ------------------------------------------------------------------ the real MDP
    def initial_state(self) -> tuple[int, ...]:
        """``s_0 = 0`` (the zero vector of length H+2)."""
        return (0,) * (self.H + 2)

    def step(
        self, state: tuple[int, ...], action: int, mu: int, phase: Phase
    ) -> tuple[tuple[int, ...], float, bool]:
        """One deterministic transition of ``T_mu`` and its reward ``R_mu``.

        Returns ``(next_state, reward, terminated)``; ``terminated`` is True after H steps.
        In the exploration episode the last step of ``a_star`` writes ``mu + 1`` into the
        last coordinate. In an exploitation episode the last step pays 1 iff the episode's
        whole action sequence is ``a_mu``.
        """
        self.check_action(action)
        self.check_problem(mu)
        if phase not in ("exploration", "exploitation"):
            raise ValueError(f"phase {phase!r} is not allowed: use 'exploration' or 'exploitation'")
        t = state[0]
        if not 0 <= t < self.H:
            raise ValueError(f"state {state} is terminal: no action can be taken there")
        history = list(state[1 : 1 + self.H])
        history[t] = int(action) + 1
        reward = 0.0
        revealed = 0
        if t == self.H - 1:
            actions = tuple(h - 1 for h in history)
            if phase == "exploration" and actions == self.informative_sequence:
                revealed = int(mu) + 1
            if phase == "exploitation" and self.sequence_index(actions) == int(mu):
                reward = 1.0
        next_state = (t + 1, *history, revealed)
        return next_state, reward, t + 1 == self.H

    def rollout(
        self, actions: tuple[int, ...], mu: int, phase: Phase
    ) -> tuple[list[tuple[int, ...]], float]:
        """States ``s_0 .. s_H`` and the return of one episode with the given actions."""
        states = [self.initial_state()]
        total = 0.0
        for a in actions:
            s, r, _ = self.step(states[-1], a, mu, phase)
            states.append(s)
            total += r
        return states, total

    def transition_table(
        self, mu: int, phase: Phase
    ) -> dict[tuple[int, ...], dict[int, tuple[tuple[int, ...], float]]]:
        """The whole MDP of problem ``mu`` as ``P[s][a] = (s', r)`` over reachable states.

        Exposed for tests and solvers (Gymnasium's ``P`` convention, deterministic). The
        table has ``sum_{t<H} A**t`` non-terminal states, so only call it for small A, H.
        """
        table: dict[tuple[int, ...], dict[int, tuple[tuple[int, ...], float]]] = {}
        frontier = [self.initial_state()]
        while frontier:
            s = frontier.pop()
            if s[0] == self.H:
                continue
            table[s] = {}
            for a in range(self.A):
                s_next, r, _ = self.step(s, a, mu, phase)
                table[s][a] = (s_next, r)
                frontier.append(s_next)
        return table

    def exploration_outcome(self, index: int, mu: int) -> int:
        """The exploration trajectory ``tau_a`` as an integer: ``mu + 1`` if a = a_star else 0.

        With deterministic dynamics the exploration trajectory is identified by the
        sequence and this outcome (App. C.2: ``tau = (a, mu)`` or ``(a, 0)``).
        """
        return int(mu) + 1 if index == self.informative_index else 0
