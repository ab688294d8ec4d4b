r"""Figure 3a / Proposition 2: trials until the exploration policy is optimal, as |A| grows.

Reproduces Fig. 3a of Liu et al. (ICML 2021) on the horizon-H bandit of Sec. 5.2 / App. C.2
and sets it against the exact theory of :mod:`tabular.bounds`. Prop. 2: with uniform random
exploration (``epsilon = 1``), the expected number of trials ``T`` after which the greedy
exploration policy is guaranteed optimal is ``O(K log K)`` for DREAM and
``Omega(K^2 M log K)`` for RL², with ``K = M = A**H``.

The experiment has the bsuite shape, one module per role (no module imports a later one):

* :mod:`.fingerprint` -- :func:`kernel_fingerprint`, the hash of the kernel sources;
* :mod:`.config` -- the sweep as data: :class:`SweepConfig`, :class:`RunOptions` and one
  :class:`Setting` per cell ``method x learner x H x epsilon x A`` (:func:`settings`);
* :mod:`.per_seed` -- the per-seed table: columns, dtypes, canonical order, reading;
* :mod:`.cells` -- :func:`run` one cell (:func:`tabular.measures.measure`) and
  :func:`simulate` the sweep, resumable from ``cells/<cell>.csv``;
* :mod:`.theory` -- :func:`exact_mean` (:mod:`tabular.bounds`) and Prop. 2's
  :func:`bound_form`;
* :mod:`.stats` -- :func:`summarize` (``n, n_capped, mean, sd``, 95% t-interval, ``median``,
  ``exact_mean``, ``z``, ``mean_over_bound``) and :func:`slopes` (least-squares slope of
  ``log mean T`` on ``log A`` next to those of the bound form and the exact expectation);
* :mod:`.relations` -- :func:`check_relations`, the pathwise relations the certificates in
  :mod:`tabular.dream`, :mod:`tabular.rl2` and :mod:`tabular.per_step` prove, seed by seed;
* :mod:`.figure` -- :func:`plot`, the log-log figure with theory curves on every panel;
* :mod:`.report` -- the text tables and warnings printed at the end of a run;
* :mod:`.cli` -- :func:`main`, the entry point of ``python -m analysis.sample_complexity``.

Files written to ``--out`` (atomically, see :mod:`common.io`): ``per_seed.csv``,
``summary.csv``, ``slopes.csv``, ``figure3a.png``, ``config.json`` and one
``cells/<cell>.csv`` per finished cell (a rerun with the same ``--out`` reuses them, so an
interrupted run resumes and gives an identical ``per_seed.csv``; a cell file is reused only
if its config line matches the cell, its seed range and :func:`kernel_fingerprint`).
Tables and the figure can be rebuilt from ``per_seed.csv`` alone with ``--from-csv``.

Statistics use, per measure, the seeds on which it is known exactly: every non-missing
value, except ``T_greedy`` of a capped seed (only a lower bound there). ``n_capped`` counts
the seeds of the cell that hit the cap; when it is positive the mean is biased low.

Exit status: 0 on success, 1 if a pathwise relation is violated, 2 on bad input.
"""

from analysis.sample_complexity.cells import CHEAP_CELL_TRIALS, run, simulate
from analysis.sample_complexity.cli import main, parse_args, write_outputs
from analysis.sample_complexity.config import (
    EXPERIMENT,
    SETTINGS,
    RunOptions,
    Setting,
    SweepConfig,
    settings,
)
from analysis.sample_complexity.figure import plot
from analysis.sample_complexity.fingerprint import kernel_fingerprint
from analysis.sample_complexity.per_seed import CELL_KEYS, check_data, normalize, read_per_seed
from analysis.sample_complexity.relations import check_relations
from analysis.sample_complexity.report import format_slopes, format_summary
from analysis.sample_complexity.stats import SLOPE_COLUMNS, SUMMARY_COLUMNS, slopes, summarize
from analysis.sample_complexity.theory import bound_form, exact_event, exact_mean

__all__ = [
    "CELL_KEYS",
    "CHEAP_CELL_TRIALS",
    "EXPERIMENT",
    "SETTINGS",
    "SLOPE_COLUMNS",
    "SUMMARY_COLUMNS",
    "RunOptions",
    "Setting",
    "SweepConfig",
    "bound_form",
    "check_data",
    "check_relations",
    "exact_event",
    "exact_mean",
    "format_slopes",
    "format_summary",
    "kernel_fingerprint",
    "main",
    "normalize",
    "parse_args",
    "plot",
    "read_per_seed",
    "run",
    "settings",
    "simulate",
    "slopes",
    "summarize",
    "write_outputs",
]
