"""What :mod:`tabular.bounds` predicts for each measure: exact means and Prop. 2's forms.

At ``epsilon = 1`` some measures are hitting times of events whose expectation
:func:`tabular.bounds.expected_time` computes exactly; Prop. 2's bound forms are
``K ln K`` (DREAM) and ``K^2 M ln K`` (RL²) with ``K = M = A**H``.
"""

from __future__ import annotations

import functools
import math

from tabular import bounds


def exact_event(method: str, learner: str, H: int, measure_name: str) -> str | None:
    """The :mod:`tabular.bounds` event whose expectation equals ``E[measure]`` at epsilon = 1.

    DREAM ``T_guaranteed`` and ``T_greedy`` are ``dream_guaranteed`` (per-step only at
    ``H = 1``, where both learners coincide), DREAM ``T_event`` is ``dream_event``, RL²
    ``T_event`` is ``rl2_event`` and per-trajectory RL² ``T_guaranteed`` is
    ``rl2_guaranteed``. RL² ``T_greedy`` has no closed form (``None``).
    """
    if method == "dream":
        if measure_name == "T_event":
            return "dream_event"
        if learner == "per-trajectory" or H == 1:
            return "dream_guaranteed"
        return None
    if measure_name == "T_event":
        return "rl2_event"
    if measure_name == "T_guaranteed" and learner == "per-trajectory":
        return "rl2_guaranteed"
    return None


@functools.cache
def _expected_time(event: str, A: int, H: int) -> float:
    try:
        return float(bounds.expected_time(event, A, H))
    except ValueError:  # chain too large for the exact recursion
        return math.nan


def exact_mean(
    method: str, learner: str, H: int, A: int, epsilon: float, measure_name: str
) -> float:
    """Exact ``E[measure]`` (:mod:`tabular.bounds`), or NaN where no exact value is known."""
    event = exact_event(method, learner, H, measure_name)
    if event is None or epsilon != 1.0:
        return math.nan
    return _expected_time(event, int(A), int(H))


def bound_form(method: str, A: int, H: int) -> float:
    """Prop. 2's bound form without constants: ``K ln K`` (DREAM) or ``K^2 M ln K`` (RL²)."""
    form = bounds.dream_bound_form if method == "dream" else bounds.rl2_bound_form
    return float(form(int(A), int(H)))
