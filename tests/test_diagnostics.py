"""analysis.diagnostics (Figs. 11-12, linear probes), the families' factors and visit counts,
and analysis.trial_gifs --checkpoint (a learned agent's trial as a GIF)."""

from __future__ import annotations

import importlib.util
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from analysis import diagnostics, trial_gifs
from analysis.checkpoints import load_run
from analysis.diagnostics import (
    code_swap,
    composite,
    decoder_refit,
    exploitation,
    training_signal,
)
from analysis.diagnostics.embeddings import ID_COLUMNS, factor_table
from analysis.diagnostics.probe import PROBE_COLUMNS, ProbeScore, fit_and_score, grouped_cv
from analysis.diagnostics.tsne import plane
from common.cli import UsageError
from common.io import read_csv, read_header
from deep.envs import make, registered_names
from deep.envs.city import (
    COLORED_DESTS,
    COLORED_STOPS,
    GRAY_DESTS,
    GRAY_STOPS,
    MAP_CELL,
    PERMUTATIONS,
    bus_routes,
)
from deep.envs.cooking import FRIDGES
from deep.envs.problem import NO_GOAL, ProblemFactor
from deep.train import RunConfig, Trainer
from deep.trial_loop import run_wave

torch.set_num_threads(1)

needs_miniworld = pytest.mark.skipif(
    importlib.util.find_spec("miniworld") is None, reason="miniworld is not installed"
)

TRIALS = 24


@pytest.fixture(scope="module")
def bus_run(tmp_path_factory):
    """A tiny DREAM run on the distracting bus (every component updated a few dozen times)."""
    out = tmp_path_factory.mktemp("run")
    config = RunConfig(
        env="distracting_bus", preset="tiny", steps=500, num_envs=8, eval_every=10_000,
        eval_trials=8, threads=1,
    )  # fmt: skip
    Trainer(config, out, progress=False).run()
    return out


@pytest.fixture(scope="module")
def bus_diagnostics(bus_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("diag")
    argv = [str(bus_run), "--out", str(out), "--trials", str(TRIALS)]
    refit = ["--refit-fits", "1", "--refit-steps", "2"]
    assert diagnostics.main([*argv, "--swap-trials", "3", "--swap-problems", "2", *refit]) == 0
    return out


def _untrained_checkpoint(out, method, env="distracting_bus", **kwargs):
    config = RunConfig(env=env, method=method, preset="tiny", threads=1, **kwargs)
    out.mkdir(parents=True)
    Trainer(config, out, progress=False).save_checkpoint()
    return out


# ----------------------------------------------------------------- the families' knowledge


def test_bus_factors_round_trip_to_the_problem_id():
    family = make("distracting_bus")
    names = [f.name for f in family.factors()]
    relevant = {f.name: f.relevant for f in family.factors()}
    assert names[:5] == ["colored", *(f"colored_stop{i}" for i in range(4))]
    assert names[5:] == ["gray", *(f"gray_stop{i}" for i in range(4))]
    assert all(relevant[n] == n.startswith("colored") for n in names)
    for mu in range(family.n_problems):
        v = family.problem_factors(mu)
        colored = PERMUTATIONS.index(tuple(v[f"colored_stop{i}"] for i in range(4)))
        gray = PERMUTATIONS.index(tuple(v[f"gray_stop{i}"] for i in range(4)))
        assert (colored, gray) == (v["colored"], v["gray"])
        assert colored + 24 * gray == mu
        routes = bus_routes("distracting", mu)  # the stops' destinations are the env's routes
        assert all(
            routes[s] == COLORED_DESTS[v[f"colored_stop{i}"]] for i, s in enumerate(COLORED_STOPS)
        )
        assert all(routes[s] == GRAY_DESTS[v[f"gray_stop{i}"]] for i, s in enumerate(GRAY_STOPS))
    assert "gray" not in make("map").problem_factors(5)


@pytest.mark.parametrize("name", registered_names())
def test_every_family_names_factors_that_determine_mu(name):
    family = make(name)
    factors = family.factors()
    assert factors and any(f.relevant for f in factors), name
    table = factor_table(family, range(family.n_problems))
    assert list(table.columns) == [f.name for f in factors]
    for f in factors:
        assert table[f.name].between(0, f.n_values - 1).all(), (name, f.name)
    assert not table.duplicated().any(), name  # distinct problems, distinct factors


def _play(family, problems, actions):
    """States ``[B, T+1, D]`` of the batched env playing ``actions`` ``[B, T]`` without a goal."""
    env = family.make_batched(len(problems))
    states = [env.reset(problems, NO_GOAL)]
    for t in range(actions.shape[1]):
        states.append(env.step(actions[:, t])[0])
    return {"state": np.stack(states, axis=1)}


@pytest.mark.parametrize("name", ["distracting_bus", "map", "cooking"])
def test_exploration_visits_match_a_loop_over_the_single_env(name):
    family = make(name)
    rng = np.random.default_rng(0)
    n, horizon = 12, family.horizon
    problems = rng.choice(family.problem_ids("all"), n)
    special = [family.config.actions.index(a) for a in ("ride_bus", "pick_up")]
    actions = np.where(rng.random((n, horizon)) < 0.3, rng.choice(special, (n, horizon)),
                       rng.integers(4, size=(n, horizon)))  # fmt: skip
    lengths = rng.integers(1, horizon + 1, n)
    visits = family.exploration_visits(problems, _play(family, problems, actions), actions, lengths)
    cells = family.cell_visits(_play(family, problems, actions), lengths)
    env = family.make_env(split="all").unwrapped
    expected_cells = np.zeros_like(cells)
    for i in range(n):
        env.reset(options={"problem": int(problems[i]), "goal": None})
        seen, counts = {env.pos}, {}
        expected_cells[env.pos[1], env.pos[0]] += 1
        for a in actions[i, : lengths[i]]:
            act = family.config.actions[a]
            if name == "cooking":
                if act == "pick_up" and env.pos in FRIDGES:
                    key = f"pickups_fridge{FRIDGES.index(env.pos)}"
                    counts[key] = counts.get(key, 0) + 1
            elif act == "ride_bus":
                colored = env.pos in COLORED_STOPS + COLORED_DESTS
                gray = name == "distracting_bus" and env.pos in GRAY_STOPS + GRAY_DESTS
                key = "rides_colored" if colored else "rides_gray" if gray else "rides_elsewhere"
                counts[key] = counts.get(key, 0) + 1
            env.step(int(a))
            seen.add(env.pos)
            expected_cells[env.pos[1], env.pos[0]] += 1
            if name == "map" and env.pos == MAP_CELL:
                counts["map_visits"] = counts.get("map_visits", 0) + 1
        counts["cells_visited"] = len(seen)
        if name == "cooking":
            counts["fridges_picked"] = sum(k.startswith("pickups") for k in counts)
        for key, values in visits.items():
            assert values[i] == counts.get(key, 0), (name, i, key)
    np.testing.assert_array_equal(cells, expected_cells)
    assert cells.sum() == (lengths + 1).sum()


def test_idle_steps_count_the_no_ops_of_the_real_env():
    """On map, "drop" with empty hands and "pick_up" off an object change nothing observed;
    moves change the position. Steps past an episode's length are not counted."""
    from analysis.diagnostics.exploration import idle_steps

    family = make("map")
    names = family.config.actions
    up, left, drop = (names.index(a) for a in ("up", "left", "drop"))
    actions = np.array([[drop, drop, up, drop, left], [up, left, drop, drop, drop]])
    obs = _play(family, np.array([0, 5]), actions)
    # (the start is off the walls: up and left move; episode 2 ends after 3 of its 5 steps)
    assert idle_steps(obs, np.array([5, 3])).tolist() == [3, 1]


# ----------------------------------------------------------------- probes and t-SNE


def _synthetic(encode: str, noise: float = 0.05) -> pd.DataFrame:
    """An embedding table whose z is the one-hot of each stop of one part of μ, plus noise."""
    family = make("distracting_bus")
    rng = np.random.default_rng(1)
    train, test = family.problem_ids("train"), family.problem_ids("test")
    blocks = []
    for kind, split, problems in (
        ("f", "train", train),
        ("f", "test", test),
        ("g", "train", rng.choice(train, 120)),
        ("g", "test", rng.choice(test, 120)),
    ):
        factors = factor_table(family, problems)
        stops = factors[[f"{encode}_stop{i}" for i in range(4)]].to_numpy()
        z = np.concatenate([np.eye(4)[stops[:, i]] for i in range(4)], axis=1)
        z = z + noise * rng.standard_normal(z.shape)
        head = pd.DataFrame({"kind": kind, "problem": problems, "split": split, "trial": -1})
        zs = pd.DataFrame(z, columns=[f"z{i}" for i in range(z.shape[1])])
        blocks.append(pd.concat([head, factors, zs], axis=1))
    return pd.concat(blocks, ignore_index=True), family.factors()


@pytest.mark.parametrize("encoded", ["colored", "gray"])
def test_probe_reads_the_encoded_part_and_not_the_other(encoded):
    table, factors = _synthetic(encoded)
    probe = diagnostics.probe_table(table, factors, folds=4, seed=0)
    assert list(probe.columns) == list(PROBE_COLUMNS)
    assert set(probe["protocol"]) == {"cv_train_ids", "cv_train_problems", "heldout"}
    stops = probe[probe["factor"].str.contains("_stop")]
    mine = stops[stops["factor"].str.startswith(encoded)]
    other = stops[~stops["factor"].str.startswith(encoded)]
    assert (mine["coverage"] == 1).all()
    # held out, only the colored part transfers: the training IDs' gray permutations are the 4
    # cyclic ones, whose stops move together, so a probe of one gray stop may lean on the others
    transfers = mine if encoded == "colored" else mine[mine["protocol"] != "heldout"]
    assert (transfers["accuracy"] > 0.95).all()
    assert (other["chance"].between(0.2, 0.45)).all()
    # nothing to read: not above the best constant (an uninformative probe can fall below it,
    # predicting its fitted samples' values, which a held-out fold makes rarer)
    assert (other["accuracy"] < other["chance"] + 0.1).all()
    summary = diagnostics.probe_summary(probe).set_index(["source", "protocol", "part"])
    part = "relevant" if encoded == "colored" else "irrelevant"
    lost = "irrelevant" if part == "relevant" else "relevant"
    f_cv = ("f", "cv_train_ids")
    assert summary.loc[(*f_cv, part), "accuracy"] > 0.85
    assert summary.loc[(*f_cv, lost), "accuracy"] < summary.loc[(*f_cv, lost), "chance"] + 0.1
    # across disjoint splits a whole gray permutation of the held-out IDs is never fitted
    held_gray = probe[(probe["protocol"] == "heldout") & (probe["factor"] == "gray")]
    assert held_gray["coverage"].item() == 0 and np.isnan(held_gray["accuracy"].item())


def test_grouped_cv_cannot_memorise_problems():
    rng = np.random.default_rng(0)
    problems = np.repeat(np.arange(40), 5)
    x = np.eye(40)[problems] + 0.01 * rng.standard_normal((200, 40))  # z identifies μ only
    y = rng.integers(2, size=40)[problems]  # a label with no structure across problems
    score = grouped_cv(x, y, problems, folds=5, seed=0)
    assert score.total == score.scored == 200
    assert abs(score.accuracy - 0.5) < 0.2  # memorised problems would score 1 if folds leaked
    unseen = fit_and_score(x[:10], np.zeros(10, int), x[10:14], np.array([0, 1, 1, 0]))
    assert unseen == ProbeScore(correct=2, scored=2, total=4, value_counts=((0, 2),))
    assert unseen.coverage == 0.5 and unseen.chance == 1.0


def test_plane_places_equal_encodings_together():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((3, 8))[[0, 1, 2, 0, 1]]
    xy, layout = plane(z, seed=0)
    assert layout == "pca" and np.allclose(xy[0], xy[3]) and np.allclose(xy[1], xy[4])
    xy, layout = plane(np.zeros((5, 8)), seed=0)  # an untrained policy: one encoding
    assert layout == "pca" and np.all(xy == 0)
    z = rng.standard_normal((30, 8))[np.arange(60) % 30]
    xy, layout = plane(z, seed=0)
    assert layout == "tsne" and np.isfinite(xy).all() and np.allclose(xy[:30], xy[30:])


def test_landing_table_finds_the_nearest_training_code_and_the_smallest_gap():
    # Training codes at 0, 1 and 3 on a line (gaps 1, 4, 9: the smallest is 1); the held-out
    # problem 3's g lands at 2.9 twice (nearest: problem 2, squared distance 0.01) and at 0.2
    # once; training problem 0's g at 0.1 (its own code), problem 1's at 2.2 (nearest: 2).
    factors = [ProblemFactor("a", 2, True, ""), ProblemFactor("b", 2, False, "")]

    def row(kind, problem, split, z, a, b):
        return {"kind": kind, "problem": problem, "split": split, "trial": -1, "a": a,
                "b": b, "z0": z, "z1": 0.0}  # fmt: skip

    rows = [row("f", 0, "train", 0.0, 0, 0), row("f", 1, "train", 1.0, 1, 0)]
    rows += [row("f", 2, "train", 3.0, 1, 1), row("f", 3, "test", 50.0, 0, 1)]
    rows += [row("g", 3, "test", z, 0, 1) for z in (2.9, 2.9, 0.2)]
    rows += [row("g", 0, "train", 0.1, 0, 0), row("g", 1, "train", 2.2, 1, 0)]
    table = code_swap.landing_table(pd.DataFrame(rows), factors).set_index("problem")
    train, held = table.loc[-1], table.loc[3]
    assert train["trials"] == 2 and train["nearest_share"] == 0.5
    assert train["dist_own"] == pytest.approx((0.01 + 1.44) / 2)
    assert train["dist_nearest"] == pytest.approx((0.01 + 0.64) / 2)
    assert held["nearest"] == 2 and held["nearest_share"] == pytest.approx(2 / 3)
    assert held["dist_nearest"] == pytest.approx((0.01 + 0.01 + 0.04) / 3)
    assert np.isnan(held["dist_own"]) and table["min_gap"].eq(1.0).all()
    assert held["shared_relevant"] == 0 and held["relevant"] == 1  # a: 0 against 1
    assert code_swap.landing_table(pd.DataFrame(rows[:4]), factors) is None  # no g rows


def test_additive_codes_recover_an_additive_encoder_and_its_unseen_combination():
    """Codes that are exactly b + E_a[a] + E_b[b] are fitted with R² = 1, and the held-out
    combination's code (its f row is untrained noise) is the one its factors compose."""
    factors = [ProblemFactor("a", 2, True, ""), ProblemFactor("b", 3, True, "")]
    e_a, e_b, bias = np.array([[0.0, 1.0], [2.0, -1.0]]), np.array([[1, 0], [0, 3], [-2, 1.0]]), 0.5
    rows = []
    for mu, (a, b) in enumerate((a, b) for a in range(2) for b in range(3)):
        code = bias + e_a[a] + e_b[b] if mu != 4 else np.array([40.0, -7.0])  # 4 = (1, 1)
        rows.append({"kind": "f", "problem": mu, "split": "test" if mu == 4 else "train",
                     "trial": -1, "a": a, "b": b, "z0": code[0], "z1": code[1]})  # fmt: skip
    rows.append({**rows[0], "kind": "g", "trial": 0})  # g rows are not fitted
    fitted, r2 = composite.additive_codes(pd.DataFrame(rows), factors)
    assert r2 == pytest.approx(1.0)
    np.testing.assert_allclose(fitted[4], bias + e_a[1] + e_b[1], atol=1e-9)
    np.testing.assert_allclose(fitted[[0, 5]], [bias + e_a[0] + e_b[0], bias + e_a[1] + e_b[2]])
    rows[0]["z0"] += 3.0  # one training code off the sum: the fit is no longer exact
    assert composite.additive_codes(pd.DataFrame(rows), factors)[1] < 1.0


def test_showing_codes_plays_any_code_and_the_composite_table_shares_the_swaps_trials(tmp_path):
    trainer = load_run(_untrained_checkpoint(tmp_path / "run", "dream", env="cooking"))
    method, family = trainer.method, trainer.family
    goals = code_swap.trial_goals(family, 11, 8, seed=2)
    codes = diagnostics.problem_embeddings(method, np.arange(64))
    codes[11] = codes[27]
    with method.showing_codes(codes):  # a code given as a vector is the code swap's f(27)
        given = code_swap.exploitation_returns(trainer, 11, None, goals, seed=2)
    np.testing.assert_array_equal(
        given, code_swap.exploitation_returns(trainer, 11, 27, goals, seed=2)
    )
    for bad in (codes[:10], np.full_like(codes, np.nan)):
        with pytest.raises(ValueError, match=r"allowed: finite, shape \(64, 64\)"):
            with method.showing_codes(bad):
                pass
    plays = diagnostics.play_splits(trainer, 6, 2)
    emb = diagnostics.embedding_table(family, method, plays)
    swap = code_swap.swap_table(trainer, [11], [27], trials=8, seed=2)
    table = composite.composite_table(trainer, emb, family.factors(), swap, seed=2)
    row = table.iloc[0]
    g_path = swap[swap["code"] == code_swap.G_PATH]
    assert row["return_g"] == pytest.approx((g_path["return"] * g_path["trials"]).sum() / 8)
    fitted, r2 = composite.additive_codes(emb, family.factors())
    assert row["r2"] == pytest.approx(r2) and row["trials"] == 8
    with method.showing_codes(fitted):
        expected = code_swap.exploitation_returns(trainer, 11, None, goals, seed=2)
    assert row["return_additive"] == pytest.approx(expected.mean())
    assert row["nearest"] in family.problem_ids("train").tolist()
    assert composite.composite_table(trainer, emb, family.factors(), None, seed=2) is None


def _state(module):
    return {k: v.clone() for k, v in module.state_dict().items()}


def test_decoder_refit_fits_fresh_decoders_and_leaves_the_trained_one_alone(bus_run):
    trainer = load_run(bus_run)
    method = trainer.method
    trained, encoder = _state(method.decoder), _state(method.encoder)
    one, again = (decoder_refit.fresh_decoder(method, 0) for _ in range(2))
    other = decoder_refit.fresh_decoder(method, 1)
    for name, value in one.state_dict().items():  # seeded, and not the trained weights
        torch.testing.assert_close(value, again.state_dict()[name])
    assert any(not torch.equal(v, trained[k]) for k, v in one.state_dict().items())
    assert any(not torch.equal(v, other.state_dict()[k]) for k, v in one.state_dict().items())
    with pytest.raises(RuntimeError), decoder_refit.using_decoder(method, one):
        assert method.decoder is one
        raise RuntimeError
    assert method.decoder is not one  # restored on the way out of an error too

    kwargs = dict(fits=2, steps=6, eval_every=3, trials=4, swap_problems=1, seed=3)
    table = decoder_refit.refit_table(trainer, None, **kwargs)
    assert list(table.columns) == list(decoder_refit.REFIT_COLUMNS)
    assert len(table) == 2 + 2 * 2 * 2  # the trained decoder, then 2 fits × 2 evaluations
    assert table.groupby(["fit", "init"])["steps"].max().to_dict() == {
        ("fresh", 0): 6, ("fresh", 1): 6, ("trained", -1): 0,
    }  # fmt: skip
    for name, value in method.decoder.state_dict().items():
        torch.testing.assert_close(value, trained[name])
    for name, value in method.encoder.state_dict().items():
        torch.testing.assert_close(value, encoder[name])
    pd.testing.assert_frame_equal(table, decoder_refit.refit_table(trainer, None, **kwargs))

    # the trained decoder's held-out row is the code swap's baseline on the same trials
    held = code_swap.held_out_sample(trainer, 1, 3)
    swap = code_swap.swap_table(trainer, held, [], trials=4, seed=3)
    row = table[(table["fit"] == "trained") & (table["split"] == "test")].iloc[0]
    assert row["return"] == pytest.approx((swap["return"] * swap["trials"]).sum() / 4)
    # a refit's error on the training problems is its own decoder's, not the trained one's
    train = table[table["split"] == "train"].set_index(["fit", "init", "steps"])
    assert (
        train.loc[("fresh", 0, 6), "decoder_error"]
        != train.loc[("trained", -1, 0), "decoder_error"]
    )
    assert table["loss"].notna().sum() == 8 and np.isnan(table["dist_additive"]).all()

    summary = decoder_refit.refit_summary(table)
    fresh = summary[(summary["fit"] == "fresh") & (summary["split"] == "test")].iloc[0]
    last = table[(table["fit"] == "fresh") & (table["split"] == "test") & (table["steps"] == 6)]
    assert fresh["fits"] == 2 and fresh["return"] == pytest.approx(last["return"].mean())
    assert fresh["return_min"] == last["return"].min()
    with pytest.raises(ValueError, match="allowed: fits >= 0"):
        decoder_refit.refit_table(trainer, None, fits=1, steps=0)

    pooled = decoder_refit.refit_table(trainer, None, **{**kwargs, "architectures": ["pooled"]})
    assert pooled.groupby("fit")["decoder"].unique().map(list).to_dict() == {
        "fresh": ["pooled"], "trained": ["lstm"],
    }  # fmt: skip
    assert type(decoder_refit.fresh_decoder(method, 0, "pooled")).__name__ == (
        "PooledTrajectoryDecoder"
    )
    with pytest.raises(ValueError, match="decoder 'gru'; allowed: lstm, pooled"):
        decoder_refit.refit_table(trainer, None, fits=1, architectures=["gru"])


# ----------------------------------------------------------------- the CLI on a real checkpoint


def test_cli_writes_every_file_with_its_header(bus_diagnostics, bus_run):
    family = make("distracting_bus")
    emb = read_csv(bus_diagnostics / "embeddings.csv")
    names = [f.name for f in family.factors()]
    assert list(emb.columns) == [*ID_COLUMNS, *names, *(f"z{i}" for i in range(64))]
    f_rows, g_rows = emb[emb["kind"] == "f"], emb[emb["kind"] == "g"]
    assert len(f_rows) == 576 and (f_rows["split"] == "train").sum() == 96
    assert g_rows.groupby("split").size().to_dict() == {"test": TRIALS, "train": TRIALS}
    assert set(g_rows.loc[g_rows["split"] == "test", "problem"]) <= set(family.problem_ids("test"))
    # the factor columns are the family's, row by row
    row = g_rows.iloc[3]
    assert all(row[k] == v for k, v in family.problem_factors(int(row["problem"])).items())
    # f is the checkpoint's encoder
    trainer = load_run(bus_run)
    f = diagnostics.problem_embeddings(trainer.method, np.arange(5))
    np.testing.assert_allclose(f_rows.iloc[:5][[f"z{i}" for i in range(64)]], f, atol=1e-5)
    header = read_header(bus_diagnostics / "probe.csv")
    assert header["experiment"] == "analysis.diagnostics" and header["package"] == "dream-metarl"
    assert header["config"]["env"] == "distracting_bus" and header["config"]["method"] == "dream"
    assert header["diagnostics"] == {
        "trials": TRIALS, "seed": 12345, "folds": 5, "swap_trials": 3, "swap_problems": 2,
        "probe_episodes": 400, "grad_batches": 20, "refit_fits": 1, "refit_steps": 2,
        "refit_decoders": ["lstm"], "refit_lr": 0.001,
    }  # fmt: skip
    swap = read_csv(bus_diagnostics / "code_swap.csv")
    assert set(swap["problem"]) <= set(family.problem_ids("test"))
    assert swap["problem"].nunique() == 2
    assert set(swap["code"]) == {-1, *family.problem_ids("train")}  # g(tau), then every code
    assert (swap.groupby(["problem", "code"])["trials"].sum() == 3).all()
    assert swap["code_suffices"].isna().all()  # the bus family cannot plan a code's sufficiency
    codes = swap[swap["code"] >= 0]
    same_colored = codes["code"] % 24 == codes["problem"] % 24  # the relevant part of bus mu
    assert (codes["all_relevant_shared"] == same_colored).all()
    groups = code_swap.sufficiency_summary(swap)
    assert set(groups["z"]) == {"g(tau)", "code sharing all relevant factors", "code sharing fewer"}
    ranked = read_csv(bus_diagnostics / "code_swap_summary.csv")
    assert (ranked.groupby("problem")["rank"].min() == 0).all() and len(ranked) == 2 * 97
    landing = read_csv(bus_diagnostics / "code_landing.csv")
    held = landing[landing["problem"] >= 0]
    assert landing["problem"].iloc[0] == -1 and landing["trials"].sum() == 2 * TRIALS
    assert set(held["nearest"]) <= set(family.problem_ids("train"))
    composed = read_csv(bus_diagnostics / "code_composite.csv")
    assert len(composed) == 2 and set(composed["problem"]) == set(swap["problem"])
    assert (composed["trials"] == 3).all() and composed["r2"].between(-1e-9, 1 + 1e-9).all()
    refit = read_csv(bus_diagnostics / "decoder_refit.csv").set_index(["fit", "steps", "split"])
    assert refit.loc[("fresh", 2, "test"), "trials"] == 2 * 3  # the code swap's problems
    assert refit.loc[("trained", 0, "test"), "dist_additive"] > 0  # bus codes have factors
    assert np.isnan(refit.loc[("fresh", 2, "train"), "dist_additive"])
    assert Image.open(bus_diagnostics / "decoder_refit.png").size[0] > 500
    assert "untrained" in header["note"] and set(header["probe_protocols"]) >= {"heldout"}
    probe = read_csv(bus_diagnostics / "probe.csv")
    assert list(probe.columns) == list(PROBE_COLUMNS)
    assert len(probe) == 3 * len(names)  # f cv, g cv, g held-out for every factor
    assert (probe["chance"].dropna() > 0).all()
    summary = read_csv(bus_diagnostics / "probe_summary.csv")
    assert {"relevant", "irrelevant"} == set(summary["part"])
    tsne = read_csv(bus_diagnostics / "tsne.csv")
    assert (tsne.loc[tsne["kind"] == "f", "split"] == "train").all()  # trained rows only
    assert len(tsne) == 96 + 2 * TRIALS and tsne[["x", "y"]].notna().all().all()
    # every (problem, goal) pair of the training problems, told mu, beside pi*'s return (0.8)
    goals = read_csv(bus_diagnostics / "exploitation_goals.csv")
    assert len(goals) == 96 * 4 and (goals["split"] == "train").all()
    np.testing.assert_allclose(goals["optimal"], 0.8, atol=1e-6)
    mistaken = goals["mistake_step"].notna()  # exact Q*: a mistake exactly where regret > 0
    assert (mistaken == (goals["regret"] > 1e-6)).all()
    assert read_csv(bus_diagnostics / "exploitation_goal_summary.csv")["pairs"].sum() == 384
    assert not (bus_diagnostics / "exploitation_stage_probe.csv").exists()  # no stages
    assert not (bus_diagnostics / "exploitation_goal_kinds.csv").exists()  # one kind of goal
    noise = read_csv(bus_diagnostics / "code_noise.csv")
    assert list(noise["target"]) == ["mu", *names]
    assert not (bus_diagnostics / "replay_progress.csv").exists()  # the bus measures none
    terms = read_csv(bus_diagnostics / "gradient_terms.csv")
    assert list(terms["term"]) == ["task_id", "task_traj", "bottleneck", "decoder", "total"]
    for png in ("tsne.png", "exploration.png"):
        with Image.open(bus_diagnostics / png) as image:
            assert image.size[0] > 500


def test_exploration_tables_are_consistent(bus_diagnostics):
    table = read_csv(bus_diagnostics / "exploration.csv").set_index(["split", "measure"])
    assert read_header(bus_diagnostics / "exploration.csv")["diagnostics"]["trials"] == TRIALS
    for split in ("train", "test"):
        rides = sum(
            table.loc[(split, f"rides_{k}"), "mean"] for k in ("colored", "gray", "elsewhere")
        )
        explore_len = table.loc[(split, "explore_len"), "mean"]
        assert rides <= explore_len + 1e-9
        assert 1 <= table.loc[(split, "cells_visited"), "mean"] <= explore_len + 1
        assert 0 <= table.loc[(split, "reveal_frac"), "mean"] <= 1
    cells = read_csv(bus_diagnostics / "exploration_cells.csv")
    per_split = cells.groupby("split")["visits"].sum()  # steps s_0..s_T per episode
    for split, total in per_split.items():
        assert total == pytest.approx(table.loc[(split, "explore_len"), "mean"] + 1)
    assert len(cells) == 2 * 81
    problems = read_csv(bus_diagnostics / "exploration_problems.csv")
    for split, rows in problems.groupby("split"):
        assert rows["trials"].sum() == TRIALS and rows["problem"].is_unique
        weighted = (rows["reveal_frac"] * rows["trials"]).sum() / TRIALS
        assert weighted == pytest.approx(table.loc[(split, "reveal_frac"), "mean"])
        assert (rows["idle_steps"] <= rows["explore_len"]).all()
        first_lengths = rows["actions"].fillna("").str.split().str.len()
        assert (first_lengths <= rows["explore_len"].max()).all()


def test_cli_refusals_are_one_line_before_any_work(tmp_path, capsys, bus_run):
    out = tmp_path / "out"
    erl2 = _untrained_checkpoint(tmp_path / "erl2", "erl2")
    (tmp_path / "file").write_text("x")
    none = tmp_path / "none"
    cases = [
        ([str(none), "--out", str(out)], f"error: run {none}: no checkpoint.pt there"),
        ([str(erl2), "--out", str(out)], "method erl2 has no problem encoder f(mu)"),
        ([str(bus_run), "--out", str(out), "--trials", "1"], "--trials 1: allowed: an integer"),
        ([str(bus_run), "--out", str(out), "--refit-fits", "-1"], "--refit-fits -1: allowed"),
        ([str(bus_run), "--out", str(out), "--refit-steps", "0"], "--refit-steps 0: allowed"),
        ([str(bus_run), "--out", str(out), "--refit-decoders", "gru"], "lstm, pooled"),
        ([str(bus_run), "--out", str(out), "--refit-lr", "0"], "--refit-lr 0"),
        ([str(bus_run), "--out", str(tmp_path / "file")], "must be a directory"),
        ([str(bus_run)], "--out"),
    ]  # fmt: skip
    for argv, named in cases:
        assert diagnostics.main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and named in err, err
    assert not out.exists()
    with pytest.raises(UsageError, match="allowed: a run of dream, dream_no_bottleneck"):
        diagnostics.require_encoders(load_run(erl2), erl2)


def test_dream_ablations_have_both_encodings(tmp_path):
    run = _untrained_checkpoint(tmp_path / "nb", "dream_no_bottleneck")
    trainer = load_run(run)
    diagnostics.require_encoders(trainer, run)  # no refusal
    plays = diagnostics.play_splits(trainer, 4, seed=0)
    table = diagnostics.embedding_table(trainer.family, trainer.method, plays)
    assert (table["kind"] == "g").sum() == 8 and np.isfinite(table.filter(like="z")).all().all()


# ----------------------------------------------------------------- trial GIFs of a checkpoint


def test_checkpoint_gif_has_frames_from_every_episode(bus_run, tmp_path, capsys):
    assert (
        trial_gifs.main(["--checkpoint", str(bus_run), "--out", str(tmp_path), "--seed", "1"]) == 0
    )
    assert "distracting_bus_dream.gif" in capsys.readouterr().out
    trainer = load_run(bus_run)
    played = trial_gifs.play_greedy_trial(trainer.method, trainer.family, seed=1, n_exploit=2)
    lengths = [int(ep.length[0]) for ep in played.episodes]
    assert len(lengths) == 3 and lengths[0] == trainer.family.horizon  # explores all 20 steps
    assert int(played.problems[0]) in set(trainer.family.problem_ids("test"))
    with Image.open(tmp_path / "distracting_bus_dream.gif") as gif:
        assert gif.n_frames == sum(n + 1 for n in lengths)  # each episode: its steps + 1
    done = trial_gifs.checkpoint_gif(trainer, tmp_path / "again", seed=1)
    assert done.frames == sum(n + 1 for n in lengths)
    assert done.returns[0] == 0.0 and len(done.returns) == 3  # exploration is not rewarded


@needs_miniworld
def test_checkpoint_gif_of_the_sign_task(tmp_path):
    run = _untrained_checkpoint(
        tmp_path / "sign", "dream", env="sign", num_envs=1, eval_trials=1,
        method_args={"replay_capacity": "4"},
    )  # fmt: skip
    done = trial_gifs.checkpoint_gif(load_run(run), tmp_path, seed=3, n_exploit=1)
    with Image.open(done.path) as gif:
        assert gif.n_frames == done.frames > 2
        assert gif.size == (2 * 160, 14 + 2 * 60)  # caption + 2x (agent's view, top view)


def test_checkpoint_gif_refusals(tmp_path, capsys, bus_run):
    for argv, named in (
        (["--checkpoint", str(tmp_path)], "--checkpoint"),
        (["--checkpoint", str(bus_run), "--only", "map"], "not with --checkpoint"),
        (["--checkpoint", str(bus_run), "--seed", "-1"], "--seed -1"),
    ):
        assert trial_gifs.main([*argv, "--out", str(tmp_path / "g")]) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and err.startswith("error: ") and named in err
    assert not (tmp_path / "g").exists()


# ----------------------------------------------------------------------------- code swap


def test_showing_plays_the_code_it_is_given_and_rejects_bad_maps(tmp_path, monkeypatch):
    trainer = load_run(_untrained_checkpoint(tmp_path / "run", "dream", env="cooking"))
    method, family = trainer.method, trainer.family
    encoded, encode = [], method.encode_problem

    def spy(ids, noise):
        encoded.append(np.asarray(ids).copy())
        return encode(ids, noise)

    monkeypatch.setattr(method, "encode_problem", spy)
    code_swap.swap_table(trainer, [11], [27], trials=4, seed=1)
    assert encoded and all(ids[11] == 27 for ids in encoded)  # z = f(27) on problem 11
    monkeypatch.undo()
    with pytest.raises(ValueError, match=r"shape \(64,\)"):
        with method.showing(np.arange(10)):
            pass
    with pytest.raises(ValueError, match=r"IDs 0\.\.63"):
        with method.showing(np.full(64, 64)):
            pass
    # the code of problem 11 shown on 11 is what "told mu" plays, trial for trial
    table = code_swap.swap_table(trainer, [11], [11, 27, 14], trials=12, seed=1)
    own = table[table["code"] == 11]
    rng = np.random.default_rng([1, 11])
    goals = np.array([[family.sample_goal(rng, 11)] for _ in range(12)])
    with method.informed():
        played = run_wave(
            family.make_batched(12, 1), family, method, np.full(12, 11), goals, np.arange(12),
            training=False,
        )  # fmt: skip
    told = pd.DataFrame({"goal": goals[:, 0], "r": played.episodes[1].returns})
    np.testing.assert_allclose(own["return"], told.groupby("goal")["r"].mean().to_numpy())
    assert own["code_suffices"].astype(bool).all()  # a problem's own code always suffices
    assert table.loc[table["code"] == -1, "code_suffices"].isna().all()
    assert (table.groupby("code")["trials"].sum() == 12).all()
    again = code_swap.swap_table(trainer, [11], [11, 27, 14], trials=12, seed=1)
    pd.testing.assert_frame_equal(table, again)  # the same trials for the same seed
    summary = code_swap.sufficiency_summary(table)
    assert set(summary["z"]) <= {"g(tau)", "sufficient code", "insufficient code"}
    assert summary["trials"].sum() == 4 * 12


def test_code_suffices_is_exact_on_the_cooking_family():
    family = make("cooking")
    goal = 4 * 3 + 2  # ingredient 3, then 2; the held-out problem 11 has fridges (3, 2, 0)
    assert family.code_suffices(11, 27, goal)  # (3, 2, 1): both in the same fridges
    assert not family.code_suffices(11, 14, goal)  # (2, 3, 0): swapped
    # (3, 2, 3): a 3 in fridges 0 and 2, as near the pot; its plan takes the one that in 11
    # holds 0
    assert not family.code_suffices(11, 59, goal)
    assert not family.code_suffices(11, 27, 1)  # recipe (0, 1): not a goal of 27
    assert make("cooking", variant="official").code_suffices(10, 10, 10) is None
    assert make("map").code_suffices(0, 0, 0) is None
    for mu in (0, 11, 37):
        possible = family.goal_probabilities(mu) > 0
        assert [family.code_suffices(mu, mu, g) for g in range(16)] == possible.tolist()


# ------------------------------------------------------------ exploitation told mu (cooking)


@pytest.fixture(scope="module")
def cooking_checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("cooking") / "run"
    return load_run(_untrained_checkpoint(out, "dream", env="cooking"))


def test_goal_table_sets_each_pair_beside_its_exact_optimum(cooking_checkpoint):
    from deep.envs.reference_cooking import cooking_model

    family = cooking_checkpoint.family
    table = exploitation.goal_table(cooking_checkpoint, "train", max_pairs=60, seed=3)
    assert len(table) == 60 and set(table["problem"]) <= set(family.problem_ids("train"))
    assert all(
        family.goal_probabilities(p)[g] > 0 for p, g in zip(table.problem, table.goal, strict=True)
    )
    best = cooking_model("cooking").optimal_values()  # the exact DP of every (mu, g)
    np.testing.assert_allclose(table["optimal"], best[table["problem"], table["goal"]], atol=1e-6)
    np.testing.assert_allclose(table["regret"], table["optimal"] - table["return"])
    assert table["progress"].between(0, 1).all() and table["start_value"].notna().all()
    summary = exploitation.goal_summary(table)
    assert summary["pairs"].sum() == 60 and summary["frac_optimal"].between(0, 1).all()
    # (a, a) recipes: goals 0, 5, 10, 15 (g = 4a + b)
    assert ((table["goal_kind"] == "a, a") == table["goal"].isin([0, 5, 10, 15])).all()
    # the first mistake: a step whose action has Q*(s_t, a_t) < V*(s_t); the env is
    # deterministic, so an episode has one exactly when its return is below the optimum
    mistaken = table["mistake_step"].notna()
    assert (mistaken == (table["regret"] > exploitation.OPTIMAL_TOLERANCE)).all()
    assert mistaken.any()  # an untrained policy
    wrong = table[mistaken]
    assert (wrong["q_star_played"] < wrong["q_star_best"]).all()
    assert (wrong["q_task_played"] >= wrong["q_task_best"]).all()  # greedy took the played one
    assert wrong["mistake_stage"].isin([0, 1, 2, 3]).all()
    at_start = wrong[wrong["mistake_step"] == 0]
    np.testing.assert_allclose(at_start["q_star_best"], at_start["optimal"], atol=1e-5)
    assert summary["mistakes"].sum() == mistaken.sum()
    kinds = exploitation.goal_kind_summary(table)
    assert set(kinds["goal_kind"]) == {"a, a", "a, b"} and kinds["pairs"].sum() == 60
    a_b = table[table["goal_kind"] == "a, b"]
    row = kinds.set_index("goal_kind").loc["a, b"]
    assert row["pairs"] == len(a_b) and np.isclose(row["return_mean"], a_b["return"].mean())
    assert exploitation.goal_kind_summary(table[table["goal_kind"] == "a, b"]) is None


def test_informed_values_are_the_ones_the_greedy_policy_acted_on(cooking_checkpoint):
    # the recorded greedy actions are the argmax of Q_task(s_t, tau_:t, f(mu)) recomputed
    # over the whole episode at once: acting and this replay read the same history
    family, method = cooking_checkpoint.family, cooking_checkpoint.method
    problems, goals = exploitation.goal_pairs(family, "train", max_pairs=40, seed=1)
    with method.informed():
        played = run_wave(
            family.make_batched(len(problems)), family, method, problems, goals[:, None],
            np.arange(len(problems)), training=False,
        )  # fmt: skip
    episode = played.episodes[1]
    q, history = method.informed_task_values(problems, episode)
    assert history is not None and history.shape[:2] == q.shape[:2]  # recurrent on cooking
    for i in range(len(problems)):
        steps = episode.length[i]
        np.testing.assert_array_equal(q[i, :steps].argmax(-1), episode.actions[i, :steps])


def test_task_stage_is_the_recipe_step_and_only_cooking_has_one():
    family = make("cooking")
    env = family.make_env(split="all")
    env.reset(options={"problem": 27, "goal": 4 * 1 + 2})  # fridges (1, 2, 3): a = 1 on top
    assert family.task_stage(env.unwrapped) == 0
    top = FRIDGES[2]
    assert env.unwrapped.contents[2] == 1
    env.unwrapped.pos = top  # stand at the top fridge and pick up ingredient 1
    env.step(family.config.actions.index("pick_up"))
    assert family.task_stage(env.unwrapped) == 1
    bus = make("distracting_bus").make_env()
    bus.reset(seed=0)
    assert make("distracting_bus").task_stage(bus.unwrapped) is None


def test_probe_accuracy_reads_an_informative_input_and_not_noise():
    rng = np.random.default_rng(0)
    stage = rng.integers(4, size=400)
    informative = np.eye(4)[stage] + 0.1 * rng.normal(size=(400, 4))
    noise = rng.normal(size=(400, 4))
    assert exploitation._probe_accuracy(informative, stage, 5, 0) > 0.95
    assert exploitation._probe_accuracy(noise, stage, 5, 0) < 0.4
    assert np.isnan(exploitation._probe_accuracy(noise, np.zeros(400, dtype=int), 5, 0))


def test_stage_probe_reports_every_input_on_all_and_ambiguous_steps(cooking_checkpoint, tmp_path):
    hidden = _untrained_checkpoint(
        tmp_path / "hidden_pot", "dream", env="cooking", env_kwargs={"pot": "hidden"}
    )
    for run, ambiguous_steps in ((load_run(hidden), True), (cooking_checkpoint, False)):
        rows = exploitation.stage_probe(run, episodes=60, folds=3, seed=0)
        assert rows is not None
        assert list(rows["steps"].unique()) == ["all", "ambiguous"]
        assert set(rows["input"]) == {"observation", "history", "majority"}
        n_all = rows.loc[rows["steps"] == "all", "n"].iloc[0]
        n_ambiguous = rows.loc[rows["steps"] == "ambiguous", "n"].iloc[0]
        assert rows["accuracy"].dropna().between(0, 1).all()
        if ambiguous_steps:  # Sec. 6.1's observation hides some stages
            assert 0 < n_ambiguous < n_all
        else:  # the observed pot (the default) tells every stage apart
            assert n_ambiguous == 0 and n_all > 0
            assert rows.loc[rows["steps"] == "ambiguous", "accuracy"].isna().all()


def test_stage_probe_is_none_without_stages(bus_run):
    assert exploitation.stage_probe(load_run(bus_run), episodes=10) is None


def test_optimal_values_along_replays_each_episode_with_its_stage():
    family = make("cooking")
    pick_up = family.config.actions.index("pick_up")
    actions = [[3, pick_up, 0], [3]]
    along = exploitation.optimal_values_along(family, np.array([27, 27]), np.array([6, 6]), actions)
    assert along is not None
    values, stages = along
    assert values.shape == (2, 3, family.make_env().action_space.n)
    env = family.make_env(split="all")
    env.reset(options={"problem": 27, "goal": 6})
    for t, action in enumerate(actions[0]):
        np.testing.assert_allclose(values[0, t], family.optimal_action_values(env.unwrapped, t))
        assert stages[0, t] == family.task_stage(env.unwrapped)
        env.step(action)
    assert np.isnan(values[1, 1:]).all() and np.isnan(stages[1, 1:]).all()  # past its end
    bus = make("distracting_bus")
    bus_values, bus_stages = exploitation.optimal_values_along(
        bus, np.array([0]), np.array([NO_GOAL]), [[0]]
    )
    assert np.isfinite(bus_values).all() and np.isnan(bus_stages).all()  # no stages
    official = make("map", variant="official")
    assert (
        exploitation.optimal_values_along(official, np.array([0]), np.array([NO_GOAL]), [[0]])
        is None
    )


# ------------------------------------------------------- what pi^task trains on (code, gradients)


def test_code_noise_reads_mu_through_small_noise_and_not_through_large(bus_run, monkeypatch):
    trainer = load_run(bus_run)
    method, family = trainer.method, trainer.family
    factors = [f.name for f in family.factors()]
    monkeypatch.setattr(method, "config", replace(method.config, encoder_std=1e-6))
    clear = training_signal.code_noise_table(trainer, draws=20, seed=0)
    assert list(clear["target"]) == ["mu", *factors]
    assert (clear["accuracy"] == 1.0).all()  # distinct codes, no noise: every problem decoded
    assert clear.loc[0, "chance"] == pytest.approx(1 / 96)
    values = pd.DataFrame([family.problem_factors(int(p)) for p in family.problem_ids("train")])
    top = [values[f].value_counts(normalize=True).iloc[0] for f in factors]
    np.testing.assert_allclose(clear["chance"].iloc[1:], top)
    monkeypatch.setattr(method, "config", replace(method.config, encoder_std=1e3))
    drowned = training_signal.code_noise_table(trainer, draws=20, seed=0)
    assert drowned.loc[0, "accuracy"] < 0.1  # noise 1e6 x dim z: a near-uniform guess
    assert drowned.loc[0, "noise"] == pytest.approx(1e6 * 64)


def test_gradient_terms_are_the_objective_s_parts_and_leave_the_method_as_it_was(bus_run):
    trainer = load_run(bus_run)
    method = trainer.method
    state = method.gen.get_state()
    weights = {k: v.clone() for k, v in method.task_q.state_dict().items()}
    table = training_signal.gradient_terms_table(trainer, batches=1, seed=4).set_index("term")
    assert list(table.index) == ["task_id", "task_traj", "bottleneck", "decoder", "total"]
    parts = table.drop(index="total")
    assert table.loc["total", "loss"] == pytest.approx(parts["loss"].sum(), rel=1e-5)
    assert table.loc["total", "grad_norm"] <= parts["grad_norm"].sum() * (1 + 1e-5)
    assert table.loc["decoder", "grad_norm_task_q"] == 0.0  # L_decoder holds f fixed, no Q
    clip = min(1.0, method.config.grad_clip / table.loc["total", "grad_norm"])
    assert table.loc["total", "clip_scale"] == pytest.approx(clip)
    assert table.loc["total", "norm_vs_total"] == 1.0
    assert torch.equal(method.gen.get_state(), state)  # the method's own stream is untouched
    assert all(torch.equal(v, method.task_q.state_dict()[k]) for k, v in weights.items())
    again = training_signal.gradient_terms_table(trainer, batches=1, seed=4).set_index("term")
    pd.testing.assert_frame_equal(table, again)  # seeded: the same batches and noise
    # the total's norm is that of one backward pass through the summed objective
    method.gen.manual_seed(4)
    batch = method.replay.sample(method.config.batch_size, np.random.default_rng(4))
    objective = sum(method.task_loss_terms(method.sample_inputs(batch, grad=True)).values())
    params = [p for g in method.optimizers["task"].param_groups for p in g["params"]]
    grads = torch.autograd.grad(objective, params, allow_unused=True)
    norm = float(sum(float((g**2).sum()) for g in grads if g is not None)) ** 0.5
    assert table.loc["total", "grad_norm"] == pytest.approx(norm, rel=1e-4)
    method.gen.set_state(state)


def test_replay_progress_counts_every_stored_episode_by_age_and_kind(tmp_path):
    out = tmp_path / "run"
    config = RunConfig(env="cooking", preset="tiny", steps=900, num_envs=8, threads=1)
    Trainer(config, out, progress=False).run()
    trainer = load_run(out)
    family, replay = trainer.family, trainer.method.replay
    table = training_signal.replay_progress_table(trainer, bins=3)
    parts, whole = table[table["bin"] >= 0], table[table["bin"] == -1]
    assert set(parts["bin"]) == {0, 1, 2} and set(whole["goal_kind"]) <= {"a, a", "a, b"}
    assert parts["episodes"].sum() == whole["episodes"].sum() == len(replay)
    assert parts["first_trial"].min() == replay.added - len(replay)
    assert parts["last_trial"].max() == replay.added - 1
    shares = table[["reached_0.25", "reached_0.50", "reached_0.75", "completed"]].to_numpy()
    assert (np.diff(shares, axis=1) <= 1e-12).all()  # a further step is reached less often
    # the mean progress of one kind over the whole replay, recomputed record by record
    goals = family.observed_goals({"state": replay.data["exploit_obs_state"][: len(replay), 0]})
    done = [
        family.exploitation_progress(
            int(replay.data["problem"][i]),
            int(goals[i]),
            replay.data["exploit_actions"][i, : int(replay.data["exploit_length"][i])],
        )
        for i in range(len(replay))
    ]
    kinds = np.array([family.goal_kind(int(g)) for g in goals])
    for kind, row in whole.set_index("goal_kind").iterrows():
        assert row["progress_mean"] == pytest.approx(np.mean(np.array(done)[kinds == kind]))
        assert row["episodes"] == (kinds == kind).sum()
