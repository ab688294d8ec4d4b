#!/usr/bin/env bash
# Regenerate every curated file under results/ (raw runs go to runs/results/, ignored by git).
# Usage: bash scripts/make_results.sh [--quick]   (--quick skips the H = 2 and per-step sweeps)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
RAW=runs/results
mkdir -p "$RAW" results
keep() {  # keep <raw dir> <results dir> <files...>
  local src=$1 dst=$2; shift 2
  mkdir -p "$dst"
  for f in "$@"; do cp "$src/$f" "$dst/$f"; done
}
$PY -m analysis.sample_complexity --A 2..16 --H 1 --seeds 1000 --out $RAW/fig3a_h1 --quiet
keep $RAW/fig3a_h1 results/fig3a_h1 figure3a.png summary.csv slopes.csv config.json
$PY -m analysis.training_traces --A 8 --seeds 3 --out $RAW/fig3bcd --quiet
keep $RAW/fig3bcd results/fig3bcd figure3bcd.png config.json
$PY -m analysis.epsilon_study --A 8 --epsilon 1,0.75,0.5,0.25,0.1 --seeds 1000 --out $RAW/epsilon --quiet
keep $RAW/epsilon results/epsilon epsilon.png summary.csv epsilon_monotonicity.csv config.json
if [ "${1:-}" != "--quick" ]; then
  $PY -m analysis.sample_complexity --A 2..8 --H 2 --seeds 1000 --out $RAW/fig3a_h2 --quiet
  keep $RAW/fig3a_h2 results/fig3a_h2 figure3a.png summary.csv slopes.csv config.json
  $PY -m analysis.sample_complexity --A 2..4 --H 1,2 --seeds 1000 --learner both \
      --max-trials 200000 --out $RAW/learners --quiet
  keep $RAW/learners results/learners figure3a.png summary.csv slopes.csv config.json
  $PY benchmarks/bench_tabular.py
  keep benchmarks/results results/benchmark bench_tabular.csv
fi
# The meta-RL benchmarks (issue 3): reference values, one GIF per benchmark, env speed.
$PY -m deep.envs.reference_values --out results/benchmarks/reference_values.csv
$PY benchmarks/bench_envs.py --out results/benchmark/bench_envs.csv
# The sign task needs MiniWorld rendering headless (a bare "import miniworld" fails without a
# display, so ask the doctor, which sets up EGL first).
if $PY -m deep.doctor >/dev/null 2>&1; then
  $PY -m analysis.trial_gifs --out results/gifs  # every benchmark, sign included
  $PY benchmarks/bench_sign.py --out results/benchmark/bench_sign.csv
else
  echo "deep.doctor: no headless rendering; skipping sign.gif and bench_sign" >&2
  $PY -m analysis.trial_gifs --out results/gifs \
      --only vanilla_bus,distracting_bus,map,cooking,cooking_no_goals
fi
# Neural DREAM and E-RL²: sample complexity on the bandit next to Fig. 3a (~35 min on 2 cores),
# and learning curves of the grid-world runs that exist under runs/ (long runs: python -m
# deep.train ... or python -m analysis.sweep sweeps/fig6.json).
$PY -m analysis.neural_sample_complexity --A 2..6 --seeds 5 --trials 3000 --methods dream,erl2 \
    --out results/fig3a_neural
grid_runs=$(ls -d runs/distracting_bus runs/map runs/cooking 2>/dev/null || true)
if [ -n "$grid_runs" ]; then
  # shellcheck disable=SC2086
  $PY -m analysis.learning_curves $grid_runs --training-returns --out results/dream
fi
if [ -f runs/distracting_bus/dream/s0/checkpoint.pt ]; then  # training vs held-out problems
  $PY -m analysis.evaluate_checkpoint runs/distracting_bus/dream/s0 --trials 500 \
      --out results/dream/distracting_bus_checkpoint_eval.csv
fi
# Every method and ablation on the A = 4 bandit, 3 seeds (~10 min on 2 cores).
$PY -m analysis.sweep sweeps/ablations_bandit.json --workers 2 --no-progress
$PY -m analysis.learning_curves runs/sweeps/ablations_bandit --out results/ablations_bandit
# Figs. 6-7 (issue 5): every grid-world run there is (DREAM's own runs above, the baselines and
# no-bottleneck runs of sweeps/fig67_cpu.json, the bus_split ablation), then equal budgets.
fig_runs=$(ls -d runs/sweeps/fig67_cpu runs/sweeps/bus_split runs/distracting_bus runs/map \
    runs/cooking 2>/dev/null || true)
if [ -n "$fig_runs" ]; then
  # shellcheck disable=SC2086
  $PY -m analysis.learning_curves $fig_runs --out results/fig6_7
  # shellcheck disable=SC2086
  $PY -m analysis.learning_curves $fig_runs --at-steps 110000 --out results/fig6_7/at_110k
fi
map_runs=$(ls -d runs/sweeps/fig67_cpu/map runs/map 2>/dev/null || true)
if [ -n "$map_runs" ]; then
  # shellcheck disable=SC2086
  $PY -m analysis.learning_curves $map_runs --at-steps 510000 --out results/fig6_7/map_at_510k
fi
echo "results/ regenerated"
