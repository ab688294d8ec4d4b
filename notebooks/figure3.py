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
# # Figure 3 of DREAM (Prop. 2): the tabular bandit
#
# Reruns the sample-complexity sweep of Figure 3a and the training traces of Figure 3b-d with
# `python -m analysis.sample_complexity` and `python -m analysis.training_traces` (their `main`,
# called here), which write the CSV files, rebuild the figures from them and print the tables.
# This notebook computes nothing of its own.
#
# Parameters (the next cell; papermill: `-p SETTING FULL`):
#
# * `SETTING`: `SMALL` (|A| = 2..8, 200 seeds: seconds) or `FULL` (the README's sweep,
#   |A| = 2..16, 1000 seeds: about 10 s once Numba's cache is warm). Both resume from the
#   cells already in `OUT`.
# * `OUT`: where the files go (default `runs/notebooks/figure3-<setting>`; relative paths are
#   read from the repository root, as in the README's commands).
# * `RUN_DIRS`: redraw only, from existing files: `{"fig3a": folder holding a per_seed.csv,
#   "fig3bcd": folder holding a traces.csv}` (either key alone redraws that part only).

# %% tags=["parameters"]
SETTING = "SMALL"
OUT = None
RUN_DIRS = None

# %%
import os
import shutil
from pathlib import Path

from IPython.display import Image, display

import analysis
from analysis import sample_complexity, training_traces

os.chdir(Path(analysis.__file__).resolve().parents[1])  # the repository root
FLAGS = {  # per SETTING: the CLIs' flags
    "SMALL": {"fig3a": ["--A", "2..8", "--seeds", "200"], "fig3bcd": ["--A", "8", "--seeds", "3"]},
    "FULL": {"fig3a": ["--A", "2..16", "--seeds", "1000"], "fig3bcd": ["--A", "8", "--seeds", "3"]},
}[SETTING]
out = Path(OUT or f"runs/notebooks/figure3-{SETTING.lower()}")
given = RUN_DIRS or {}

# %% [markdown]
# ## Figure 3a: sample complexity against |A| (both methods, per-trajectory learner, ε = 1)
#
# The printed tables are the CLI's: every measure's mean with its 95% CI next to the exact
# expectation, and the log-log slopes next to the bound forms of Prop. 2.

# %%
if "fig3a" in given:
    argv = ["--from-csv", str(Path(given["fig3a"]) / "per_seed.csv"), "--out", str(out / "fig3a")]
else:
    argv = [*FLAGS["fig3a"], "--H", "1", "--out", str(out / "fig3a"), "--quiet"]
assert sample_complexity.main(argv) == 0
display(Image(filename=str(out / "fig3a" / "figure3a.png")))

# %% [markdown]
# ## Figure 3b-d: values and returns over training (|A| = 8, 3 seeds)
#
# The table: each seed's certified `T_greedy` (the dots of the figure) and its last greedy
# return.

# %%
if "fig3bcd" in given:
    traces = out / "fig3bcd" / "traces.csv"  # a copy: the figure is drawn next to its CSV
    traces.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(Path(given["fig3bcd"]) / "traces.csv", traces)
    argv = ["--from-csv", str(traces)]
else:
    argv = [*FLAGS["fig3bcd"], "--out", str(out / "fig3bcd"), "--quiet"]
assert training_traces.main(argv) == 0
display(Image(filename=str(out / "fig3bcd" / "figure3bcd.png")))

# %% [markdown]
# ## Reading the result
#
# DREAM's greedy exploration becomes optimal after a few dozen trials at |A| = 8, RL²'s after
# hundreds, and the gap grows with |A| roughly like the ratio of the two bound forms of Prop. 2
# (the slopes table). The README discusses the FULL sweep and how each measure compares with
# its bound.
