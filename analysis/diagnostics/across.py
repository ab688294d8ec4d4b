"""One diagnostics table over several diagnosed checkpoints, each row with its checkpoint.

The CLIs built on it (:mod:`.goal_kinds`, :mod:`.refits`) read one file that
``python -m analysis.diagnostics RUN --out DIR`` wrote into each ``DIR``, put the checkpoint's
run columns (:data:`RUN_COLUMNS`, from the file's header line) in front of its rows, print the
whole as Markdown and, with ``--out FILE.csv``, write it (header line: the folders and the
package version). ``--out`` replaces only a file the same command wrote. Bad input is one line
and exit status 2.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from common.cli import OneLineParser, UsageError
from common.io import (
    PACKAGE,
    UnwritableOutput,
    compact_json,
    package_version,
    read_csv,
    read_header,
    write_csv,
)

__all__ = [
    "RUN_COLUMNS",
    "folder_table",
    "main_for",
    "markdown",
    "run_columns",
    "with_run_columns",
]

RUN_COLUMNS = ("run", "seed", "env_steps", "env_kwargs", "method", "method_args")
"""What each row says about the checkpoint it was measured on."""


def run_columns(header: dict[str, Any], folder: Path) -> dict[str, Any]:
    """The :data:`RUN_COLUMNS` of a diagnostics file's header line."""
    config = header.get("config", {})
    return {
        "run": header.get("run", str(folder)),
        "seed": config.get("seed"),
        "env_steps": header.get("checkpoint_env_steps"),
        "env_kwargs": compact_json(config.get("env_kwargs", {})),
        "method": config.get("method"),
        "method_args": compact_json(config.get("method_args", {})),
    }


def folder_table(
    folder: Path, source: str, required: Sequence[str], hint: str
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """``folder/source`` read with its ``required`` columns, and the file's header line.

    A missing file is a :class:`UsageError` naming it and ``hint`` (how to write it).
    """
    path = folder / source
    if not path.is_file():
        raise UsageError(
            f"{path}: no such file; run python -m analysis.diagnostics RUN --out {folder} {hint}"
        )
    return read_csv(path, required=tuple(required)), read_header(path) or {}


def with_run_columns(table: pd.DataFrame, header: dict[str, Any], folder: Path) -> pd.DataFrame:
    """``table`` with the checkpoint's :data:`RUN_COLUMNS` inserted in front."""
    table = table.copy()
    for column, value in reversed(run_columns(header, folder).items()):
        table.insert(0, column, value)
    return table


def markdown(table: pd.DataFrame) -> str:
    """The table as GitHub Markdown, three decimals."""
    return table.to_markdown(index=False, tablefmt="github", floatfmt=".3f") + "\n"


def _check_out(out: Path, experiment: str) -> None:
    """Refuse an ``--out`` that exists and was not written by ``experiment``."""
    if out.is_dir():
        raise UsageError.for_flag("--out", out, "a CSV file path, not a directory")
    if out.exists() and (read_header(out) or {}).get("experiment") != experiment:
        raise UsageError(
            f"--out {out}: exists and was not written by {experiment}; "
            "choose another path (nothing was written)"
        )


def main_for(
    argv: Sequence[str] | None,
    experiment: str,
    description: str,
    make_table: Callable[[Sequence[Path]], pd.DataFrame],
) -> int:
    """The CLI of ``experiment`` (``python -m <experiment> DIR [DIR ...] [--out FILE.csv]``).

    0: printed (and written); 2: bad input, a missing file, an unwritable ``--out``.
    """
    p = OneLineParser(prog=f"python -m {experiment}", description=description)
    p.add_argument("folders", nargs="+", help="folders written by python -m analysis.diagnostics")
    p.add_argument("--out", default=None, help="CSV file for the table (default: print only)")
    try:
        args = p.parse_args(argv)
        folders = [Path(f) for f in args.folders]
        out = None if args.out is None else Path(args.out)
        if out is not None:
            _check_out(out, experiment)
        table = make_table(folders)
        if out is not None:
            header = {
                "experiment": experiment,
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
