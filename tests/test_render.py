"""Trial recording and GIFs (deep/envs/render.py, analysis/trial_gifs.py; its --checkpoint
mode is tested in test_diagnostics.py)."""

from __future__ import annotations

import importlib.util

import pytest
from PIL import Image

from analysis import trial_gifs
from deep.envs import make
from deep.envs.render import record_trial, write_gif

# Not importorskip: miniworld must be imported headless, which the sign env does lazily.
needs_miniworld = pytest.mark.skipif(
    importlib.util.find_spec("miniworld") is None, reason="miniworld is not installed"
)


@pytest.mark.parametrize(("name", "problem", "goals"), [("map", 5, (1, 3)), ("cooking", 11, (8,))])
def test_oracle_trial_reaches_the_optimum_and_writes_a_gif(tmp_path, name, problem, goals):
    fam = make(name)
    explore, exploit = trial_gifs.oracle_policies(name, problem)
    frames, returns = record_trial(fam, problem, goals, explore, exploit)
    assert returns[0] == 0.0  # exploration episodes are not rewarded
    expected = 0.8 if name == "map" else 0.4  # μ = 11, recipe (2, 0): 10 steps, see the docs
    assert returns[1:] == pytest.approx([expected] * len(goals))
    assert len({f.shape for f in frames}) == 1 and frames[0].shape[1] >= 180
    path = write_gif(frames, tmp_path / "sub" / f"{name}.gif")
    with Image.open(path) as gif:
        assert gif.n_frames == len(frames)
    assert not list(tmp_path.glob("sub/*.tmp"))


@needs_miniworld
def test_sign_trial_reads_the_sign_then_exploits_optimally(tmp_path):
    from deep.envs import reference_sign

    seed, problem, goals = 3, 1, (0, 1)
    fam = make("sign")
    explore, exploit = trial_gifs.oracle_policies("sign", problem, seed=seed)
    frames, returns = record_trial(fam, problem, goals, explore, exploit, seed=seed)
    assert returns == [0.0, 1.0, 1.0]  # the reference optimum V* = 1 in every episode
    assert {f.shape for f in frames} == {(14 + 2 * 60, 2 * 160, 3)}  # caption + 2x (view, top)
    actions = reference_sign.reveal_actions(seed)
    assert reference_sign.reveals_all(problem, seed, actions)
    assert actions and not reference_sign.reveals_all(problem, seed, actions[:-1])  # fewest
    path = write_gif(frames, tmp_path / "sign.gif")
    with Image.open(path) as gif:
        assert gif.n_frames == len(frames)


@needs_miniworld
def test_record_trial_seed_and_options():
    fam = make("sign")
    poses = []

    def still(env, t):
        return 3  # end the episode at once

    def log_pose(env, t):
        poses.append(env.agent_pose)
        return 3

    record_trial(fam, 0, (0,), log_pose, log_pose, seed=5)
    record_trial(fam, 0, (0,), log_pose, log_pose, seed=5)
    assert poses[:2] == poses[2:] and poses[0] != poses[1]  # seeded, and a new pose per episode
    start = (4.4, 6.0, 0.5)
    poses.clear()
    record_trial(fam, 0, (1,), log_pose, log_pose, options=[{"start": start}, None])
    assert poses[0] == pytest.approx(start) and poses[1] != pytest.approx(start)
    with pytest.raises(ValueError, match="options has 1 entries; allowed: one per episode"):
        record_trial(fam, 0, (1,), still, still, options=[None])


def test_bad_inputs(tmp_path, capsys):
    with pytest.raises(ValueError, match="no frames"):
        write_gif([], tmp_path / "x.gif")
    for argv, named in (
        (["--only", "kitchen"], "--only kitchen: allowed names: vanilla_bus,"),
        (["--n-exploit", "0"], "--n-exploit 0: allowed: an integer >= 1"),
        (["--seed", "x"], "--seed x"),
    ):
        assert trial_gifs.main([*argv, "--out", str(tmp_path)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("error: ") and named in err
    assert not list(tmp_path.iterdir())
