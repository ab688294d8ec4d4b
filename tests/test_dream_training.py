"""Training the neural DREAM agent end to end (deep/train.py): learning, exact resume, errors.

Small configs only (the ``tiny`` preset, the App. C.2 bandit, a few waves of the grid worlds);
every run uses one torch thread so that the numbers do not depend on the machine's load.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from _shared import SMALL_BANDIT

from common.io import read_csv, read_header
from deep.dream import Dream
from deep.envs.problem import NO_GOAL
from deep.train import RunConfig, StopRequested, Trainer, main
from deep.trial_loop import run_wave

ROOT = Path(__file__).resolve().parents[1]

COLUMNS = [
    "method",
    "env",
    "seed",
    "trial",
    "env_steps",
    "split",
    "return",
    "reveal_frac",
    "reveal_step",
    "explore_len",
    "decoder_error",
]

# A small bandit run: 4 trials a wave (2 env steps each), evaluation every 4 waves.
SMALL = {**SMALL_BANDIT, "checkpoint_every": 1_000_000}
SMALL_STEPS = 480  # 60 waves, ~100 updates of every component
CLI_STEPS = 480
SMALL_ARGS = [
    "--env",
    "bandit",
    "--env-arg",
    "A=3",
    "--preset",
    "tiny",
    "--num-envs",
    "4",
    "--eval-every",
    "16",
    "--eval-trials",
    "8",
    "--threads",
    "1",
    "--no-progress",
]


def _metrics(out: Path) -> pd.DataFrame:
    return read_csv(out / "metrics.csv")


def _numeric(df: pd.DataFrame) -> pd.DataFrame:
    """Every column but the wall-clock one (strings compared as they are)."""
    return df.drop(columns=["wall_s"]).reset_index(drop=True)


def _assert_same_metrics(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(_numeric(a), _numeric(b), check_exact=True)


def _assert_same_nets(a: Trainer, b: Trainer) -> None:
    sa, sb = a.method.state_dict(), b.method.state_dict()
    for group in ("nets", "targets"):
        for net, tensors in sa[group].items():
            for key, value in tensors.items():
                assert torch.equal(value, sb[group][net][key]), f"{group}.{net}.{key} differs"
    assert sa["counters"] == sb["counters"]
    for name, arr in sa["replay"]["data"].items():
        np.testing.assert_array_equal(arr, sb["replay"]["data"][name], err_msg=name)


# ----------------------------------------------------------------- 10. DREAM learns the bandit
def test_dream_learns_the_bandit(tmp_path):
    """A = 4, H = 1: exploring with a★ = action 3 reveals μ; then exploiting pays 1."""
    config = RunConfig(
        env="bandit",
        env_kwargs={"A": 4},
        preset="tiny",
        steps=2_500,
        eval_every=64,
        eval_trials=32,
        seed=0,
        threads=1,
        checkpoint_every=1_000_000,
    )
    summary = Trainer(config, tmp_path, progress=False).run()
    df = _metrics(tmp_path)
    test = df[df["split"] == "test"]
    first, last = test.iloc[0], test.iloc[-1]
    # Before training exploitation is at chance (1/K = 0.25) and, with seed 0, the greedy
    # explorer (one fixed action: the observation does not depend on μ) is not a★; with
    # seed 1 it happens to be (1 chance in 4), so the seed matters for this line.
    assert first["trial"] == 0 and first["return"] <= 0.5
    assert first["reveal_frac"] == 0.0
    # After: greedy exploration is a★ in every test trial and exploitation is optimal.
    assert last["reveal_frac"] == 1.0
    assert last["return"] == 1.0
    assert last["explore_len"] == 1.0 and last["reveal_step"] == 1.0
    assert summary["final_test_return"] == 1.0 and summary["final_reveal_frac"] == 1.0
    assert summary["env_steps"] >= 2_500 and summary["trials"] == summary["env_steps"] // 2
    # Informative exploration is found before exploitation is solved (and stays found).
    assert summary["trials_to_informative"] <= 512
    # The decoder learned to recover f(μ) from the informative trajectory.
    assert last["decoder_error"] < test["decoder_error"].iloc[:3].min()
    assert json.loads((tmp_path / "summary.json").read_text()) == summary


# ----------------------------------------------------------------- 11. exact resume
@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("uninterrupted")
    trainer = Trainer(RunConfig(steps=SMALL_STEPS, **SMALL), out, progress=False)
    trainer.run()
    return trainer, _metrics(out)


def test_resume_with_more_steps_continues(tmp_path, uninterrupted):
    """A finished run can be extended: ``Trainer.resume(dir, steps=...)`` trains on."""
    full_trainer, _ = uninterrupted
    short = Trainer(RunConfig(steps=SMALL_STEPS // 2, **SMALL), tmp_path, progress=False)
    short.run()
    longer = Trainer.resume(tmp_path, progress=False, steps=SMALL_STEPS)
    assert longer.env_steps == short.env_steps
    longer.run()
    assert longer.env_steps == full_trainer.env_steps
    assert longer.config.steps == SMALL_STEPS
    assert json.loads((tmp_path / "config.json").read_text())["steps"] == SMALL_STEPS


def test_cli_stop_exits_130_then_resume_cli(tmp_path, monkeypatch, capsys, uninterrupted):
    """The CLI on a stop request: status 130, one line with the --resume command; resuming
    through the CLI gives the uninterrupted run's numbers."""
    _, full_metrics = uninterrupted
    original_wave = Trainer._wave

    def wave_then_stop(self):
        steps = original_wave(self)
        self.stop_requested = self.trials >= 40
        return steps

    monkeypatch.setattr(Trainer, "_wave", wave_then_stop)
    out = tmp_path / "run"
    status = main([*SMALL_ARGS, "--steps", str(SMALL_STEPS), "--out", str(out)])
    captured = capsys.readouterr()
    assert status == 130 and captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].endswith(f"python -m deep.train --resume {out}")
    monkeypatch.undo()
    assert main(["--resume", str(out), "--no-progress"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["env_steps"] == uninterrupted[0].env_steps
    _assert_same_metrics(_metrics(out), full_metrics)


def test_real_sigint_in_process_then_resume(tmp_path, uninterrupted):
    """A real SIGINT to this process during run(): checkpoint, StopRequested, exact resume."""
    _, full_metrics = uninterrupted
    config = RunConfig(steps=SMALL_STEPS, **{**SMALL, "checkpoint_every": 4})
    trainer = Trainer(config, tmp_path, progress=False)
    sent = threading.Event()

    def send_when_checkpointed() -> None:
        deadline = time.monotonic() + 120
        while not (tmp_path / "checkpoint.pt").exists() and time.monotonic() < deadline:
            time.sleep(0.002)
        os.kill(os.getpid(), signal.SIGINT)
        sent.set()

    # A SIGINT landing after run() has restored the handler must not stop pytest.
    previous = signal.signal(signal.SIGINT, lambda *_: None)
    try:
        sender = threading.Thread(target=send_when_checkpointed, daemon=True)
        sender.start()
        try:
            trainer.run()
            stopped = False
        except StopRequested:
            stopped = True
        sender.join(timeout=120)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert sent.is_set()
    assert stopped, "the run ended before the signal arrived"
    assert signal.getsignal(signal.SIGINT) is previous  # run() restored the handlers
    assert trainer.env_steps < SMALL_STEPS
    resumed = Trainer.resume(tmp_path, progress=False)
    assert resumed.trials == trainer.trials
    resumed.run()
    _assert_same_metrics(_metrics(tmp_path), full_metrics)


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            _, err = proc.communicate()
            raise AssertionError(f"the run ended (status {proc.returncode}) before {path}: {err}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"no {path} after {timeout} s")
        time.sleep(0.01)


def test_sigint_then_resume_matches_uninterrupted_cli(tmp_path):
    """Real signal: SIGINT → checkpoint, exit 130 and a --resume hint; resume → same numbers."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    args = [*SMALL_ARGS, "--steps", str(CLI_STEPS), "--checkpoint-every", "16"]
    cmd = [sys.executable, "-m", "deep.train", *args]
    full_dir, cut_dir = tmp_path / "full", tmp_path / "cut"
    procs = {
        name: subprocess.Popen(
            [*cmd, "--out", str(d)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, d in (("full", full_dir), ("cut", cut_dir))
    }
    cut = procs["cut"]
    _wait_for(cut_dir / "checkpoint.pt", cut, timeout=240)  # the handler is installed by now
    cut.send_signal(signal.SIGINT)
    _, err = cut.communicate(timeout=240)
    assert cut.returncode == 130, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "--resume" in lines[0] and str(cut_dir) in lines[0]
    partial = _metrics(cut_dir)
    assert partial["env_steps"].max() < CLI_STEPS  # it really stopped early
    assert not (cut_dir / "summary.json").exists()

    resume = subprocess.run(
        [sys.executable, "-m", "deep.train", "--resume", str(cut_dir), "--no-progress"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert resume.returncode == 0, resume.stderr
    full_out, full_err = procs["full"].communicate(timeout=240)
    assert procs["full"].returncode == 0, full_err
    _assert_same_metrics(_metrics(cut_dir), _metrics(full_dir))
    summary_full = json.loads(full_out.strip().splitlines()[-1])
    summary_resumed = json.loads(resume.stdout.strip().splitlines()[-1])
    for key in ("final_test_return", "final_reveal_frac", "env_steps", "trials"):
        assert summary_full[key] == summary_resumed[key]
    a = torch.load(full_dir / "checkpoint.pt", weights_only=False)["method"]["nets"]
    b = torch.load(cut_dir / "checkpoint.pt", weights_only=False)["method"]["nets"]
    for net, tensors in a.items():
        for key, value in tensors.items():
            assert torch.equal(value, b[net][key]), f"{net}.{key}"


# ----------------------------------------------------------------- 12. non-finite losses
def _nan_after(n_updates: int):
    original = Dream.bottleneck_loss

    def bottleneck_loss(self, f):
        loss = original(self, f)
        return loss * math.nan if self.updates >= n_updates else loss

    return bottleneck_loss


def test_nan_loss_stops_the_run_and_keeps_the_checkpoint(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(Dream, "bottleneck_loss", _nan_after(40))
    config = RunConfig(steps=SMALL_STEPS, **{**SMALL, "checkpoint_every": 8})
    trainer = Trainer(config, tmp_path / "api", progress=False)
    with pytest.raises(FloatingPointError, match=r"exploitation loss is nan at update 40"):
        trainer.run()
    assert not (tmp_path / "api" / "summary.json").exists()

    # The CLI: exit status 1, one line naming the checkpoint, which loads and trains on.
    out = tmp_path / "cli"
    status = main(
        [*SMALL_ARGS, "--steps", str(SMALL_STEPS), "--checkpoint-every", "8", "--out", str(out)]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 1
    assert len(err) == 1 and err[0].startswith("error: exploitation loss is nan")
    assert str(out / "checkpoint.pt") in err[0] and "usable" in err[0]
    monkeypatch.undo()
    saved = torch.load(out / "checkpoint.pt", weights_only=False)["loop"]["env_steps"]
    resumed = Trainer.resume(out, progress=False, steps=saved + 16)  # two more waves
    assert resumed.env_steps == saved > 0 and resumed.method.updates <= 40
    resumed.run()
    assert resumed.env_steps == saved + 16
    assert resumed.method.updates > 40  # past the NaN point, now with the real loss


def test_nan_before_any_checkpoint_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(Dream, "bottleneck_loss", _nan_after(0))
    out = tmp_path / "run"
    args = [*SMALL_ARGS, "--steps", str(SMALL_STEPS), "--checkpoint-every", "100000"]
    status = main([*args, "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 1 and len(err) == 1 and err[0].startswith("error: ")
    assert "nan" in err[0] and "no checkpoint" in err[0]
    assert not (out / "checkpoint.pt").exists()
    # By default a checkpoint is written at every evaluation, the first one before any update.
    status = main([*SMALL_ARGS, "--steps", str(SMALL_STEPS), "--out", str(tmp_path / "default")])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 1 and "usable" in err[0]
    saved = torch.load(tmp_path / "default" / "checkpoint.pt", weights_only=False)
    assert saved["method"]["counters"]["updates"] == 0  # written before the first update


# ----------------------------------------------------------------- 13. bad command lines
BAD = [
    (["--env", "nope"], "nope"),
    (["--method", "nope"], "nope"),
    (["--steps", "0"], "--steps 0"),
    (["--steps", "x"], "'x'"),
    (["--threads", "0"], "--threads 0"),
    (["--env", "bandit", "--env-arg", "A=x"], "A='x' is invalid"),
    (["--env", "bandit", "--env-arg", "A="], "--env-arg A=: allowed: KEY=VALUE"),
    (["--env", "distracting_bus", "--env-arg", "train_split=x"], "independent, fixed_gray, paired"),
    (["--env", "bandit", "--env-arg", "A=1"], "A=1"),
    (["--env", "bandit", "--env-arg", "B=2"], "'B'"),
    (["--preset", "huge"], "huge"),
    (["--resume", "/nonexistent"], "/nonexistent"),
    (["--bogus"], "--bogus"),
]
if not torch.cuda.is_available():
    BAD.append((["--device", "cuda"], "cuda"))


@pytest.mark.parametrize(("argv", "named"), BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_is_one_line_exit_2(tmp_path, monkeypatch, capsys, argv, named):
    monkeypatch.chdir(tmp_path)  # a default --out would land here
    status = main([*argv, "--no-progress"])
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert status == 2
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("error:") and named in lines[0]
    assert captured.out == ""
    assert list(tmp_path.iterdir()) == []  # nothing written


# ----------------------------------------------------------------- 14. smoke runs
def _check_run_dir(out: Path, env: str, steps: int) -> pd.DataFrame:
    path = out / "metrics.csv"
    header = read_header(path)
    assert header is not None
    assert header["run"]["env"] == env and header["run"]["steps"] == steps
    assert header["run"]["preset"] == "tiny" and header["run"]["method"] == "dream"
    assert header["package_version"] == metadata.version("dream-metarl")
    assert header["method_config"]["batch_size"] == 8  # the tiny preset's
    df = read_csv(path)
    assert list(df.columns[:6]) == COLUMNS[:6]  # the tidy keys first, then the values
    assert set(COLUMNS) <= set(df.columns)
    test = df[df["split"] == "test"]
    assert len(test) >= 2 and test["trial"].iloc[0] == 0
    assert (test["method"] == "dream").all() and (test["env"] == env).all()
    assert test["env_steps"].is_monotonic_increasing and df["env_steps"].iloc[-1] >= steps
    assert np.isfinite(test["return"]).all() and np.isfinite(test["decoder_error"]).all()
    assert (test["explore_len"] > 0).all()
    assert json.loads((out / "config.json").read_text())["env"] == env
    assert (out / "checkpoint.pt").is_file() and (out / "summary.json").is_file()
    return df


def _smoke(tmp_path, capsys, env: str, *extra: str) -> pd.DataFrame:
    out = tmp_path / env
    steps = int(extra[extra.index("--steps") + 1])
    argv = ["--env", env, "--preset", "tiny", "--threads", "1", "--no-progress", *extra]
    status = main([*argv, "--out", str(out)])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    summary = json.loads(captured.out.strip().splitlines()[-1])
    assert summary["env"] == env and summary["env_steps"] >= steps
    return _check_run_dir(out, env, steps)


def test_smoke_distracting_bus(tmp_path, capsys):
    df = _smoke(
        tmp_path,
        capsys,
        "distracting_bus",
        "--steps",
        "400",
        "--eval-every",
        "16",
        "--eval-trials",
        "8",
    )
    test = df[df["split"] == "test"]
    assert test["reveal_frac"].between(0, 1).all()  # the exact city oracle ran
    assert (test["explore_len"] <= 20).all()


def test_smoke_cooking_two_waves_with_updates(tmp_path, capsys):
    df = _smoke(
        tmp_path, capsys, "cooking", "--steps", "641", "--eval-every", "16", "--eval-trials", "8"
    )
    assert df["trial"].max() == 32  # two waves of 16
    assert df["updates"].iloc[-1] > 0  # the second wave updated every component
    assert df["reveal_frac"].dropna().between(0, 1).all()


@functools.cache
def _sign_renders() -> bool:
    if importlib.util.find_spec("miniworld") is None:
        return False
    from deep.doctor import probe_rendering

    return bool(probe_rendering(steps=1)["ok"])


def test_smoke_sign_cnn(tmp_path, capsys):
    """The image path (CNN embedder, goal beside the image), acting and updating."""
    if not _sign_renders():
        pytest.skip("MiniWorld does not render here (python -m deep.doctor)")
    df = _smoke(
        tmp_path,
        capsys,
        "sign",
        "--num-envs",
        "2",
        "--eval-trials",
        "2",
        "--steps",
        "160",
        "--eval-every",
        "2",
    )
    assert df["updates"].iloc[-1] > 0  # past the tiny preset's 16 stored trials
    test = df[df["split"] == "test"]
    assert test["reveal_frac"].between(0, 1).all()  # the sign oracle replayed each start
    assert test["reveal_step"].isna().equals(test["reveal_frac"] == 0)


def test_sign_env_rng_state_round_trip():
    """BatchedSignEnv.rng_state/set_rng_state: a fresh env continues the saved streams."""
    if not _sign_renders():
        pytest.skip("MiniWorld does not render here (python -m deep.doctor)")
    from deep.envs import make

    family = make("sign")
    env = family.make_batched(2, seed=5)
    env.reset(0, NO_GOAL)
    state = env.rng_state()
    assert state["seeded"] == [True, True]
    nxt = env.reset(0, NO_GOAL, mask=np.array([False, True]))["image"]
    restored = family.make_batched(2, seed=5)
    restored.set_rng_state(state)
    np.testing.assert_array_equal(restored.reset(0, NO_GOAL)["image"][1], nxt[1])
    fresh = family.make_batched(2, seed=5)  # without the state: back to the first poses
    assert not np.array_equal(fresh.reset(0, NO_GOAL)["image"][1], nxt[1])
    with pytest.raises(ValueError, match="rng state of 2 envs; allowed: exactly 3"):
        family.make_batched(3, seed=5).set_rng_state(state)


@pytest.mark.slow
def test_sign_resume_continues_the_start_pose_streams(tmp_path, monkeypatch):
    """The sign env draws start poses from seeded per-env streams: a checkpoint holds them."""
    if not _sign_renders():
        pytest.skip("MiniWorld does not render here (python -m deep.doctor)")
    config = RunConfig(
        env="sign",
        preset="tiny",
        steps=60,
        num_envs=2,
        eval_every=4,
        eval_trials=2,
        checkpoint_every=1_000_000,
        threads=1,
    )
    full = Trainer(config, tmp_path / "full", progress=False)
    full.run()
    original_wave = Trainer._wave

    def wave_then_stop(self):
        steps = original_wave(self)
        self.stop_requested = self.trials >= 6  # after 3 waves, between evaluations
        return steps

    monkeypatch.setattr(Trainer, "_wave", wave_then_stop)
    with pytest.raises(StopRequested):
        Trainer(config, tmp_path / "cut", progress=False).run()
    monkeypatch.undo()
    resumed = Trainer.resume(tmp_path / "cut", progress=False)
    resumed.run()
    _assert_same_metrics(_metrics(tmp_path / "cut"), _metrics(tmp_path / "full"))
    _assert_same_nets(resumed, full)


# ----------------------------------------------------------------- robustness, evaluation splits
def test_id_labels_relabel_each_trial_and_train(tmp_path):
    """App. B.2: with ``id_labels=3`` each stored trial carries one of its problem's 3 IDs."""
    config = RunConfig(**{**SMALL, "steps": 160, "method_args": {"id_labels": "3"}})
    trainer = Trainer(config, tmp_path, progress=False)
    trainer.run()
    dream = trainer.method
    k = dream.config.id_labels
    assert k == 3
    assert dream.encoder.table.num_embeddings == trainer.family.n_problems * 3
    data = dream.replay.data
    n = len(dream.replay)
    ids, problems = data["problem_id"][:n], data["problem"][:n]
    np.testing.assert_array_equal(ids // 3, problems)
    assert set(np.unique(ids % 3)) == {0, 1, 2}  # every label is used
    assert dream.updates > 0


def test_default_dream_keeps_one_id_per_problem(tmp_path):
    trainer = Trainer(RunConfig(**{**SMALL, "steps": 16}), tmp_path, progress=False)
    assert "problem_id" not in trainer.method.replay.fields
    assert trainer.method.encoder.table.num_embeddings == trainer.family.n_problems


def test_eval_splits_add_greedy_rows_on_training_problems(tmp_path):
    config = RunConfig(
        **{
            **SMALL,
            "env": "cooking",
            "env_kwargs": {},
            "steps": 200,
            "eval_splits": ("test", "train"),
        }
    )
    Trainer(config, tmp_path, progress=False).run()
    df = _metrics(tmp_path)
    evals = df[df["split"].isin(["test", "train_eval"])]
    counts = evals.groupby("trial")["split"].apply(sorted)
    assert all(c == ["test", "train_eval"] for c in counts)
    assert len(evals[evals["split"] == "train_eval"]) == len(evals[evals["split"] == "test"])


@pytest.mark.parametrize("value", ["train", "test,valid", ""])
def test_bad_eval_splits_are_one_line_errors(tmp_path, capsys, value):
    code = main(["--eval-splits", value, "--out", str(tmp_path / "x"), "--steps", "10"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.count("\n") == 0 and "--eval-splits" in err and "allowed: test" in err


def test_informed_exploitation_acts_on_f_of_mu(tmp_path):
    """Under ``informed()`` DREAM's greedy exploitation takes z = f(μ) (no noise, first ID
    label), not g(τ^exp); outside it, g(τ^exp) as before."""
    trainer = Trainer(RunConfig(**{**SMALL, "steps": 64}), tmp_path, progress=False)
    trainer.run()
    dream = trainer.method
    env = trainer.family.make_batched(2)
    problems, goals = np.array([0, 2]), np.zeros((2, 1), dtype=np.int64)
    with dream.informed():
        trials = run_wave(env, trainer.family, dream, problems, goals, np.arange(2), training=False)
    torch.testing.assert_close(dream._z, dream.encode_problem(problems, noise=False))
    run_wave(env, trainer.family, dream, problems, goals, np.arange(2), training=False)
    torch.testing.assert_close(dream._z, dream.encode_trajectory(trials.episodes[0]))


def test_resume_goes_on_with_the_benchmark_config_its_checkpoint_recorded(tmp_path, capsys):
    """The checkpoint keeps every field of the benchmark's config; when a default has changed
    since (here: the saved cooking reward reading is made "add"), --resume goes on with the
    recorded value, says so in one note, and writes it into config.json's env_kwargs."""
    out = tmp_path / "run"
    args = ["--env", "cooking", "--preset", "tiny", "--steps", "40", "--out", str(out)]
    assert main([*args, "--no-progress"]) == 0
    assert read_header(out / "metrics.csv")["env_config"]["stage_reward"] == "replace"
    state = torch.load(out / "checkpoint.pt", weights_only=False)
    state["env_config"] = {**state["env_config"], "stage_reward": "add"}
    torch.save(state, out / "checkpoint.pt")
    capsys.readouterr()
    assert main(["--resume", str(out), "--steps", "1400", "--no-progress"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("note:")
    assert "--env-arg stage_reward=add" in err[0] and "default: replace" in err[0]
    assert read_header(out / "metrics.csv")["env_config"]["stage_reward"] == "add"
    assert json.loads((out / "config.json").read_text())["env_kwargs"] == {"stage_reward": "add"}


def test_resume_reads_a_config_field_added_since_as_the_value_it_stood_for(tmp_path, capsys):
    """A checkpoint written before a benchmark field existed (cooking's ``pot``) is read with
    the value the field stood for then (``CookingConfig.FIELDS_ADDED``: the hidden pot), not
    today's default (observed). A run that named no ``pot`` (the old default) goes on hidden,
    with one note; one that names ``observed`` contradicts its checkpoint: refused in one line."""
    for pot, named, code in (("hidden", True, 0), ("hidden", False, 0), ("observed", True, 2)):
        out = tmp_path / f"{pot}_{named}"
        args = ["--env", "cooking", "--env-arg", f"pot={pot}", "--preset", "tiny"]
        assert main([*args, "--steps", "40", "--out", str(out), "--no-progress"]) == 0
        state = torch.load(out / "checkpoint.pt", weights_only=False)
        assert state["env_config"]["pot"] == pot
        del state["env_config"]["pot"]  # as written before the field existed
        del state["env_config"]["held_out"]  # None then resolves to the variant's 11: no note
        if not named:  # as the default runs wrote it
            state["config"]["env_kwargs"] = {}
            config = json.loads((out / "config.json").read_text())
            (out / "config.json").write_text(json.dumps({**config, "env_kwargs": {}}))
        torch.save(state, out / "checkpoint.pt")
        capsys.readouterr()
        assert main(["--resume", str(out), "--steps", "1400", "--no-progress"]) == code
        err = capsys.readouterr().err.strip().splitlines()
        if code:
            assert len(err) == 1 and "(pot)" in err[0] and "--env-arg pot=hidden" in err[0]
            continue
        assert read_header(out / "metrics.csv")["env_config"]["pot"] == "hidden"
        assert read_header(out / "metrics.csv")["env_config"]["held_out"] == 11
        assert json.loads((out / "config.json").read_text())["env_kwargs"] == {"pot": "hidden"}
        assert len(err) == (not named)
        assert all("--env-arg pot=hidden" in line and "default: observed" in line for line in err)
