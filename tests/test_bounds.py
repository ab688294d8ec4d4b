"""Tests for tabular.bounds: exact hitting times of App. C.2, proof of Proposition 2."""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

from tabular import bounds
from tabular.bounds import (
    EVENTS,
    cdf,
    dream_bound_form,
    expected_time,
    expected_time_exact,
    harmonic,
    pmf,
    quantile,
    rl2_bound_form,
)

SMALL_CASES = [(2, 1), (3, 1), (4, 1), (5, 1), (2, 2), (3, 2)]
TABLE_CASES = [(a, 1) for a in range(2, 17)] + [(a, 2) for a in range(2, 7)]


def exact_harmonic(n: int) -> Fraction:
    return sum((Fraction(1, i) for i in range(1, n + 1)), Fraction(0))


# hypothesis strategies: (A, H) with A**H small enough for cheap exact work
small_ah = st.one_of(
    st.tuples(st.integers(2, 8), st.just(1)),
    st.tuples(st.integers(2, 3), st.just(2)),
)
table_ah = st.one_of(
    st.tuples(st.integers(2, 16), st.just(1)),
    st.tuples(st.integers(2, 6), st.just(2)),
)


# ------------------------------------------------------------------- exact vs float values


@pytest.mark.parametrize(("A", "H"), SMALL_CASES)
@pytest.mark.parametrize("event", EVENTS)
def test_expected_time_matches_exact_fraction(event: str, A: int, H: int) -> None:
    exact = expected_time_exact(event, A, H)
    assert isinstance(exact, Fraction)
    value = expected_time(event, A, H)
    assert isinstance(value, float)
    assert value == pytest.approx(float(exact), rel=1e-12)


def test_hand_computed_values() -> None:
    # A = 2, H = 1: one non-star sequence; first draw w.p. 1/2, then a new mu w.p. 1/4.
    assert expected_time_exact("dream_guaranteed", 2, 1) == 6
    # With a_star (w.p. 1/2 per trial, exclusive with the other draw): from "seen a once,
    # a_star not yet" E = (1 + 2/4 + 4/2) / (3/4) = 14/3, so E = 1 + (14/3) / 2 + 6 / 2.
    assert expected_time_exact("dream_event", 2, 1) == Fraction(19, 3)
    # rl2_event: K^2 M H_M = 8 * 3/2.
    assert expected_time_exact("rl2_event", 2, 1) == 12
    assert expected_time("rl2_event", 2, 1) == 12.0


@pytest.mark.parametrize(("A", "H"), [*SMALL_CASES, (6, 1), (7, 1), (4, 2)])
def test_rl2_event_closed_form_equals_chain(A: int, H: int) -> None:
    k = m = A**H
    closed = k * k * m * exact_harmonic(m)
    assert expected_time_exact("rl2_event", A, H) == closed
    assert expected_time("rl2_event", A, H) == pytest.approx(float(closed), rel=1e-14)


def test_rl2_guaranteed_exact_excess_for_k16() -> None:
    # The excess over rl2_event is ~2e-4 out of ~1.4e4; it must be right to many digits.
    exact = expected_time_exact("rl2_guaranteed", 16, 1)
    excess = exact - 16**3 * exact_harmonic(16)
    assert 0 < excess < Fraction(1, 1000)
    assert expected_time("rl2_guaranteed", 16, 1) == pytest.approx(float(exact), rel=1e-15)


# -------------------------------------------------- Poissonization (independent exact form)


def _quad_0_inf(func: Callable[[float], float], scale: float, epsabs: float = 0.0) -> float:
    head = integrate.quad(func, 0.0, scale, epsabs=epsabs, epsrel=1e-13, limit=400)[0]
    tail = integrate.quad(func, scale, np.inf, epsabs=epsabs, epsrel=1e-13, limit=400)[0]
    return head + tail


def poissonized_dream(A: int, H: int, with_star: bool) -> float:
    """E[T] = int_0^inf 1 - G(s)^(K-1) (1 - e^{-s/K}) ds with trials at Poisson rate 1.

    Sequence a is completed after an Exp(1/K) first draw plus an Exp((M-1)/(KM)) wait for a
    different mu (hypoexponential G); sequences are independent after Poissonization, and
    E[continuous time] = E[number of trials] by Wald's identity.
    """
    k = m = A**H
    l1, l2 = 1.0 / k, (m - 1) / (k * m)

    def integrand(s: float) -> float:
        if s <= 0.0:
            return 1.0
        g = 1.0 - (l2 * math.exp(-l1 * s) - l1 * math.exp(-l2 * s)) / (l2 - l1)
        if g <= 0.0:
            return 1.0
        log_all = (k - 1) * math.log(g)
        if with_star:
            log_all += math.log1p(-math.exp(-l1 * s))
        return -math.expm1(log_all)

    return _quad_0_inf(integrand, k * math.log(k))


def poissonized_rl2_excess(A: int, H: int) -> float:
    """E[max(X, Y)] - E[X] = int P(X <= s) P(Y > s) ds, X: all mu solved, Y: all failures."""
    k = m = A**H
    n_pairs = (k - 1) * k
    q, r = 1.0 / (k * k * m), (m - 1) / (k * k * m)

    def integrand(s: float) -> float:
        if s <= 0.0:
            return 0.0
        p_x = math.exp(m * math.log1p(-math.exp(-q * s)))
        p_not_y = -math.expm1(n_pairs * math.log1p(-math.exp(-r * s)))
        return p_x * p_not_y

    # absolute accuracy far below the rounding of E[T] ~ K^2 M ln M
    return _quad_0_inf(integrand, math.log(n_pairs) / r, epsabs=1e-15 * k * k * m)


@pytest.mark.parametrize(("A", "H"), [(2, 1), (3, 1), (7, 1), (32, 1), (3, 2), (16, 2)])
def test_poissonization_identity(A: int, H: int) -> None:
    k = m = A**H
    for event, with_star in (("dream_guaranteed", False), ("dream_event", True)):
        assert expected_time(event, A, H) == pytest.approx(
            poissonized_dream(A, H, with_star), rel=1e-10
        )
    rl2 = k * k * m * harmonic(m)
    assert expected_time("rl2_guaranteed", A, H) == pytest.approx(
        rl2 + poissonized_rl2_excess(A, H), rel=1e-13
    )


# --------------------------------------------------------------------------- distributions


@pytest.mark.parametrize(("A", "H"), [(2, 1), (3, 1), (4, 1), (2, 2)])
@pytest.mark.parametrize("event", EVENTS)
def test_mean_from_cdf_and_pmf(event: str, A: int, H: int) -> None:
    mean = expected_time(event, A, H)
    t_max = int(30 * mean)
    big_f = cdf(event, A, H, t_max)
    small_p = pmf(event, A, H, t_max)
    assert big_f.shape == small_p.shape == (t_max + 1,)
    partial = math.fsum(1.0 - big_f[:-1])  # sum_{t < t_max} P(T > t)
    # E - partial = E[(T - t_max)^+] <= P(T > t_max) * max_s E_s = P(T > t_max) * E_start
    tail_bound = (1.0 - big_f[-1]) * mean
    assert -1e-9 * mean <= mean - partial <= tail_bound + 1e-9 * mean
    assert np.allclose(np.cumsum(small_p), big_f, rtol=0.0, atol=1e-12)
    assert math.fsum(np.arange(t_max + 1) * small_p) == pytest.approx(mean, rel=1e-8)
    assert np.all(small_p >= 0.0)


def test_cdf_large_t_max_is_fast_enough() -> None:
    for event in ("rl2_event", "rl2_guaranteed"):
        big_f = cdf(event, 8, 1, 20_000)
        assert big_f[-1] == pytest.approx(1.0, abs=1e-12)


@settings(deadline=None, max_examples=30)
@given(ah=small_ah, event=st.sampled_from(EVENTS), t_max=st.integers(0, 400))
def test_cdf_is_a_distribution_function(ah: tuple[int, int], event: str, t_max: int) -> None:
    big_f = cdf(event, *ah, t_max)
    assert big_f.shape == (t_max + 1,)
    assert big_f[0] == 0.0
    assert np.all(big_f >= 0.0)
    assert np.all(big_f <= 1.0 + 1e-12)
    assert np.all(np.diff(big_f) >= -1e-15)


@settings(deadline=None, max_examples=25)
@given(ah=small_ah, t_max=st.integers(1, 400))
def test_cdf_dominance(ah: tuple[int, int], t_max: int) -> None:
    # pathwise T_dream_guaranteed <= T_dream_event and T_rl2_event <= T_rl2_guaranteed
    assert np.all(cdf("dream_event", *ah, t_max) <= cdf("dream_guaranteed", *ah, t_max) + 1e-14)
    assert np.all(cdf("rl2_guaranteed", *ah, t_max) <= cdf("rl2_event", *ah, t_max) + 1e-14)


@settings(deadline=None, max_examples=20)
@given(ah=small_ah, event=st.sampled_from(EVENTS), q=st.floats(0.01, 0.99))
def test_quantile_inverts_cdf(ah: tuple[int, int], event: str, q: float) -> None:
    t_q = quantile(event, *ah, q)
    big_f = cdf(event, *ah, t_q)
    assert big_f[t_q] >= q
    assert t_q >= 1
    assert big_f[t_q - 1] < q


# ------------------------------------------------------------------- orderings and bounds


@settings(deadline=None, max_examples=30)
@given(ah=table_ah)
def test_pathwise_orderings_of_expectations(ah: tuple[int, int]) -> None:
    k = m = ah[0] ** ah[1]
    e = {event: expected_time(event, *ah) for event in EVENTS}
    assert e["dream_guaranteed"] <= e["dream_event"]
    assert e["rl2_event"] <= e["rl2_guaranteed"]
    assert e["rl2_guaranteed"] >= float(k * k * m * exact_harmonic(m)) * (1 - 1e-15)
    assert e["dream_event"] <= e["rl2_event"]


@settings(deadline=None, max_examples=20)
@given(ah=table_ah, event=st.sampled_from(EVENTS))
def test_monotone_in_number_of_actions(ah: tuple[int, int], event: str) -> None:
    a, h = ah
    assert expected_time(event, a + 1, h) > expected_time(event, a, h)


@pytest.mark.parametrize(("A", "H"), TABLE_CASES)
def test_two_k_coupon_heuristic(A: int, H: int) -> None:
    # App. C.2's "2|A|^H coupons" heuristic: E[dream_event] <= 2K H_{2K} (checked exactly
    # for these sizes; it holds for every one of them).
    k = A**H
    assert expected_time("dream_event", A, H) <= 2 * k * harmonic(2 * k)


def test_bound_forms_and_harmonic() -> None:
    assert dream_bound_form(2, 1) == pytest.approx(2 * math.log(2))
    assert rl2_bound_form(2, 1) == pytest.approx(8 * math.log(2))
    assert dream_bound_form(3, 2) == pytest.approx(9 * math.log(9))
    assert rl2_bound_form(3, 2) == pytest.approx(729 * math.log(9))
    assert harmonic(0) == 0.0
    for n in (1, 2, 10, 10_000, 10_001, 20_000):
        assert harmonic(n) == pytest.approx(float(exact_harmonic(n)), rel=1e-15)
    assert harmonic(10**9) == pytest.approx(
        math.log(10**9) + 0.5772156649015329 + 0.5e-9, rel=1e-15
    )


# ------------------------------------------------------------------- brute-force Monte Carlo


def simulate(A: int, H: int, reps: int, horizon: int, seed: int) -> dict[str, np.ndarray]:
    """Sample T for every event by drawing the trials (mu, a, a') directly."""
    k = m = A**H
    star = k - 1  # a_star; problem mu is rewarded by the sequence with index mu
    rng = np.random.default_rng(seed)
    mu = rng.integers(0, m, size=(reps, horizon), dtype=np.int16)
    a = rng.integers(0, k, size=(reps, horizon), dtype=np.int16)
    a_exploit = rng.integers(0, k, size=(reps, horizon), dtype=np.int16)
    rows = np.arange(reps)

    def first_trial(mask: np.ndarray) -> np.ndarray:
        assert mask.any(axis=1).all(), "horizon too short"
        return mask.argmax(axis=1) + 1  # trials are counted from 1

    done = []
    for seq in range(k - 1):
        drawn = a == seq
        first_mu = mu[rows, first_trial(drawn) - 1]
        done.append(first_trial(drawn & (mu != first_mu[:, None])))
    dream_guaranteed = np.max(done, axis=0)
    dream_event = np.maximum(dream_guaranteed, first_trial(a == star))
    explore_star = a == star
    solved = [first_trial(explore_star & (mu == p) & (a_exploit == p)) for p in range(m)]
    rl2_event = np.max(solved, axis=0)
    fails = [
        first_trial((a == seq) & (a_exploit == seq2) & (mu != seq2))
        for seq in range(k - 1)
        for seq2 in range(k)
    ]
    rl2_guaranteed = np.maximum(rl2_event, np.max(fails, axis=0))
    return {
        "dream_guaranteed": dream_guaranteed,
        "dream_event": dream_event,
        "rl2_event": rl2_event,
        "rl2_guaranteed": rl2_guaranteed,
    }


@pytest.mark.parametrize(("A", "H", "horizon", "seed"), [(2, 1, 500, 11), (3, 1, 1500, 12)])
def test_monte_carlo_agrees(A: int, H: int, horizon: int, seed: int) -> None:
    reps = 4000
    samples = simulate(A, H, reps, horizon, seed)
    alpha = 1e-3
    dkw = math.sqrt(math.log(2.0 / alpha) / (2.0 * reps))
    for event, sample in samples.items():
        mean = expected_time(event, A, H)
        z = (sample.mean() - mean) / (sample.std(ddof=1) / math.sqrt(reps))
        assert abs(z) < 4.0, (event, z)
        t_max = int(sample.max())
        ts = np.arange(t_max + 1)
        empirical = stats.ecdf(sample).cdf.evaluate(ts)
        distance = float(np.max(np.abs(empirical - cdf(event, A, H, t_max))))
        assert distance < dkw, (event, distance, dkw)


# -------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("dream_event", 1, 1), "A=1"),
        (("dream_event", 2.0, 1), "A=2.0"),
        (("dream_event", True, 1), "A=True"),
        (("dream_event", "3", 1), "A='3'"),
        (("rl2_event", 2, 0), "H=0"),
        (("rl2_event", 2, 1.5), "H=1.5"),
        (("dream", 2, 1), "event='dream'"),
        ((None, 2, 1), "event=None"),
    ],
)
def test_validation_errors(args: tuple[object, object, object], match: str) -> None:
    for func in (expected_time, expected_time_exact):
        with pytest.raises(ValueError, match=match):
            func(*args)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=match):
        cdf(*args, 5)  # type: ignore[arg-type]


def test_validation_errors_other_arguments() -> None:
    with pytest.raises(ValueError, match="t_max=-1"):
        cdf("rl2_event", 2, 1, -1)
    with pytest.raises(ValueError, match=r"t_max=3\.0"):
        pmf("rl2_event", 2, 1, 3.0)  # type: ignore[arg-type]
    for q in (0.0, 1.0, -0.5, "0.5"):
        with pytest.raises(ValueError, match="q="):
            quantile("rl2_event", 2, 1, q)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="A=1"):
        dream_bound_form(1, 1)
    with pytest.raises(ValueError, match="H=0"):
        rl2_bound_form(2, 0)
    with pytest.raises(ValueError, match="n=-1"):
        harmonic(-1)
    assert EVENTS == bounds.EVENTS


def test_too_large_inputs_raise() -> None:
    with pytest.raises(ValueError, match="too large"):
        expected_time("dream_event", 2, 13)  # K = 8192
    with pytest.raises(ValueError, match="too large"):
        expected_time("rl2_guaranteed", 2, 10)  # ~1.1e9 states
    with pytest.raises(ValueError, match="too large"):
        expected_time_exact("rl2_guaranteed", 8, 2)
    with pytest.raises(ValueError, match="too large"):
        cdf("rl2_guaranteed", 16, 2, 10**6)
    # numpy integers are accepted like plain ints
    assert expected_time("rl2_event", np.int64(2), np.int32(1)) == 12.0
