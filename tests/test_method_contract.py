"""The contract every registered method keeps (deep.method.MetaRLMethod's lifecycle).

One test per promise, parametrized over :data:`deep.registry.METHODS`: a run stopped in the
middle of a wave and resumed equals the uninterrupted run bit for bit; a checkpoint loaded into
a differently seeded learner continues identically; a non-finite objective stops the run before
any weight moves; every method writes the same ``metrics.csv`` columns; the global torch RNG is
left alone. What each method learns is tested in its own file.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import pandas as pd
import pytest
import torch
from _shared import SMALL_BANDIT, assert_same_state

from common.io import read_csv
from deep.method import MetaRLMethod
from deep.registry import METHODS
from deep.train import RunConfig, StopRequested, Trainer

STEPS = 320  # 40 waves: every method's components update (tiny: replay minima of 16 trials)
NAMES = list(METHODS)


def _config(method: str, steps: int = STEPS) -> RunConfig:
    return RunConfig(method=method, steps=steps, **SMALL_BANDIT)


def _numeric(out: Path) -> pd.DataFrame:
    return read_csv(out / "metrics.csv").drop(columns=["wall_s"])


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> dict[str, tuple[Trainer, Path]]:
    runs = {}
    for method in NAMES:
        out = tmp_path_factory.mktemp(f"full_{method}")
        trainer = Trainer(_config(method), out, progress=False)
        trainer.run()
        runs[method] = (trainer, out)
    return runs


@pytest.mark.parametrize("method", NAMES)
def test_a_stop_in_the_middle_of_a_wave_resumes_exactly(method, tmp_path, uninterrupted):
    """The stop request arrives after some update inside a wave (as a signal would); the wave
    is abandoned, the method returns to its state before it, and the resumed run equals the
    run that was never stopped: metrics, weights, targets, optimisers, replay, RNGs."""
    full, full_dir = uninterrupted[method]
    trainer = Trainer(_config(method), tmp_path, progress=False)
    original = trainer.method.after_env_steps

    def steps_then_signal(n_steps: int, episode: int) -> None:
        original(n_steps, episode)
        if trainer.method.updates >= 30:  # mid-wave, after updates began
            trainer.stop_requested = True

    trainer.method.after_env_steps = steps_then_signal  # type: ignore[method-assign]
    with pytest.raises(StopRequested):
        trainer.run()
    saved = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    assert 0 < saved["method"]["counters"]["updates"] < 30  # the state before that wave
    resumed = Trainer.resume(tmp_path, progress=False)
    resumed.run()
    pd.testing.assert_frame_equal(_numeric(tmp_path), _numeric(full_dir), check_exact=True)
    assert_same_state(resumed.method.state_dict(), full.method.state_dict())


@pytest.mark.parametrize("method", NAMES)
def test_a_checkpoint_continues_identically_in_another_learner(method, tmp_path, uninterrupted):
    full, _ = uninterrupted[method]
    buf = io.BytesIO()
    torch.save(full.method.state_dict(), buf)  # as a checkpoint does
    buf.seek(0)
    other = Trainer(RunConfig(**{**vars(_config(method)), "seed": 7}), tmp_path, progress=False)
    other.method.load_state_dict(torch.load(buf, weights_only=False))
    assert_same_state(other.method.state_dict(), full.method.state_dict())
    assert other.method.update() == full.method.update() != {}


@pytest.mark.parametrize("method", NAMES)
def test_a_non_finite_objective_stops_before_any_weight_moves(method, tmp_path, monkeypatch):
    trainer = Trainer(_config(method, steps=STEPS // 2), tmp_path, progress=False)
    trainer.run()
    learner = trainer.method
    before = learner.state_dict(replay=False)
    original = type(learner).losses
    poisoned_names = []

    def poisoned(self: MetaRLMethod, batch: dict) -> object:
        out = original(self, batch)
        last = list(out.objectives)[-1]
        out.objectives[last] = out.objectives[last] * math.nan
        poisoned_names.append(last)
        return out

    monkeypatch.setattr(type(learner), "losses", poisoned)
    with pytest.raises(FloatingPointError) as raised:
        learner.update()
    label = learner.optimizer_labels[poisoned_names[0]]
    assert str(raised.value).startswith(f"{label} loss is nan at update {learner.updates};")
    after = learner.state_dict(replay=False)
    assert_same_state(after["nets"], before["nets"])
    assert_same_state(after["optimizers"], before["optimizers"])


def test_every_method_writes_the_same_metrics_columns(uninterrupted):
    columns = {
        m: tuple(read_csv(out / "metrics.csv").columns) for m, (_, out) in uninterrupted.items()
    }
    assert len(set(columns.values())) == 1, columns
    assert {"epsilon_explore", "epsilon_exploit", "decoder_error", "return_informed"} <= set(
        columns["dream"]
    )


@pytest.mark.parametrize("method", NAMES)
def test_the_informed_return_is_there_exactly_for_methods_that_can_be_told(method, uninterrupted):
    """``return_informed``: exploitation told μ (DREAM: z = f(μ), IMPORT: e_φ(μ)), on the same
    trials; NaN for methods whose policy cannot be told (E-RL², VariBAD). On the A = 3 bandit
    the trained informed policy is optimal, 1.0."""
    full, out = uninterrupted[method]
    test = read_csv(out / "metrics.csv").query("split == 'test'")
    if type(full.method).informed_acting:
        assert test["return_informed"].notna().all()
        assert test["return_informed"].iloc[-1] == 1.0
    else:
        assert test["return_informed"].isna().all()
        with pytest.raises(ValueError, match="no informed exploitation policy"):
            with full.method.informed():
                pass


@pytest.mark.parametrize("method", NAMES)
def test_building_and_training_leave_the_global_torch_rng_alone(method, tmp_path):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    Trainer(_config(method, steps=64), tmp_path, progress=False).run()
    assert torch.equal(torch.rand(3), expected)


def _per_method_layout(state: dict) -> dict:
    """``state`` as checkpoints stored it before deep.method: ``opt`` or ``<name>_opt``, and
    the dynamics ablation's η under ``dynamics``."""
    legacy = {k: v for k, v in state.items() if k != "optimizers"}
    optimizers = dict(state["optimizers"])
    if len(optimizers) == 1:
        legacy["opt"] = optimizers.pop("opt")
    if "dynamics" in optimizers:
        nets = dict(state["nets"])
        legacy["dynamics"] = {
            "encoder": nets.pop("dynamics_encoder"),
            "model": nets.pop("dynamics_model"),
            "opt": optimizers.pop("dynamics"),
        }
        legacy["nets"] = nets
    legacy.update({f"{name}_opt": value for name, value in optimizers.items()})
    return legacy


@pytest.mark.parametrize("method", NAMES)
def test_a_checkpoint_of_the_earlier_layout_still_loads(method, tmp_path, uninterrupted):
    full, _ = uninterrupted[method]
    state = full.method.state_dict()
    other = Trainer(RunConfig(**{**vars(_config(method)), "seed": 7}), tmp_path, progress=False)
    other.method.load_state_dict(_per_method_layout(state))
    assert_same_state(other.method.state_dict(), state)


def test_a_run_saved_with_threads_none_resumes_at_one_thread():
    saved = vars(_config("dream"))
    assert RunConfig.from_saved({**saved, "threads": None}).threads == 1


def test_snapshots_keep_the_run_as_it_was_at_their_evaluation(tmp_path, uninterrupted):
    """``snapshot_every``: a copy of the checkpoint at the first evaluation past each multiple;
    resumed, a snapshot trains on to the uninterrupted run exactly, and ``load_run`` reads it."""
    from analysis.checkpoints import load_run

    _, full_dir = uninterrupted["dream"]
    run = tmp_path / "run"
    config = RunConfig(**{**vars(_config("dream")), "snapshot_every": 100})
    Trainer(config, run, progress=False).run()
    pd.testing.assert_frame_equal(_numeric(run), _numeric(full_dir), check_exact=True)
    steps = sorted(int(p.stem.split("_")[-1]) for p in (run / "snapshots").glob("*.pt"))
    evaluated = sorted(set(read_csv(run / "metrics.csv")["env_steps"]))
    assert len(steps) == STEPS // 100 and all(s in evaluated for s in steps)
    # each is the first evaluation past its multiple of 100
    assert [s // 100 for s in steps] == list(range(1, len(steps) + 1))
    assert all(max(e for e in evaluated if e < s) < 100 * (s // 100) for s in steps)
    first = run / "snapshots" / f"env_steps_{steps[0]}.pt"
    assert load_run(first).env_steps == steps[0]
    # a snapshot put back as the checkpoint trains on to the same run, bit for bit
    fork = tmp_path / "fork"
    fork.mkdir()
    (fork / "checkpoint.pt").write_bytes(first.read_bytes())
    (fork / "metrics.csv").write_bytes((run / "metrics.csv").read_bytes())
    resumed = Trainer.resume(fork, progress=False)
    resumed.run()
    pd.testing.assert_frame_equal(_numeric(fork), _numeric(full_dir), check_exact=True)
    # (the final checkpoint on disk: other tests step the fixture's learner in memory)
    saved = torch.load(full_dir / "checkpoint.pt", weights_only=False)["method"]
    assert_same_state(torch.load(fork / "checkpoint.pt", weights_only=False)["method"], saved)
