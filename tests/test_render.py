"""Trial recording and GIFs (deep/envs/render.py, analysis/trial_gifs.py)."""

from __future__ import annotations

import pytest
from PIL import Image

from analysis import trial_gifs
from deep.envs import make
from deep.envs.render import record_trial, write_gif


@pytest.mark.parametrize(("name", "problem", "goals"), [("map", 5, (1, 3)), ("cooking", 11, (8,))])
def test_oracle_trial_reaches_the_optimum_and_writes_a_gif(tmp_path, name, problem, goals):
    fam = make(name)
    explore, exploit = trial_gifs.oracle_policies(name, problem)
    frames, returns = record_trial(fam, problem, goals, explore, exploit)
    assert returns[0] == 0.0  # exploration episodes are not rewarded
    expected = 0.8 if name == "map" else 0.0  # μ = 11, recipe (2, 0): 10 steps, see the docs
    assert returns[1:] == pytest.approx([expected] * len(goals))
    assert len({f.shape for f in frames}) == 1 and frames[0].shape[1] >= 180
    path = write_gif(frames, tmp_path / "sub" / f"{name}.gif")
    with Image.open(path) as gif:
        assert gif.n_frames == len(frames)
    assert not list(tmp_path.glob("sub/*.tmp"))


def test_bad_inputs(tmp_path):
    with pytest.raises(ValueError, match="no frames"):
        write_gif([], tmp_path / "x.gif")
    for argv in (["--only", "kitchen"], ["--n-exploit", "0"]):
        with pytest.raises(SystemExit) as err:
            trial_gifs.main([*argv, "--out", str(tmp_path)])
        assert err.value.code == 2
    assert not list(tmp_path.iterdir())
