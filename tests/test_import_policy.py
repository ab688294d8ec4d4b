"""IMPORT (deep/import_policy.py): trial sequences, losses, acting, learning and exact resume.

The sequence layout and the TD targets are checked against hand-worked arrays and a slow loop;
acting is checked against the batched sequence pass (so what the policy saw while acting is what
it learns from); training uses the tiny preset on the App. C.2 bandit, one torch thread.
"""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import torch

from common.io import read_csv, read_header
from deep.dqn import LinearSchedule
from deep.envs import make
from deep.import_policy import Import, ImportConfig
from deep.metrics import evaluate
from deep.presets import apply_preset
from deep.registry import for_benchmark
from deep.replay import trial_record
from deep.sequences import trial_entries
from deep.train import RunConfig, Trainer, main
from deep.trial_loop import run_wave, sample_trials


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _method(env: str = "bandit", seed: int = 0, num_envs: int = 4, **changes) -> tuple:
    kwargs = {"A": 3, "H": 2} if env == "bandit" else {"variant": "official"}
    family = make(env, **kwargs)
    batched = family.make_batched(num_envs)
    method = Import(
        family, batched.observation_space, batched.n_actions, ImportConfig(**changes), seed
    )
    return family, batched, method


# ----------------------------------------------------------------- 1. config (App. B.4)
def test_config_defaults_presets_and_validation():
    cfg = ImportConfig()
    assert cfg.epsilon == LinearSchedule(1.0, 0.01, 500_000)  # the baselines' ε (App. B.4)
    assert (cfg.lr, cfg.batch_size, cfg.gamma, cfg.grad_clip) == (1e-4, 32, 0.99, 10.0)
    assert (cfg.update_every, cfg.target_sync_every, cfg.replay_capacity) == (4, 5000, 16_000)
    assert cfg.aux_weight == 1.0 and cfg.z_dim == 64 and cfg.min_replay == 800
    assert for_benchmark(cfg, make("sign")).replay_capacity == 10_000  # App. B.4, 3D nav.
    assert for_benchmark(cfg, make("cooking")) == cfg
    tiny = apply_preset("tiny", cfg)
    assert (tiny.min_replay, tiny.batch_size, tiny.epsilon.steps) == (16, 8, 4_000)
    assert apply_preset("epsilon1", cfg).epsilon.value(10**6) == 1.0
    assert json.loads(json.dumps(cfg.to_dict()))["epsilon"]["steps"] == 500_000
    with pytest.raises(ValueError, match="update_source 'x' is unknown"):
        ImportConfig(update_source="x")
    with pytest.raises(ValueError, match="min_replay=0 is invalid"):
        ImportConfig(min_replay=0)


# ----------------------------------------------------------------- 2. trial sequences
def _hand_batch() -> dict[str, np.ndarray]:
    """Two stored trials, H = 3; state value 10 + j in exploration, 20 + j in exploitation."""
    return {
        "problem": np.array([1, 2]),
        "trial_id": np.array([0, 1]),
        "explore_obs_state": np.array([[10, 11, 12, 0], [10, 11, 12, 13]])[..., None],
        "explore_actions": np.array([[1, 0, -1], [0, 1, 2]]),
        "explore_rewards": np.array([[0.5, 0.25, 0.0], [0.0, 0.0, 0.5]], dtype=np.float32),
        "explore_length": np.array([2, 3]),
        "exploit_obs_state": np.array([[20, 21, 22, 23], [20, 21, 0, 0]])[..., None],
        "exploit_actions": np.array([[2, 1, 0], [1, -1, -1]]),
        "exploit_rewards": np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]], dtype=np.float32),
        "exploit_length": np.array([3, 1]),
    }


# Per trial: obs, prev a, prev r, prev d at positions 0..last; actions, mask, optimised rewards,
# next position and done at positions 0..N−1 (worked out by hand from _hand_batch).
HAND = {
    True: [
        {
            "obs": [10, 11, 12, 20, 21, 22, 23],
            "prev_a": [-1, 1, 0, -1, 2, 1, 0],
            "prev_r": [0, 0.5, 0.25, 0, 0, 0, 1],
            "prev_d": [0, 0, 1, 0, 0, 0, 1],
            "actions": [1, 0, -1, 2, 1, 0],
            "mask": [1, 1, 0, 1, 1, 1],
            "rewards": [0, 0, 0, 0, 0, 1],
            "next": [1, 3, 3, 4, 5, 6],
            "dones": [0, 0, 0, 0, 0, 1],
            "start": 3,
        },
        {
            "obs": [10, 11, 12, 13, 20, 21],
            "prev_a": [-1, 0, 1, 2, -1, 1],
            "prev_r": [0, 0, 0, 0.5, 0, 1],
            "prev_d": [0, 0, 0, 1, 0, 1],
            "actions": [0, 1, 2, -1, 1, -1],
            "mask": [1, 1, 1, 0, 1, 0],
            "rewards": [0, 0, 0, 0, 1, 0],
            "next": [1, 2, 4, 4, 5, 6],
            "dones": [0, 0, 0, 0, 1, 0],
            "start": 4,
        },
    ],
    False: [
        {
            "obs": [10, 11, 20, 21, 22, 23],
            "prev_a": [-1, 1, 0, 2, 1, 0],
            "prev_r": [0, 0.5, 0.25, 0, 0, 1],
            "prev_d": [0, 0, 1, 0, 0, 1],
            "actions": [1, 0, 2, 1, 0],
            "mask": [1, 1, 1, 1, 1],
            "rewards": [0, 0, 0, 0, 1],
            "next": [1, 2, 3, 4, 5],
            "dones": [0, 0, 0, 0, 1],
            "start": 2,
        },
        {
            "obs": [10, 11, 12, 20, 21],
            "prev_a": [-1, 0, 1, 2, 1],
            "prev_r": [0, 0, 0, 0.5, 1],
            "prev_d": [0, 0, 0, 1, 1],
            "actions": [0, 1, 2, 1, -1],
            "mask": [1, 1, 1, 1, 0],
            "rewards": [0, 0, 0, 1, 0],
            "next": [1, 2, 3, 4, 5],
            "dones": [0, 0, 0, 1, 0],
            "start": 3,
        },
    ],
}


@pytest.mark.parametrize("terminal_obs", [True, False])
def test_trial_entries_match_the_hand_worked_layout(terminal_obs):
    seq = trial_entries(_hand_batch(), ["state"], terminal_obs=terminal_obs)
    n = len(HAND[terminal_obs][0]["actions"])
    assert seq.action.shape == seq.prev_action.shape == (2, n + 1)
    for b, want in enumerate(HAND[terminal_obs]):
        m = len(want["obs"])
        assert seq.obs["state"][b, :m, 0].tolist() == want["obs"]
        assert seq.prev_action[b, :m].tolist() == want["prev_a"]
        assert seq.prev_reward[b, :m].tolist() == want["prev_r"]
        assert seq.prev_done[b, :m].tolist() == want["prev_d"]
        assert seq.action[b, :n].tolist() == want["actions"] and seq.action[b, n] == -1
        assert seq.acting[b, :n].int().tolist() == want["mask"] and not seq.acting[b, n]
        assert seq.td_reward[b, :n].tolist() == want["rewards"]  # exploration rewards: 0
        assert seq.next_entry[b][seq.acting[b]].tolist() == [
            x for x, k in zip(want["next"], want["mask"], strict=True) if k
        ]
        assert seq.terminal[b, :n].int().tolist() == want["dones"]
        assert int(seq.start[b]) == want["start"]


def _slow_td_loss(batch, q, q_target, gamma, terminal_obs):
    """Per trial, the list of acting positions; each bootstraps from the next one (if any)."""
    errs = []
    for b in range(len(batch["problem"])):
        le, lx = int(batch["explore_length"][b]), int(batch["exploit_length"][b])
        start = le + int(terminal_obs)
        steps = [(t, batch["explore_actions"][b, t], 0.0) for t in range(le)]
        steps += [
            (start + t, batch["exploit_actions"][b, t], batch["exploit_rewards"][b, t])
            for t in range(lx)
        ]
        for i, (pos, a, r) in enumerate(steps):
            y = float(r)
            if i + 1 < len(steps):
                nxt = steps[i + 1][0]
                y += gamma * float(q_target[b, nxt, int(q[b, nxt].argmax())])
            errs.append((float(q[b, pos, int(a)]) - y) ** 2)
    return sum(errs) / len(errs)


@pytest.mark.parametrize("terminal_obs", [True, False])
def test_td_loss_matches_a_slow_loop_over_the_trial(terminal_obs):
    """Crosses the episode boundary, ignores exploration rewards, terminal at the trial's end."""
    _, _, method = _method(gamma=0.9, terminal_obs=terminal_obs)
    batch = _hand_batch()
    seq = trial_entries(batch, ["state"], terminal_obs=terminal_obs)
    gen = torch.Generator().manual_seed(3)
    q = torch.randn(2, seq.prev_action.shape[1], 3, generator=gen, dtype=torch.float64)
    q_target = torch.randn(q.shape, generator=gen, dtype=torch.float64)
    loss = method._td_loss(q, q_target, seq)
    assert loss.item() == pytest.approx(_slow_td_loss(batch, q, q_target, 0.9, terminal_obs))


def test_terminal_obs_is_what_lets_the_history_see_the_bandit_reveal():
    """Bandit: μ shows only in the exploration episode's last state (revealed = μ + 1).

    With terminal_obs the history inputs of two trials with the same actions and different μ
    differ; without it (the authors' code) they are identical, so e_θ cannot tell μ apart.
    """
    family, env, method = _method(num_envs=2, min_replay=10**6)
    a_star = family.config.A - 1
    trials = _scripted_wave(family, env, method, np.array([0, 5]), a_star)
    record = trial_record(trials, ["state"])
    assert record["explore_obs_state"][:, 2, -1].tolist() == [1, 6]  # revealed = μ + 1
    with_terminal = trial_entries(record, ["state"], terminal_obs=True)
    without = trial_entries(record, ["state"], terminal_obs=False)
    assert not torch.equal(with_terminal.obs["state"][0], with_terminal.obs["state"][1])
    for field in ("obs", "prev_action", "prev_reward", "prev_done"):
        x = getattr(without, field)
        x = x["state"] if field == "obs" else x
        assert torch.equal(x[0], x[1]), field


def _scripted_wave(family, env, method, problems, action):
    """One test wave where every step plays ``action``."""

    class Scripted:
        def start_episode(self, trials, episode, training):
            method.start_episode(trials, episode, training)

        def act(self, obs, t, trials, episode, training):
            method.act(obs, t, trials, episode, training)
            return np.full(len(trials), action)

    goals = np.zeros((len(problems), 1), dtype=np.int64)
    ids = np.arange(len(problems))
    return run_wave(env, family, Scripted(), problems, goals, ids, training=False)


# ----------------------------------------------------------------- 3. L_IMPORT
def test_aux_loss_value_and_its_gradient_reaches_theta_not_phi():
    family, env, method = _method(aux_weight=0.5, min_replay=10**6)
    # Value: β · mean_trials Σ_{acting t} ‖h_t − f‖², on hand inputs.
    z_id = torch.tensor([[1.0, 0.0], [0.0, 2.0]], requires_grad=True)
    z_hist = torch.tensor(
        [[[1.0, 1.0], [0.0, 0.0], [9.0, 9.0]], [[0.0, 2.0], [3.0, 2.0], [9.0, 9.0]]],
        requires_grad=True,
    )
    mask = torch.tensor([[True, True], [True, False]])
    loss = method.aux_loss(z_id, z_hist, mask)
    assert loss.item() == pytest.approx(0.5 * ((1.0 + 1.0) + 0.0) / 2)
    loss.backward()
    assert z_id.grad is None  # e_φ(μ) is a constant of L_IMPORT
    assert z_hist.grad[0, :2].abs().sum() > 0 and z_hist.grad[:, 2].abs().sum() == 0

    # Through the network: only θ (the history encoder, with its state embedder) gets gradient.
    problems = np.array([0, 3, 5, 8])
    goals = np.zeros((4, 1), dtype=np.int64)
    trials = run_wave(env, family, method, problems, goals, np.arange(4), training=True)
    batch = {**trial_record(trials, ["state"]), "trial_id": trials.trial_ids}
    method.optimizers["opt"].zero_grad(set_to_none=True)
    method.loss_terms(batch)["aux"].backward()
    net = method.q_net
    theta = dict(net.history.named_parameters())
    assert all(p.grad is not None for p in theta.values())
    assert sum(float(p.grad.abs().sum()) for p in theta.values()) > 0
    for part in (net.problem, net.state, net.fc, net.head):
        assert all(p.grad is None for p in part.parameters())


def test_played_source_equals_both_on_single_parity_batches():
    """``played`` uses e_φ(μ) on even trials and e_θ(τ) on odd ones (same init per seed)."""
    family, env, played = _method(min_replay=10**6, update_source="played")
    _, _, both = _method(min_replay=10**6, update_source="both")
    goals = np.zeros((4, 1), dtype=np.int64)
    trials = run_wave(
        env, family, played, np.array([1, 2, 3, 4]), goals, np.arange(4), training=True
    )
    record = trial_record(trials, ["state"])
    for ids, key in ((np.array([0, 2, 4, 6]), "td_id"), (np.array([1, 3, 5, 7]), "td_history")):
        batch = {**record, "trial_id": ids}
        with torch.no_grad():
            a, b = played.loss_terms(batch), both.loss_terms(batch)
        assert set(a) == {"td", "aux"} and set(b) == {"td_id", "td_history", "aux"}
        assert a["td"].item() == b[key].item()
        assert a["aux"].item() == b["aux"].item()
    assert b["td_id"].item() != b["td_history"].item()


# ----------------------------------------------------------------- 4. acting = learning inputs
def _play_and_record(method, family, env, training, trial_ids, seed=0):
    """A wave, with the Q-values of every act() call and which rows were active."""
    calls = []
    original = method.act

    def spy(obs, t, trials, episode, training_):
        actions = original(obs, t, trials, episode, training_)
        calls.append((episode, t, method.last_q.clone()))
        return actions

    method.act = spy
    rng = np.random.default_rng(seed)
    problems, goals = sample_trials(family, rng, env.num_envs, "train", 1)
    trials = run_wave(env, family, method, problems, goals, trial_ids, training=training)
    del method.act
    return trials, calls


@pytest.mark.parametrize("mode", ["train", "test", "test_id"])
def test_acting_uses_parity_z_and_matches_the_sequence_pass(mode):
    """Training: even trials act on e_φ(μ), odd on e_θ(τ_:t); test: e_θ (or e_φ on request).

    Every acting Q equals the Q of the batched pass over the stored trial at the same position,
    including across the exploration → exploitation boundary (the LSTM state carries over, and
    rows whose episode ended early are frozen), on a grid world with early episode ends.
    """
    family, env, method = _method("distracting_bus", num_envs=6, min_replay=10**6)
    if mode == "test_id":
        method.test_source = "id"
    training = mode == "train"
    ids = np.arange(10, 16)
    trials, calls = _play_and_record(method, family, env, training, ids)
    lengths = np.stack([ep.length for ep in trials.episodes])
    if training:  # ε-greedy (the greedy untrained policy plays full episodes)
        assert (lengths.min(1) < lengths.max(1)).any()  # some rows wait while others act
    batch = {**trial_record(trials, ["state"]), "trial_id": ids}
    seq = method.sequences(batch)
    with torch.no_grad():
        q_id, q_hist, _, _ = method.q_net.sequence_q(seq, torch.from_numpy(trials.problems))
    from_id = {"train": ids % 2 == 0, "test": np.zeros(6, bool), "test_id": np.ones(6, bool)}
    from_id = from_id[mode]
    assert method.z_sources(trials, training).tolist() == from_id.tolist()
    checked = 0
    for episode, t, q in calls:
        for b in np.flatnonzero(t < trials.episodes[episode].length):  # rows still acting
            pos = t if episode == 0 else int(seq.start[b]) + t
            want = (q_id if from_id[b] else q_hist)[b, pos]
            other = (q_hist if from_id[b] else q_id)[b, pos]
            torch.testing.assert_close(q[b], want, rtol=1e-5, atol=1e-6)
            assert (q[b] - other).abs().max() > 1e-4  # the two sources really differ
            checked += 1
    assert checked == int(sum(ep.length.sum() for ep in trials.episodes))


def test_history_state_carries_across_the_episode_boundary():
    """The first exploitation Q depends on the exploration episode (no reset at the boundary)."""
    family, env, method = _method(num_envs=4, min_replay=10**6)
    trials, calls = _play_and_record(method, family, env, False, np.arange(4))
    first_exploit = next(q for episode, t, q in calls if episode == 1 and t == 0)
    # Q at the same observation and inputs with a fresh LSTM state (what a reset would give).
    obs = {"state": torch.from_numpy(trials.episodes[1].obs["state"][:, :1])}
    none = torch.full((4, 1), -1)
    zeros = torch.zeros((4, 1))
    with torch.no_grad():
        h, _ = method.q_net.embed_history(obs, none, zeros, zeros.long())
        fresh = method.q_net.q_values(method.q_net.state(obs), h)[:, 0]
    assert (first_exploit - fresh).abs().amax(-1).min() > 1e-3


# ----------------------------------------------------------------- 5. learning the bandit
def test_import_learns_the_bandit(tmp_path):
    """A = 4, H = 1: the history policy must read μ from the exploration's last state."""
    config = RunConfig(
        env="bandit",
        env_kwargs={"A": 4},
        method="import",
        preset="tiny",
        steps=2_500,
        eval_every=64,
        eval_trials=32,
        seed=0,
        threads=1,
        checkpoint_every=1_000_000,
    )
    trainer = Trainer(config, tmp_path, progress=False)
    summary = trainer.run()
    test = read_csv(tmp_path / "metrics.csv").query("split == 'test'")
    first, last = test.iloc[0], test.iloc[-1]
    # Before training: chance (1/K = 0.25) and the greedy explorer is not a★ (seed 0).
    assert first["return"] <= 0.5 and first["reveal_frac"] == 0.0
    # After: greedy exploration plays a★ and the history-conditioned exploitation is optimal.
    assert last["return"] == 1.0 and last["reveal_frac"] == 1.0
    assert summary["final_test_return"] == 1.0 and summary["trials_to_informative"] <= 1024
    # The informed (ID-conditioned) policy is optimal too.
    trainer.method.test_source = "id"
    informed, _ = evaluate(trainer.method, trainer.family, n_trials=32, seed=0)
    assert informed["return"] == 1.0
    assert trainer.method.updates > 500 and "aux" in trainer.method.last_stats


# ----------------------------------------------------------------- 6. exact resume, NaN
SMALL = {
    "env": "bandit",
    "env_kwargs": {"A": 3},
    "method": "import",
    "preset": "tiny",
    "num_envs": 4,
    "eval_every": 16,
    "eval_trials": 8,
    "checkpoint_every": 1_000_000,
    "threads": 1,
    "seed": 0,
}
SMALL_STEPS = 480


# ----------------------------------------------------------------- 7. smoke runs
def _smoke(tmp_path, capsys, env: str, steps: int) -> None:
    out = tmp_path / env
    argv = ["--env", env, "--method", "import", "--preset", "tiny", "--threads", "1"]
    argv += ["--steps", str(steps), "--eval-every", "16", "--eval-trials", "8", "--no-progress"]
    status = main([*argv, "--out", str(out)])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    summary = json.loads(captured.out.strip().splitlines()[-1])
    assert summary["method"] == "import" and summary["env_steps"] >= steps
    header = read_header(out / "metrics.csv")
    assert header["method_config"]["min_replay"] == 16  # the tiny preset reached the config
    assert header["method_config"]["update_source"] == "played"
    df = read_csv(out / "metrics.csv")
    test = df[df["split"] == "test"]
    assert len(test) >= 2 and np.isfinite(test["return"]).all()
    assert test["reveal_frac"].between(0, 1).all()  # the exact oracle ran
    assert df["updates"].iloc[-1] > 0 and "epsilon_explore" in df.columns


def test_smoke_distracting_bus(tmp_path, capsys):
    _smoke(tmp_path, capsys, "distracting_bus", 641)  # two waves of 16 trials


def test_smoke_cooking(tmp_path, capsys):
    _smoke(tmp_path, capsys, "cooking", 641)


def test_both_update_source_trains(tmp_path):
    """The alternative reading (both TD losses on every trial) runs and logs both losses."""
    config = RunConfig(steps=160, **{**SMALL, "method_args": {"update_source": "both"}})
    trainer = Trainer(config, tmp_path, progress=False)
    trainer.run()
    stats = trainer.method.last_stats
    assert {"td_id", "td_history", "aux", "grad_norm"} <= set(stats)
    assert all(math.isfinite(v) for v in stats.values())
    assert dataclasses.asdict(trainer.method.config)["update_source"] == "both"
