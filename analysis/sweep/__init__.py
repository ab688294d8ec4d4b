"""One sweep of training runs, methods × envs × settings × seeds: resumable, local or on Ray.

``python -m analysis.sweep sweeps/fig6.json`` trains every run of a sweep with
:class:`deep.train.Trainer` and gathers the evaluation rows of all of them in one tidy
``<out>/runs.csv``. A sweep is data (bsuite's ``SETTINGS``): a JSON or TOML file with the keys
below, or the same keys as flags (``--methods dream,erl2 --envs map --seeds 0..2 ...``; a flag
replaces the file's value):

* ``methods`` — names from :data:`deep.registry.METHODS`;
* ``envs`` — benchmark names, or objects ``{"env": "bandit", "env_kwargs": {"A": 3},
  "variant": null, "label": "bandit_A3"}`` (the label, by default the name, names the run
  directory and fills the ``env`` column of ``runs.csv``);
* ``seeds`` — a list of integers or a range ``"0..2"``;
* ``settings`` — named ``--method-arg`` overrides, ``{"lambda3": {"bottleneck_weight": 3}}``;
  every run gets one of them (leave it out for a single setting, ``default``, that adds no
  directory level);
* ``method_args`` — overrides every run gets (a setting's own values win);
* ``method_overrides`` — overrides for the runs of one method, ``{"varibad":
  {"decode_beliefs": 8}}`` (they win over ``method_args``; a setting's values win over them);
* ``splits`` — which rows of each run's ``metrics.csv`` go into ``runs.csv``: ``test`` (the
  default: greedy evaluation on held-out problems), ``train_eval`` (greedy evaluation on the
  training problems, for runs with ``eval_splits`` ``["test", "train"]``) and/or ``train`` (mean
  ε-greedy training returns of each evaluation window);
* ``steps``, ``preset``, ``num_envs``, ``eval_every``, ``eval_trials``, ``eval_splits``,
  ``checkpoint_every``, ``snapshot_every``, ``device``, ``threads`` — the
  :class:`deep.train.RunConfig` fields (``threads``: torch threads per run, default 1;
  ``snapshot_every``: env steps between kept copies of each run's checkpoint);
* ``name`` (default: the file's stem) and ``note`` (free text, kept in ``sweep.json``).

Runs are listed in the order env, method, setting, seed, and run ``r`` lives in
``<out>/<env>/<method>[/<setting>]/s<seed>`` with the usual files of ``python -m deep.train``.
Each run executes in a worker process, with one torch thread: a spawn-context process pool
(``--workers N``, default the CPU count; ``0`` runs them one after the other in this process) or
Ray tasks of one CPU each (``--ray local`` starts a local instance, ``--ray auto`` /
``--ray ray://host:port`` joins a cluster). A run whose ``summary.json`` exists for the same
config is skipped; one with a ``checkpoint.pt`` and no summary is resumed from it, exactly
(``deep.train``: same numbers as an uninterrupted run), so rerunning a killed sweep loses and
duplicates nothing. A run directory holding a different config stops the sweep before it
starts (a larger ``steps`` is fine: the run is extended), and so does a damaged
``config.json``, ``summary.json`` or (of a finished run) ``metrics.csv``: one line ``error:
<file>: ...; the file was left as it is``, exit status 2, nothing trained or rewritten. An
``--out`` that cannot be written stops it the same way (``error: <path>: cannot write
(<reason>)``). Every run's method config is built by :func:`deep.registry.build_config`, the
route ``deep.train`` takes; a config that cannot be built stops the sweep before it starts. A
failing run does not stop the others: the sweep prints ``failed: <run dir>: <error>`` and exits
with status 1. Ctrl-C (or SIGTERM) asks the running trainers to checkpoint at their next wave,
and exits with 130.

``<out>/sweep.json`` holds the normalised spec, the package version and the run directories;
``<out>/runs.csv`` every finished run's rows of the chosen splits, with columns ``method, env,
setting, seed, trial, env_steps, split, return, ...`` and without the timing column
``wall_s``, in the runs' order. Both are written atomically and only when their bytes change,
and neither depends on how the sweep was executed (pool, Ray, order, interruptions).

Modules: :mod:`~analysis.sweep.spec` (the spec: dataclasses, parsing, validation),
:mod:`~analysis.sweep.runs` (expansion into runs, the config check),
:mod:`~analysis.sweep.state` (what a run directory holds), :mod:`~analysis.sweep.executors`
(one run; inline, pool and Ray executors, stop handling), :mod:`~analysis.sweep.tables`
(``sweep.json``, ``runs.csv``), :mod:`~analysis.sweep.runner` (one sweep, start to end) and
:mod:`~analysis.sweep.cli` (flags, ``main``).
"""

from analysis.sweep.cli import main
from analysis.sweep.executors import Outcome, execute
from analysis.sweep.runner import SweepReport, run_sweep
from analysis.sweep.runs import Run, check_runs, expand
from analysis.sweep.spec import (
    DEFAULT_SETTING,
    RUN_KEYS,
    SPEC_KEYS,
    EnvEntry,
    SweepSpec,
    load_spec_file,
    parse_spec,
)
from analysis.sweep.state import RunConflict, run_state
from analysis.sweep.tables import TIMING_COLUMNS, collect, sweep_json

__all__ = [
    "DEFAULT_SETTING",
    "RUN_KEYS",
    "SPEC_KEYS",
    "TIMING_COLUMNS",
    "EnvEntry",
    "Outcome",
    "Run",
    "RunConflict",
    "SweepReport",
    "SweepSpec",
    "check_runs",
    "collect",
    "execute",
    "expand",
    "load_spec_file",
    "main",
    "parse_spec",
    "run_state",
    "run_sweep",
    "sweep_json",
]
