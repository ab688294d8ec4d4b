"""The math of the neural DREAM pieces (deep/dream.py, deep/dqn.py, deep/networks.py, replay).

Each test checks a formula of the paper (Eq. 4–5, App. A, App. B.3–B.4) or an invariant of a
building block on inputs where a wrong implementation would give a different number.
"""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from deep.dqn import LinearSchedule, double_q_targets, masked_td_loss
from deep.dream import Dream, DreamConfig
from deep.envs import make
from deep.networks import (
    TRAJECTORY_DECODERS,
    DuelingHead,
    GridStateEmbedder,
    PooledTrajectoryDecoder,
    TrajectoryDecoder,
)
from deep.replay import EpisodeReplay

FLOATS = st.floats(-3.0, 3.0, allow_nan=False, width=32)


def _dream(**changes) -> Dream:
    family = make("bandit", A=3, H=2)
    env = family.make_batched(2)
    return Dream(family, env.observation_space, env.n_actions, DreamConfig(**changes), seed=0)


@pytest.fixture(scope="module")
def dream() -> Dream:
    return _dream(exploration_penalty=0.25)


# ----------------------------------------------------------------- 1. information gain (Eq. 4–5)
@settings(deadline=None, max_examples=40)
@given(
    b=st.integers(1, 4),
    t=st.integers(1, 6),
    z=st.integers(1, 5),
    c=st.sampled_from([0.0, 0.01, 0.25, 1.0]),
    seed=st.integers(0, 2**31 - 1),
)
def test_exploration_rewards_telescope(b, t, z, c, seed):
    dream = _dream_cached(c)
    gen = torch.Generator().manual_seed(seed)
    f = torch.randn(b, z, generator=gen, dtype=torch.float64)
    g = torch.randn(b, t + 1, z, generator=gen, dtype=torch.float64)
    r, d = dream.exploration_rewards(f, g)
    assert r.shape == (b, t) and d.shape == (b, t + 1)
    dist = ((g - f[:, None, :]) ** 2).sum(-1)  # d_t = ‖g(τ_:t) − f(μ)‖²
    torch.testing.assert_close(d, dist)
    torch.testing.assert_close(r, dist[:, :-1] - dist[:, 1:] - c)
    # Eq. 4: Σ_t r_t = d_0 − d_T − c·T
    torch.testing.assert_close(r.sum(1), dist[:, 0] - dist[:, -1] - c * t)


_DREAMS: dict[float, Dream] = {}


def _dream_cached(c: float) -> Dream:
    if c not in _DREAMS:
        _DREAMS[c] = _dream(exploration_penalty=c)
    return _DREAMS[c]


def test_exploration_reward_is_positive_when_the_decoder_moves_towards_f():
    """Information *gain*: getting closer to f(μ) pays (the sign App. A prints would punish)."""
    dream = _dream(exploration_penalty=0.0)
    f = torch.tensor([[1.0, 2.0]])
    g = torch.tensor([[[0.0, 0.0], [0.5, 1.0], [1.0, 2.0]]])  # distances 5, 1.25, 0
    r, _ = dream.exploration_rewards(f, g)
    torch.testing.assert_close(r, torch.tensor([[3.75, 1.25]]))


def test_exploration_rewards_carry_no_gradient(dream):
    f = torch.randn(2, 3, requires_grad=True)
    g = torch.randn(2, 4, 3, requires_grad=True)
    r, d = dream.exploration_rewards(f, g)
    assert not r.requires_grad and not d.requires_grad


# ----------------------------------------------------------------- 2. bottleneck (Eq. 3, App. A)
def _grad(dream: Dream, f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    f = f.clone().requires_grad_(True)
    loss = dream.bottleneck_loss(f)
    if not loss.requires_grad:  # a constant: no gradient at all
        return loss.detach(), torch.zeros_like(f)
    (grad,) = torch.autograd.grad(loss, f, allow_unused=True)
    return loss.detach(), torch.zeros_like(f) if grad is None else grad


def _rows(norms_sq: list[float], z: int, seed: int) -> torch.Tensor:
    """Rows with the given squared norms in random directions (float64)."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(len(norms_sq), z, generator=gen, dtype=torch.float64)
    x = x / x.norm(dim=1, keepdim=True)
    return x * torch.tensor(norms_sq, dtype=torch.float64).sqrt().unsqueeze(1)


SQ_NORMS = st.lists(
    st.floats(0.05, 30.0).filter(lambda v: abs(v - 4.0) > 1e-3), min_size=1, max_size=6
)


@settings(deadline=None, max_examples=40)
@given(
    norms=SQ_NORMS,
    z=st.integers(1, 6),
    weight=st.sampled_from([0.5, 1.0, 3.0]),
    seed=st.integers(0, 99),
)
def test_hinge_bottleneck_gradient(norms, z, weight, seed):
    k = 4.0
    dream = _bottleneck_dream("hinge", k, weight)
    f = _rows(norms, z, seed)
    loss, grad = _grad(dream, f)
    big = torch.tensor(norms) > k
    b = len(norms)
    sq = (f**2).sum(1)
    torch.testing.assert_close(loss, weight * torch.relu(sq - k).mean())
    assert torch.all(grad[~big] == 0.0)  # exactly zero below the threshold
    torch.testing.assert_close(grad[big], 2.0 * weight * f[big] / b)
    assert torch.all(grad[big].norm(dim=1) > 0)


@settings(deadline=None, max_examples=40)
@given(
    norms=SQ_NORMS,
    z=st.integers(1, 6),
    weight=st.sampled_from([0.5, 1.0, 3.0]),
    seed=st.integers(0, 99),
)
def test_min_bottleneck_gradient(norms, z, weight, seed):
    """The formula as printed, λ·min(‖f‖², K): shrinks f only while it is below K."""
    k = 4.0
    dream = _bottleneck_dream("min", k, weight)
    f = _rows(norms, z, seed)
    loss, grad = _grad(dream, f)
    big = torch.tensor(norms) > k
    b = len(norms)
    torch.testing.assert_close(loss, weight * torch.clamp((f**2).sum(1), max=k).mean())
    assert torch.all(grad[big] == 0.0)
    torch.testing.assert_close(grad[~big], 2.0 * weight * f[~big] / b)
    assert torch.all(grad[~big].norm(dim=1) > 0)


def test_no_bottleneck_is_zero():
    dream = _bottleneck_dream("none", 4.0, 1.0)
    f = _rows([0.1, 9.0, 100.0], 3, 0)
    loss, grad = _grad(dream, f)
    assert loss.item() == 0.0
    assert torch.all(grad == 0.0)
    # Fig. 6's row drops the penalty and keeps the noise ρ; the other reading drops both.
    assert DreamConfig.no_bottleneck().bottleneck == "none"
    assert DreamConfig.no_bottleneck().encoder_std == DreamConfig().encoder_std > 0
    assert DreamConfig.no_bottleneck_no_noise().encoder_std == 0.0
    assert DreamConfig.no_bottleneck_no_noise().bottleneck == "none"


_BOTTLENECKS: dict[tuple[str, float, float], Dream] = {}


def _bottleneck_dream(kind: str, k: float, weight: float) -> Dream:
    key = (kind, k, weight)
    if key not in _BOTTLENECKS:
        _BOTTLENECKS[key] = _dream(
            bottleneck=kind, bottleneck_threshold=k, bottleneck_weight=weight
        )
    return _BOTTLENECKS[key]


def test_unknown_bottleneck_is_rejected():
    with pytest.raises(ValueError, match="bottleneck 'max' is unknown"):
        DreamConfig(bottleneck="max")


def test_task_head_paper_and_authors():
    """App. B.3's Q_task head is Linear(64) + ReLU; the authors' code's is 256 → ReLU → 64."""
    paper, authors = _dream().task_q, _dream(task_head="authors").task_q
    assert paper.fc.out_features == 64 and paper.fc_out is None
    assert not any(k.startswith("fc_out") for k in paper.state_dict())  # old checkpoints load
    assert authors.fc.out_features == 256
    assert (authors.fc_out.in_features, authors.fc_out.out_features) == (256, 64)
    features = torch.randn(2, 3, authors.fc.in_features - 64)
    zs = torch.randn(4, 2, 64)
    x = torch.cat([features.expand(4, -1, -1, -1), zs.unsqueeze(2).expand(-1, -1, 3, -1)], -1)
    expected = authors.head(authors.fc_out(torch.relu(authors.fc(x))))
    torch.testing.assert_close(authors.head_on(features, zs), expected)
    assert DreamConfig.official().task_head == "authors"
    assert DreamConfig().task_head == "paper"
    with pytest.raises(ValueError, match="task_head 'wide' is unknown; allowed: paper, authors"):
        DreamConfig(task_head="wide")


# ----------------------------------------------------------------- 3. dueling head
def test_dueling_mean_is_taken_per_state():
    torch.manual_seed(0)
    head = DuelingHead(8, 5)
    h = torch.randn(6, 8) * torch.arange(1, 7).unsqueeze(1)  # rows differ a lot
    q = head(h)
    v = head.value(h).squeeze(-1)
    adv = head.advantage(h)
    # The rows' advantage means differ, so a batch-wide mean would not pass the check below.
    assert adv.mean(-1).std() > 0.1
    torch.testing.assert_close(q.mean(-1), v)  # row by row
    torch.testing.assert_close(q - v.unsqueeze(-1), adv - adv.mean(-1, keepdim=True))
    # Leading dimensions are handled the same way (the [B, T, ·] inputs of the Q networks).
    q3 = head(h.reshape(2, 3, 8))
    torch.testing.assert_close(q3.reshape(6, 5), q)
    torch.testing.assert_close(q3.mean(-1), head.value(h.reshape(2, 3, 8)).squeeze(-1))


# ----------------------------------------------------------------- 4. double DQN targets
def test_double_q_takes_argmax_online_value_target():
    q_online = torch.tensor([[1.0, 5.0, 2.0], [0.0, -1.0, 3.0], [9.0, 1.0, 1.0]])
    q_target = torch.tensor([[7.0, -2.0, 100.0], [10.0, 20.0, -5.0], [4.0, 8.0, 6.0]])
    # online argmax: 1, 2, 0; target argmax: 2, 1, 1 — different everywhere.
    assert not torch.equal(q_online.argmax(-1), q_target.argmax(-1))
    rewards = torch.tensor([0.5, -1.0, 2.0])
    dones = torch.tensor([False, False, True])
    y = double_q_targets(q_online, q_target, rewards, dones, gamma=0.9)
    expected = torch.tensor([0.5 + 0.9 * -2.0, -1.0 + 0.9 * -5.0, 2.0])  # done: no bootstrap
    torch.testing.assert_close(y, expected)


@settings(deadline=None, max_examples=30)
@given(
    data=st.data(),
    b=st.integers(1, 3),
    t=st.integers(1, 4),
    a=st.integers(2, 5),
    gamma=st.floats(0.0, 1.0),
)
def test_double_q_targets_match_a_loop(data, b, t, a, gamma):
    arr = hnp.arrays(np.float64, (b, t, a), elements=FLOATS)
    q_on = torch.from_numpy(data.draw(arr))
    q_tg = torch.from_numpy(data.draw(arr))
    r = torch.from_numpy(data.draw(hnp.arrays(np.float64, (b, t), elements=FLOATS)))
    done = torch.from_numpy(data.draw(hnp.arrays(np.bool_, (b, t))))
    y = double_q_targets(q_on, q_tg, r, done, gamma)
    for i in range(b):
        for j in range(t):
            best = int(np.argmax(q_on[i, j].numpy()))
            boot = 0.0 if done[i, j] else gamma * float(q_tg[i, j, best])
            assert float(y[i, j]) == pytest.approx(float(r[i, j]) + boot, rel=1e-6, abs=1e-6)


# ----------------------------------------------------------------- 5. masked TD loss
@settings(deadline=None, max_examples=40)
@given(data=st.data(), b=st.integers(1, 4), t=st.integers(1, 5), a=st.integers(2, 4))
def test_masked_td_loss_ignores_masked_steps(data, b, t, a):
    q = torch.from_numpy(data.draw(hnp.arrays(np.float64, (b, t, a), elements=FLOATS)))
    y = torch.from_numpy(data.draw(hnp.arrays(np.float64, (b, t), elements=FLOATS)))
    actions = torch.from_numpy(
        data.draw(hnp.arrays(np.int64, (b, t), elements=st.integers(0, a - 1)))
    )
    mask = torch.from_numpy(data.draw(hnp.arrays(np.bool_, (b, t))))
    loss = masked_td_loss(q, actions, y, mask)
    n = int(mask.sum())
    taken = q.gather(-1, actions.unsqueeze(-1)).squeeze(-1)
    expected = ((taken - y) ** 2)[mask].sum() / max(n, 1)
    torch.testing.assert_close(loss, expected)
    # Garbage at masked steps (including the −1 padding actions of ended episodes).
    junk = ~mask
    q2, y2, a2 = q.clone(), y.clone(), actions.clone()
    q2[junk] = 1e6
    y2[junk] = -1e6
    a2[junk] = -1
    torch.testing.assert_close(masked_td_loss(q2, a2, y2, mask), loss)
    if n > 0:  # and the unmasked steps do count
        q3 = q.clone()
        i, j = mask.nonzero()[0]
        q3[i, j] += 10.0
        assert not torch.allclose(masked_td_loss(q3, actions, y, mask), loss)


def test_masked_td_loss_does_not_backprop_into_targets():
    q = torch.randn(2, 3, 4, requires_grad=True)
    y = torch.randn(2, 3, requires_grad=True)
    loss = masked_td_loss(q, torch.zeros(2, 3, dtype=torch.int64), y, torch.ones(2, 3))
    loss.backward()
    assert y.grad is None and q.grad is not None


# ----------------------------------------------------------------- 6. replay
FIELDS = {
    "obs": ((3, 2), np.dtype(np.int16)),
    "reward": ((3,), np.dtype(np.float32)),
    "problem": ((), np.dtype(np.int64)),
}


def _records(start: int, n: int) -> dict[str, np.ndarray]:
    """Records numbered start..start+n−1; every field encodes the record's number."""
    ids = np.arange(start, start + n)
    return {
        "obs": (ids[:, None, None] * 10 + np.arange(6).reshape(1, 3, 2)).astype(np.int16),
        "reward": (ids[:, None] + np.array([0.25, 0.5, 0.75])).astype(np.float32),
        "problem": ids.astype(np.int64),
    }


@settings(deadline=None, max_examples=40)
@given(
    capacity=st.integers(1, 12),
    chunks=st.lists(st.integers(1, 7), min_size=1, max_size=6),
    seed=st.integers(0, 2**32 - 1),
)
def test_replay_returns_stored_records_and_overwrites_oldest(capacity, chunks, seed):
    buf = EpisodeReplay(capacity, FIELDS)
    slots: list[int | None] = [None] * capacity  # reference ring: slot → record number
    pos, total = 0, 0
    for n in chunks:
        buf.add(_records(total, n))
        for k in range(total, total + n):
            slots[pos] = k
            pos = (pos + 1) % capacity
        total += n
    stored = [s for s in slots if s is not None]
    assert len(buf) == min(total, capacity) == len(stored)
    assert buf.added == total
    # Exactly the newest min(total, capacity) records are kept.
    assert sorted(stored) == list(range(max(0, total - capacity), total))
    rng = np.random.default_rng(seed)
    ref_rng = np.random.default_rng(seed)
    batch = buf.sample(9, rng)
    idx = ref_rng.integers(len(buf), size=9)
    expected = _records(0, total)
    want = [slots[i] for i in idx]
    for name in FIELDS:
        np.testing.assert_array_equal(batch[name], expected[name][want])
        assert batch[name].dtype == FIELDS[name][1]
    # The sample is a copy: writing into it leaves the buffer alone.
    batch["problem"][:] = -7
    assert (buf.data["problem"][: len(buf)] >= 0).all()


def test_replay_state_dict_round_trip():
    buf = EpisodeReplay(5, FIELDS)
    buf.add(_records(0, 3))
    buf.add(_records(3, 4))  # wrapped: holds 2..6, next slot 2
    state = pickle.loads(pickle.dumps(buf.state_dict()))
    buf.add(_records(100, 1))  # the saved state must not alias the live arrays
    restored = EpisodeReplay(5, FIELDS)
    restored.load_state_dict(state)
    assert (len(restored), restored.next, restored.added) == (5, 2, 7)
    rng = np.random.default_rng(3)
    rng.integers(10, size=4)  # some arbitrary state
    rng_b = copy.deepcopy(rng)
    again = EpisodeReplay(5, FIELDS)
    again.load_state_dict(state)
    a, b = restored.sample(16, rng), again.sample(16, rng_b)
    for name in FIELDS:
        np.testing.assert_array_equal(a[name], b[name])
    assert set(a["problem"].tolist()) <= {2, 3, 4, 5, 6}
    assert len(set(a["problem"].tolist())) > 1
    # The restored buffer continues the ring where the saved one was.
    restored.add(_records(50, 1))
    assert restored.data["problem"][2] == 50
    with pytest.raises(ValueError, match="capacity"):
        EpisodeReplay(6, FIELDS).load_state_dict(state)


def test_replay_rejects_bad_input():
    with pytest.raises(ValueError, match="capacity"):
        EpisodeReplay(0, FIELDS)
    buf = EpisodeReplay(2, FIELDS)
    with pytest.raises(ValueError, match="empty"):
        buf.sample(1, np.random.default_rng(0))
    with pytest.raises(ValueError, match="fields"):
        buf.add({"obs": np.zeros((1, 3, 2))})


# ----------------------------------------------------------------- 7. grid state embedder
def _reference_embedding(emb: GridStateEmbedder, x: torch.Tensor, highs: list[int]):
    """concat_i E_i[x_i] → Linear(256) → ReLU → Linear(out), with one table per dimension."""
    sizes = [h + 1 for h in highs]
    starts = np.cumsum([0, *sizes[:-1]])
    parts = [
        emb.table.weight[s : s + n][x[..., i]]
        for i, (s, n) in enumerate(zip(starts, sizes, strict=True))
    ]
    hidden = torch.relu(emb.hidden(torch.cat(parts, dim=-1)))
    return emb.out(hidden)


def _uses_table(emb: GridStateEmbedder, n: int) -> bool:
    rows = emb.table.weight.shape[0]
    d = emb.n_dims
    return n * d * emb.per_dim > rows * emb.per_dim + n * d


@settings(deadline=None, max_examples=20)
@given(
    highs=st.lists(st.integers(0, 9), min_size=1, max_size=5),
    seed=st.integers(0, 2**31 - 1),
)
def test_grid_embedder_paths_agree(highs, seed):
    torch.manual_seed(seed % 1000)
    emb = GridStateEmbedder(highs, out_dim=7, per_dim=5).double()
    rng = np.random.default_rng(seed)
    n = 64
    x = torch.from_numpy(rng.integers(0, np.asarray(highs) + 1, size=(n, len(highs))))
    assert _uses_table(emb, n) and not _uses_table(emb, 1)  # both paths are exercised
    big = emb(x)
    rows = torch.cat([emb(x[i : i + 1]) for i in range(n)])
    ref = _reference_embedding(emb, x, highs)
    torch.testing.assert_close(big, rows)
    torch.testing.assert_close(big, ref)
    # Leading dimensions and the {"state": ...} form.
    torch.testing.assert_close(emb({"state": x.reshape(4, 16, -1)}), big.reshape(4, 16, 7))


def test_grid_embedder_gradients_agree():
    highs = [3, 5, 2, 7]
    torch.manual_seed(1)
    emb = GridStateEmbedder(highs, out_dim=6).double()
    x = torch.from_numpy(np.random.default_rng(0).integers(0, np.array(highs) + 1, size=(48, 4)))
    weights = torch.randn(48, 6, dtype=torch.float64)
    assert _uses_table(emb, 48) and not _uses_table(emb, 2)

    def grads(loss: torch.Tensor) -> dict[str, torch.Tensor]:
        emb.zero_grad(set_to_none=True)
        loss.backward()
        return {n: p.grad.clone() for n, p in emb.named_parameters()}

    g_table = grads((emb(x) * weights).sum())
    g_direct = grads(sum((emb(x[i : i + 2]) * weights[i : i + 2]).sum() for i in range(0, 48, 2)))
    g_ref = grads((_reference_embedding(emb, x, highs) * weights).sum())
    for name in g_table:
        torch.testing.assert_close(g_table[name], g_direct[name], msg=name)
        torch.testing.assert_close(g_table[name], g_ref[name], msg=name)
    # Unused embedding rows get no gradient on either path.
    used = torch.zeros(emb.table.weight.shape[0], dtype=torch.bool)
    used[(x + emb.offsets).flatten()] = True
    if (~used).any():
        assert torch.all(g_table["table.weight"][~used] == 0)


# ----------------------------------------------------------------- 8. trajectory decoder
@pytest.mark.parametrize("kind", sorted(TRAJECTORY_DECODERS))
def test_trajectory_decoder_is_causal(kind):
    torch.manual_seed(0)
    highs = [4, 4]
    dec = TRAJECTORY_DECODERS[kind](GridStateEmbedder(highs), n_actions=3, z_dim=8)
    rng = np.random.default_rng(0)
    b, t = 3, 5
    obs = torch.from_numpy(rng.integers(0, 5, size=(b, t + 1, 2)))
    actions = torch.from_numpy(rng.integers(0, 3, size=(b, t)))
    rewards = torch.from_numpy(rng.normal(size=(b, t)).astype(np.float32))
    base = dec({"state": obs}, actions, rewards)
    assert base.shape == (b, t + 1, 8)
    # Entry 0 (the empty prefix) is the same for every trajectory.
    torch.testing.assert_close(base[:, 0], base[:1, 0].expand(b, -1))
    for k in range(t):  # change transition k (a_k, r_k, s_{k+1}): entries 0..k stay
        o2, a2, r2 = obs.clone(), actions.clone(), rewards.clone()
        a2[:, k] = (a2[:, k] + 1) % 3
        r2[:, k] += 1.0
        o2[:, k + 1] = (o2[:, k + 1] + 1) % 5
        out = dec({"state": o2}, a2, r2)
        torch.testing.assert_close(out[:, : k + 1], base[:, : k + 1])
        assert not torch.allclose(out[:, k + 1], base[:, k + 1])


def test_pooled_decoder_is_the_prefix_maximum_of_its_transitions():
    """g(τ_{:t}) = head(max_{i<t} φ_i): the set of embedded transitions, in any order."""
    torch.manual_seed(1)
    dec = PooledTrajectoryDecoder(GridStateEmbedder([4, 4]), n_actions=3, z_dim=8)
    rng = np.random.default_rng(1)
    b, t = 4, 6
    obs = {"state": torch.from_numpy(rng.integers(0, 5, size=(b, t + 1, 2)))}
    actions = torch.from_numpy(rng.integers(0, 3, size=(b, t)))
    rewards = torch.from_numpy(rng.normal(size=(b, t)).astype(np.float32))
    out = dec(obs, actions, rewards)
    h = torch.relu(dec.pool(dec.transitions(obs, actions, rewards)))
    for k in range(1, t + 1):
        shuffled = h[:, rng.permutation(k)]  # the order of the prefix does not matter
        torch.testing.assert_close(out[:, k], dec.head(shuffled.max(dim=1).values))
    torch.testing.assert_close(out[:, 0], dec.head(torch.zeros(b, 128)))
    assert "lstm" not in dict(dec.named_children())


def test_dream_builds_the_decoder_it_is_configured_with():
    assert type(_dream().decoder) is TrajectoryDecoder
    assert type(_dream(decoder="pooled").decoder) is PooledTrajectoryDecoder
    with pytest.raises(ValueError, match="decoder 'gru' is unknown; allowed: lstm, pooled"):
        DreamConfig(decoder="gru")


# ----------------------------------------------------------------- 9. ε schedule
def test_linear_schedule_values():
    s = LinearSchedule(1.0, 0.01, 100)
    assert s.value(0) == 1.0
    assert s.value(50) == pytest.approx(0.505)
    assert s.value(100) == pytest.approx(0.01)
    assert s.value(10_000) == pytest.approx(0.01)
    assert LinearSchedule(0.5, 0.1, 0).value(0) == pytest.approx(0.1)
    rising = LinearSchedule(0.0, 1.0, 10)
    assert rising.value(5) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="epsilon"):
        LinearSchedule(1.5, 0.1, 10)
    with pytest.raises(ValueError, match="steps"):
        LinearSchedule(1.0, 0.1, -1)


def test_exploration_gamma_discounts_only_the_exploration_targets(tmp_path, monkeypatch):
    """With ``exploration_gamma`` set, π^exp's DDQN targets use it and π^task's keep γ."""
    import deep.dream
    from deep.train import RunConfig, Trainer

    seen: list[float] = []

    def spy(*args, **kwargs):
        seen.append(float(args[4]))
        return double_q_targets(*args, **kwargs)

    monkeypatch.setattr(deep.dream, "double_q_targets", spy)
    config = RunConfig(
        env="bandit", env_kwargs={"A": 3}, preset="tiny", steps=240, num_envs=4,
        eval_every=10_000, eval_trials=4, threads=1, method_args={"exploration_gamma": "0.5"},
    )  # fmt: skip
    Trainer(config, tmp_path / "run", progress=False).run()
    assert seen and set(seen) == {0.5, DreamConfig().gamma}
    with pytest.raises(ValueError, match=r"exploration_gamma=1\.5 is invalid"):
        DreamConfig(exploration_gamma=1.5)
