"""DREAM's two exploration-objective ablations (deep/dream_ablations.py).

The rewards and losses are checked on hand-built batches against independent, loop-by-loop
computations; training runs use the App. C.2 bandit (seeded, one torch thread) and a few waves
of the distracting bus.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from _shared import SMALL_BANDIT, assert_same_state
from gymnasium import spaces

from common.io import read_csv
from deep.dream import Dream, DreamConfig, SampledTrials
from deep.dream_ablations import (
    DreamDynamics,
    DreamE2EExploration,
    DynamicsConfig,
    E2EExplorationConfig,
)
from deep.envs import make
from deep.metrics import steps_to_informative
from deep.networks import observation_fields
from deep.presets import apply_overrides, apply_preset
from deep.registry import for_benchmark
from deep.replay import trial_record, trial_record_fields
from deep.train import RunConfig, Trainer
from deep.trial_loop import run_wave

torch.set_num_threads(1)

A, H = 2, 3  # bandit with 3-step episodes: lengths 1..3 can be hand-built


def _family():
    return make("bandit", A=A, H=H)


def _build(cls, config_cls, **changes):
    family = _family()
    env = family.make_batched(2)
    return cls(family, env.observation_space, env.n_actions, config_cls(**changes), seed=0)


def _batch(seed: int, b: int = 5) -> dict[str, np.ndarray]:
    """Random trial records (valid values, arbitrary lengths 1..H, padding as the loop leaves
    it: zeros past s_L, actions −1 and rewards 0 past step L−1)."""
    rng = np.random.default_rng(seed)
    family = _family()
    space = family.make_batched(1).observation_space
    high = np.asarray(space.high)
    fields = trial_record_fields(observation_fields(space), H)
    batch = {name: np.zeros((b, *shape), dtype=dt) for name, (shape, dt) in fields.items()}
    batch["problem"] = rng.integers(family.n_problems, size=b)
    for ep in ("explore", "exploit"):
        length = rng.integers(1, H + 1, size=b)
        length[0] = H  # the longest episode sets the batch's width
        batch[f"{ep}_length"] = length
        for i, n in enumerate(length):
            batch[f"{ep}_obs_state"][i, : n + 1] = rng.integers(
                0, high + 1, size=(n + 1, len(high))
            )
            batch[f"{ep}_actions"][i] = -1
            batch[f"{ep}_actions"][i, :n] = rng.integers(A, size=n)
            batch[f"{ep}_rewards"][i, :n] = rng.normal(size=n)
    return batch


def _perturb_padding(batch: dict[str, np.ndarray], seed: int) -> dict[str, np.ndarray]:
    """The same trials with garbage in every entry past each episode's end."""
    rng = np.random.default_rng(seed)
    out = {k: v.copy() for k, v in batch.items()}
    for ep in ("explore", "exploit"):
        for i, n in enumerate(out[f"{ep}_length"]):
            out[f"{ep}_obs_state"][i, n + 1 :] = rng.integers(
                0, 2, size=out[f"{ep}_obs_state"][i, n + 1 :].shape
            )
            out[f"{ep}_actions"][i, n:] = rng.integers(A, size=H - n)
            out[f"{ep}_rewards"][i, n:] = rng.normal(size=H - n) * 100
    return out


def _inputs(method: Dream, batch):
    return method.sample_inputs(batch, grad=False)[1:]


# ----------------------------------------------------------------- 1. end-to-end exploration
def _value_by_hand(method: DreamE2EExploration, batch, i: int) -> float:
    """max_a Q_task(s^task_0, g(τ^exp_{:L})) for trial i, through the layers one by one."""
    n = int(batch["explore_length"][i])
    obs = {"state": torch.from_numpy(batch["explore_obs_state"][i : i + 1, : n + 1]).long()}
    actions = torch.from_numpy(batch["explore_actions"][i : i + 1, :n])
    rewards = torch.from_numpy(batch["explore_rewards"][i : i + 1, :n])
    with torch.no_grad():
        z = method.decoder(obs, actions, rewards)[0, n]  # g of the whole trajectory only
        s0 = torch.from_numpy(batch["exploit_obs_state"][i, 0]).long()
        net = method.task_q
        h = torch.relu(net.fc(torch.cat([net.state(s0), z])))
        q = net.head.value(h) + net.head.advantage(h) - net.head.advantage(h).mean()
    return float(q.max())


@pytest.mark.parametrize("penalty", [0.0, 0.25])
def test_e2e_rewards_only_the_last_step_with_the_exploitation_value(penalty):
    method = _build(DreamE2EExploration, E2EExplorationConfig, exploration_penalty=penalty)
    batch = _batch(seed=1)
    explore, f, g = _inputs(method, batch)
    r = method.relabel_exploration(SampledTrials(batch, explore, f, g))
    assert r.shape == (5, H) and not r.requires_grad
    for i, n in enumerate(batch["explore_length"]):
        value = _value_by_hand(method, batch, i)
        expected = [-penalty] * (n - 1) + [value - penalty] + [0.0] * (H - n)
        np.testing.assert_allclose(r[i].numpy(), expected, rtol=1e-5, atol=1e-6)
        # Σ_t r_t = V_task(τ^exp) − c·L, the end-to-end counterpart of Eq. 4
        assert float(r[i].sum()) == pytest.approx(value - penalty * n, abs=1e-5)
    assert len({round(float(r[i, n - 1]), 6) for i, n in enumerate(batch["explore_length"])}) > 1


def test_e2e_reward_reads_only_the_exploitation_start_and_the_whole_exploration():
    method = _build(DreamE2EExploration, E2EExplorationConfig)
    batch = _batch(seed=2)
    r = method.relabel_exploration(method.sample_inputs(batch, grad=False))
    # The exploitation episode after its first state, and all padding, do not matter.
    later = _perturb_padding(batch, seed=3)
    later["exploit_obs_state"][:, 1:] = 1
    later["exploit_actions"][:, :] = np.where(later["exploit_actions"] >= 0, 1, -1)
    later["exploit_rewards"][:] = 7.0
    torch.testing.assert_close(
        method.relabel_exploration(method.sample_inputs(later, grad=False)), r
    )
    # The last exploration transition does (through g(τ^exp) at the full length).
    last = {k: v.copy() for k, v in batch.items()}
    n = last["explore_length"][0]
    last["explore_obs_state"][0, n] = (last["explore_obs_state"][0, n] + 1) % 2
    r_last = method.relabel_exploration(method.sample_inputs(last, grad=False))
    assert float(r_last[0, n - 1]) != float(r[0, n - 1])
    torch.testing.assert_close(r_last[1:], r[1:])


def test_e2e_rewards_with_the_recurrent_exploitation_policy():
    """The authors' recurrent π^task: V is its first step (history: no previous action)."""
    method = _build(DreamE2EExploration, E2EExplorationConfig, exploitation_policy="recurrent")
    batch = _batch(seed=11)
    explore, f, g = _inputs(method, batch)
    r = method.relabel_exploration(SampledTrials(batch, explore, f, g))
    rows = torch.arange(5)
    z = g[rows, explore.length]
    obs = {"state": torch.from_numpy(batch["exploit_obs_state"]).long()}
    with torch.no_grad():  # the whole exploitation episode through the LSTM: step 0 is V's
        q, _ = method.task_q(obs, torch.full((5, H + 1), -1), z)
    value = q[:, 0].max(-1).values
    torch.testing.assert_close(r[rows, explore.length - 1] + 0.01, value)
    assert float(r.sum()) == pytest.approx(float(value.sum()) - 0.01 * int(explore.length.sum()))


def test_e2e_decoder_is_not_pulled_to_f_unless_asked():
    e2e = _build(DreamE2EExploration, E2EExplorationConfig)
    e2e_w = _build(DreamE2EExploration, E2EExplorationConfig, decoder_loss_weight=2.0)
    dream = _build(Dream, DreamConfig)
    batch = _batch(seed=4)
    explore, f, g = _inputs(dream, batch)
    reference = dream.decoder_loss(f, g, explore.length)
    assert float(reference) > 1.0
    assert float(e2e.decoder_loss(f, g, explore.length)) == 0.0
    torch.testing.assert_close(e2e_w.decoder_loss(f, g, explore.length), 2.0 * reference)
    # The task loss still trains the decoder (through L_task-traj) and reports L_decoder = 0.
    explore = e2e._episode(batch, "explore")
    f = e2e.encoder(torch.from_numpy(batch["problem"]).unsqueeze(-1))
    g = e2e.decoder(*explore[:3])
    objectives, stats = e2e._task_loss(SampledTrials(batch, explore, f, g))
    objectives["task"].backward()
    assert stats["decoder"] == 0.0 and stats["task_traj"] > 0.0
    assert sum(float(p.grad.abs().sum()) for p in e2e.decoder.parameters()) > 0.0


# ----------------------------------------------------------------- 2. dynamics prediction
def _err_by_hand(method: DreamDynamics, batch, i: int, t: int, u: int) -> torch.Tensor:
    """‖ŝ' − s'/high‖² + ((r̂ − r)/σ)² of exploration transition u given h(τ^exp_{:t})."""
    n = int(batch["explore_length"][i])
    obs = {"state": torch.from_numpy(batch["explore_obs_state"][i : i + 1, : n + 1]).long()}
    h = method.dynamics_encoder(
        obs,
        torch.from_numpy(batch["explore_actions"][i : i + 1, :n]),
        torch.from_numpy(batch["explore_rewards"][i : i + 1, :n]),
    )[0, t]
    model = method.dynamics_model
    s = torch.from_numpy(batch["explore_obs_state"][i, u]).long()
    s_next = batch["explore_obs_state"][i, u + 1].astype(np.float64)
    a = torch.tensor(int(batch["explore_actions"][i, u]))
    r = float(batch["explore_rewards"][i, u])
    x = torch.relu(
        model.from_transition(torch.cat([model.state(s), model.action(a)])) + model.from_encoding(h)
    )
    pred = model.out(x).double()
    highs = _family().make_batched(1).observation_space.high  # bandit: all >= 1
    err = sum((pred[j] - s_next[j] / highs[j]) ** 2 for j in range(len(highs)))
    return err + (pred[-1] - r) ** 2 / model.reward_std**2


def _d_by_hand(method: DreamDynamics, batch) -> list[list[float]]:
    """d_t for t = 0..L of every trial: Σ over its real exploration transitions u < L."""
    with torch.no_grad():
        return [
            [
                sum(float(_err_by_hand(method, batch, i, t, u)) for u in range(n))
                for t in range(n + 1)
            ]
            for i, n in enumerate(batch["explore_length"])
        ]


@pytest.mark.parametrize(("penalty", "reward_std"), [(0.0, 1.0), (0.3, 0.5)])
def test_dynamics_rewards_telescope_to_the_prediction_gain(penalty, reward_std):
    method = _build(
        DreamDynamics, DynamicsConfig, exploration_penalty=penalty, reward_std=reward_std
    )
    batch = _batch(seed=5)
    explore, f, g = _inputs(method, batch)
    r = method.relabel_exploration(SampledTrials(batch, explore, f, g))
    assert r.shape == (5, H) and not r.requires_grad
    d = _d_by_hand(method, batch)
    for i, n in enumerate(batch["explore_length"]):
        assert all(v > 0 for v in d[i])  # squared errors of a random model
        expected = [d[i][t] - d[i][t + 1] - penalty for t in range(n)]
        np.testing.assert_allclose(r[i, :n].numpy(), expected, rtol=1e-4, atol=1e-4)
        # Eq. 4's structure: Σ_{t<L} r_t = d_0 − d_L − c·L
        assert float(r[i, :n].sum()) == pytest.approx(d[i][0] - d[i][n] - penalty * n, abs=1e-3)


def test_dynamics_loss_is_masked_to_real_prefixes_and_transitions():
    method = _build(DreamDynamics, DynamicsConfig)
    batch = _batch(seed=6)
    explore = method._episode(batch, "explore")
    loss = method.dynamics_loss(explore)
    d = _d_by_hand(method, batch)
    # Σ_{t ≤ L} Σ_{u < L} error over the real exploration transitions, mean over the 5 trials
    assert loss.item() == pytest.approx(sum(sum(row) for row in d) / 5, rel=1e-5)
    noisy = _perturb_padding(batch, seed=7)
    assert not all(np.array_equal(noisy[k], batch[k]) for k in batch)
    loss_noisy = method.dynamics_loss(method._episode(noisy, "explore"))
    assert loss_noisy.item() == pytest.approx(loss.item(), rel=1e-6)
    # Rewards past the end of the exploration episode never enter the TD loss; inside, equal.
    r = method.relabel_exploration(method.sample_inputs(batch, grad=False))
    r_noisy = method.relabel_exploration(method.sample_inputs(noisy, grad=False))
    mask = method._episode(batch, "explore").mask
    torch.testing.assert_close(r[mask], r_noisy[mask], rtol=1e-5, atol=1e-5)


def test_dynamics_loss_trains_encoder_and_model():
    """Gradient steps on L_dynamics alone fit one batch (both h_η and the model move)."""
    method = _build(DreamDynamics, DynamicsConfig, lr=3e-3)
    batch = _batch(seed=8)
    explore = method._episode(batch, "explore")
    first = method.dynamics_loss(explore).item()
    before = [p.clone() for p in method.dynamics_encoder.parameters()]
    for _ in range(150):
        opt = method.optimizers["dynamics"]
        opt.zero_grad(set_to_none=True)
        method.dynamics_loss(explore).backward()
        opt.step()
    assert method.dynamics_loss(explore).item() < 0.05 * first
    after = method.dynamics_encoder.parameters()
    moved = [not torch.equal(a, b) for a, b in zip(before, after, strict=True)]
    assert all(moved)


def test_dynamics_rejects_images_and_bad_config():
    sign_space = spaces.Dict(  # the sign task's observation space (not built: MiniWorld is slow)
        {
            "image": spaces.Box(0, 255, (60, 80, 3), np.uint8),
            "goal": spaces.Discrete(3, start=-1),
        }
    )
    with pytest.raises(ValueError, match="image observations"):
        DreamDynamics(_family(), sign_space, 4, DynamicsConfig(), seed=0)
    with pytest.raises(ValueError, match="reward_std"):
        DynamicsConfig(reward_std=0.0)


def test_configs_take_presets_and_overrides():
    for cfg in (E2EExplorationConfig(), DynamicsConfig()):
        tiny = apply_preset("tiny", cfg)
        assert tiny.min_exploit_replay == 16 and tiny.batch_size == 8
        assert type(tiny) is type(cfg)
        eps1 = apply_preset("epsilon1", cfg)
        assert eps1.explore_epsilon.value(10**6) == 1.0
    assert for_benchmark(E2EExplorationConfig(), make("sign")).exploration_penalty == 0.0
    official = DynamicsConfig.official(reward_std=0.5)
    assert type(official) is DynamicsConfig and official.exploitation_policy == "recurrent"
    assert official.reward_std == 0.5 and official.exploration_penalty == 0.1
    assert (
        apply_overrides(E2EExplorationConfig(), {"decoder_loss_weight": "1"}).decoder_loss_weight
        == 1.0
    )
    assert apply_overrides(DynamicsConfig(), {"reward_std": "0.25"}).reward_std == 0.25
    assert DynamicsConfig().to_dict()["reward_std"] == 1.0


def test_non_finite_dynamics_loss_stops():
    method = _build(DreamDynamics, DynamicsConfig)
    batch = _batch(seed=9)
    with torch.no_grad():
        method.dynamics_model.out.bias.fill_(float("nan"))
    while len(method.replay) < method.config.min_exploit_replay:
        method.replay.add(batch)
    with pytest.raises(FloatingPointError, match="dynamics loss is nan"):
        method.update()


def test_non_finite_exploitation_value_stops_the_e2e_update():
    method = _build(
        DreamE2EExploration, E2EExplorationConfig, min_explore_replay=1, min_exploit_replay=10**6
    )
    batch = _batch(seed=10)
    method.replay.add(batch)
    with torch.no_grad():
        method.task_q.head.value.bias.fill_(float("inf"))
    with pytest.raises(FloatingPointError, match="exploration loss"):
        method.update()


# ----------------------------------------------------------------- 3. exact resume
SMALL = {**SMALL_BANDIT, "checkpoint_every": 1_000_000, "steps": 240}  # 60 updates of each part


# ----------------------------------------------------------------- 4. smoke runs, distracting bus
@pytest.fixture(scope="module", params=["dream_e2e_exploration", "dream_dynamics"])
def bus_run(request, tmp_path_factory):
    config = RunConfig(
        env="distracting_bus",
        method=request.param,
        preset="tiny",
        steps=960,  # 4 waves fill the replay minimum (16 trials), then 80 updates
        num_envs=4,
        eval_every=8,
        eval_trials=4,
        checkpoint_every=1_000_000,
        threads=1,
        seed=0,
    )
    out = tmp_path_factory.mktemp(request.param)
    trainer = Trainer(config, out, progress=False)
    summary = trainer.run()
    return trainer, summary, read_csv(out / "metrics.csv")


def test_distracting_bus_smoke(bus_run):
    trainer, _, df = bus_run
    method = trainer.method
    stats = method.last_stats
    assert method.updates >= 50
    assert all(np.isfinite(v) for v in stats.values())
    assert {"explore_td", "explore_reward", "task_id", "task_traj", "decoder"} <= set(stats)
    test = df[df["split"] == "test"]
    assert len(test) >= 3 and test["return"].between(-2.0, 1.0).all()
    assert test["reveal_frac"].between(0.0, 1.0).all() and np.isfinite(test["decoder_error"]).all()
    if isinstance(method, DreamE2EExploration):
        assert stats["decoder"] == 0.0  # the decoder is trained end to end only
    else:
        assert stats["dynamics"] > 0 and stats["decoder"] > 0


@pytest.mark.parametrize("bus_run", ["dream_dynamics"], indirect=True)
def test_distracting_bus_dynamics_model_learned(bus_run):
    """On a batch of stored trials the trained η predicts far better than its initial values."""
    trainer, _, _ = bus_run
    method = trainer.method
    batch = method.replay.sample(16, np.random.default_rng(0))
    explore = method._episode(batch, "explore")
    fresh = DreamDynamics(
        trainer.family, trainer.env.observation_space, trainer.env.n_actions, method.config, seed=0
    )
    with torch.no_grad():
        trained, initial = method.dynamics_loss(explore), fresh.dynamics_loss(explore)
    assert float(trained) < 0.3 * float(initial)


# ----------------------------------------------------------------- 5. learning the bandit
class _FixedArms:
    """Plays arm ``arms[k]`` at every step of episode k (a scripted trial-loop method)."""

    def __init__(self, arms: tuple[int, int]) -> None:
        self.arms = arms

    def start_episode(self, trials, episode, training) -> None:
        pass

    def act(self, obs, t, trials, episode, training) -> np.ndarray:
        return np.full(len(trials), self.arms[episode])

    def after_env_steps(self, n_steps, episode) -> None:
        pass

    def end_trials(self, trials) -> None:
        pass


def _relabelled_gain(method: Dream, family, explore_arm: int) -> torch.Tensor:
    """Σ_t r^exp_t + c·H of the trial of every μ after exploring with one arm ``[K]``: the
    ablation's learned reward, on exact bandit trajectories (neither ablation's reward reads
    the exploitation episode past its first state, so it plays arm 0)."""
    k = family.n_problems
    trials = run_wave(
        family.make_batched(k),
        family,
        _FixedArms((explore_arm, 0)),
        np.arange(k),
        np.zeros((k, 1), dtype=np.int64),
        np.arange(k),
        training=False,
    )
    batch = trial_record(trials, method.obs_names)
    explore, f, g = _inputs(method, batch)
    r = method.relabel_exploration(SampledTrials(batch, explore, f, g))
    return r.sum(1) + method.config.exploration_penalty * family.config.H


def _bandit_run(
    tmp_path: Path, method: str, a: int, seed: int, steps: int = 1_600
) -> tuple[Trainer, pd.DataFrame]:
    config = RunConfig(
        env="bandit",
        env_kwargs={"A": a},
        method=method,
        preset="epsilon1",
        steps=steps,
        num_envs=16,
        eval_every=32,
        eval_trials=32,
        checkpoint_every=1_000_000,
        threads=1,
        seed=seed,
    )
    trainer = Trainer(config, tmp_path / method, progress=False)
    trainer.run()
    df = read_csv(tmp_path / method / "metrics.csv")
    return trainer, df[df["split"] == "test"]


def test_dynamics_ablation_learns_to_reveal_on_the_bandit(tmp_path):
    """A = 3, ε = 1: only arm 2 (a★) has a μ-dependent transition, to revealed = μ + 1. A model
    that knows nothing predicts its mean, so the learned gain d_0 − d_1 of a★ is the squared
    error of that guess, (μ + 1 − 2)²/3² = (1/9, 0, 1/9) for μ = (0, 1, 2), and 0 elsewhere."""
    trainer, test = _bandit_run(tmp_path, "dream_dynamics", a=3, seed=1)
    first, last = test.iloc[0], test.iloc[-1]
    assert first["reveal_frac"] == 0.0 and first["return"] < 0.5  # greedy explorer: not a★
    assert last["reveal_frac"] == 1.0 and last["return"] == 1.0
    assert steps_to_informative(test)["env_steps"] <= 640
    method, family = trainer.method, trainer.family
    gain = _relabelled_gain(method, family, explore_arm=2)
    np.testing.assert_allclose(gain.numpy(), [1 / 9, 0.0, 1 / 9], atol=0.03)
    for arm in (0, 1):
        np.testing.assert_allclose(_relabelled_gain(method, family, arm).numpy(), 0.0, atol=0.01)


def test_e2e_ablation_regresses_exploration_on_exploitation_values(tmp_path):
    """A = 4, ε = 1: π^exp's values track max_a Q_task(s, g(τ_a)) (App. C.2's RL² update); it
    does find a★, but only after the exploitation policy learned to use it (chicken-and-egg):
    several times later than DREAM on the same seed."""
    e2e, test = _bandit_run(tmp_path, "dream_e2e_exploration", a=4, seed=0)
    _, dream_test = _bandit_run(tmp_path, "dream", a=4, seed=0, steps=800)
    assert test.iloc[0]["reveal_frac"] == 0.0
    assert test.iloc[-1]["reveal_frac"] == 1.0 and test.iloc[-1]["return"] == 1.0
    e2e_steps = steps_to_informative(test)["env_steps"]
    dream_steps = steps_to_informative(dream_test)["env_steps"]
    assert dream_steps <= 320 and e2e_steps >= 3 * dream_steps
    method, c = e2e.method, e2e.method.config.exploration_penalty
    values = [float(_relabelled_gain(method, e2e.family, arm).mean()) for arm in range(4)]
    assert values[3] > max(values[:3]) + 0.2  # a★ is worth more, once exploitation uses it
    assert max(values[:3]) < 0.45  # uninformative: about chance (1/4), plus overestimation
    s0 = {"state": torch.zeros((1, 1, 3), dtype=torch.int64)}
    with torch.no_grad():
        q_exp = method.explore_q(s0, torch.full((1, 1), -1), torch.zeros(1, 1))[0][0, 0]
    np.testing.assert_allclose(q_exp.numpy(), np.array(values) - c, atol=0.12)


def test_only_the_exploration_policy_differs_from_dream(tmp_path):
    """At ε = 1 acting ignores Q_exp, so the data and every exploitation-side update are
    DREAM's: f, g, Q_task (and their targets) end bit-identical, Q_exp does not (the e2e
    ablation with ``decoder_loss_weight=1``, so that g's loss is DREAM's too)."""
    nets = {}
    for method, args in (
        ("dream", {}),
        ("dream_dynamics", {}),
        ("dream_e2e_exploration", {"decoder_loss_weight": "1"}),
    ):
        config = RunConfig(**{**SMALL, "method": method, "preset": "epsilon1", "method_args": args})
        trainer = Trainer(config, tmp_path / method, progress=False)
        trainer.run()
        assert trainer.method.updates == 52
        nets[method] = trainer.method.state_dict()
    for method in ("dream_dynamics", "dream_e2e_exploration"):
        for group in ("nets", "targets"):
            for net in ("task_q", "encoder", "decoder"):
                assert_same_state(
                    nets[method][group][net], nets["dream"][group][net], f"{method}.{net}"
                )
        differs = [
            not torch.equal(v, nets["dream"]["nets"]["explore_q"][k])
            for k, v in nets[method]["nets"]["explore_q"].items()
        ]
        assert any(differs)
