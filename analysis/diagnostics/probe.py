"""Linear probes: how much of each factor of μ a linear read-out recovers from f(μ) and g(τ^exp).

The information bottleneck of Eq. 3 should leave f(μ) with the task-relevant part of μ only
(Sec. 4.2: on the distracting bus, the colored permutation and not the gray one), and g(τ^exp)
can only carry what exploration visited. A probe makes both measurable: for a factor φ of μ
(:class:`deep.envs.problem.ProblemFactor`) with values 0..n−1, standardise the encoding and fit
a multinomial logistic regression (scikit-learn's ``LogisticRegression``, L2, C = 1)

    ŷ(x) = argmax_c (W · (x − m) / s + b)_c

on some samples, and score ``accuracy = mean[ŷ(x) = φ]`` on problems it was not fitted on.
Beside it, ``chance = max_c mean[φ = c]`` over the same scored samples: the accuracy of the
best constant read-out, chosen with hindsight (a probe that learned nothing from x does no
better on average). The fitted samples' most frequent value would understate it under K-fold:
holding a fold's problems out makes their values rarer in the rest.

Protocols (column ``protocol``), always scoring on problems the probe did not see:

* ``cv_train_ids`` (f): K-fold over the **training** problem IDs (one sample each; folds are
  groups of IDs). Held-out IDs are left out on purpose: their embedding rows were never trained
  (:mod:`.embeddings`), so a probe there would read an untrained table.
* ``cv_train_problems`` (g): K-fold over the problems of the exploration episodes played on the
  training split, every episode of a problem in the same fold (greedy exploration of a
  deterministic grid world repeats itself, so a fold must not see its test problems).
* ``heldout`` (g): fit on the episodes of the training problems, score on those of the held-out
  problems; only where the played splits share no problem.

A scored sample whose value of φ never occurs among the fitted samples cannot be predicted by
any probe; it is left out of the score and ``coverage`` is the fraction kept (NaN accuracy at
0). With 3 sign colours, or the bus's whole permutations across disjoint splits, that is all.

:func:`probe_summary` gives the bottleneck's effect as two numbers per source and protocol:
the mean accuracy over the task-relevant factors and over the irrelevant ones;
:func:`bottleneck_table` sets them side by side for several runs (DREAM against DREAM without
the bottleneck). The ``format_*`` functions are what the CLI and the notebook print.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from analysis.diagnostics.embeddings import z_columns
from deep.envs.problem import ProblemFactor

__all__ = [
    "PROBE_COLUMNS",
    "PROTOCOLS",
    "SUMMARY_COLUMNS",
    "ProbeScore",
    "bottleneck_table",
    "fit_and_score",
    "format_bottleneck",
    "format_probe_summary",
    "grouped_cv",
    "probe_summary",
    "probe_table",
]

PROTOCOLS = {
    "cv_train_ids": "f(mu): K-fold over the training problem IDs (held-out IDs' rows are "
    "never trained)",
    "cv_train_problems": "g(tau): K-fold over the training split's problems, a problem's "
    "episodes in one fold",
    "heldout": "g(tau): fit on the training split's episodes, scored on the held-out split's",
}
"""Every protocol of the ``protocol`` column, in words (also in the CSV's header)."""

PROBE_COLUMNS = (
    "source",
    "protocol",
    "factor",
    "relevant",
    "n_values",
    "accuracy",
    "chance",
    "coverage",
    "samples",
    "problems",
)
"""Columns of :func:`probe_table`."""

SUMMARY_COLUMNS = ("source", "protocol", "part", "accuracy", "chance", "factors")
"""Columns of :func:`probe_summary`."""


@dataclass(frozen=True)
class ProbeScore:
    """Pooled counts of one probe: correct read-outs among the scored samples."""

    correct: int
    """Scored samples the probe got right."""
    scored: int
    """Samples whose value occurs among the fitted samples (the others cannot be predicted)."""
    total: int
    """Samples the probe was asked about."""
    value_counts: tuple[tuple[int, int], ...] = ()
    """``(value, count)`` of the scored samples, sorted by value."""

    def __add__(self, other: ProbeScore) -> ProbeScore:
        counts = Counter(dict(self.value_counts)) + Counter(dict(other.value_counts))
        return ProbeScore(
            self.correct + other.correct,
            self.scored + other.scored,
            self.total + other.total,
            tuple(sorted(counts.items())),
        )

    @property
    def accuracy(self) -> float:
        """``correct / scored`` (NaN when nothing could be scored)."""
        return self.correct / self.scored if self.scored else float("nan")

    @property
    def chance(self) -> float:
        """The best constant read-out's accuracy, ``max_c count(c) / scored`` (NaN: none)."""
        if not self.scored:
            return float("nan")
        return max(count for _, count in self.value_counts) / self.scored

    @property
    def coverage(self) -> float:
        """``scored / total``."""
        return self.scored / self.total if self.total else float("nan")


def fit_and_score(
    x_fit: np.ndarray, y_fit: np.ndarray, x_score: np.ndarray, y_score: np.ndarray
) -> ProbeScore:
    """Fit the standardised logistic probe on ``(x_fit, y_fit)``; score it on the other pair.

    ``x`` ``[N, d]``, ``y`` ``[N]`` integer values. A single fitted value makes the probe that
    constant (logistic regression needs two classes).
    """
    assert x_fit.ndim == 2 and x_score.ndim == 2 and x_fit.shape[1] == x_score.shape[1]
    assert len(x_fit) == len(y_fit) > 0 and len(x_score) == len(y_score)
    values = np.unique(y_fit)
    keep = np.isin(y_score, values)
    x_kept, y_kept = x_score[keep], y_score[keep]
    if len(y_kept) == 0:
        return ProbeScore(0, 0, len(y_score))
    if len(values) == 1:
        predicted = np.full(len(y_kept), values[0])
    else:
        probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        with warnings.catch_warnings():  # many values with few samples each is expected here
            warnings.filterwarnings("ignore", message="The number of unique classes")
            warnings.filterwarnings("ignore", category=ConvergenceWarning)
            predicted = probe.fit(x_fit, y_fit).predict(x_kept)
    kept_values, counts = np.unique(y_kept, return_counts=True)
    return ProbeScore(
        int(np.sum(predicted == y_kept)),
        len(y_kept),
        len(y_score),
        tuple((int(v), int(c)) for v, c in zip(kept_values, counts, strict=True)),
    )


def grouped_cv(
    x: np.ndarray, y: np.ndarray, groups: np.ndarray, folds: int, seed: int
) -> ProbeScore:
    """K-fold probe with every sample of a group (problem) in one fold; counts pooled.

    The distinct groups are shuffled with ``numpy.random.default_rng(seed)`` and cut into
    ``min(folds, groups)`` folds of near-equal size; each fold is scored by a probe fitted on
    the others. Fewer than 2 groups: nothing is scored.
    """
    unique = np.unique(groups)
    if len(unique) < 2:
        return ProbeScore(0, 0, len(y))
    order = np.random.default_rng(seed).permutation(unique)
    score = ProbeScore(0, 0, 0)
    for held in np.array_split(order, min(folds, len(unique))):
        test = np.isin(groups, held)
        score = score + fit_and_score(x[~test], y[~test], x[test], y[test])
    return score


def _row(
    source: str, protocol: str, factor: ProblemFactor, score: ProbeScore, samples: pd.DataFrame
) -> dict[str, object]:
    return {
        "source": source,
        "protocol": protocol,
        "factor": factor.name,
        "relevant": factor.relevant,
        "n_values": factor.n_values,
        "accuracy": score.accuracy,
        "chance": score.chance,
        "coverage": score.coverage,
        "samples": len(samples),
        "problems": samples["problem"].nunique(),
    }


def probe_table(
    embeddings: pd.DataFrame,
    factors: Sequence[ProblemFactor],
    *,
    folds: int = 5,
    seed: int = 0,
    threads: int = 1,
) -> pd.DataFrame:
    """Every protocol's probe of every factor, from an :func:`.embeddings.embedding_table`.

    One row per (source, protocol, factor) with the columns of :data:`PROBE_COLUMNS`; the
    ``heldout`` rows only where the table's g rows of the two splits share no problem.
    ``threads`` caps the BLAS / OpenMP threads of the fits.
    """
    if folds < 2:
        raise ValueError(f"folds={folds}; allowed: integers >= 2")
    zs = z_columns(embeddings)
    f_train = embeddings[(embeddings["kind"] == "f") & (embeddings["split"] == "train")]
    g = embeddings[embeddings["kind"] == "g"]
    g_train, g_test = g[g["split"] == "train"], g[g["split"] == "test"]
    disjoint = not set(g_train["problem"]) & set(g_test["problem"])
    rows = []
    with threadpool_limits(limits=threads):
        for factor in factors:
            for source, protocol, data in (
                ("f", "cv_train_ids", f_train),
                ("g", "cv_train_problems", g_train),
            ):
                x, y = data[zs].to_numpy(), data[factor.name].to_numpy()
                score = grouped_cv(x, y, data["problem"].to_numpy(), folds, seed)
                rows.append(_row(source, protocol, factor, score, data))
            if len(g_train) and len(g_test) and disjoint:
                score = fit_and_score(
                    g_train[zs].to_numpy(),
                    g_train[factor.name].to_numpy(),
                    g_test[zs].to_numpy(),
                    g_test[factor.name].to_numpy(),
                )
                rows.append(_row("g", "heldout", factor, score, g_test))
    return pd.DataFrame(rows, columns=list(PROBE_COLUMNS))


def probe_summary(probe: pd.DataFrame) -> pd.DataFrame:
    """Mean probe accuracy and chance over the relevant factors and over the irrelevant ones.

    One row per (source, protocol, part) with ``part`` ``relevant`` or ``irrelevant``; factors
    with NaN accuracy (nothing scorable) are left out, and ``factors`` lists the ones averaged.
    """
    rows = []
    for (source, protocol), block in probe.groupby(["source", "protocol"], sort=False):
        for part, relevant in (("relevant", True), ("irrelevant", False)):
            kept = block[(block["relevant"] == relevant) & block["accuracy"].notna()]
            if kept.empty:
                continue
            rows.append(
                {
                    "source": source,
                    "protocol": protocol,
                    "part": part,
                    "accuracy": float(kept["accuracy"].mean()),
                    "chance": float(kept["chance"].mean()),
                    "factors": " ".join(kept["factor"]),
                }
            )
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


def format_probe_summary(summary: pd.DataFrame) -> str:
    """:func:`probe_summary` as the CLI prints it (3 decimals; a line when it is empty)."""
    if summary.empty:
        return "no probe could be scored (every scored value was missing from its fit)"
    return summary.to_string(index=False, float_format=lambda v: f"{v:.3f}")


def bottleneck_table(summaries: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Runs side by side: per run, source and protocol, the two numbers and their chance levels.

    ``summaries``: run label → its :func:`probe_summary` (e.g. read back from
    ``probe_summary.csv``). Columns ``run, source, protocol, relevant, relevant_chance,
    irrelevant, irrelevant_chance`` (NaN where a part had no scorable factor).
    """
    rows = []
    for run, summary in summaries.items():
        for (source, protocol), block in summary.groupby(["source", "protocol"], sort=False):
            parts = block.set_index("part")
            row: dict[str, object] = {"run": run, "source": source, "protocol": protocol}
            for part in ("relevant", "irrelevant"):
                found = part in parts.index
                row[part] = float(parts.loc[part, "accuracy"]) if found else float("nan")
                row[f"{part}_chance"] = float(parts.loc[part, "chance"]) if found else float("nan")
            rows.append(row)
    columns = ["run", "source", "protocol", "relevant", "relevant_chance", "irrelevant"]
    return pd.DataFrame(rows, columns=[*columns, "irrelevant_chance"])


def format_bottleneck(table: pd.DataFrame) -> str:
    """:func:`bottleneck_table` as the notebook prints it (3 decimals)."""
    return table.to_string(index=False, float_format=lambda v: f"{v:.3f}")
