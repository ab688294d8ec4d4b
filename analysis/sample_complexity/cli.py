"""Command line of ``python -m analysis.sample_complexity``: parse, simulate, write, report.

Files written to ``--out`` (atomically, see :mod:`common.io`): ``per_seed.csv``,
``summary.csv``, ``slopes.csv``, ``figure3a.png``, ``config.json`` and one
``cells/<cell>.csv`` per finished cell (see :mod:`~analysis.sample_complexity.cells`).
Exit status: 0 on success, 1 if a pathwise relation is violated, 2 on bad input.
"""

from __future__ import annotations

import json
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.sample_complexity.cells import simulate
from analysis.sample_complexity.config import (
    EXPERIMENT,
    RunOptions,
    Setting,
    SweepConfig,
    jsonable,
    settings,
)
from analysis.sample_complexity.figure import plot
from analysis.sample_complexity.per_seed import read_per_seed
from analysis.sample_complexity.report import print_report
from analysis.sample_complexity.stats import slopes, summarize
from common import io as aio
from common.cli import (
    OneLineParser,
    UsageError,
    parse_choices,
    parse_float_list,
    parse_int,
    parse_int_set,
    parse_positive_float,
)
from tabular.bandit import MAX_H
from tabular.measures import LEARNERS, METHODS, check_cell


def _parser() -> OneLineParser:
    p = OneLineParser(
        prog="python -m analysis.sample_complexity",
        description=(
            "Fig. 3a / Prop. 2: trials until greedy exploration is optimal, RL² vs DREAM, "
            "as |A| grows."
        ),
        allow_abbrev=False,
    )
    add = p.add_argument
    add("--A", default="2..16", help="numbers of actions: LO..HI, a,b,c or n (default 2..16)")
    add("--H", default="1", help=f"horizons, same syntax, 1..{MAX_H} (default 1)")
    add("--seeds", default="1000", help="seeds per cell (default 1000)")
    add("--first-seed", default="0", help="first seed (default 0)")
    add("--epsilon", default="1", help="exploration rates in (0, 1], comma list (default 1)")
    add("--learner", default="per-trajectory", help="per-trajectory, per-step or both")
    add("--methods", default="rl2,dream", help="comma list of rl2, dream (default rl2,dream)")
    add("--max-trials", default=None, help="cap on trials per seed (default: kernel default)")
    add("--max-memory-gb", default=None, help="memory budget for one cell's tables in GiB")
    add("--out", default=None, help="output directory (default runs/sample_complexity)")
    add("--from-csv", default=None, help="rebuild tables and figure from this per_seed.csv")
    add("--quiet", action="store_true", help="no progress bar")
    return p


def parse_args(argv: Sequence[str]) -> tuple[SweepConfig, RunOptions]:
    """Parse and validate the command line (raises :class:`UsageError`)."""
    ns = _parser().parse_args(list(argv))
    learner_choices = (*LEARNERS, "both")
    if ns.learner not in learner_choices:
        allowed = f"use one of {', '.join(learner_choices)}"
        raise UsageError.for_flag("--learner", ns.learner, allowed)
    config = SweepConfig(
        methods=parse_choices("--methods", ns.methods, METHODS),
        learners=LEARNERS if ns.learner == "both" else (ns.learner,),
        H=parse_int_set("--H", ns.H, 1, MAX_H),
        A=parse_int_set("--A", ns.A, 2, 2**40),
        epsilon=parse_float_list("--epsilon", ns.epsilon),
        first_seed=parse_int("--first-seed", ns.first_seed, 0),
        n_seeds=parse_int("--seeds", ns.seeds, 1),
        max_trials=None if ns.max_trials is None else parse_int("--max-trials", ns.max_trials, 1),
    )
    from_csv = None if ns.from_csv is None else Path(ns.from_csv)
    default_out = from_csv.parent if from_csv is not None else Path("runs/sample_complexity")
    options = RunOptions(
        out=Path(ns.out) if ns.out is not None else default_out,
        from_csv=from_csv,
        max_memory_gb=None
        if ns.max_memory_gb is None
        else parse_positive_float("--max-memory-gb", ns.max_memory_gb),
        quiet=bool(ns.quiet),
    )
    return config, options


def _check_cells(cells: Sequence[Setting], options: RunOptions, a_text: str) -> None:
    """Run :func:`tabular.measures.check_cell` on every cell before anything is written."""
    for s in cells:
        try:
            check_cell(s.method, s.learner, s.A, s.H, s.epsilon, options.max_memory_bytes)
        except ValueError as err:
            hint = "; lower --A/--H or raise --max-memory-gb"
            raise UsageError.for_flag("--A", a_text, f"{err}{hint}") from None


def _load_source(path: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read ``--from-csv`` (raises :class:`UsageError` if it is not a valid per_seed.csv)."""
    if not path.is_file():
        raise UsageError.for_flag("--from-csv", path, "must be an existing per_seed.csv file")
    try:
        df = read_per_seed(path)
        header = aio.read_header(path) or {}
    except (OSError, ValueError, TypeError, pd.errors.ParserError) as err:
        reason = " ".join(str(err).split())[:200]
        raise UsageError.for_flag(
            "--from-csv", path, f"must be a per_seed.csv written by this experiment ({reason})"
        ) from None
    if df.empty:
        raise UsageError.for_flag("--from-csv", path, "must hold at least one row")
    return df, header


def write_outputs(
    per_seed: pd.DataFrame, out: Path, header: dict[str, Any]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Write ``summary.csv``, ``slopes.csv`` and ``figure3a.png`` built from ``per_seed``."""
    summary = summarize(per_seed)
    slope_table = slopes(summary)
    aio.write_csv(out / "summary.csv", summary, header)
    aio.write_csv(out / "slopes.csv", slope_table, header)
    plot(summary, out / "figure3a.png", header)
    return summary, slope_table


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m analysis.sample_complexity``; returns the exit status."""
    started, started_utc = time.perf_counter(), datetime.now(UTC)
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        config, options = parse_args(argv)
        if options.from_csv is not None:
            per_seed, header = _load_source(options.from_csv)
            cells: tuple[Setting, ...] = ()
        else:
            cells = settings(config)
            _check_cells(cells, options, _argv_value(argv, "--A", "2..16"))
        aio.output_folder(options.out)
    except UsageError as err:
        print(err.line(), file=sys.stderr)
        return 2
    out = options.out
    if options.from_csv is not None:
        summary, table = write_outputs(per_seed, out, header)
        print(f"rebuilt summary.csv, slopes.csv, figure3a.png in {out} from {options.from_csv}")
        return print_report(per_seed, summary, table)
    header = config.header()
    per_seed, reused = simulate(cells, out, options)
    simulated_s = time.perf_counter() - started
    aio.write_csv(out / "per_seed.csv", per_seed, header)
    summary, table = write_outputs(per_seed, out, header)
    record = {
        **header,
        "options": jsonable(asdict(options)),
        "environment": aio.environment(),
        "command": shlex.join(["python", "-m", EXPERIMENT, *argv]),
        "argv": argv,
        "started_utc": started_utc.isoformat(timespec="seconds"),
        "cells": len(cells),
        "cells_reused": reused,
        "simulate_wall_s": round(simulated_s, 3),
        "wall_s": round(time.perf_counter() - started, 3),
    }
    aio.atomic_write_text(out / "config.json", json.dumps(record, indent=2) + "\n")
    status = print_report(per_seed, summary, table)
    print(
        f"\nwrote {out}/{{per_seed,summary,slopes}}.csv, figure3a.png, config.json "
        f"in {record['wall_s']:.2f} s"
    )
    return status


def _argv_value(argv: Sequence[str], flag: str, default: str) -> str:
    """The last value given for ``flag`` (``--flag v`` or ``--flag=v``), else ``default``."""
    value = default
    for i, item in enumerate(argv):
        if item == flag and i + 1 < len(argv):
            value = argv[i + 1]
        elif item.startswith(flag + "="):
            value = item[len(flag) + 1 :]
    return value
