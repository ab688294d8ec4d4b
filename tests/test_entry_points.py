"""Every command-line entry point ends quietly when its reader stops early (``| head``)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from common.cli import SIGPIPE_STATUS, run_main

ROOT = Path(__file__).resolve().parents[1]
STANDALONE = {"benchmarks/bench_tabular.py", "benchmarks/theory_agreement.py"}
"""Scripts that import nothing of the package (they time or check it from outside)."""


def _entry_points(standalone: bool = False) -> list[Path]:
    """The files with a ``__main__`` block; the standalone scripts only when asked."""
    found = []
    for folder in ("analysis", "deep", "common", "benchmarks", "scripts", "tabular"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if 'if __name__ == "__main__":' not in path.read_text():
                continue
            if standalone or str(path.relative_to(ROOT)) not in STANDALONE:
                found.append(path)
    return found


def _main_block(path: Path) -> str:
    tree = ast.parse(path.read_text())
    for node in tree.body:
        if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test):
            return ast.unparse(node)
    raise AssertionError(f"{path}: no __main__ block")


def test_there_are_entry_points_to_check():
    assert len(_entry_points()) >= 15
    every = {str(p.relative_to(ROOT)) for p in _entry_points(standalone=True)}
    assert every >= STANDALONE  # the exceptions still exist, and are the only ones left out


@pytest.mark.parametrize("path", _entry_points(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_entry_point_runs_its_main_through_run_main(path):
    assert "run_main(main" in _main_block(path)


def test_a_reader_that_stops_early_ends_the_command_with_one_status_and_no_traceback():
    # 1 MB of output into `head -c 1`: the writer meets a closed pipe
    program = (
        "import sys\n"
        "from common.cli import run_main\n"
        "def main():\n"
        "    for _ in range(1000):\n"
        "        print('x' * 1000)\n"
        "    return 0\n"
        "sys.exit(run_main(main))\n"
    )
    script = f'"{sys.executable}" -c "$PROGRAM" | head -c 1 >/dev/null; echo ${{PIPESTATUS[0]}}'
    out = subprocess.run(
        ["bash", "-c", script], cwd=ROOT, env={"PROGRAM": program, "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.stderr == ""
    assert int(out.stdout.strip()) == SIGPIPE_STATUS


def test_run_main_passes_the_status_and_arguments_through():
    assert run_main(lambda: None) == 0
    assert run_main(lambda code: code, 2) == 2
