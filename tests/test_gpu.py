"""The CUDA path (marked ``gpu``; skipped where no CUDA device is visible, as in CI).

Run on a GPU machine with ``python -m pytest -m gpu``.
"""

from __future__ import annotations

import json

import pytest
import torch
from _shared import SMALL_BANDIT

from common.io import read_csv
from deep.registry import METHODS
from deep.train import RunConfig, Trainer, main

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_trains_and_resumes_on_cuda(method, tmp_path):
    config = RunConfig(method=method, steps=320, **{**SMALL_BANDIT, "device": "cuda"})
    trainer = Trainer(config, tmp_path / "full", progress=False)
    trainer.run()
    learner = trainer.method
    assert all(
        p.is_cuda for name in learner.network_names for p in getattr(learner, name).parameters()
    )
    assert learner.updates > 0
    resumed = Trainer.resume(tmp_path / "full", progress=False, steps=400)
    resumed.run()
    assert resumed.env_steps >= 400
    rows = read_csv(tmp_path / "full" / "metrics.csv")
    assert rows["return"].notna().all()


def test_the_cli_takes_device_cuda(tmp_path, capsys):
    args = ["--env", "bandit", "--preset", "tiny", "--steps", "200", "--device", "cuda"]
    assert main([*args, "--no-progress", "--out", str(tmp_path / "run")]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["env_steps"] >= 200
