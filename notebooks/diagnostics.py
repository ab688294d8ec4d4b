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
# # Figs. 11–12 of DREAM: what exploration visits, what f(μ) and g(τ^exp) encode
#
# Runs `python -m analysis.diagnostics` (through `analysis.diagnostics.run_diagnostics`, the
# function the command line calls) on DREAM checkpoints and shows what it writes:
#
# * **Fig. 12**: t-SNE of the problem encoding f(μ) (training IDs: a held-out ID's embedding
#   row is never trained) and of the decoder's g(τ^exp) on greedy exploration episodes, coloured
#   by the task-relevant colored-bus permutation and by the irrelevant gray one;
# * **linear probes**: how well a linear read-out recovers each factor of μ from f and from g,
#   on problems it was not fitted on, beside the chance level; averaged over the relevant and
#   the irrelevant factors, the information bottleneck's effect is two numbers per run;
# * **Fig. 11**: what greedy exploration visits (bus rides by kind, cells), on training and on
#   held-out problems.
#
# Every number and figure below is read from the files the diagnostics wrote; nothing is
# computed here. The maths is in `docs/diagnostics.md`.
#
# Parameters (the next cell; papermill: `-p RUN_DIRS '["runs/.../dream/s0"]'`):
#
# * `SETTING`: `SMALL` trains two tiny runs on the distracting bus here (DREAM and DREAM
#   without the bottleneck, preset `tiny`, `SMALL_STEPS` env steps each: a few dozen updates,
#   so the figures show the pipeline, not results) and diagnoses both. `FULL` runs or resumes
#   seed 0 of the same two at the paper's budget through `analysis.sweep`
#   (`sweeps/dream_grids.json` and `sweeps/fig6_left.json`, into `runs/sweeps/<name>` like the
#   command line; about 2 h per run on one CPU core) and diagnoses their checkpoints. Ignored
#   when `RUN_DIRS` is given.
# * `RUN_DIRS`: run folders with a `checkpoint.pt` of a DREAM method (a string or a list, e.g.
#   `["runs/sweeps/dream_grids/distracting_bus/dream/s0"]`): train nothing, diagnose them.
# * `OUT`: where the diagnostics go, one folder per run (default
#   `runs/notebooks/diagnostics-<setting>`; SMALL also trains under it, resuming what is there).
# * `TRIALS`, `SEED`: greedy trials per split and their seed (`--trials`, `--seed`).
# * `SWAP_TRIALS`, `SWAP_PROBLEMS`: the code swap's trials per held-out problem and code, and
#   how many held-out problems it plays (`--swap-trials`, `--swap-problems`).
# * `REFIT_FITS`, `REFIT_STEPS`, `REFIT_DECODERS`: decoders fitted afresh to each run's replay,
#   per architecture, and their Adam steps (`--refit-fits`, `--refit-steps`,
#   `--refit-decoders`; SMALL: 1 fit of 20 steps each, to show the table; otherwise none
#   unless asked: 4 fits of 2,000 steps took about 10 minutes on cooking).

# %% tags=["parameters"]
SETTING = "SMALL"
RUN_DIRS = None
OUT = None
TRIALS = None
SEED = 12345
SWAP_TRIALS = None
SWAP_PROBLEMS = None
REFIT_FITS = None
REFIT_STEPS = None
REFIT_DECODERS = "lstm,pooled"
SMALL_STEPS = 500

# %%
import os
from pathlib import Path

import torch
from IPython.display import Image, display

import analysis
from analysis import diagnostics, sweep
from common.io import read_csv
from deep.train import RunConfig, Trainer

os.chdir(Path(analysis.__file__).resolve().parents[1])  # the repository root
torch.set_num_threads(1)
out = Path(OUT or f"runs/notebooks/diagnostics-{SETTING.lower()}")
small = RUN_DIRS is None and SETTING == "SMALL"
trials = TRIALS or (32 if small else 200)
swap = {"swap_trials": SWAP_TRIALS or (4 if small else 50)}
swap["swap_problems"] = SWAP_PROBLEMS or (1 if small else 4)
refit = {
    "refit_fits": (1 if small else 0) if REFIT_FITS is None else REFIT_FITS,
    "refit_steps": REFIT_STEPS or (20 if small else 2000),
    "refit_decoders": tuple(REFIT_DECODERS.split(",")),
}

# %% [markdown]
# ## The runs (SMALL: trained here; skipped when `RUN_DIRS` is given)

# %%
if RUN_DIRS is not None:
    dirs = [RUN_DIRS] if isinstance(RUN_DIRS, str) else list(RUN_DIRS)
    runs = {"_".join(Path(d).parts[-3:]): Path(d) for d in dirs}
elif SETTING == "FULL":
    FULL = {  # label: (sweep spec, the run folder it writes)
        "dream": ("sweeps/dream_grids.json", "runs/sweeps/dream_grids/distracting_bus/dream/s0"),
        "dream_no_bottleneck": (
            "sweeps/fig6_left.json",
            "runs/sweeps/fig6_left/distracting_bus/dream_no_bottleneck/s0",
        ),
    }
    runs = {}
    for label, (spec, run) in FULL.items():
        argv = [spec, "--envs", "distracting_bus", "--seeds", "0", "--workers", "1"]
        assert sweep.main([*argv, "--no-progress"]) == 0, spec
        runs[label] = Path(run)
else:
    assert SETTING == "SMALL", f"SETTING is SMALL or FULL (or give RUN_DIRS), not {SETTING!r}"
    runs = {}
    for method in ("dream", "dream_no_bottleneck"):
        run = out / "runs" / method
        if (run / "checkpoint.pt").is_file():
            trainer = Trainer.resume(run, progress=False)  # finished: nothing to train
        else:
            config = RunConfig(
                env="distracting_bus", method=method, preset="tiny", steps=SMALL_STEPS,
                num_envs=8, eval_every=100_000, eval_trials=8, threads=1,
            )  # fmt: skip
            trainer = Trainer(config, run, progress=False)
        trainer.run()
        runs[method] = run
print("\n".join(f"{label}: {path}" for label, path in runs.items()))

# %% [markdown]
# ## Diagnostics of each run
#
# One `run_diagnostics` call per run writes `embeddings.csv`, `probe.csv`,
# `probe_summary.csv`, `tsne.csv` + `tsne.png`, `exploration.csv` (+ cells) +
# `exploration.png`, the code swap (`code_swap.csv`, `code_swap_summary.csv`) and the
# exploitation tables (`exploitation_goals.csv`, `exploitation_goal_summary.csv`) to
# `OUT/<run>`.

# %%
folders = {}
for label, run in runs.items():
    config = diagnostics.DiagnosticsConfig(
        run=run, out=out / label, trials=trials, seed=SEED, **swap, **refit
    )
    folders[label] = diagnostics.run_diagnostics(config).files["probe"].parent

# %% [markdown]
# ## Linear probes: the bottleneck's effect
#
# Per run, the mean probe accuracy over the task-relevant factors (the colored permutation and
# each colored stop's destination) and over the irrelevant ones (gray), for f (cross-validated
# over training IDs) and g (cross-validated over training problems, and fitted on training /
# scored on held-out problems). `chance` is the best constant read-out on the same samples.

# %%
summaries = {label: read_csv(folder / "probe_summary.csv") for label, folder in folders.items()}
for label, summary in summaries.items():
    print(label)
    print(diagnostics.format_probe_summary(summary))
print(diagnostics.format_bottleneck(diagnostics.bottleneck_table(summaries)))

# %% [markdown]
# Every factor's probe, for the first run:

# %%
first = next(iter(folders.values()))
display(read_csv(first / "probe.csv"))

# %% [markdown]
# ## Fig. 12: t-SNE of f(μ) and g(τ^exp)

# %%
for folder in folders.values():
    if (folder / "tsne.png").is_file():
        display(Image(filename=str(folder / "tsne.png")))

# %% [markdown]
# ## Fig. 11: what greedy exploration visits

# %%
for folder in folders.values():
    display(read_csv(folder / "exploration.csv"))
    display(Image(filename=str(folder / "exploration.png")))

# %% [markdown]
# ## Exploitation told μ, per goal
#
# Every (problem, goal) pair of the training problems played greedily with z = f(μ), beside
# the exact optimum of that pair and π^task's own value of its first state
# (`exploitation_goal_summary.csv`). On cooking, `exploitation_stage_probe.csv` also says
# whether π^task's memory holds the recipe step (the buses have no stages).

# %%
for label, folder in folders.items():
    print(label)
    display(read_csv(folder / "exploitation_goal_summary.csv"))
    if (folder / "exploitation_stage_probe.csv").is_file():
        display(read_csv(folder / "exploitation_stage_probe.csv"))

# %% [markdown]
# ## Decoders fitted afresh (held-out problems)
#
# With `REFIT_FITS` > 0: the trained decoder beside decoders fitted afresh to the replay with
# L_decoder alone, of each architecture in `REFIT_DECODERS`, played on the held-out and the
# training problems as they fit (`decoder_refit.csv`, `decoder_refit.png`). Refits that
# scatter on the held-out problems while solving the training ones say the training problems
# do not pin the held-out code.

# %%
for label, folder in folders.items():
    if (folder / "decoder_refit.png").is_file():
        print(label)
        display(Image(filename=str(folder / "decoder_refit.png")))

# %% [markdown]
# ## Reading the result
#
# With the bottleneck, f(μ) should keep the colored permutation and lose the gray one: the
# relevant probe well above chance, the irrelevant one near it. Without it, nothing pushes the
# gray part out of f(μ), and its probe can stay above chance. g(τ^exp) can only hold what
# exploration visited: an agent that rides only the colored buses (Fig. 11) leaves g nothing
# to read about the gray ones. The SMALL runs are far too short to show any of this; run the
# notebook on real runs (`RUN_DIRS`) for that. In SMALL the two runs even agree to the bit:
# ‖f(μ)‖² stays below K = 10 there, where the hinge bottleneck has no gradient, so with the
# same seed DREAM and DREAM without the bottleneck take the same steps.
