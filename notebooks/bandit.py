# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # The bandit of App. C.2: neural Fig. 3a next to the tabular one, and every method on it
#
# Three parts, each run by its command line's `main` (called here), which writes the files,
# draws from them and prints the tables; this notebook computes nothing of its own:
#
# 1. tabular Fig. 3a (`python -m analysis.sample_complexity`): trials until greedy exploration
#    is optimal, DREAM against RL², as |A| grows;
# 2. neural Fig. 3a (`python -m analysis.neural_sample_complexity`): the same measure for neural
#    DREAM and neural E-RL² (preset `epsilon1`: every policy acts at ε = 1 like the tabular
#    learners), drawn over the tabular means of part 1;
# 3. every method and ablation on the A = 4 bandit (`python -m analysis.sweep
#    sweeps/ablations_bandit.json`, curves by `python -m analysis.learning_curves`):
#    `steps_to_informative_mean` in the table is the neural T in env steps.
#
# Parameters (the next cell; papermill: `-p SETTING FULL`):
#
# * `SETTING`: `SMALL` (tabular |A| = 2..4 with 200 seeds; neural |A| = 2, 3 with 2 seeds of
#   96 trials, evaluated every 16; the 7 methods with seed 0 for 192 env steps: they really
#   train, but these budgets show the pipeline, not results) or `FULL` (the README's runs:
#   tabular |A| = 2..16 with 1000 seeds; neural |A| = 2..6, 5 seeds, 3000 trials, about 25 min
#   here and not resumable; `sweeps/ablations_bandit.json` as it is into
#   `runs/sweeps/ablations_bandit`, resumable, 11–35 s per run).
# * `OUT`: where the files go (default `runs/notebooks/bandit-<setting>`; SMALL also trains
#   under it). Relative paths are read from the repository root.
# * `RUN_DIRS`: redraw only, from existing files: `{"tabular": folder holding a per_seed.csv of
#   analysis.sample_complexity, "neural": folder holding a per_seed.csv of
#   analysis.neural_sample_complexity, "methods": [run folders]}`; a part whose key is missing
#   is trained per `SETTING`.
# * `WORKERS`: worker processes of the FULL sweep of part 3 (`None`: one per CPU core).

# %% tags=["parameters"]
SETTING = "SMALL"
OUT = None
RUN_DIRS = None
WORKERS = None

# %%
import os
from pathlib import Path

from IPython.display import Image, display

import analysis
from analysis import learning_curves, neural_sample_complexity, sample_complexity, sweep

os.chdir(Path(analysis.__file__).resolve().parents[1])  # the repository root
SPEC = "sweeps/ablations_bandit.json"
FLAGS = {  # per SETTING: the CLIs' flags
    "SMALL": {
        "tabular": ["--A", "2..4", "--seeds", "200"],
        "neural": ["--A", "2,3", "--seeds", "2", "--trials", "96", "--eval-every", "16"],
        "methods": ["--seeds", "0", "--steps", "192", "--eval-trials", "16", "--workers", "0",
                    "--no-progress"],
    },
    "FULL": {
        "tabular": ["--A", "2..16", "--seeds", "1000"],
        "neural": ["--A", "2..6", "--seeds", "5", "--trials", "3000"],
        "methods": ["--workers", str(WORKERS)] if WORKERS else [],
    },
}[SETTING]  # fmt: skip
out = Path(OUT or f"runs/notebooks/bandit-{SETTING.lower()}")
given = RUN_DIRS or {}

# %% [markdown]
# ## 1. Tabular Fig. 3a (horizon 1, ε = 1, per-trajectory learners)

# %%
if "tabular" in given:
    source = Path(given["tabular"]) / "per_seed.csv"
    argv = ["--from-csv", str(source), "--out", str(out / "fig3a_tabular")]
else:
    argv = [*FLAGS["tabular"], "--H", "1", "--out", str(out / "fig3a_tabular"), "--quiet"]
assert sample_complexity.main(argv) == 0
display(Image(filename=str(out / "fig3a_tabular" / "figure3a.png")))

# %% [markdown]
# ## 2. Neural Fig. 3a: neural DREAM and E-RL² over the tabular means
#
# `T_greedy` of a neural run: the first evaluated trial from which greedy exploration pulls the
# informative arm at every later evaluation (capped runs count at the budget, `n_capped`).

# %%
tabular = out / "fig3a_tabular" / "summary.csv"
where = ["--tabular", str(tabular), "--out", str(out / "fig3a_neural")]
if "neural" in given:
    argv = ["--from-csv", str(Path(given["neural"]) / "per_seed.csv"), *where]
else:
    argv = [*FLAGS["neural"], *where]
assert neural_sample_complexity.main(argv) == 0
display(Image(filename=str(out / "fig3a_neural" / "figure3a_neural.png")))

# %% [markdown]
# ## 3. Every method and ablation on the A = 4 bandit
#
# `analysis.sweep` skips finished runs and resumes interrupted ones: rerunning continues.

# %%
if "methods" in given:
    run_dirs = [given["methods"]] if isinstance(given["methods"], str) else list(given["methods"])
elif SETTING == "SMALL":
    run_dirs = [str(out / "runs" / "ablations_bandit")]
    assert sweep.main([SPEC, *FLAGS["methods"], "--out", run_dirs[0]]) == 0
else:
    assert SETTING == "FULL", f"SETTING is SMALL or FULL, not {SETTING!r}"
    run_dirs = ["runs/sweeps/ablations_bandit"]
    assert sweep.main([SPEC, *FLAGS["methods"]]) == 0

# %% [markdown]
# Greedy exploitation return (mean and 95% CI over seeds) against env steps, and the share of
# explorations that identify the arm. The table is `final_returns.csv`; its
# `steps_to_informative_mean` is the env steps until greedy exploration identifies the arm at
# every later evaluation.

# %%
assert learning_curves.main([*run_dirs, "--out", str(out / "methods")]) == 0
display(Image(filename=str(out / "methods" / "curves.png")))
