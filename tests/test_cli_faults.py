"""Damaged inputs and unwritable outputs of analysis.sweep, analysis.learning_curves and
analysis.evaluate_checkpoint: one line on stderr naming the file, exit status 2, and every
file's bytes as they were.

One tiny sweep (two DREAM runs on the App. C.2 bandit, about a second each) is trained once;
each test damages one file of a copy of it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from analysis import (
    evaluate_checkpoint,
    learning_curves,
    neural_sample_complexity,
    stability,
    sweep,
    training_traces,
)
from analysis import sample_complexity as sc

ROOT = Path(__file__).resolve().parents[1]
SPEC = {
    "name": "faults",
    "methods": ["dream"],
    "envs": [{"env": "bandit", "env_kwargs": {"A": 3}}],
    "seeds": [0, 1],
    "preset": "tiny",
    "steps": 96,
    "num_envs": 4,
    "eval_every": 16,
    "eval_trials": 8,
}
RUN = "bandit/dream/s1"
"""The run whose files are damaged."""


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    """The spec file and the finished sweep (never changed: tests damage copies)."""
    root = tmp_path_factory.mktemp("faults")
    spec_path = root / "faults.json"
    spec_path.write_text(json.dumps(SPEC))
    out = root / "sweep"
    report = sweep.run_sweep(sweep.parse_spec(SPEC), out, workers=0, progress=False)
    assert report.exit_code == 0 and report.count("trained") == 2
    return spec_path, out


@pytest.fixture
def sweep_copy(trained, tmp_path) -> Path:
    copy = tmp_path / "sweep"
    shutil.copytree(trained[1], copy)
    return copy


def _checksums(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncated":
        cut = len(data) // 2
        while data[cut - 1 : cut] == b"\n":  # end mid-line, as a copy cut short does
            cut -= 1
        path.write_bytes(data[:cut])
    elif how == "garbage":
        path.write_bytes(b"\x8a\x00\xff\xfe not what was written \x00\x13\n" * 5)
    elif how == "text":  # readable lines, but not the file's columns or keys
        path.write_text("notes,about\nthis,run\n")
    elif how == "empty":
        path.write_bytes(b"")
    else:
        raise ValueError(how)


DAMAGE = [
    ("metrics.csv", "truncated"),
    ("metrics.csv", "garbage"),
    ("metrics.csv", "empty"),
    ("metrics.csv", "text"),
    ("summary.json", "truncated"),
    ("summary.json", "garbage"),
    ("config.json", "truncated"),
    ("config.json", "garbage"),
    ("config.json", "text"),
]
IDS = [f"{name}-{how}" for name, how in DAMAGE]


def _one_error_line(capsys, named: Path) -> str:
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("error: ") and str(named) in lines[0], lines[0]
    return lines[0]


# ----------------------------------------------------------------------------- analysis.sweep
@pytest.mark.parametrize(("name", "how"), DAMAGE, ids=IDS)
def test_sweep_stops_on_a_damaged_run_file(trained, sweep_copy, capsys, name, how):
    damaged = sweep_copy / RUN / name
    _damage(damaged, how)
    before = _checksums(sweep_copy)
    argv = [str(trained[0]), "--out", str(sweep_copy), "--workers", "0", "--no-progress"]
    assert sweep.main(argv) == 2
    line = _one_error_line(capsys, damaged.resolve())
    assert line.endswith("the file was left as it is"), line
    assert _checksums(sweep_copy) == before  # nothing trained, rewritten or removed


@pytest.mark.parametrize(("name", "how"), DAMAGE[4:], ids=IDS[4:])
def test_sweep_dry_run_stops_on_a_damaged_config_or_summary(trained, sweep_copy, capsys, name, how):
    damaged = sweep_copy / RUN / name
    _damage(damaged, how)
    before = _checksums(sweep_copy)
    assert sweep.main([str(trained[0]), "--out", str(sweep_copy), "--dry-run"]) == 2
    _one_error_line(capsys, damaged)
    assert _checksums(sweep_copy) == before


def test_sweep_stops_on_a_damaged_metrics_csv_of_a_run_to_resume(trained, sweep_copy, capsys):
    """A run to resume (no summary) with a damaged metrics.csv: stopped before any training."""
    (sweep_copy / RUN / "summary.json").unlink()
    damaged = sweep_copy / RUN / "metrics.csv"
    _damage(damaged, "garbage")
    before = _checksums(sweep_copy)
    argv = [str(trained[0]), "--out", str(sweep_copy), "--workers", "0", "--no-progress"]
    assert sweep.main(argv) == 2
    _one_error_line(capsys, damaged.resolve())
    assert _checksums(sweep_copy) == before


def test_python_m_analysis_sweep_still_runs(trained, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "analysis.sweep", str(trained[0]), "--dry-run", "--out", "o"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["new\to/bandit/dream/s0", "new\to/bandit/dream/s1"]


# ----------------------------------------------------------------------------- learning_curves
@pytest.mark.parametrize(("name", "how"), DAMAGE, ids=IDS)
def test_learning_curves_stop_on_a_damaged_run_file(sweep_copy, tmp_path, capsys, name, how):
    damaged = sweep_copy / RUN / name
    _damage(damaged, how)
    before = _checksums(sweep_copy)
    assert learning_curves.main([str(sweep_copy), "--out", str(tmp_path / "figs")]) == 2
    line = _one_error_line(capsys, damaged)
    assert line.endswith("the file was left as it is"), line
    assert _checksums(sweep_copy) == before


def test_learning_curves_read_the_undamaged_sweep(sweep_copy, tmp_path, capsys):
    before = _checksums(sweep_copy)
    assert learning_curves.main([str(sweep_copy), "--out", str(tmp_path / "figs")]) == 0
    assert capsys.readouterr().err == ""
    assert _checksums(sweep_copy) == before


# ----------------------------------------------------------------------------- evaluate_checkpoint
@pytest.mark.parametrize(
    ("name", "how"),
    [("checkpoint.pt", h) for h in ("truncated", "garbage", "empty")]
    + [("metrics.csv", h) for h in ("truncated", "garbage", "text")],
)
def test_evaluate_checkpoint_stops_on_a_damaged_file(sweep_copy, tmp_path, capsys, name, how):
    damaged = sweep_copy / RUN / name
    _damage(damaged, how)
    before = _checksums(sweep_copy)
    out = tmp_path / "eval.csv"
    assert (
        evaluate_checkpoint.main([str(sweep_copy / RUN), "--trials", "4", "--out", str(out)]) == 2
    )
    line = _one_error_line(capsys, damaged)
    assert line.endswith("the file was left as it is") and "--resume" not in line, line
    assert _checksums(sweep_copy) == before and not out.exists()


@pytest.mark.parametrize("name", ["summary.json", "config.json"])
def test_evaluate_checkpoint_does_not_read_config_or_summary(sweep_copy, tmp_path, capsys, name):
    _damage(sweep_copy / RUN / name, "garbage")
    before = _checksums(sweep_copy)
    out = tmp_path / "eval.csv"
    assert (
        evaluate_checkpoint.main([str(sweep_copy / RUN), "--trials", "4", "--out", str(out)]) == 0
    )
    assert out.is_file() and _checksums(sweep_copy) == before


# ----------------------------------------------------------------------------- read-only --out
@pytest.fixture
def read_only(tmp_path):
    """A folder no one may write in: mode 0555, and immutable (chattr +i) for root."""
    folder = tmp_path / "read_only"
    folder.mkdir()
    folder.chmod(0o555)
    immutable = False
    try:
        (folder / "probe").touch()
    except PermissionError:
        pass  # not root: the mode is enough
    else:
        (folder / "probe").unlink()
        done = subprocess.run(["chattr", "+i", str(folder)], capture_output=True, check=False)
        if done.returncode != 0:
            folder.chmod(0o755)
            pytest.skip("root on a file system without chattr +i: no read-only folder here")
        immutable = True
    yield folder
    if immutable:
        subprocess.run(["chattr", "-i", str(folder)], check=True)
    folder.chmod(0o755)


@pytest.mark.parametrize("existing", [True, False], ids=["out-read-only", "parent-read-only"])
def test_sweep_to_a_read_only_out(trained, read_only, capsys, existing):
    out = read_only if existing else read_only / "sweep"
    assert sweep.main([str(trained[0]), "--out", str(out), "--workers", "0"]) == 2
    line = _one_error_line(capsys, out)
    assert line.startswith(f"error: {out}: cannot write ("), line
    assert list(read_only.iterdir()) == []


@pytest.mark.parametrize("existing", [True, False], ids=["out-read-only", "parent-read-only"])
def test_learning_curves_to_a_read_only_out(sweep_copy, read_only, capsys, existing):
    out = read_only if existing else read_only / "figs"
    assert learning_curves.main([str(sweep_copy), "--out", str(out)]) == 2
    line = _one_error_line(capsys, out)
    assert ": cannot write (" in line, line
    assert list(read_only.iterdir()) == []


def test_sweep_on_a_file_system_without_locks(trained, tmp_path, capsys, monkeypatch):
    import fcntl

    def refuse(*_args):
        raise OSError(22, "Invalid argument")

    monkeypatch.setattr(fcntl, "flock", refuse)
    out = tmp_path / "o"
    assert sweep.main([str(trained[0]), "--out", str(out), "--workers", "0"]) == 2
    line = _one_error_line(capsys, out)
    assert line == f"error: {out}: cannot lock .sweep.lock (Invalid argument)"


def test_evaluate_checkpoint_to_a_read_only_out(sweep_copy, read_only, capsys):
    out = read_only / "eval.csv"
    assert evaluate_checkpoint.main([str(sweep_copy / RUN), "--out", str(out)]) == 2
    line = _one_error_line(capsys, out)
    assert line.startswith(f"error: {out}: cannot write ("), line
    assert list(read_only.iterdir()) == []


def _no_work(*_args, **_kwargs):
    raise AssertionError("the command started its work before checking --out")


@pytest.mark.parametrize(
    "command",
    ["learning_curves", "stability", "training_traces", "neural_sample_complexity", "sc"],
)
def test_out_at_a_file_is_one_line_before_any_work(
    command, sweep_copy, tmp_path, capsys, monkeypatch
):
    out = tmp_path / "a_file"
    out.write_text("keep me\n")
    monkeypatch.setattr(training_traces, "run", _no_work)
    monkeypatch.setattr(neural_sample_complexity, "run_cell", _no_work)
    monkeypatch.setattr("analysis.sample_complexity.cli.simulate", _no_work)
    argv = {
        "learning_curves": [str(sweep_copy)],
        "stability": [str(sweep_copy)],
        "training_traces": ["--A", "2", "--seeds", "1", "--quiet"],
        "neural_sample_complexity": ["--A", "2", "--seeds", "1"],
        "sc": ["--A", "2", "--seeds", "2", "--quiet"],
    }[command]
    main = {
        "learning_curves": learning_curves.main,
        "stability": stability.main,
        "training_traces": training_traces.main,
        "neural_sample_complexity": neural_sample_complexity.main,
        "sc": sc.main,
    }[command]
    assert main([*argv, "--out", str(out)]) == 2
    line = _one_error_line(capsys, out)
    assert line.endswith("must be a directory"), line
    assert out.read_text() == "keep me\n"
