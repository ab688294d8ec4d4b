"""VariBAD (deep/varibad.py): the trial sequence, the App. B.3 losses, acting, training, resume.

Each math test compares the vectorised code with a slow loop written here, on inputs where a
wrong mask, a wrong shift or a missing term would give a different number. Training runs use
the ``tiny`` preset and one torch thread.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from common.io import read_csv, read_header
from deep.envs import make
from deep.envs.sign import observation_space as sign_observation_space
from deep.metrics import evaluate
from deep.presets import apply_preset
from deep.registry import for_benchmark
from deep.replay import trial_record
from deep.sequences import trial_entries
from deep.train import RunConfig, Trainer, main
from deep.trial_loop import run_wave, sample_trials
from deep.varibad import VariBad, VariBadConfig, gaussian_kl

torch.set_num_threads(1)


# ----------------------------------------------------------------- helpers
def _method(env: str = "bandit", seed: int = 0, num_envs: int = 2, **changes) -> VariBad:
    family = make(env, **({"A": 3, "H": 2} if env == "bandit" else {}))
    space = family.make_batched(num_envs, seed).observation_space
    cfg = VariBadConfig(**changes)
    cfg = for_benchmark(cfg, family)
    return VariBad(family, space, family.make_batched(1).n_actions, cfg, seed=seed)


def _batch(lengths: list[tuple[int, int]], horizon: int, highs: list[int], seed: int = 0):
    """Stored-trial records with the given (T_e, T_x) and random contents past the ends too."""
    rng = np.random.default_rng(seed)
    b, d = len(lengths), len(highs)
    out: dict[str, np.ndarray] = {"problem": rng.integers(0, 3, size=b)}
    for prefix, col in (("explore", 0), ("exploit", 1)):
        out[f"{prefix}_obs_state"] = rng.integers(
            0, np.asarray(highs) + 1, size=(b, horizon + 1, d)
        )
        out[f"{prefix}_actions"] = rng.integers(0, 3, size=(b, horizon))
        out[f"{prefix}_rewards"] = rng.normal(size=(b, horizon)).astype(np.float32)
        out[f"{prefix}_length"] = np.array([lt[col] for lt in lengths])
    return out


def _entries(te: int, tx: int) -> list[tuple[str, int]]:
    """The trial sequence by hand: (episode, index) of each entry."""
    return [("explore", t) for t in range(te + 1)] + [("exploit", t) for t in range(tx + 1)]


# ----------------------------------------------------------------- 1. the trial sequence
def test_trial_entries_layout_by_hand():
    horizon = 3
    batch = _batch([(2, 3), (3, 1)], horizon, [5, 5])
    seq = trial_entries(batch, ["state"])
    assert seq.length.tolist() == [7, 6]
    assert seq.obs["state"].shape == (2, 7, 2)
    for b, (te, tx) in enumerate([(2, 3), (3, 1)]):
        entries = _entries(te, tx)
        for j, (ep, t) in enumerate(entries):
            np.testing.assert_array_equal(seq.obs["state"][b, j], batch[f"{ep}_obs_state"][b, t])
            first, last = t == 0, t == (te if ep == "explore" else tx)
            assert seq.prev_done[b, j] == int(last)
            if first:
                assert seq.prev_action[b, j] == -1 and seq.prev_reward[b, j] == 0
            else:
                assert seq.prev_action[b, j] == batch[f"{ep}_actions"][b, t - 1]
                assert seq.prev_reward[b, j] == batch[f"{ep}_rewards"][b, t - 1]
            assert bool(seq.acting[b, j]) == (not last)
            if last:
                assert seq.action[b, j] == -1 and seq.reward[b, j] == 0
                continue
            assert seq.action[b, j] == batch[f"{ep}_actions"][b, t]
            assert seq.reward[b, j] == batch[f"{ep}_rewards"][b, t]
            # E-RL²'s "E-": exploration rewards are observed but not optimised.
            expected = batch["exploit_rewards"][b, t] if ep == "exploit" else 0.0
            assert seq.td_reward[b, j] == expected
            # TD crosses the boundary: the last exploration step bootstraps from s'_0.
            assert seq.next_entry[b, j] == (te + 1 if j == te - 1 else j + 1)
            assert bool(seq.terminal[b, j]) == (ep == "exploit" and t == tx - 1)
        n = len(entries)
        assert seq.valid[b].tolist() == [j < n for j in range(7)]
        assert not seq.acting[b, n:].any() and (seq.obs["state"][b, n:] == 0).all()
    assert int(seq.terminal.sum()) == 2


def test_trial_entries_rejects_empty_episodes():
    batch = _batch([(0, 2)], 3, [2])
    with pytest.raises(ValueError, match="at least one step"):
        trial_entries(batch, ["state"])


# ----------------------------------------------------------------- 2. the losses
LENGTHS = [(2, 2), (1, 2), (2, 1)]  # bandit H = 2 (the method's record layout), varied ends


@pytest.fixture(scope="module")
def bandit_batch():
    highs = np.asarray(make("bandit", A=3, H=2).make_batched(1).observation_space.high)
    return _batch(LENGTHS, 2, highs.tolist(), seed=3)


def _losses_and_z(method: VariBad, batch):
    """``method.losses`` and the z it sampled (the same draw, replayed from the generator)."""
    state = method.gen.get_state()
    losses = method.loss_terms(batch)
    after = method.gen.get_state()
    method.gen.set_state(state)
    seq = method.sequence(batch)
    m, logvar = method.beliefs(seq)
    eps = torch.randn(m.shape, generator=method.gen)
    method.gen.set_state(after)
    return losses, method.sample_belief(m, logvar, eps), seq, m, logvar, eps


def _decode_one(dec, z_t: torch.Tensor, obs_i: torch.Tensor, a_i: int):
    """R̂ and T̂ of one pair through Linear on the concatenation [e(s); e(a); z] (App. B.3)."""
    e_s = dec.state(obs_i.reshape(1, -1))[0]
    e_a = dec.action.weight[a_i]
    w = torch.cat([dec.fc_sa.weight, dec.fc_z.weight], dim=1)
    h = torch.relu(w @ torch.cat([e_s, e_a, z_t]) + dec.fc_sa.bias)
    h = torch.relu(dec.fc2(h))
    return dec.reward(h)[0], dec.next_state(h)


def test_decoder_loss_covers_every_prefix_and_transition_pair(bandit_batch):
    method = _method(state_loss_weight=0.3)
    losses, z, *_ = _losses_and_z(method, bandit_batch)
    r_sum, s_sum, n_pairs = 0.0, 0.0, 0
    with torch.no_grad():
        for b, (te, tx) in enumerate(LENGTHS):
            entries = _entries(te, tx)
            obs = [torch.as_tensor(bandit_batch[f"{ep}_obs_state"][b, t]) for ep, t in entries]
            for t in range(len(entries)):  # every belief: prefixes of both episodes
                for i, (ep, k) in enumerate(entries[:-1]):
                    if k == (te if ep == "explore" else tx):
                        continue  # the exploration episode's last observation: no action
                    a = int(bandit_batch[f"{ep}_actions"][b, k])
                    r_hat, s_hat = _decode_one(method.decoder, z[b, t], obs[i], a)
                    r_sum += float((r_hat - bandit_batch[f"{ep}_rewards"][b, k]) ** 2)
                    s_sum += float(((s_hat - obs[i + 1].float()) ** 2).mean())
                    n_pairs += 1
    # (T_e + T_x + 2) beliefs × (T_e + T_x) transitions per trial
    assert n_pairs == sum((te + tx + 2) * (te + tx) for te, tx in LENGTHS) == 6 * 4 + 5 * 3 * 2
    torch.testing.assert_close(losses["reward"].item(), r_sum / n_pairs, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(losses["state"].item(), s_sum / n_pairs, rtol=1e-5, atol=1e-6)
    total = losses["td"] + losses["reward"] + 0.3 * losses["state"]
    torch.testing.assert_close(method.total_loss(losses), total)
    assert "kl" not in losses


def test_padded_steps_do_not_count(bandit_batch):
    """Changing anything past an episode's end leaves every loss term unchanged."""
    method = _method()
    edited = {k: v.copy() for k, v in bandit_batch.items()}
    b = 1  # T_e = 1 < H = 2: explore action/reward 1 and obs 2 are padding
    edited["explore_actions"][b, 1] = (edited["explore_actions"][b, 1] + 1) % 3
    edited["explore_rewards"][b, 1] += 5.0
    edited["explore_obs_state"][b, 2] = 0
    edited["exploit_rewards"][2, 1] -= 7.0  # T_x = 1 in trial 2
    state = method.gen.get_state()
    base = method.loss_terms(bandit_batch)
    method.gen.set_state(state)
    same = method.loss_terms(edited)
    for key in base:
        assert torch.equal(base[key], same[key]), key
    edited["exploit_rewards"][2, 0] += 1.0  # a real exploitation reward: R̂'s target and TD
    method.gen.set_state(state)
    changed = method.loss_terms(edited)
    assert changed["reward"] != base["reward"] and changed["td"] != base["td"]
    edited = {k: v.copy() for k, v in bandit_batch.items()}
    edited["explore_rewards"][0, 1] += 1.0  # a real exploration reward: R̂ only, not TD
    method.gen.set_state(state)
    changed = method.loss_terms(edited)
    assert changed["reward"] != base["reward"]


def test_subsampled_decoding_picks_real_entries_and_matches_the_full_pairs(bandit_batch):
    """decode_beliefs/decode_transitions: k distinct real entries per trial, whose errors are
    exactly the full [B, N, N] errors at the picked (t, i)."""
    method = _method(decode_beliefs=3, decode_transitions=2, state_loss_weight=0.5)
    seq = method.sequence(bandit_batch)
    m, _ = method.beliefs(seq)
    beliefs, transitions = method.decode_picks(seq)
    assert beliefs.shape == (3, 3) and transitions.shape == (3, 2)
    for b in range(3):
        assert len(set(beliefs[b].tolist())) == 3 and len(set(transitions[b].tolist())) == 2
        assert seq.valid[b, beliefs[b]].all() and seq.acting[b, transitions[b]].all()
    with torch.no_grad():
        full_r, full_s, full_pairs = method.decoder_errors(m, seq)
        r, s, pairs = method.decoder_errors(m, seq, beliefs, transitions)
    rows = torch.arange(3)[:, None, None]
    t, i = beliefs[:, :, None], transitions[:, None, :]
    torch.testing.assert_close(r, full_r[rows, t, i])
    torch.testing.assert_close(s, full_s[rows, t, i])
    assert torch.equal(pairs, full_pairs[rows, t, i])


def test_subsampling_off_or_covering_every_entry_draws_nothing(bandit_batch):
    """k = 0 (the default) or k ≥ N decodes every pair and leaves the random stream alone."""
    for k in (0, 64):
        method = _method(decode_beliefs=k, decode_transitions=k)
        before = method.gen.get_state()
        assert method.decode_picks(method.sequence(bandit_batch)) == (None, None)
        assert torch.equal(method.gen.get_state(), before)
    with pytest.raises(ValueError, match="decode_beliefs=-1 is invalid; allowed: 0"):
        VariBadConfig(decode_beliefs=-1)


def test_td_loss_by_a_loop_over_decision_steps(bandit_batch):
    """Double DQN over the trial: r̃ = 0 while exploring, bootstrap from s'_0, terminal at end."""
    method = _method(gamma=0.9)
    losses, z, seq, _, _, eps = _losses_and_z(method, bandit_batch)
    with torch.no_grad():
        q = method.q_net(seq.obs, z)
        m_t, logvar_t = method.beliefs(seq, target=True)
        q_t = method.targets["q_net"](seq.obs, method.sample_belief(m_t, logvar_t, eps))
    errs = []
    for b, (te, tx) in enumerate(LENGTHS):
        steps = [(j, "explore", j) for j in range(te)]
        steps += [(te + 1 + k, "exploit", k) for k in range(tx)]
        for n, (j, ep, k) in enumerate(steps):
            a = int(bandit_batch[f"{ep}_actions"][b, k])
            r = float(bandit_batch["exploit_rewards"][b, k]) if ep == "exploit" else 0.0
            if n + 1 < len(steps):
                nxt = steps[n + 1][0]
                y = r + 0.9 * float(q_t[b, nxt, q[b, nxt].argmax()])
            else:
                y = r  # the trial's last step
            errs.append((float(q[b, j, a]) - y) ** 2)
    torch.testing.assert_close(losses["td"].item(), float(np.mean(errs)), rtol=1e-5, atol=1e-7)


def _grads(loss: torch.Tensor, module: torch.nn.Module) -> float:
    params = [p for p in module.parameters() if p.requires_grad]
    grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
    return sum(0.0 if g is None else float(g.abs().sum()) for g in grads)


def test_q_loss_reaches_the_encoder_only_with_the_option(bandit_batch):
    default = _method()
    losses = default.loss_terms(bandit_batch)
    decoder_loss = losses["reward"] + losses["state"]
    assert _grads(losses["td"], default.encoder) == 0.0  # App. B.3: not through the policy
    assert _grads(losses["td"], default.q_net) > 0.0
    assert _grads(decoder_loss, default.encoder) > 0.0  # the encoder learns from the decoder
    assert _grads(decoder_loss, default.q_net) == 0.0
    official = _method(rl_grad_to_encoder=True)  # the authors' code: z not detached
    assert _grads(official.loss_terms(bandit_batch)["td"], official.encoder) > 0.0


def test_kl_option_adds_the_closed_form_gaussian_kl(bandit_batch):
    method = _method(kl_weight=0.25)
    assert method.encoder.logvar is not None
    losses, z, seq, m, logvar, eps = _losses_and_z(method, bandit_batch)
    std = torch.exp(0.5 * logvar)
    torch.testing.assert_close(z, m + std * eps)  # reparameterised with the learned σ
    kl = torch.distributions.kl_divergence(
        torch.distributions.Normal(m, std), torch.distributions.Normal(0.0, 1.0)
    ).sum(-1)
    valid = seq.valid.float()
    torch.testing.assert_close(losses["kl"], (kl * valid).sum() / valid.sum())
    expected = losses["td"] + losses["reward"] + losses["state"] + 0.25 * losses["kl"]
    torch.testing.assert_close(method.total_loss(losses), expected)
    assert _grads(losses["kl"], method.encoder) > 0.0 and _grads(losses["kl"], method.q_net) == 0
    # Default: no KL term, no variance head, z = m + ν ε with App. B.3's ν² = 1e-5.
    default = _method()
    assert default.encoder.logvar is None
    _, z0, _, m0, logvar0, eps0 = _losses_and_z(default, bandit_batch)
    assert logvar0 is None
    torch.testing.assert_close(z0, m0 + math.sqrt(1e-5) * eps0)


@settings(deadline=None, max_examples=30)
@given(
    d=st.integers(1, 5),
    seed=st.integers(0, 2**31 - 1),
    scale=st.sampled_from([0.1, 1.0, 3.0]),
)
def test_gaussian_kl_matches_torch_distributions(d, seed, scale):
    gen = torch.Generator().manual_seed(seed)
    m = scale * torch.randn(4, d, generator=gen, dtype=torch.float64)
    logvar = scale * torch.randn(4, d, generator=gen, dtype=torch.float64)
    ref = torch.distributions.kl_divergence(
        torch.distributions.Normal(m, torch.exp(0.5 * logvar)),
        torch.distributions.Normal(torch.zeros_like(m), torch.ones_like(m)),
    ).sum(-1)
    torch.testing.assert_close(gaussian_kl(m, logvar), ref)
    assert torch.all(gaussian_kl(torch.zeros(2, d), torch.zeros(2, d)) == 0)


# ----------------------------------------------------------------- 3. acting
def test_acting_belief_carries_across_the_episode_boundary():
    """The beliefs used to act equal the update's beliefs on the stored trial sequence."""
    family = make("distracting_bus", variant="official")  # has end_episode: ragged episodes
    env = family.make_batched(4, 0)
    cfg = apply_preset("epsilon1", VariBadConfig(min_replay=10**6))  # random acts, no update
    method = VariBad(family, env.observation_space, env.n_actions, cfg, seed=0)
    seen: dict[tuple[int, int], torch.Tensor] = {}
    act = method.act

    def recording_act(obs, t, trials, episode, training):
        actions = act(obs, t, trials, episode, training)
        seen[episode, t] = method.last_belief.clone()
        return actions

    method.act = recording_act  # type: ignore[method-assign]
    rng = np.random.default_rng(1)
    problems, goals = sample_trials(family, rng, 4, "train", 1)
    trials = run_wave(env, family, method, problems, goals, np.arange(4), training=True)
    te, tx = trials.episodes[0].length, trials.episodes[1].length
    assert len(set(te.tolist())) > 1 and len(set(tx.tolist())) > 1  # ragged ends in both
    seq = method.sequence(trial_record(trials, method.obs_names))
    with torch.no_grad():
        m, _ = method.beliefs(seq)
    checked = 0
    for (episode, t), belief in seen.items():
        for b in np.flatnonzero(trials.episodes[episode].length > t):  # rows that acted at t
            j = t if episode == 0 else te[b] + 1 + t
            torch.testing.assert_close(belief[b], m[b, j], rtol=1e-5, atol=1e-6)
            checked += 1
    assert checked == int(te.sum() + tx.sum())
    # Control: an encoder restarted at the exploitation episode's s'_0 gives other beliefs.
    rows, j0 = torch.arange(4), torch.from_numpy(te + 1)
    with torch.no_grad():
        fresh, _, _ = method.encoder(
            (
                {"state": seq.obs["state"][rows, j0].unsqueeze(1)},
                torch.full((4, 1), -1),
                torch.zeros(4, 1),
                torch.zeros(4, 1, dtype=torch.int64),
            )
        )
    assert (fresh[:, 0] - m[rows, j0]).abs().amax(-1).min() > 1e-3


def test_evaluation_is_greedy_on_the_mean_and_draws_nothing():
    method = _method(env="distracting_bus", num_envs=3)
    family = method.family
    env = family.make_batched(3, 0)
    problems, goals = sample_trials(family, np.random.default_rng(0), 3, "test", 1)
    before = method.gen.get_state()
    first = run_wave(env, family, method, problems, goals, np.arange(3), training=False)
    second = run_wave(env, family, method, problems, goals, np.arange(3), training=False)
    assert torch.equal(method.gen.get_state(), before)
    for a, b in zip(first.episodes, second.episodes, strict=True):
        np.testing.assert_array_equal(a.actions, b.actions)
    errors = method.decoder_error(first)
    assert errors.shape == (3,) and np.isfinite(errors).all() and (errors > 0).all()


# ----------------------------------------------------------------- 4. config
def test_config_defaults_for_env_and_presets():
    cfg = VariBadConfig()
    assert (cfg.epsilon.start, cfg.epsilon.end, cfg.epsilon.steps) == (1.0, 0.01, 500_000)
    assert (cfg.lr, cfg.batch_size, cfg.update_every, cfg.target_sync_every) == (1e-4, 32, 4, 5000)
    assert (cfg.gamma, cfg.grad_clip, cfg.replay_capacity, cfg.min_replay) == (0.99, 10, 16000, 800)
    assert cfg.kl_weight == 0.0 and cfg.latent_var == 1e-5 and not cfg.rl_grad_to_encoder
    sign = for_benchmark(cfg, make("sign"))
    assert not sign.state_decoder and sign.replay_capacity == 10_000
    assert for_benchmark(cfg, make("distracting_bus")) == cfg
    tiny = apply_preset("tiny", cfg)
    assert (tiny.batch_size, tiny.min_replay, tiny.epsilon.steps) == (8, 16, 4_000)
    assert apply_preset("epsilon1", cfg).epsilon.value(0) == 1.0
    assert json.loads(json.dumps(cfg.to_dict()))["epsilon"]["steps"] == 500_000
    with pytest.raises(ValueError, match="min_replay=0 is invalid"):
        VariBadConfig(min_replay=0)
    with pytest.raises(ValueError, match="latent_var"):
        VariBadConfig(latent_var=0.0)
    family, space = make("sign"), sign_observation_space()
    with pytest.raises(ValueError, match="state_decoder=True needs an integer state"):
        VariBad(family, space, 4, VariBadConfig(), seed=0)
    method = VariBad(family, space, 4, for_benchmark(VariBadConfig(), family), seed=0)
    assert method.decoder.next_state is None  # App. B.3: no state decoder on images


# ----------------------------------------------------------------- 5. training runs
SMALL = {
    "env": "bandit",
    "env_kwargs": {"A": 3},
    "method": "varibad",
    "preset": "tiny",
    "num_envs": 4,
    "eval_every": 16,
    "eval_trials": 8,
    "checkpoint_every": 1_000_000,
    "threads": 1,
    "seed": 0,
}
SMALL_STEPS = 320


def _metrics(out: Path) -> pd.DataFrame:
    return read_csv(out / "metrics.csv")


def _assert_same_metrics(a: pd.DataFrame, b: pd.DataFrame) -> None:
    drop = ["wall_s"]
    pd.testing.assert_frame_equal(
        a.drop(columns=drop).reset_index(drop=True),
        b.drop(columns=drop).reset_index(drop=True),
        check_exact=True,
    )


def test_varibad_learns_the_bandit(tmp_path):
    """A = 3, H = 1: only exploring with a★ = 2 reveals μ (in the exploration episode's last
    observation). The TD target crossing the boundary must teach that, and the belief must
    carry μ into exploitation, which then pays 1 (chance: 1/3)."""
    config = RunConfig(steps=BANDIT_STEPS, **{**SMALL, "eval_every": 100, "eval_trials": 30})
    trainer = Trainer(config, tmp_path, progress=False)
    summary = trainer.run()
    test = _metrics(tmp_path).query("split == 'test'")
    assert test["return"].iloc[0] < 0.5  # untrained
    assert (test["return"].iloc[-3:] == 1.0).all() and (test["reveal_frac"].iloc[-3:] == 1.0).all()
    assert summary["final_test_return"] == 1.0 and summary["env_steps"] >= BANDIT_STEPS
    # The belief carries μ: after the revealing step the reward decoder, asked about every
    # exploitation action at s'_0, ranks a_μ = μ first, in every greedy test trial.
    method = trainer.method
    _, played = evaluate(method, trainer.family, n_trials=30, seed=0, env=trainer.eval_env)
    for trials in played:
        seq = method.sequence(trial_record(trials, method.obs_names))
        with torch.no_grad():
            m, _ = method.beliefs(seq)  # entries: s_0, s_1 (μ revealed), s'_0, s'_1
            s0 = {"state": seq.obs["state"][:, 2:3].expand(-1, 3, -1)}
            r_hat, _ = method.decoder(m, s0, torch.arange(3).expand(len(trials), 3))
        np.testing.assert_array_equal(r_hat[:, 2].argmax(-1).numpy(), trials.problems)


BANDIT_STEPS = 2_000


def _check_run_dir(out: Path, env: str, steps: int) -> pd.DataFrame:
    header = read_header(out / "metrics.csv")
    assert header is not None and header["run"]["method"] == "varibad"
    assert header["method_config"]["batch_size"] == 8
    assert header["method_config"]["state_decoder"] == (env != "sign")
    df = read_csv(out / "metrics.csv")
    test = df[df["split"] == "test"]
    assert len(test) >= 2 and (test["method"] == "varibad").all()
    assert df["env_steps"].iloc[-1] >= steps and np.isfinite(test["return"]).all()
    assert np.isfinite(test["decoder_error"]).all() and (test["explore_len"] > 0).all()
    assert df["updates"].iloc[-1] > 0
    assert (out / "checkpoint.pt").is_file() and (out / "summary.json").is_file()
    return df


def _smoke(tmp_path, capsys, env: str, *extra: str) -> pd.DataFrame:
    out = tmp_path / env
    steps = int(extra[extra.index("--steps") + 1])
    argv = ["--env", env, "--method", "varibad", "--preset", "tiny", "--threads", "1"]
    status = main([*argv, "--no-progress", *extra, "--out", str(out)])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    summary = json.loads(captured.out.strip().splitlines()[-1])
    assert summary["env"] == env and summary["env_steps"] >= steps
    return _check_run_dir(out, env, steps)


def test_smoke_distracting_bus(tmp_path, capsys):
    """The grid path with both decoders and the KL option, acting and updating (CLI)."""
    df = _smoke(
        tmp_path, capsys, "distracting_bus", "--steps", "320", "--num-envs", "4",
        "--eval-every", "4", "--eval-trials", "8",
        "--method-arg", "kl_weight=0.1", "--method-arg", "min_replay=4",
    )  # fmt: skip
    test = df[df["split"] == "test"]
    assert test["reveal_frac"].between(0, 1).all()  # the exact city oracle ran
    assert df["updates"].iloc[-1] >= 40  # the second wave updated at every 4th step


@functools.cache
def _sign_renders() -> bool:
    if importlib.util.find_spec("miniworld") is None:
        return False
    from deep.doctor import probe_rendering

    return bool(probe_rendering(steps=1)["ok"])


def test_smoke_sign(tmp_path, capsys):
    if not _sign_renders():
        pytest.skip("MiniWorld does not render here (python -m deep.doctor)")
    df = _smoke(
        tmp_path, capsys, "sign", "--num-envs", "2", "--eval-trials", "2", "--steps", "100",
        "--eval-every", "4", "--method-arg", "min_replay=2", "--method-arg", "update_every=8",
    )  # fmt: skip
    # the sign oracle scores every exploration episode from its recorded start pose (the
    # training rows have no reveal fraction)
    evals = df[df["split"] == "test"]
    assert (
        evals["reveal_frac"].between(0, 1).all()
        and df[df["split"] == "train"]["reveal_frac"].isna().all()
    )
