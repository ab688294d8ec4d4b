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
# # Fig. 7 (right) of DREAM: the MiniWorld sign task
#
# DREAM learns, from 80×60 first-person images, to find and read a sign whose colour names the
# object to fetch. `python -m analysis.sweep sweeps/sign.json` trains it and
# `python -m analysis.learning_curves` draws the curves with the exact references (their
# `main`, called here); every number comes from the runs' `metrics.csv` files.
#
# MiniWorld renders headless through EGL (Mesa's llvmpipe on a CPU; `python -m deep.doctor`
# checks it). The env sets that up itself before it imports miniworld.
#
# Parameters (the next cell; papermill: `-p SETTING FULL`):
#
# * `SETTING`: `SMALL` (the spec at a tiny budget: seed 0, preset `tiny`, 2 trials side by side,
#   160 env steps, so a few updates: the pipeline, not a result) or `FULL`
#   (`sweeps/sign.json` as it is: 3 seeds of 1M env steps into `runs/sweeps/sign`, resuming
#   whatever is there).
# * `OUT`: where the curves and tables go (default `runs/notebooks/sign-<setting>`; SMALL also
#   trains under it). Relative paths are read from the repository root.
# * `RUN_DIRS`: folders of runs on the sign task: train nothing, only redraw from them.
# * `WORKERS`: worker processes of a FULL sweep (`None`: one per CPU core).

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
from analysis import learning_curves, sweep

os.chdir(Path(analysis.__file__).resolve().parents[1])  # the repository root
SPEC = "sweeps/sign.json"
SMALL = ["--seeds", "0", "--preset", "tiny", "--steps", "160", "--num-envs", "2",
         "--eval-every", "16", "--eval-trials", "2", "--workers", "0", "--no-progress"]  # fmt: skip
out = Path(OUT or f"runs/notebooks/sign-{SETTING.lower()}")

# %% [markdown]
# ## Training (skipped when `RUN_DIRS` is given)
#
# `analysis.sweep` skips finished runs and resumes interrupted ones from their checkpoints.

# %%
if RUN_DIRS is not None:
    run_dirs = [RUN_DIRS] if isinstance(RUN_DIRS, str) else list(RUN_DIRS)
elif SETTING == "SMALL":
    run_dirs = [str(out / "runs" / "sign")]
    assert sweep.main([SPEC, *SMALL, "--out", run_dirs[0]]) == 0
else:
    assert SETTING == "FULL", f"SETTING is SMALL or FULL, not {SETTING!r}"
    run_dirs = ["runs/sweeps/sign"]
    assert sweep.main([SPEC, *(["--workers", str(WORKERS)] if WORKERS else [])]) == 0

# %% [markdown]
# ## Learning curve and final returns
#
# Greedy exploitation return (mean and 95% CI over seeds) with the exact optimal, PEARL-UB and
# no-exploration lines; below it, the share of explorations whose frames read the sign (the
# exact reveal oracle of `deep/envs/reference_sign.py`). The table is `final_returns.csv`.

# %%
assert learning_curves.main([*run_dirs, "--out", str(out)]) == 0
display(Image(filename=str(out / "curves.png")))
