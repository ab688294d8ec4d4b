"""One Markdown table per results folder: each curve's final return beside its references.

``python -m analysis.summary_table results/dream_grids``

Reads what :mod:`analysis.learning_curves` wrote to a folder (``final_returns.csv``,
``seed_tails.csv``) and, when present, what :mod:`analysis.stability` wrote there
(``stability.csv``), and writes ``table.md``: one row per curve on one evaluation split
(``--split``, default the held-out problems), with

* the seeds that finished their budget, and each seed's *tail* (its mean greedy return over
  its last 10% of evaluations);
* the tail mean over seeds ± the 95% Student-t half-width
  (:func:`analysis.learning_curves.mean_ci`);
* the last evaluation's mean return;
* exploitation told μ (z = f(μ)): the tail of the training problems' evaluations, where the
  runs evaluated them (f(μ) is never trained on held-out problems), else the split's own;
* the exact optimum, PEARL-UB and no-exploration values of the curve's panel;
* how many evaluations from each seed's first optimal one on were optimal.

This is the README's grid-world table; regenerating it after new runs is
``learning_curves``, then ``stability``, then this command, on the same folder.

Several folders (``summary_table A B --out T.md``) pool their seeds of the same curves, exactly
(:func:`pool`): for seeds whose raw run folders are gone, a folder that kept their per-seed tails
still counts, and a new seed is added from its own folder. A seed of one curve found in two
folders is refused, as it would count twice. The first line
of ``table.md`` is an HTML comment with the command's config and the package version, as the
CSV headers of :mod:`common.io` carry theirs. Bad input is one line and exit status 2.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from analysis.learning_curves import CURVE_KEYS, EVAL_SPLITS, _steps_label, mean_ci, split_title
from common.cli import OneLineParser, UsageError, run_main
from common.io import (
    PACKAGE,
    UnwritableOutput,
    atomic_write_text,
    compact_json,
    package_version,
    read_csv,
    read_header,
)
from deep.registry import METHODS

COLUMNS = (
    "benchmark, method, problems",
    "budget",
    "seeds finished",
    "per-seed tail",
    "tail mean ± 95% CI",
    "last evaluation",
    "told μ, training problems (tail)",
    "optimal / PEARL-UB / no exploration",
    "optimal evaluations after the first",
)
"""The table's columns, in order."""


SOURCES = ("final_returns.csv", "seed_tails.csv", "stability.csv")
"""The files a table is made of (the last is optional)."""


def _number(value: float) -> str:
    """Two decimals with a typographic minus; ``—`` for a missing value."""
    return "—" if pd.isna(value) else f"{value:.2f}".replace("-", "−")


def _key(value: object) -> str:
    """A curve key as text that is the same whichever CSV it was read from (NA, 1e6, 1e6.0)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    try:
        return repr(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(value)


def _curve(rows: pd.DataFrame, row: pd.Series, split: str) -> pd.DataFrame:
    """The rows of ``rows`` that belong to ``row``'s curve on ``split``."""
    mine = _key_frame(row.to_frame().T.assign(split=split), ("split",)).iloc[0]
    return rows[_key_frame(rows, ("split",)) == mine]


def _label(row: pd.Series) -> str:
    method = METHODS[row["method"]].label if row["method"] in METHODS else row["method"]
    setting = "" if row["setting"] == "default" else f" [{row['setting']}]"
    problems = split_title(row["env"], row["split"])
    return f"{row['env']} ({row['variant']}), {method}{setting}, {problems}"


def _stability(stability: pd.DataFrame | None, row: pd.Series, seeds: int) -> str:
    if stability is None:
        return "—"
    mine = _curve(stability, row, row["split"])
    if not len(mine):
        return "never optimal"
    return (
        f"{int(mine['evals_at_optimum'].sum())} of {int(mine['evals_from_first'].sum())} "
        f"({len(mine)} of {seeds} seeds reached it)"
    )


def summary_rows(
    final: pd.DataFrame,
    tails: pd.DataFrame,
    stability: pd.DataFrame | None = None,
    split: str = "test",
) -> pd.DataFrame:
    """The table as a frame of strings with :data:`COLUMNS`, one row per curve on ``split``."""
    out = []
    for _, row in final[final["split"] == split].iterrows():
        seeds = _curve(tails, row, split).sort_values("seed")
        told = _curve(tails, row, "train_eval")
        if not len(told):
            told = seeds
        finished = int(row["seeds"]) - int(row["unfinished_seeds"])
        ci = "" if pd.isna(row["tail_return_ci95"]) else f" ± {_number(row['tail_return_ci95'])}"
        budget = "—" if pd.isna(row["steps"]) else _steps_label(float(row["steps"]))
        out.append(
            {
                COLUMNS[0]: _label(row),
                COLUMNS[1]: budget,
                COLUMNS[2]: f"{finished}"
                if finished == row["seeds"]
                else f"{finished} of {row['seeds']}",
                COLUMNS[3]: ", ".join(
                    f"s{int(s.seed)} {_number(s.tail_return)}" for s in seeds.itertuples()
                ),
                COLUMNS[4]: f"**{_number(row['tail_return_mean'])}**{ci}",
                COLUMNS[5]: _number(row["return_mean"]),
                COLUMNS[6]: _number(told["tail_return_informed"].mean()),
                COLUMNS[7]: " / ".join(
                    _number(row[c]) for c in ("optimal", "pearl_ub", "no_exploration")
                ),
                COLUMNS[8]: _stability(stability, row, int(row["seeds"])),
            }
        )
    return pd.DataFrame(out, columns=list(COLUMNS))


def _key_frame(rows: pd.DataFrame, extra: Sequence[str]) -> pd.Series:
    """One text key per row: its curve (:data:`CURVE_KEYS`) and ``extra`` columns."""
    keys = [rows[k].map(_key) for k in (*CURVE_KEYS, *extra)]
    return pd.concat(keys, axis=1).agg("|".join, axis=1)


def _no_run_twice(frames: Sequence[tuple[Path, pd.DataFrame]], name: str) -> pd.DataFrame:
    """The per-seed rows of several folders stacked; one seed of a curve in two is an error."""
    seen: dict[str, Path] = {}
    for folder, rows in frames:
        for key in _key_frame(rows, ("split", "seed")):
            if key in seen and seen[key] != folder:
                raise UsageError(
                    f"{seen[key] / name} and {folder / name} hold the same seed of one curve "
                    f"({key.replace('|', ', ')}); pooling both would count it twice"
                )
            seen[key] = folder
    return pd.concat([rows for _, rows in frames], ignore_index=True)


POOLED = (
    *CURVE_KEYS,
    "split",
    "seeds",
    "unfinished_seeds",
    "return_mean",
    "tail_return_mean",
    "tail_return_ci95",
    "optimal",
    "pearl_ub",
    "no_exploration",
)
"""The columns of :func:`pool`'s rows (what :func:`summary_rows` reads)."""


def pool(finals: Sequence[pd.DataFrame], tails: pd.DataFrame) -> pd.DataFrame:
    """The final-returns rows of several folders' runs of the same curves, as one set of seeds.

    Exact from what each folder kept: ``seeds`` and ``unfinished_seeds`` add up, the last
    evaluation's mean over seeds is the seed-weighted mean of the folders' means, and the tail
    mean ± 95% CI is :func:`~analysis.learning_curves.mean_ci` of the pooled per-seed tails
    (``tails``). The reference values are the panel's, the same in every folder. Only these
    columns are kept (:data:`POOLED`): the others do not pool from the folders' means.
    """
    final = pd.concat(finals, ignore_index=True)
    final["_key"] = _key_frame(final, ("split",))
    tails = tails.assign(_key=_key_frame(tails, ("split",)))
    rows = []
    for _, group in final.groupby("_key", sort=False):
        row = group.iloc[0].copy()
        weights = group["seeds"].astype(float)
        row["seeds"] = int(weights.sum())
        row["unfinished_seeds"] = int(group["unfinished_seeds"].sum())
        row["return_mean"] = float((group["return_mean"] * weights).sum() / weights.sum())
        mine = tails.loc[tails["_key"] == row["_key"], "tail_return"].to_numpy(dtype=float)
        row["tail_return_mean"], row["tail_return_ci95"] = mean_ci(mine)
        rows.append(row)
    return pd.DataFrame(rows)[list(POOLED)].reset_index(drop=True)


def markdown(rows: pd.DataFrame) -> str:
    """``rows`` as a GitHub Markdown table (pipes; numbers kept as written)."""
    return rows.to_markdown(index=False, tablefmt="github", disable_numparse=True) + "\n"


def _read(folder: Path, name: str, required: bool) -> pd.DataFrame | None:
    path = folder / name
    if not path.is_file():
        if required:
            raise UsageError(
                f"{path}: no such file; run python -m analysis.learning_curves RUNS "
                f"--out {folder} first"
            )
        return None
    return read_csv(path)


def _check_same_runs(folder: Path, with_stability: bool) -> None:
    """Refuse a ``stability.csv`` written for other runs than ``final_returns.csv``."""
    if not with_stability:
        return
    runs = (read_header(folder / "final_returns.csv") or {}).get("runs")
    other = (read_header(folder / "stability.csv") or {}).get("runs")
    if runs is not None and other is not None and sorted(runs) != sorted(other):
        raise UsageError(
            f"{folder / 'stability.csv'}: written for other runs than final_returns.csv; "
            "rerun python -m analysis.stability with the runs given to learning_curves"
        )


def _parser() -> OneLineParser:
    p = OneLineParser(prog="python -m analysis.summary_table")
    p.add_argument(
        "folders", nargs="+", metavar="folder",
        help="folders written by analysis.learning_curves (and stability); several: their "
        "seeds pooled (each seed of a curve in one folder only)",
    )  # fmt: skip
    p.add_argument(
        "--out", default=None, metavar="FILE",
        help="the table's file (default: FOLDER/table.md; required with several folders)",
    )  # fmt: skip
    p.add_argument(
        "--split", default="test", choices=list(EVAL_SPLITS),
        help="the evaluation split of the rows (test: held-out problems)",
    )  # fmt: skip
    return p


def _read_folder(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None]:
    """(final returns, seed tails, stability or None) of one folder, checked."""
    final = _read(folder, "final_returns.csv", required=True)
    tails = _read(folder, "seed_tails.csv", required=True)
    stability = _read(folder, "stability.csv", required=False)
    assert final is not None and tails is not None
    _check_same_runs(folder, stability is not None)
    return final, tails, stability


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point (0: written; 2: bad input, a missing or damaged file, unwritable)."""
    try:
        args = _parser().parse_args(argv)
        folders = [Path(f) for f in dict.fromkeys(args.folders)]
        if len(folders) > 1 and args.out is None:
            raise UsageError.for_flag("--out", "(none)", "give the table's file to pool folders")
        target = Path(args.out) if args.out is not None else folders[0] / "table.md"
        if target.is_dir():
            raise UsageError.for_flag("--out", target, "must be a file, not a directory")
        read = [_read_folder(folder) for folder in folders]
        tails = _no_run_twice(
            [(f, r[1]) for f, r in zip(folders, read, strict=True)], "seed_tails.csv"
        )
        with_stability = [(f, r[2]) for f, r in zip(folders, read, strict=True) if r[2] is not None]
        stability = (
            _no_run_twice(with_stability, "stability.csv")
            if len(with_stability) == len(folders)
            else None
        )
        final = read[0][0] if len(folders) == 1 else pool([r[0] for r in read], tails)
        rows = summary_rows(final, tails, stability, args.split)
        if not len(rows):
            raise UsageError.for_flag("--split", args.split, "no curve has evaluations on it")
        runs = [
            run
            for folder in folders
            for run in (read_header(folder / "final_returns.csv") or {}).get("runs", [])
        ]
        header = {
            "experiment": "analysis.summary_table",
            "split": args.split,
            "folders": [str(f) for f in folders],
            "sources": [n for n in SOURCES if all((f / n).is_file() for f in folders)],
            "runs": runs,
            "package": PACKAGE,
            "package_version": package_version(),
        }
        text = f"<!-- {compact_json(header)} -->\n\n{markdown(rows)}"
        try:
            atomic_write_text(target, text)
        except OSError as err:
            raise UnwritableOutput.at(target, err) from None
    except UsageError as err:
        print(err.line(), file=sys.stderr)
        return 2
    print(markdown(rows), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_main(main, sys.argv[1:]))
