"""Exact sample-complexity quantities for the bandit construction of App. C.2.

This module computes, *exactly* (no asymptotics, no Monte Carlo), the expectation and
the distribution of four random stopping times that appear in App. C.2, proof of
Proposition 2 of Liu et al., "Decoupling Exploration and Exploitation for Meta-Reinforcement
Learning without Sacrifices" (ICML 2021), all at exploration rate ``epsilon = 1``.

Setting (indices follow :mod:`tabular.bandit`): ``A >= 2`` actions, horizon ``H >= 1``,
``K = A**H`` action sequences and ``M = A**H`` problems ``mu``. The informative
exploration sequence is ``a_star`` (index ``K - 1``) and problem ``mu`` is rewarded by the
exploitation sequence ``a_mu`` (a bijection). One *trial* draws, independently and
uniformly, a problem ``mu``, an exploration sequence ``a`` and an exploitation sequence
``a'``. For an event ``E`` built from the first ``t`` trials, ``T = min{t : E holds after
t trials}`` (trials are counted ``t = 1, 2, ...``).

The four events (see :data:`EVENTS`):

``"dream_guaranteed"``
    every non-informative sequence ``a != a_star`` has been explored together with at
    least two *distinct* problems. Lumped chain on ``(n0, n1)``: the numbers of
    non-star sequences never explored / explored with exactly one distinct problem.
    Per trial ``(n0, n1) -> (n0 - 1, n1 + 1)`` w.p. ``n0 / K`` and ``n1 -> n1 - 1``
    w.p. ``n1 (M - 1) / (K M)``; start ``(K - 1, 0)``, absorbed at ``(0, 0)``.
``"dream_event"``
    the above and ``a_star`` explored at least once (probability ``1 / K`` per trial,
    mutually exclusive with the non-star moves of the same trial).
``"rl2_event"``
    every problem ``mu`` solved: some trial had exploration ``a_star``, problem ``mu`` and
    exploitation ``a_mu`` (probability ``1 / (K^2 M)`` per trial and unsolved problem),
    so ``E[T] = K^2 M H_M``.
``"rl2_guaranteed"``
    the above and every pair ``(a, a')`` with ``a != a_star`` has seen a *failure*: a
    trial with exploration ``a``, exploitation ``a'`` and a problem other than the one
    that ``a'`` rewards (probability ``(M - 1) / (K^2 M)`` per trial and pair).

Every chain is a lattice chain whose per-trial move probabilities are
``coef * state[coord] / denominator``; absorption is at the all-zero state. Expectations
use the first-step recursion ``E(s) = (1 + sum_j p_j E(s_j)) / sum_j p_j`` (only positive
terms); distributions use forward propagation of the state distribution (only positive
terms). The Prop. 2 bound forms (without constants) are :func:`dream_bound_form` and
:func:`rl2_bound_form`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

EVENTS = ("dream_guaranteed", "dream_event", "rl2_event", "rl2_guaranteed")
"""The four stopping-time events of App. C.2, proof of Proposition 2."""

_MAX_DREAM_K = 4096
"""Largest ``K`` for the float DREAM recursions (they store ``(K + 1)**2`` floats)."""

_MAX_RL2_STATES = 400_000_000
"""Largest ``(M + 1) * ((K - 1) K + 1)`` for the float ``rl2_guaranteed`` recursion."""

_MAX_EXACT_STATES = 200_000
"""Largest lattice size for the exact rational recursion."""

_MAX_CDF_WORK = 4_000_000_000
"""Largest ``lattice size * number of trials`` for forward propagation."""

_EULER_GAMMA = 0.57721566490153286061


# ----------------------------------------------------------------------------- validation


def _check_int(name: str, value: object, minimum: int) -> int:
    """Return ``value`` as an ``int`` or raise a one-line ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name}={value!r} is not allowed: {name} must be an int >= {minimum}")
    if value < minimum:
        raise ValueError(f"{name}={value!r} is not allowed: {name} must be an int >= {minimum}")
    return int(value)


def _check_event(event: object) -> str:
    """Return ``event`` if it is one of :data:`EVENTS`, else raise ``ValueError``."""
    if not isinstance(event, str) or event not in EVENTS:
        raise ValueError(f"event={event!r} is not allowed: event must be one of {EVENTS}")
    return event


def _sizes(A: object, H: object) -> tuple[int, int]:
    """Validate ``A`` and ``H`` and return ``(K, M) = (A**H, A**H)``."""
    a = _check_int("A", A, 2)
    h = _check_int("H", H, 1)
    k = a**h
    return k, k


# --------------------------------------------------------------------------- small helpers


def harmonic(n: int) -> float:
    """Return the ``n``-th harmonic number ``H_n = sum_{k=1}^n 1/k`` as a float.

    Parameters
    ----------
    n : int
        Index ``n >= 0`` (``H_0 = 0``).

    Returns
    -------
    float
        ``H_n``, correctly summed for ``n <= 10**4`` (``math.fsum``) and from the
        asymptotic series ``ln n + gamma + 1/(2n) - 1/(12 n^2) + 1/(120 n^4)`` above
        (truncation error below ``1/(252 n^6)``, far under float resolution).

    Raises
    ------
    ValueError
        If ``n`` is not an int ``>= 0``.
    """
    n = _check_int("n", n, 0)
    if n <= 10_000:
        return math.fsum(1.0 / k for k in range(1, n + 1))
    inv = 1.0 / n
    inv2 = inv * inv
    return math.log(n) + _EULER_GAMMA + 0.5 * inv - inv2 / 12.0 + inv2 * inv2 / 120.0


def dream_bound_form(A: int, H: int) -> float:
    """Return the DREAM bound form ``K ln K`` of Proposition 2 (no constants).

    Parameters
    ----------
    A : int
        Number of actions, ``A >= 2``.
    H : int
        Horizon, ``H >= 1``.

    Returns
    -------
    float
        ``K ln K`` with ``K = A**H`` (App. C.2, proof of Proposition 2).
    """
    k, _ = _sizes(A, H)
    return k * math.log(k)


def rl2_bound_form(A: int, H: int) -> float:
    """Return the RL^2 bound form ``K^2 M ln K`` of Proposition 2 (no constants).

    Parameters
    ----------
    A : int
        Number of actions, ``A >= 2``.
    H : int
        Horizon, ``H >= 1``.

    Returns
    -------
    float
        ``K**2 * M * ln K`` with ``K = M = A**H`` (App. C.2, proof of Proposition 2).
    """
    k, m = _sizes(A, H)
    return float(k * k * m) * math.log(k)


# ------------------------------------------------------------------------ chain description


@dataclass(frozen=True)
class _Move:
    """One kind of transition: probability ``coef * state[coord] / denominator``."""

    coord: int
    coef: int
    delta: tuple[int, ...]


@dataclass(frozen=True)
class _Chain:
    """Lattice chain on ``prod(range(n) for n in shape)``, absorbed at the origin."""

    shape: tuple[int, ...]
    start: tuple[int, ...]
    denominator: int
    moves: tuple[_Move, ...]
    potential: tuple[int, ...]

    @property
    def size(self) -> int:
        """Number of lattice points (an upper bound on the number of states)."""
        return math.prod(self.shape)


def _chain(event: str, k: int, m: int) -> _Chain:
    """Return the lumped chain of ``event`` (App. C.2, proof of Proposition 2)."""
    if event == "dream_guaranteed":
        # coordinates (n0, n1); per trial out of K*M equally likely (a, mu) outcomes
        return _Chain(
            shape=(k, k),
            start=(k - 1, 0),
            denominator=k * m,
            moves=(_Move(0, m, (-1, 1)), _Move(1, m - 1, (0, -1))),
            potential=(2, 1),
        )
    if event == "dream_event":
        # coordinates (n0, n1, z) with z = 1 while a_star has not been explored yet
        return _Chain(
            shape=(k, k, 2),
            start=(k - 1, 0, 1),
            denominator=k * m,
            moves=(
                _Move(0, m, (-1, 1, 0)),
                _Move(1, m - 1, (0, -1, 0)),
                _Move(2, m, (0, 0, -1)),
            ),
            potential=(2, 1, 1),
        )
    if event == "rl2_event":
        # coordinate u = number of unsolved problems; K*K*M outcomes (a, a', mu)
        return _Chain(
            shape=(m + 1,),
            start=(m,),
            denominator=k * k * m,
            moves=(_Move(0, 1, (-1,)),),
            potential=(1,),
        )
    # rl2_guaranteed: coordinates (u, f), f = pairs (a != a_star, a') lacking a failure
    n_pairs = (k - 1) * k
    return _Chain(
        shape=(m + 1, n_pairs + 1),
        start=(m, n_pairs),
        denominator=k * k * m,
        moves=(_Move(0, 1, (-1, 0)), _Move(1, m - 1, (0, -1))),
        potential=(1, 1),
    )


# ------------------------------------------------------------------------------ expectation


def _expected_dream(k: int, m: int, with_star: bool) -> float:
    """First-step recursion for the DREAM chains, vectorised over wavefronts.

    In units of ``1 / (K M)`` per trial the rates are ``alpha = n0 M`` and
    ``beta = n1 (M - 1)`` (and ``M`` for the first ``a_star`` draw). Both non-star moves
    lower ``w = 2 n0 + n1`` by one, so all states with the same ``w`` are solved at once:
    ``E(n0, n1) = (K M + alpha E(n0 - 1, n1 + 1) + beta E(n0, n1 - 1)) / (alpha + beta)``.
    For ``dream_event`` the excess ``D = E_event - E_guaranteed`` over the state with
    ``a_star`` still unexplored obeys the homogeneous recursion
    ``D(n0, n1) = (alpha D(n0 - 1, n1 + 1) + beta D(n0, n1 - 1)) / (alpha + beta + M)``
    with ``D(0, 0) = K``; it is positive, so ``E_event >= E_guaranteed`` holds in floats too.
    """
    if k > _MAX_DREAM_K:
        raise ValueError(
            f"A**H={k} is too large for the DREAM recursion: A**H must be <= {_MAX_DREAM_K}"
        )
    const = float(k * m)
    e_seen = np.zeros((k + 1, k + 1))
    excess = np.zeros((k + 1, k + 1)) if with_star else None
    if excess is not None:
        excess[0, 0] = const / m  # only the a_star draw is left: E = K
    for w in range(1, 2 * (k - 1) + 1):
        n0 = np.arange(max(0, w - (k - 1)), w // 2 + 1)
        n1 = w - 2 * n0
        alpha = (n0 * m).astype(np.float64)
        beta = (n1 * (m - 1)).astype(np.float64)
        ia0, ia1 = np.maximum(n0 - 1, 0), n1 + 1
        ib1 = np.maximum(n1 - 1, 0)
        e_seen[n0, n1] = (const + alpha * e_seen[ia0, ia1] + beta * e_seen[n0, ib1]) / (
            alpha + beta
        )
        if excess is not None:
            excess[n0, n1] = (alpha * excess[ia0, ia1] + beta * excess[n0, ib1]) / (
                alpha + beta + m
            )
    result = float(e_seen[k - 1, 0])
    return result if excess is None else result + float(excess[k - 1, 0])


def _expected_rl2_guaranteed(k: int, m: int) -> float:
    """First-step recursion for ``rl2_guaranteed``: rows over ``u``, closed scan over ``f``.

    In units of ``1 / (K^2 M)`` per trial the rates are ``u`` and ``f (M - 1)``. Writing
    ``E(u, f) = K^2 M H_u + D(u, f)`` (``K^2 M H_u`` is ``E[T]`` of ``rl2_event`` from ``u``
    unsolved problems), the excess ``D >= 0`` obeys the homogeneous recursion
    ``D(u, f) = a_f + b_f D(u, f - 1)`` with ``a_f = u D(u - 1, f) / (u + f (M - 1))``,
    ``b_f = 1 / (1 + c / f)``, ``c = u / (M - 1)``, ``D(u, 0) = 0`` and
    ``D(0, f) = K^2 M H_f / (M - 1)`` (coupon collector over the pairs). Hence
    ``D(u, f) = sum_{j <= f} a_j exp(L_f - L_j)`` with ``L_f = -sum_{i <= f} log1p(c / i)``:
    a cumulative sum of positive terms (``exp(-L_j) <= (e^gamma j)^c`` cannot overflow).
    The excess keeps full relative precision even where it is far below the rounding
    of ``E`` itself, and ``E[rl2_guaranteed] >= E[rl2_event]`` holds in floats too.
    """
    n_pairs = (k - 1) * k
    n_states = (m + 1) * (n_pairs + 1)
    if n_states > _MAX_RL2_STATES:
        raise ValueError(
            f"A**H={k} is too large for the rl2_guaranteed recursion: it has {n_states} "
            f"states and at most {_MAX_RL2_STATES} are allowed"
        )
    const = float(k * k * m)
    f = np.arange(n_pairs + 1, dtype=np.float64)
    inv_f = 1.0 / f[1:]
    row = np.empty(n_pairs + 1)
    row[0] = 0.0
    row[1:] = np.cumsum(const / (m - 1) * inv_f)  # D(0, f)
    fail_rate = f * (m - 1)
    log_prod = np.empty(n_pairs + 1)
    log_prod[0] = 0.0
    for u in range(1, m + 1):
        np.cumsum(-np.log1p((u / (m - 1)) * inv_f), out=log_prod[1:])
        a = (u * row) / (u + fail_rate)
        prod = np.exp(log_prod)
        row = prod * np.cumsum(a / prod)
    return const * harmonic(m) + float(row[n_pairs])


def expected_time(event: str, A: int, H: int) -> float:
    """Return ``E[T]`` for one of the four events of App. C.2, proof of Proposition 2.

    The value is exact up to float rounding: it solves the first-step recursion
    ``E(s) = (1 + sum_j p_j E(s_j)) / sum_j p_j`` of the event's lumped chain (see the
    module docstring), where ``p_j`` are the per-trial probabilities of leaving ``s``.
    ``rl2_event`` uses the closed form ``K^2 M H_M``; ``dream_*`` solve all states with
    equal ``2 n0 + n1`` at once; ``rl2_guaranteed`` uses a row-by-row scan over the number
    of unsolved problems (under a second for ``A = 16, H = 2``).

    Parameters
    ----------
    event : str
        One of :data:`EVENTS`.
    A : int
        Number of actions, ``A >= 2``.
    H : int
        Horizon, ``H >= 1``.

    Returns
    -------
    float
        The expected number of trials ``E[T]`` at ``epsilon = 1``.

    Raises
    ------
    ValueError
        On an invalid argument, or if the chain is too large (``K > 4096`` for the DREAM
        events, more than ``4e8`` states for ``rl2_guaranteed``).
    """
    event = _check_event(event)
    k, m = _sizes(A, H)
    if event == "rl2_event":
        return float(k * k * m) * harmonic(m)
    if event == "rl2_guaranteed":
        return _expected_rl2_guaranteed(k, m)
    return _expected_dream(k, m, with_star=event == "dream_event")


def _reachable(chain: _Chain) -> list[tuple[int, ...]]:
    """Return the states reachable from ``chain.start``, sorted by increasing potential."""
    seen = {chain.start}
    stack = [chain.start]
    while stack:
        state = stack.pop()
        for move in chain.moves:
            if move.coef * state[move.coord] > 0:
                nxt = tuple(s + d for s, d in zip(state, move.delta, strict=True))
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
    return sorted(seen, key=lambda s: sum(w * x for w, x in zip(chain.potential, s, strict=True)))


def expected_time_exact(event: str, A: int, H: int) -> Fraction:
    """Return ``E[T]`` as an exact rational number (App. C.2, proof of Proposition 2).

    Solves ``E(s) = (1 + sum_j p_j E(s_j)) / sum_j p_j`` over every reachable state of the
    event's chain in :class:`fractions.Fraction` arithmetic (``rl2_event`` included: no
    closed form is used, so this is an independent check of :func:`expected_time`).
    Meant for small ``A**H``; it may be slow beyond ``A**H ~ 10``.

    Parameters
    ----------
    event : str
        One of :data:`EVENTS`.
    A : int
        Number of actions, ``A >= 2``.
    H : int
        Horizon, ``H >= 1``.

    Returns
    -------
    fractions.Fraction
        The exact expected number of trials.

    Raises
    ------
    ValueError
        On an invalid argument, or if the chain has more than ``2e5`` lattice states.
    """
    event = _check_event(event)
    k, m = _sizes(A, H)
    chain = _chain(event, k, m)
    if chain.size > _MAX_EXACT_STATES:
        raise ValueError(
            f"A**H={k} is too large for exact arithmetic on {event}: the chain has "
            f"{chain.size} lattice states and at most {_MAX_EXACT_STATES} are allowed"
        )
    values: dict[tuple[int, ...], Fraction] = {}
    for state in _reachable(chain):
        total_rate = 0
        numerator = Fraction(chain.denominator)
        for move in chain.moves:
            rate = move.coef * state[move.coord]
            if rate:
                total_rate += rate
                nxt = tuple(s + d for s, d in zip(state, move.delta, strict=True))
                numerator += rate * values[nxt]
        values[state] = numerator / total_rate if total_rate else Fraction(0)
    return values[chain.start]


# ----------------------------------------------------------------------------- distribution


def _shift_slices(delta: tuple[int, ...]) -> tuple[tuple[slice, ...], tuple[slice, ...]]:
    """Return ``(source, destination)`` slices that move lattice mass by ``delta``."""
    src, dst = [], []
    for d in delta:
        if d == 0:
            src.append(slice(None))
            dst.append(slice(None))
        elif d < 0:
            src.append(slice(-d, None))
            dst.append(slice(None, d))
        else:
            src.append(slice(None, -d))
            dst.append(slice(d, None))
    return tuple(src), tuple(dst)


def _propagate(chain: _Chain) -> Iterator[tuple[float, float]]:
    """Yield ``(P(T <= t), P(T = t))`` for ``t = 0, 1, 2, ...`` by forward propagation.

    The state distribution ``p`` is updated as ``p'(s) = p(s) stay(s) + sum_j p(s - d_j)
    q_j(s - d_j)`` with ``stay = 1 - sum_j q_j`` (computed from exact integer rates), so
    every term is non-negative. The origin is absorbing (``stay = 1`` there), hence
    ``P(T <= t)`` is the mass at the origin; ``P(T = t)`` is the inflow into it.
    """
    grids = np.indices(chain.shape)
    origin = (0,) * len(chain.shape)
    rates = [move.coef * grids[move.coord] for move in chain.moves]
    den = float(chain.denominator)
    stay = (chain.denominator - sum(rates)) / den
    steps = []
    inflow_terms = []
    for move, rate in zip(chain.moves, rates, strict=True):
        src, dst = _shift_slices(move.delta)
        steps.append((src, dst, np.ascontiguousarray((rate / den)[src])))
        source = tuple(o - d for o, d in zip(origin, move.delta, strict=True))
        if all(0 <= s < n for s, n in zip(source, chain.shape, strict=True)):
            inflow_terms.append((source, float(rate[source]) / den))
    p = np.zeros(chain.shape)
    p[chain.start] = 1.0
    new = np.empty_like(p)
    yield float(p[origin]), 0.0  # t = 0: the start state is never absorbing
    while True:
        inflow = math.fsum(p[source] * prob for source, prob in inflow_terms)
        np.multiply(p, stay, out=new)
        for src, dst, prob in steps:
            new[dst] += p[src] * prob
        p, new = new, p
        yield float(p[origin]), inflow


def _checked_chain(event: str, A: int, H: int) -> _Chain:
    """Validate the arguments and return the event's chain."""
    event = _check_event(event)
    k, m = _sizes(A, H)
    return _chain(event, k, m)


def cdf(event: str, A: int, H: int, t_max: int) -> np.ndarray:
    """Return ``F[t] = P(T <= t)`` for ``t = 0, ..., t_max`` (App. C.2, Proposition 2).

    Forward propagation of the event's chain (module docstring) over ``t_max`` trials,
    using only non-negative terms; exact up to float rounding. ``F[0] = 0`` because no
    event holds before the first trial. Cost ``O(lattice size * t_max)``: e.g. ``A = 8,
    H = 1, t_max = 20000`` takes well under a second for every event.

    Parameters
    ----------
    event : str
        One of :data:`EVENTS`.
    A : int
        Number of actions, ``A >= 2``.
    H : int
        Horizon, ``H >= 1``.
    t_max : int
        Last trial count, ``t_max >= 0``.

    Returns
    -------
    numpy.ndarray
        Float array of length ``t_max + 1``, non-decreasing, in ``[0, 1]``.

    Raises
    ------
    ValueError
        On an invalid argument, or if ``lattice size * (t_max + 1)`` exceeds ``4e9``.
    """
    return _distribution(event, A, H, t_max)[0]


def pmf(event: str, A: int, H: int, t_max: int) -> np.ndarray:
    """Return ``P[t] = P(T = t)`` for ``t = 0, ..., t_max`` (App. C.2, Proposition 2).

    Computed from the probability flowing into the absorbing state at each trial of the
    forward propagation used by :func:`cdf` (non-negative terms only), so
    ``cumsum(P)`` equals ``cdf(...)`` up to rounding.

    Parameters
    ----------
    event : str
        One of :data:`EVENTS`.
    A : int
        Number of actions, ``A >= 2``.
    H : int
        Horizon, ``H >= 1``.
    t_max : int
        Last trial count, ``t_max >= 0``.

    Returns
    -------
    numpy.ndarray
        Float array of length ``t_max + 1`` with ``P[0] = 0``.

    Raises
    ------
    ValueError
        On an invalid argument, or if ``lattice size * (t_max + 1)`` exceeds ``4e9``.
    """
    return _distribution(event, A, H, t_max)[1]


def _distribution(event: str, A: int, H: int, t_max: int) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(cdf, pmf)`` arrays of length ``t_max + 1``."""
    chain = _checked_chain(event, A, H)
    t_max = _check_int("t_max", t_max, 0)
    if chain.size * (t_max + 1) > _MAX_CDF_WORK:
        raise ValueError(
            f"t_max={t_max} is too large for {event} with A={A}, H={H}: "
            f"lattice size * (t_max + 1) = {chain.size * (t_max + 1)} must be <= {_MAX_CDF_WORK}"
        )
    out_cdf = np.empty(t_max + 1)
    out_pmf = np.empty(t_max + 1)
    for t, (big_f, small_p) in zip(range(t_max + 1), _propagate(chain), strict=False):
        out_cdf[t] = big_f
        out_pmf[t] = small_p
    return out_cdf, out_pmf


def quantile(event: str, A: int, H: int, q: float) -> int:
    """Return the smallest ``t`` with ``P(T <= t) >= q`` (App. C.2, Proposition 2).

    Parameters
    ----------
    event : str
        One of :data:`EVENTS`.
    A : int
        Number of actions, ``A >= 2``.
    H : int
        Horizon, ``H >= 1``.
    q : float
        Probability level, ``0 < q < 1``.

    Returns
    -------
    int
        The ``q``-quantile of ``T`` (computed with the propagation of :func:`cdf`).

    Raises
    ------
    ValueError
        On an invalid argument, or if the quantile needs more than ``4e9 / lattice size``
        trials (e.g. ``q`` within float rounding of 1).
    """
    chain = _checked_chain(event, A, H)
    if isinstance(q, bool) or not isinstance(q, int | float | np.floating) or not 0 < q < 1:
        raise ValueError(f"q={q!r} is not allowed: q must be a float with 0 < q < 1")
    limit = _MAX_CDF_WORK // chain.size
    for t, (big_f, _) in enumerate(_propagate(chain)):
        if big_f >= q:
            return t
        if t >= limit:
            break
    raise ValueError(f"q={q!r} is not reached within {limit} trials: choose a smaller q")
