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
# # Figs. 6–7 of DREAM: methods × grid worlds
#
# Trains the sweeps of Fig. 6 (distracting bus, map) and Fig. 7 (cooking, greedy on held-out
# and on training problems) with `python -m analysis.sweep` and draws the learning curves with
# `python -m analysis.learning_curves` (their `main`, called here): mean exploitation return
# and 95% CI over seeds against env steps, the exact optimal, PEARL-UB and no-exploration
# lines, the share of explorations that reveal all task-relevant information, and the
# final-returns table. Every number comes from the runs' `metrics.csv` files.
#
# Parameters (the next cell; papermill: `-p SETTING FULL`):
#
# * `SETTING`: `SMALL` (the same specs at a tiny budget: one seed, preset `tiny`, 720 env
#   steps each, and for Figs. 6–7 DREAM and E-RL² only, Fig. 6 on map only; they really
#   train, for 20–40 updates, so the curves show the pipeline, not results) or `FULL` (the
#   specs as they are, e.g. `sweeps/fig6.json` and `sweeps/fig7.json`: 5 methods, 3 seeds, 1M
#   env steps, into `runs/sweeps/<name>` like the command line, resuming whatever is there;
#   about 2 h per run on one CPU core, see the README's performance section).
# * `SPECS`: the sweeps to run, by name in `sweeps/`, comma-separated: `fig6,fig7` (the
#   paper's figures, the default) or issue 14's DREAM runs,
#   `dream_grids,fig6_left,cooking_pot,cooking_held_out,cooking_pooled` (DREAM on the
#   distracting bus's two splits, its no-bottleneck row, cooking with the pot observed, the
#   authors' held-out kitchen and the pooled decoder; map's three seeds are
#   `python -m deep.train --env map --preset paper --steps 1000000 --seed S`).
# * `OUT`: where the curves and tables go (default `runs/notebooks/grid_worlds-<setting>`; SMALL
#   also trains under it). Relative paths are read from the repository root.
# * `RUN_DIRS`: folders of finished or unfinished runs (e.g. `["runs/sweeps/fig67_cpu",
#   "runs/map/dream"]`): train nothing, only redraw from them.
# * `WORKERS`: worker processes of a FULL sweep (`None`: one per CPU core).

# %% tags=["parameters"]
SETTING = "SMALL"
SPECS = "fig6,fig7"
OUT = None
RUN_DIRS = None
WORKERS = None

# %%
import os
from pathlib import Path

from IPython.display import Image, Markdown, display

import analysis
from analysis import learning_curves, stability, summary_table, sweep

os.chdir(Path(analysis.__file__).resolve().parents[1])  # the repository root
specs = {name.strip(): f"sweeps/{name.strip()}.json" for name in SPECS.split(",") if name.strip()}
unknown = sorted(name for name, spec in specs.items() if not Path(spec).is_file())
known = sorted(p.stem for p in Path("sweeps").glob("*.json"))
assert specs and not unknown, f"SPECS {SPECS!r}: no sweep named {unknown}; allowed: {known}"
SMALL_CUTS = {
    "fig6": ["--envs", "map", "--methods", "dream,erl2"],
    "fig7": ["--methods", "dream,erl2"],
}  # SMALL: flags replace the files' values
SMALL = ["--seeds", "0", "--preset", "tiny", "--steps", "720", "--num-envs", "4",
         "--eval-every", "8", "--eval-trials", "8", "--workers", "0", "--no-progress"]  # fmt: skip
out = Path(OUT or f"runs/notebooks/grid_worlds-{SETTING.lower()}")

# %% [markdown]
# ## Training (skipped when `RUN_DIRS` is given)
#
# `analysis.sweep` skips finished runs and resumes interrupted ones from their checkpoints:
# rerunning this cell continues where it stopped.

# %%
if RUN_DIRS is not None:
    run_dirs = [RUN_DIRS] if isinstance(RUN_DIRS, str) else list(RUN_DIRS)
elif SETTING == "SMALL":
    run_dirs = [str(out / "runs" / name) for name in specs]
    for (name, spec), run_dir in zip(specs.items(), run_dirs, strict=True):
        argv = [spec, *SMALL_CUTS.get(name, []), *SMALL, "--out", run_dir]
        assert sweep.main(argv) == 0, f"sweep {name} failed"
else:
    assert SETTING == "FULL", f"SETTING is SMALL or FULL, not {SETTING!r}"
    run_dirs = [f"runs/sweeps/{name}" for name in specs]
    for spec in specs.values():
        assert sweep.main([spec, *(["--workers", str(WORKERS)] if WORKERS else [])]) == 0, spec
print("runs:", *run_dirs)

# %% [markdown]
# ## Learning curves and final returns
#
# One panel per benchmark and problem split; below each, the share of test explorations that
# reveal everything task-relevant (dashed on cooking: how far exploitation gets). The table is
# `final_returns.csv`: per curve, the last evaluation's mean return and 95% CI over seeds, the
# mean over the last 10% of evaluations, and the env steps until exploration becomes and stays
# informative.

# %%
assert learning_curves.main([*run_dirs, "--out", str(out)]) == 0
display(Image(filename=str(out / "curves.png")))

# %% [markdown]
# ## Staying optimal
#
# `python -m analysis.stability` (its `main`): per run, the evaluations from the first optimal
# one on, and each later evaluation below the optimum blamed on exploration (fewer greedy
# explorations reveal), exploitation (π^task fails told μ) or the decoder (neither). Runs
# that never reach the optimum, as in SMALL, have no rows.

# %%
assert stability.main([*run_dirs, "--out", str(out)]) == 0

# %% [markdown]
# ## The table
#
# `python -m analysis.summary_table` (its `main`): one row per curve on the held-out problems,
# with each seed's tail (mean of its last 10% of evaluations), the mean ± 95% CI over seeds,
# the told-μ return, the exact optimum / PEARL-UB / no-exploration values and the evaluations
# at the optimum after the first. The README's grid-world table is this command on
# `results/dream_grids`.

# %%
assert summary_table.main([str(out)]) == 0
display(Markdown((out / "table.md").read_text()))
