"""Exploitation told μ per kind of goal, over several diagnosed checkpoints: one table.

``python -m analysis.diagnostics.goal_kinds DIR [DIR ...] [--out FILE.csv]``

Each ``DIR`` is a folder written by ``python -m analysis.diagnostics RUN --out DIR`` for a
family with more than one kind of goal (cooking: "a, a", one ingredient twice, and "a, b"), so
it holds ``exploitation_goal_kinds.csv``. Diagnosing a run's snapshots
(``RUN/snapshots/env_steps_N.pt``) and listing the folders here shows when π^task learns each
kind of recipe, and lets two runs that differ in one setting be read side by side.

One row per (folder, split, goal kind): the run, its seed, the checkpoint's env steps, the
env and method arguments it was trained with, then the columns of
:func:`analysis.diagnostics.exploitation.goal_summary` (pairs, mean return and optimum, the
fraction of pairs played optimally, π^task's value of its first state, recipe progress). Rows
are sorted by run and env steps. ``--out`` writes them as CSV (header line: the folders and
the package version); it replaces only a file this command wrote. The table is printed as
Markdown. Bad input is one line and exit status 2.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from common.cli import OneLineParser, UsageError, run_main
from common.io import (
    PACKAGE,
    UnwritableOutput,
    compact_json,
    package_version,
    read_csv,
    read_header,
    write_csv,
)

SOURCE = "exploitation_goal_kinds.csv"
"""The file of :mod:`analysis.diagnostics` this table is made of."""

EXPERIMENT = "analysis.diagnostics.goal_kinds"

RUN_COLUMNS = ("run", "seed", "env_steps", "env_kwargs", "method", "method_args")
"""What each row says about the checkpoint it was measured on."""


def folder_rows(folder: Path) -> pd.DataFrame:
    """The rows of one diagnostics folder, with the checkpoint's run columns in front."""
    path = folder / SOURCE
    if not path.is_file():
        raise UsageError(
            f"{path}: no such file; run python -m analysis.diagnostics RUN --out {folder} "
            "(on a family with more than one kind of goal, e.g. cooking)"
        )
    header = read_header(path) or {}
    config = header.get("config", {})
    kinds = read_csv(path, required=("split", "goal_kind", "pairs"))
    run = {
        "run": header.get("run", str(folder)),
        "seed": config.get("seed"),
        "env_steps": header.get("checkpoint_env_steps"),
        "env_kwargs": compact_json(config.get("env_kwargs", {})),
        "method": config.get("method"),
        "method_args": compact_json(config.get("method_args", {})),
    }
    for column, value in reversed(run.items()):
        kinds.insert(0, column, value)
    return kinds


def goal_kinds_table(folders: Sequence[Path]) -> pd.DataFrame:
    """Every folder's rows, sorted by run, env steps, split and goal kind."""
    rows = pd.concat([folder_rows(f) for f in folders], ignore_index=True)
    return rows.sort_values(["run", "env_steps", "split", "goal_kind"], kind="stable").reset_index(
        drop=True
    )


def markdown(table: pd.DataFrame) -> str:
    """The table as GitHub Markdown, three decimals."""
    return table.to_markdown(index=False, tablefmt="github", floatfmt=".3f") + "\n"


def _check_out(out: Path) -> None:
    """Refuse an ``--out`` that exists and was not written by this command."""
    if out.is_dir():
        raise UsageError.for_flag("--out", out, "a CSV file path, not a directory")
    if out.exists() and (read_header(out) or {}).get("experiment") != EXPERIMENT:
        raise UsageError(
            f"--out {out}: exists and was not written by {EXPERIMENT}; "
            "choose another path (nothing was written)"
        )


def _parser() -> OneLineParser:
    p = OneLineParser(prog=f"python -m {EXPERIMENT}")
    p.add_argument("folders", nargs="+", help="folders written by python -m analysis.diagnostics")
    p.add_argument("--out", default=None, help="CSV file for the table (default: print only)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point (0: printed and written; 2: bad input, a missing file, unwritable)."""
    try:
        args = _parser().parse_args(argv)
        folders = [Path(f) for f in args.folders]
        out = None if args.out is None else Path(args.out)
        if out is not None:
            _check_out(out)
        table = goal_kinds_table(folders)
        if out is not None:
            header = {
                "experiment": EXPERIMENT,
                "folders": [str(f) for f in folders],
                "package": PACKAGE,
                "package_version": package_version(),
            }
            try:
                write_csv(out, table, header)
            except OSError as err:
                raise UnwritableOutput.at(out, err) from None
    except UsageError as err:
        print(err.line(), file=sys.stderr)
        return 2
    print(markdown(table), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_main(main, sys.argv[1:]))
