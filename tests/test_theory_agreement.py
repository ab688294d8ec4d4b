"""Simulated sample complexity (the kernels, via ``measure()``) vs the exact laws at epsilon = 1.

For every (learner, method, measure) whose law :mod:`tabular.bounds` knows exactly, on the
cells ``H = 1, A in {2, 3, 4, 6, 8}`` and ``H = 2, A in {2, 3}``, two checks on a fixed
block of seeds:

* mean: ``z = (mean - E[T]) / (sd / sqrt(n))`` must satisfy ``|z| < Z_MAX = 4.5``;
* law: the Kolmogorov-Smirnov distance ``sup_t |ECDF(t) - F(t)|`` must stay below the
  DKW bound ``sqrt(log(2 / alpha) / (2 n))`` with ``alpha = 1e-3``. Both ECDF and ``F`` are
  right-continuous step functions that jump only at integers, so the supremum over the
  reals is the maximum over the integer grid ``t = 0 .. max(sample)`` (below 0 both are 0;
  above the largest sample the ECDF is 1 and ``|1 - F(t)|`` only shrinks). It is computed
  there exactly, with ``F`` from :func:`tabular.bounds.cdf`.

Family-wise error. The seeds are fixed, so these tests are deterministic (no flakiness);
the thresholds say how unlikely it is that a *correct* implementation fails for a block of
seeds chosen at random. There are 57 (mean, law) pairs, but many are the same sample:
per-trajectory DREAM has ``T_greedy = T_guaranteed`` pathwise, and at epsilon = 1 the
per-step learners see the same problems and sequences as the per-trajectory ones (same
seeds here), so their ``T_event`` (and DREAM's ``T_guaranteed`` at ``H = 1``) equal the
per-trajectory ones seed for seed. About 28 distinct samples remain (4 laws x 7 cells).
z: with ``n >= 2000`` and exponentially light tails the mean is very nearly normal
(skewness of the mean ``<~ 2 / sqrt(n) ~ 0.05``), ``P(|Z| >= 4.5) ~ 6.8e-6`` per test, so the
union bound over all 57 gives ``< 4e-4``. KS: the DKW inequality (Massart's constant) holds
for every distribution and is conservative for discrete ones, so ``P(KS > bound) <= alpha
= 1e-3`` per sample and ``<= 3e-2`` over the ~28 distinct samples (union bound). Power: a
shift of a single trial moves the ECDF by ``max_t P(T = t)``, ~0.1-0.25 at ``A = 2`` versus
a bound of ~0.03-0.04 (see :func:`test_detects_an_off_by_one`).

:func:`agreement_table` computes the whole table; ``python benchmarks/theory_agreement.py``
prints it. The tests record every row they check to ``theory_agreement.json`` / ``.csv`` in
a pytest temporary folder and print the largest ``|z|`` and KS distance.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import pytest

from tabular import bounds
from tabular.measures import measure

Z_MAX = 4.5
ALPHA = 1e-3
SEED0 = 100_000
"""First seed of the block (away from the CLI default 0..999)."""
N_PER_TRAJECTORY = 4000
N_PER_STEP = 2000
"""Per-step seeds are the first ``N_PER_STEP`` of the same block."""
CAP_TAIL = 1e-4
"""Per-step RL² always runs to ``max_trials``: the cap is the ``1 - CAP_TAIL / n`` quantile
of the exact ``rl2_event`` law, so ``P(some seed misses T_event) <= CAP_TAIL``."""

H1_A = (2, 3, 4, 6, 8)
H2_A = (2, 3)
CELLS = tuple((A, 1) for A in H1_A) + tuple((A, 2) for A in H2_A)
PER_STEP_RL2_CELLS = ((2, 1), (3, 1), (4, 1), (6, 1), (2, 2))
"""Per-step RL² costs ``n * cap`` trials (no certificate), so only the cheaper cells."""

PER_TRAJECTORY_LAWS = {
    ("dream", "T_greedy"): "dream_guaranteed",
    ("dream", "T_guaranteed"): "dream_guaranteed",
    ("dream", "T_event"): "dream_event",
    ("rl2", "T_event"): "rl2_event",
    ("rl2", "T_guaranteed"): "rl2_guaranteed",
}


@dataclass(frozen=True)
class Case:
    """One (learner, method, measure, cell) with its exact law."""

    learner: str
    method: str
    measure: str
    event: str
    A: int
    H: int

    @property
    def n(self) -> int:
        """Number of seeds."""
        return N_PER_TRAJECTORY if self.learner == "per-trajectory" else N_PER_STEP

    @property
    def id(self) -> str:
        """Readable test id."""
        return f"{self.learner}-{self.method}-{self.measure}-A{self.A}-H{self.H}"


def _cases() -> list[Case]:
    cases = [
        Case("per-trajectory", method, name, event, A, H)
        for (method, name), event in PER_TRAJECTORY_LAWS.items()
        for A, H in CELLS
    ]
    # per-step learners where the exact law applies at epsilon = 1 (see tabular.per_step)
    cases += [Case("per-step", "dream", "T_event", "dream_event", A, H) for A, H in CELLS]
    cases += [
        Case("per-step", "dream", name, "dream_guaranteed", A, 1)
        for name in ("T_greedy", "T_guaranteed")
        for A in H1_A
    ]
    cases += [Case("per-step", "rl2", "T_event", "rl2_event", A, H) for A, H in PER_STEP_RL2_CELLS]
    return cases


CASES = _cases()


def per_step_cap(A: int, H: int, n: int) -> int:
    """``max_trials`` for per-step RL²: a quantile of ``rl2_event`` far in the tail."""
    return bounds.quantile("rl2_event", A, H, 1.0 - CAP_TAIL / n) + 1


@functools.cache
def simulate(learner: str, method: str, A: int, H: int, n: int) -> pd.DataFrame:
    """The per-seed frame of one cell at epsilon = 1 (cached: measures share a run)."""
    cap = per_step_cap(A, H, n) if (learner, method) == ("per-step", "rl2") else None
    return measure(method, A, H, 1.0, range(SEED0, SEED0 + n), learner=learner, max_trials=cap)


def ks_distance(sample: np.ndarray, cdf: np.ndarray) -> tuple[float, int]:
    """``(max_t |ECDF(t) - F(t)|, argmax t)`` over ``t = 0 .. len(cdf) - 1``.

    ``sample`` holds non-negative integers ``<= len(cdf) - 1``; ``cdf[t] = P(T <= t)``.
    """
    counts = np.bincount(sample, minlength=len(cdf))
    ecdf = np.cumsum(counts) / len(sample)
    diff = np.abs(ecdf - cdf)
    t = int(np.argmax(diff))
    return float(diff[t]), t


def dkw_bound(n: int, alpha: float = ALPHA) -> float:
    """DKW: ``P(sup |ECDF - F| > eps) <= 2 exp(-2 n eps^2) = alpha``."""
    return math.sqrt(math.log(2.0 / alpha) / (2.0 * n))


@dataclass
class Agreement:
    """One row of the agreement table."""

    learner: str
    method: str
    measure: str
    event: str
    A: int
    H: int
    n: int
    n_missing: int
    mean: float
    exact_mean: float
    sd: float
    z: float
    ks: float
    ks_at: int
    dkw: float
    t_max: int

    @property
    def ok(self) -> bool:
        """Both checks pass and no seed misses the measure."""
        return self.n_missing == 0 and abs(self.z) < Z_MAX and self.ks < self.dkw


def agreement_of(sample: np.ndarray, case: Case, n_missing: int = 0) -> Agreement:
    """z and KS of an integer ``sample`` against the exact law of ``case.event``."""
    sample = np.asarray(sample, dtype=np.int64)
    n = len(sample)
    exact = bounds.expected_time(case.event, case.A, case.H)
    mean = float(sample.mean())
    sd = float(sample.std(ddof=1))
    t_max = int(sample.max())
    ks, at = ks_distance(sample, bounds.cdf(case.event, case.A, case.H, t_max))
    return Agreement(
        learner=case.learner,
        method=case.method,
        measure=case.measure,
        event=case.event,
        A=case.A,
        H=case.H,
        n=n,
        n_missing=n_missing,
        mean=mean,
        exact_mean=exact,
        sd=sd,
        z=(mean - exact) / (sd / math.sqrt(n)),
        ks=ks,
        ks_at=at,
        dkw=dkw_bound(n),
        t_max=t_max,
    )


def agreement(case: Case) -> Agreement:
    """Simulate ``case`` (cached per cell) and compare it with its exact law."""
    frame = simulate(case.learner, case.method, case.A, case.H, case.n)
    column = frame[case.measure]
    n_missing = int(column.isna().sum())
    return agreement_of(column.dropna().to_numpy(dtype=np.int64), case, n_missing)


def agreement_table(include_per_step: bool = True) -> pd.DataFrame:
    """The full table of z and KS for every case ."""
    rows = []
    for case in CASES:
        if case.learner == "per-step" and not include_per_step:
            continue
        row = agreement(case)
        rows.append({**asdict(row), "ok": row.ok})
    return pd.DataFrame(rows)


def summary_lines(table: pd.DataFrame) -> list[str]:
    """The largest ``|z|`` and the largest KS distance (absolute and relative to DKW)."""
    if table.empty:
        return ["theory agreement: no rows"]

    def where(row: pd.Series) -> str:
        return f"{row.learner} {row.method} {row.measure} A={row.A} H={row.H} (n={row.n})"

    z = table.loc[table["z"].abs().idxmax()]
    ks = table.loc[table["ks"].idxmax()]
    rel = table.loc[(table["ks"] / table["dkw"]).idxmax()]
    return [
        f"theory agreement: {len(table)} rows, {int((~table['ok']).sum())} failing",
        f"  largest |z| = {abs(z.z):.2f} (limit {Z_MAX}) at {where(z)}",
        f"  largest KS  = {ks.ks:.4f} (DKW bound {ks.dkw:.4f}) at {where(ks)}, t={ks.ks_at}",
        f"  largest KS/DKW = {rel.ks / rel.dkw:.2f} at {where(rel)}, t={rel.ks_at}",
    ]


# ------------------------------------------------------------------------------- tests

_RECORDED: list[dict] = []


@pytest.fixture(scope="module", autouse=True)
def record_agreement(tmp_path_factory, pytestconfig):
    """Collect every checked row; at the end write JSON + CSV and print the extremes."""
    _RECORDED.clear()
    yield _RECORDED
    if not _RECORDED:
        return
    table = pd.DataFrame(_RECORDED)
    folder = tmp_path_factory.mktemp("theory_agreement")
    (folder / "theory_agreement.json").write_text(json.dumps(_RECORDED, indent=1))
    table.to_csv(folder / "theory_agreement.csv", index=False)
    lines = [*summary_lines(table), f"  table: {folder / 'theory_agreement.csv'}"]
    capture = pytestconfig.pluginmanager.getplugin("capturemanager")
    if capture is None:
        print("\n" + "\n".join(lines))
        return
    with capture.global_and_fixture_disabled():
        print("\n" + "\n".join(lines))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_simulation_matches_exact_law(case: Case, record_agreement) -> None:
    row = agreement(case)
    record_agreement.append({**asdict(row), "ok": row.ok})
    assert row.n_missing == 0, f"{row.n_missing} seeds did not reach {case.measure}"
    assert abs(row.z) < Z_MAX, row
    assert row.ks < row.dkw, row


def test_detects_an_off_by_one() -> None:
    """The law check has power: the same sample shifted by one trial fails it."""
    for case in (
        Case("per-trajectory", "dream", "T_guaranteed", "dream_guaranteed", 2, 1),
        Case("per-trajectory", "rl2", "T_event", "rl2_event", 2, 1),
        Case("per-trajectory", "dream", "T_event", "dream_event", 3, 1),
    ):
        sample = simulate(case.learner, case.method, case.A, case.H, case.n)[case.measure]
        sample = sample.to_numpy(dtype=np.int64)
        assert agreement_of(sample, case).ok
        for shift in (-1, 1):
            shifted = agreement_of(sample + shift, case)
            assert shifted.ks > 2 * shifted.dkw, (shift, shifted)


def test_ks_distance_on_a_known_example() -> None:
    # law: P(T = 1) = P(T = 2) = 1/2; sample: three 1s, one 2
    ks, at = ks_distance(np.array([1, 1, 1, 2]), np.array([0.0, 0.5, 1.0]))
    assert ks == pytest.approx(0.25) and at == 1
    assert dkw_bound(4000) == pytest.approx(math.sqrt(math.log(2000.0) / 8000.0))
