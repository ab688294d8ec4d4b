"""Every registered method trains on every grid world of Sec. 6.1 (issue: "every baseline and
ablation runs on every grid world").

A few waves with the ``tiny`` preset: the replay minimum is met, updates run, the greedy
evaluations on held-out problems are written, and no evaluation beats the benchmark's exact
optimum (``results/benchmarks/reference_values.csv``: a reward or bookkeeping bug that let an
agent score above the best possible return would fail here). Learning itself is tested per
method on the bandit, where a tiny budget suffices.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from common.io import read_csv
from deep.train import METHODS, RunConfig, Trainer

torch.set_num_threads(1)

GRID_WORLDS = ("distracting_bus", "map", "cooking")
REFERENCES = Path(__file__).resolve().parents[1] / "results" / "benchmarks" / "reference_values.csv"


def _optimum(env: str) -> float:
    """The exact optimal exploitation return on the held-out problems of ``env`` (paper)."""
    refs = read_csv(REFERENCES)
    rows = refs[(refs["benchmark"] == env) & (refs["variant"] == "paper")]
    rows = rows[rows["split"].isin(["test", "all"])]
    return float(rows["optimal"].iloc[0])


@pytest.mark.parametrize("env", GRID_WORLDS)
@pytest.mark.parametrize("method", sorted(METHODS))
def test_method_trains_on_grid_world(tmp_path, method, env):
    config = RunConfig(
        env=env,
        method=method,
        preset="tiny",
        steps=700,  # 16 trials fill the replay minimum, then updates every 4 env steps
        num_envs=8,
        eval_every=16,
        eval_trials=8,
        threads=1,
    )
    trainer = Trainer(config, tmp_path, progress=False)
    trainer.run()
    assert trainer.method.updates > 0, "no update ran"
    assert all(math.isfinite(v) for v in trainer.method.last_stats.values())
    df = read_csv(tmp_path / "metrics.csv")
    test = df[df["split"] == "test"]
    assert len(test) >= 2 and (test["method"] == method).all() and (test["env"] == env).all()
    returns = test["return"].to_numpy()
    assert np.isfinite(returns).all()
    assert (returns <= _optimum(env) + 1e-6).all(), returns
    assert test["reveal_frac"].between(0, 1).all()  # the benchmark's exact oracle ran
