"""E-RL² (deep/erl2.py): the trial sequence, the E- target, the carried LSTM state, training.

Every test that trains uses one torch thread and a fixed seed, so its numbers are exact.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis import neural_sample_complexity as nsc
from common.io import read_csv, read_header, write_csv
from deep.dqn import LinearSchedule
from deep.envs import make
from deep.erl2 import ERL2, ERL2Config, trial_sequence
from deep.presets import apply_overrides, apply_preset
from deep.registry import for_benchmark
from deep.replay import trial_record
from deep.sequences import trial_entries
from deep.train import METHODS, RunConfig, Trainer, main
from deep.trial_loop import run_wave

torch.set_num_threads(1)


def _agent(family_name: str = "bandit", *, seed: int = 0, **changes) -> ERL2:
    kwargs = {"A": 3, "H": 2} if family_name == "bandit" else {}
    family = make(family_name, **kwargs)
    env = family.make_batched(2)
    return ERL2(family, env.observation_space, env.n_actions, ERL2Config(**changes), seed=seed)


# ----------------------------------------------------------------- 1. config
def test_config_defaults_presets_and_overrides():
    cfg = ERL2Config()
    assert cfg.epsilon == LinearSchedule(1.0, 0.01, 500_000)  # App. B.4, the baselines
    assert (cfg.gamma, cfg.lr, cfg.batch_size, cfg.update_every) == (0.99, 1e-4, 32, 4)
    assert (cfg.target_sync_every, cfg.grad_clip) == (5000, 10.0)  # Table 1
    assert (cfg.replay_capacity, cfg.min_replay, cfg.history_dim) == (16_000, 800, 64)
    assert cfg.optimise_exploration_rewards is False
    assert for_benchmark(cfg, make("sign")).replay_capacity == 10_000
    assert for_benchmark(cfg, make("map")) == cfg
    assert cfg.to_dict()["epsilon"] == {"start": 1.0, "end": 0.01, "steps": 500_000}
    tiny = apply_preset("tiny", cfg)
    assert (tiny.batch_size, tiny.min_replay, tiny.replay_capacity, tiny.lr) == (8, 16, 2000, 1e-3)
    assert tiny.epsilon == LinearSchedule(1.0, 0.05, 4_000)
    assert apply_preset("epsilon1", cfg).epsilon.value(10**9) == 1.0
    over = apply_overrides(cfg, {"optimise_exploration_rewards": "true", "min_replay": "5"})
    assert over.optimise_exploration_rewards and over.min_replay == 5
    spec = METHODS["erl2"]
    assert (spec.module, spec.cls, spec.config) == ("deep.erl2", "ERL2", "ERL2Config")
    for bad in ({"batch_size": 0}, {"min_replay": -1}, {"gamma": 1.5}):
        with pytest.raises(ValueError, match="allowed"):
            ERL2Config(**bad)


# ----------------------------------------------------------------- 2. the trial sequence
def _reference_sequence(batch: dict[str, np.ndarray], b: int, optimise: bool):
    """Trial b's entries (obs, prev a, prev r, d) and decision steps (a, r̃, entry), by loops."""
    entries, steps = [], []
    for prefix in ("explore", "exploit"):
        n = int(batch[f"{prefix}_length"][b])
        first = len(entries)
        for t in range(n + 1):
            entries.append(
                (
                    batch[f"{prefix}_obs_state"][b, t],
                    int(batch[f"{prefix}_actions"][b, t - 1]) if t else -1,
                    float(batch[f"{prefix}_rewards"][b, t - 1]) if t else 0.0,
                    t == n,
                )
            )
        for t in range(n):
            r = float(batch[f"{prefix}_rewards"][b, t])
            if prefix == "explore" and not optimise:
                r = 0.0
            steps.append((int(batch[f"{prefix}_actions"][b, t]), r, first + t))
    return entries, steps


@st.composite
def _batches(draw):
    """Stored trials with random lengths; entries past each length are garbage (never read)."""
    b, h = draw(st.integers(1, 4)), draw(st.integers(1, 5))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    batch = {"problem": np.arange(b)}
    for prefix in ("explore", "exploit"):
        batch[f"{prefix}_length"] = rng.integers(1, h + 1, size=b)
        batch[f"{prefix}_obs_state"] = rng.integers(1, 9, size=(b, h + 1, 2))
        batch[f"{prefix}_actions"] = rng.integers(0, 4, size=(b, h))
        batch[f"{prefix}_rewards"] = rng.normal(size=(b, h)).astype(np.float32)
    return batch


@settings(deadline=None, max_examples=60)
@given(batch=_batches(), optimise=st.booleans())
def test_trial_sequence_is_the_two_episodes_in_order(batch, optimise):
    """Entries s_0..s_Te, s'_0..s'_Tx with d exactly at episode ends; steps a then a'."""
    seq = trial_sequence(trial_entries(batch, ["state"]), optimise)
    te, tx = batch["explore_length"], batch["exploit_length"]
    assert seq.obs["state"].shape[1] == int((te + tx).max()) + 2
    assert seq.actions.shape[1] == int((te + tx).max())
    for b in range(len(te)):
        entries, steps = _reference_sequence(batch, b, optimise)
        n = len(entries)
        assert n == te[b] + tx[b] + 2 == int(seq.n_entries[b])
        np.testing.assert_array_equal(seq.obs["state"][b, :n].numpy(), [e[0] for e in entries])
        assert seq.prev_action[b, :n].tolist() == [e[1] for e in entries]
        np.testing.assert_array_equal(
            seq.prev_reward[b, :n].numpy(), np.float32([e[2] for e in entries])
        )
        assert seq.prev_done[b, :n].tolist() == [e[3] for e in entries]
        assert np.flatnonzero(seq.prev_done[b, :n].numpy()).tolist() == [te[b], n - 1]
        # Padding: zero observations, no action, no reward, no done.
        assert (seq.obs["state"][b, n:] == 0).all() and (seq.prev_action[b, n:] == -1).all()
        assert (seq.prev_reward[b, n:] == 0).all() and not seq.prev_done[b, n:].any()
        k = len(steps)
        assert seq.actions[b, :k].tolist() == [s[0] for s in steps]
        np.testing.assert_array_equal(seq.rewards[b, :k].numpy(), np.float32([s[1] for s in steps]))
        assert seq.positions[b, :k].tolist() == [s[2] for s in steps]
        # The step after the last exploration step is s'_0, one entry past s_Te.
        assert seq.positions[b, te[b]] == te[b] + 1
        assert seq.mask[b].tolist() == [i < k for i in range(seq.mask.shape[1])]
        assert np.flatnonzero(seq.terminal[b, :k].numpy()).tolist() == [k - 1]
        assert (seq.actions[b, k:] == -1).all() and (seq.rewards[b, k:] == 0).all()


def test_trial_sequence_rejects_empty_episodes():
    batch = {
        "problem": np.zeros(1, dtype=np.int64),
        "explore_length": np.array([0]),
        "exploit_length": np.array([1]),
    }
    for prefix in ("explore", "exploit"):
        batch[f"{prefix}_obs_state"] = np.zeros((1, 2, 1), dtype=np.int64)
        batch[f"{prefix}_actions"] = np.zeros((1, 1), dtype=np.int64)
        batch[f"{prefix}_rewards"] = np.zeros((1, 1), dtype=np.float32)
    with pytest.raises(ValueError, match="at least one step"):
        trial_sequence(trial_entries(batch, ["state"]))


# ----------------------------------------------------------------- 3. the E- target
def _bandit_batch(rng: np.random.Generator, b: int, h: int, a: int) -> dict[str, np.ndarray]:
    """Stored-trial layout for the (A, H) bandit with random contents and lengths 1..H."""
    batch = {"problem": rng.integers(a**h, size=b)}
    high = np.array([h] + [a] * h + [a**h])
    for prefix in ("explore", "exploit"):
        batch[f"{prefix}_length"] = rng.integers(1, h + 1, size=b)
        batch[f"{prefix}_obs_state"] = rng.integers(0, high + 1, size=(b, h + 1, h + 2))
        batch[f"{prefix}_actions"] = rng.integers(0, a, size=(b, h))
        batch[f"{prefix}_rewards"] = rng.normal(size=(b, h)).astype(np.float32)
    return batch


def _perturb_target(agent: ERL2, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in agent.targets["q"].parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=gen))


@pytest.mark.parametrize("optimise", [False, True], ids=["E-RL2", "RL2"])
def test_td_loss_matches_a_loop_over_each_trial(optimise):
    """y_k = r̃_k + γ(1 − term_k) Q'(x_{k+1}, argmax Q(x_{k+1})), x_{k+1} = s'_0 after the last
    exploration step (not terminal), terminal at the trial's end, r̃ = 0 while exploring."""
    agent = _agent(optimise_exploration_rewards=optimise, gamma=0.9)
    _perturb_target(agent, 1)
    batch = _bandit_batch(np.random.default_rng(3), b=5, h=2, a=3)
    seq = agent.sequence(batch)
    loss = agent.td_loss(seq)
    inputs = (seq.obs, seq.prev_action, seq.prev_reward, seq.prev_done)
    with torch.no_grad():
        q, q_t = agent.q(inputs)[0], agent.targets["q"](inputs)[0]
    errors = []
    for b in range(5):
        _, steps = _reference_sequence(batch, b, optimise)
        for k, (a, r, pos) in enumerate(steps):
            if k + 1 < len(steps):
                nxt = steps[k + 1][2]
                y = r + 0.9 * q_t[b, nxt, q[b, nxt].argmax()].item()
            else:
                y = r  # the trial's end is terminal
            errors.append((q[b, pos, a].item() - y) ** 2)
    assert loss.item() == pytest.approx(float(np.mean(errors)), rel=1e-5)


def test_exploration_rewards_are_inputs_not_targets():
    """E-: changing the exploration rewards changes Q (they are inputs) but, with Q fixed,
    not the targets' reward part; plain RL² (optimise_exploration_rewards) optimises them."""
    batch = _bandit_batch(np.random.default_rng(0), b=4, h=2, a=3)
    explore_k = batch["explore_length"]
    e_minus, plain = _agent().sequence(batch), _agent(optimise_exploration_rewards=True)
    plain_seq = plain.sequence(batch)
    for b in range(4):
        n = explore_k[b]
        assert (e_minus.rewards[b, :n] == 0).all()
        np.testing.assert_array_equal(plain_seq.rewards[b, :n], batch["explore_rewards"][b, :n])
        np.testing.assert_array_equal(
            e_minus.prev_reward[b, 1 : n + 1], plain_seq.prev_reward[b, 1 : n + 1]
        )
        assert (e_minus.prev_reward[b, 1 : n + 1] != 0).all()  # observed as r_{t−1}
    # The exploration rewards reach the exploitation Q-values through the LSTM input.
    agent = _agent()
    other = dict(batch, explore_rewards=batch["explore_rewards"] + 1.0)
    with torch.no_grad():
        q_a = agent.q(agent.sequence(batch)[:4])[0]
        q_b = agent.q(agent.sequence(other)[:4])[0]
    first_exploit = torch.from_numpy(explore_k + 1)
    rows = torch.arange(4)
    assert not torch.allclose(q_a[rows, first_exploit], q_b[rows, first_exploit])


# ----------------------------------------------------------------- 4. acting
class _Scripted:
    """Delegates to an ERL2 agent (so its LSTM state advances) but takes scripted actions."""

    def __init__(self, agent: ERL2, scripts: dict[int, np.ndarray]) -> None:
        self.agent, self.scripts = agent, scripts

    def start_episode(self, trials, episode, training):
        self.agent.start_episode(trials, episode, training)

    def act(self, obs, t, trials, episode, training):
        greedy = self.agent.act(obs, t, trials, episode, training)
        script = self.scripts.get(episode)
        return greedy if script is None else script[:, t]

    def after_env_steps(self, n_steps, episode):
        pass

    def end_trials(self, trials):
        pass


def _recording(agent: ERL2) -> list[torch.Tensor]:
    calls: list[torch.Tensor] = []
    agent.q.register_forward_hook(lambda _m, _i, out: calls.append(out[0].detach().clone()))
    return calls


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal but for float rounding (1e-6): rows of one batch need not round alike."""
    return torch.allclose(a, b, rtol=0.0, atol=1e-6)


def test_lstm_state_carries_from_exploration_into_exploitation():
    """Same exploitation observation s'_0, different exploration → different Q at s'_0."""
    family = make("bandit", A=3, H=1)
    env = family.make_batched(6)
    agent = ERL2(family, env.observation_space, 3, ERL2Config(), seed=0)
    calls = _recording(agent)
    problems = np.array([0, 1, 2, 0, 1, 2])
    explore = np.array([[2], [2], [2], [0], [0], [0]])  # a★ = 2 reveals μ; 0 does not
    method = _Scripted(agent, {0: explore})
    trials = run_wave(
        env, family, method, problems, np.zeros((6, 1), np.int64), np.arange(6), training=False
    )
    assert [len(c[0]) for c in calls] == [1, 1, 1]  # act s_0, start_episode s_T, act s'_0
    obs0 = trials.episodes[1].obs["state"][:, 0]
    assert (obs0 == obs0[0]).all()  # every trial's s'_0 is the same observation
    q = calls[2][:, 0]
    # Revealed μ = 0, 1, 2 (rows 0-2) leave three different states; rows 3-5 saw the same.
    assert not torch.allclose(q[0], q[1]) and not torch.allclose(q[1], q[2])
    # Equal up to rounding: a batched matmul may round rows differently (seen on AMD EPYC).
    assert _same(q[3], q[4]) and _same(q[4], q[5])
    assert not torch.allclose(q[0], q[3])
    # Resetting the state before exploiting (what DREAM's policies do) would erase it all.
    agent.start_episode(trials, 0, training=False)
    x = {"state": obs0}
    with torch.no_grad():
        q_reset = agent.q(agent._entry(x, np.full(6, -1), np.zeros(6), False))[0][:, 0]
    assert _same(q_reset[0], q_reset[1]) and _same(q_reset[0], q_reset[3])


def test_acting_q_values_equal_the_update_sequence_with_ended_trials():
    """Variable lengths (end_episode = 6 at different steps): the Q-values used to act, step
    by step, equal those of the training forward pass over the stored trial sequence."""
    family = make("distracting_bus", variant="official", horizon=5)
    env = family.make_batched(4)
    agent = ERL2(family, env.observation_space, env.n_actions, ERL2Config(), seed=2)
    calls = _recording(agent)
    explore = np.array([[6, 0, 0, 0, 0], [0, 1, 6, 0, 0], [2, 2, 2, 2, 2], [5, 6, 0, 0, 0]])
    exploit = np.array([[1, 6, 0, 0, 0], [3, 3, 3, 3, 3], [6, 0, 0, 0, 0], [0, 0, 0, 6, 0]])
    method = _Scripted(agent, {0: explore, 1: exploit})
    problems = np.array([0, 11, 22, 33])
    trials = run_wave(
        env,
        family,
        method,
        problems,
        np.array([[0], [1], [2], [3]]),
        np.arange(4),
        training=False,
    )
    te, tx = trials.episodes[0].length, trials.episodes[1].length
    assert te.tolist() == [1, 3, 5, 2] and tx.tolist() == [2, 5, 1, 4]
    seq = agent.sequence(trial_record(trials, agent.obs_names))
    with torch.no_grad():
        q_train = agent.q(seq[:4])[0]
    n_explore_calls = int(te.max())
    for b in range(4):
        acting = [calls[t][b, 0] for t in range(te[b])]  # s_0..s_{Te−1}
        acting.append(calls[n_explore_calls][b, 0])  # s_Te, fed by start_episode
        acting += [calls[n_explore_calls + 1 + t][b, 0] for t in range(tx[b])]
        torch.testing.assert_close(torch.stack(acting), q_train[b, : te[b] + tx[b] + 1])


# ----------------------------------------------------------------- 5. resume and NaN
SMALL = {
    "env": "bandit",
    "env_kwargs": {"A": 3},
    "method": "erl2",
    "preset": "tiny",
    "num_envs": 4,
    "eval_every": 16,
    "eval_trials": 8,
    "checkpoint_every": 1_000_000,
    "threads": 1,
    "seed": 0,
}
SMALL_STEPS = 480  # 60 waves of 4 trials, ~100 updates


# ----------------------------------------------------------------- 6. training
def test_erl2_learns_the_bandit(tmp_path):
    """A = 3, H = 1: one recurrent policy learns to explore with a★ (the LSTM carries μ from
    the exploration episode's last observation) and then to exploit optimally."""
    config = RunConfig(
        env="bandit",
        env_kwargs={"A": 3},
        method="erl2",
        preset="tiny",
        steps=2_400,
        eval_every=64,
        eval_trials=32,
        seed=1,
        threads=1,
        checkpoint_every=1_000_000,
    )
    summary = Trainer(config, tmp_path, progress=False).run()
    test = read_csv(tmp_path / "metrics.csv").query("split == 'test'")
    first, last = test.iloc[0], test.iloc[-1]
    # Before training: exploitation at chance (1/K = 1/3 on average), greedy exploration not a★.
    assert first["return"] <= 0.5 and first["reveal_frac"] == 0.0
    assert last["return"] == 1.0 and last["reveal_frac"] == 1.0
    assert summary["final_test_return"] == 1.0 and summary["trials_to_informative"] <= 640
    assert test["decoder_error"].isna().all()  # no decoder: the column is there, empty
    assert (test["epsilon_explore"] == test["epsilon_exploit"]).all()


def test_smoke_distracting_bus(tmp_path, capsys):
    out = tmp_path / "run"
    argv = [
        "--env",
        "distracting_bus",
        "--method",
        "erl2",
        "--preset",
        "tiny",
        "--steps",
        "641",
        "--eval-every",
        "16",
        "--eval-trials",
        "8",
        "--threads",
        "1",
        "--no-progress",
        "--out",
        str(out),
    ]
    status = main(argv)
    captured = capsys.readouterr()
    assert status == 0, captured.err
    summary = json.loads(captured.out.strip().splitlines()[-1])
    assert summary["method"] == "erl2" and summary["env_steps"] >= 641
    header = read_header(out / "metrics.csv")
    assert header["run"]["method"] == "erl2"
    assert (
        header["method_config"]["batch_size"] == 8 and header["method_config"]["min_replay"] == 16
    )
    df = read_csv(out / "metrics.csv")
    test = df[df["split"] == "test"]
    assert df["trial"].max() == 32 and df["updates"].iloc[-1] > 0  # the second wave updated
    assert np.isfinite(test["return"]).all() and test["reveal_frac"].between(0, 1).all()
    assert (test["explore_len"] <= 20).all()


# ----------------------------------------------------------------- 7. the bandit sweep
def test_neural_sample_complexity_rows_and_plot(tmp_path, monkeypatch):
    """``--methods erl2`` runs E-RL² under epsilon1 and writes method=rl2-neural rows."""
    seen = []
    original = Trainer.__init__

    def spy(self, config, out, *, progress=True):
        seen.append(config)
        original(self, config, out, progress=progress)

    monkeypatch.setattr(Trainer, "__init__", spy)
    row = nsc.run_cell(2, 0, trials=64, eval_every=8, method="erl2")
    assert seen[-1].method == "erl2" and seen[-1].preset == "epsilon1"
    assert row["method"] == "rl2-neural" and row["learner"] == "neural" and row["A"] == 2
    assert row["T_greedy"] <= 64 and isinstance(row["capped"], bool)
    fake = pd.DataFrame(
        [
            {**row, "method": m, "A": a, "seed": s, "T_greedy": t, "capped": False}
            for m, base in (("dream-neural", 50.0), ("rl2-neural", 80.0))
            for a in (2, 3)
            for s, t in ((0, base * a), (1, base * a + 10))
        ]
    )
    summary = nsc.summarize(fake)
    got = summary.set_index(["method", "A"])["mean"].to_dict()
    assert got == {
        ("dream-neural", 2): 105.0,
        ("dream-neural", 3): 155.0,
        ("rl2-neural", 2): 165.0,
        ("rl2-neural", 3): 245.0,
    }
    nsc.plot(summary, None, tmp_path / "fig.png")
    assert (tmp_path / "fig.png").stat().st_size > 1000


def test_neural_sample_complexity_rejects_unknown_methods(capsys):
    assert nsc.main(["--methods", "dream,nope", "--out", "/nonexistent/x"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--methods" in err[0] and "nope" in err[0]


def test_neural_sample_complexity_redraws_from_per_seed_csv(tmp_path, capsys):
    """``--from-csv`` trains nothing: summary.csv, the figure and the table from the file."""
    cell = {"learner": "neural", "H": 1, "epsilon": 1.0}
    per_seed = pd.DataFrame(
        [
            {**cell, "method": m, "A": a, "seed": s, "T_greedy": 10.0 * a + s, "capped": s == 2}
            for m in ("dream-neural", "rl2-neural")
            for a in (2, 3)
            for s in (0, 1, 2)
        ]
    )
    write_csv(tmp_path / "per_seed.csv", per_seed, {"experiment": "test"})
    out = tmp_path / "redrawn"
    argv = ["--from-csv", str(tmp_path / "per_seed.csv"), "--out", str(out), "--tabular", "none"]
    assert nsc.main(argv) == 0
    summary = read_csv(out / "summary.csv")
    assert summary["mean"].tolist() == [21.0, 31.0, 21.0, 31.0]
    assert summary["n_capped"].tolist() == [1, 1, 1, 1]
    assert (out / "figure3a_neural.png").stat().st_size > 1000
    assert nsc.format_summary(nsc.summarize(per_seed)) in capsys.readouterr().out
    assert not (out / "per_seed.csv").exists()
    assert nsc.main(["--from-csv", str(tmp_path / "missing.csv")]) == 2


def test_run_config_is_unchanged_by_the_method_field():
    """The sweep's runs differ only in the method (same budget, preset, envs, evaluation)."""
    a = nsc.run_config(3, 1, trials=100, eval_every=8, method="dream")
    b = nsc.run_config(3, 1, trials=100, eval_every=8, method="erl2")
    assert dataclasses.replace(a, method="erl2") == b and a.method == "dream"
