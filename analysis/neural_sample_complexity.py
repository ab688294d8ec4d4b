"""Neural DREAM's and E-RL²'s sample complexity on the bandit of App. C.2, next to Fig. 3a.

``python -m analysis.neural_sample_complexity --A 2..6 --seeds 5 --out results/fig3a_neural``

For every (method, A, seed) a neural agent of ``deep/`` trains on the horizon-1 bandit with
the ``epsilon1`` preset (every policy acts at ε = 1, as the tabular learners do) and is
evaluated greedily every ``--eval-every`` trials. ``--methods`` picks the agents (default
both): ``dream`` (neural DREAM, rows ``method=dream-neural``) and ``erl2`` (neural E-RL², the
end-to-end RL² of Sec. 5.2 as a recurrent DQN; rows ``method=rl2-neural``). Their ``T_greedy``
is the tabular measure's counterpart: the first evaluated trial count from which greedy
exploration is a★ at every later evaluation (``deep.metrics.steps_to_informative``), so it is
resolved to the evaluation grid; a run whose last evaluation is not informative is *capped*
(T reported as the budget). Both agents run the same loop, budget, preset and evaluation
(:func:`run_config`); only the method differs.

Writes ``per_seed.csv`` (columns of the tabular sweep: ``method`` (``dream-neural`` /
``rl2-neural``), ``learner=neural``, ``H``, ``A``, ``epsilon``, ``seed``, ``T_greedy``,
``capped``), ``summary.csv`` and ``figure3a_neural.png`` (the neural means with 95% CIs over
the tabular DREAM and RL² ``T_greedy`` means of ``--tabular``), and prints the summary
(:func:`format_summary`). ``--from-csv per_seed.csv`` trains nothing: it rebuilds
``summary.csv`` and the figure from that file alone (in ``--out``, by default the file's folder).
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from tqdm import tqdm

from common.cli import OneLineParser, UsageError, parse_choices, parse_int_set, run_main
from common.io import environment, output_folder, read_csv, read_header, write_csv, write_png

if TYPE_CHECKING:
    from deep.train import RunConfig

__all__ = ["METHODS", "format_summary", "main", "plot", "run_cell", "run_config", "summarize"]

METHODS = {"dream": "dream-neural", "erl2": "rl2-neural"}
"""``deep.train`` method name → the ``method`` label of its rows."""

_STYLES = {"dream-neural": ("C2o-", "neural DREAM"), "rl2-neural": ("C1s-", "neural E-RL²")}


def run_config(
    a: int, seed: int, *, trials: int, eval_every: int, h: int = 1, method: str = "dream"
) -> RunConfig:
    """The training run of one cell: ``method`` on the (A, H) bandit, preset ``epsilon1``."""
    from deep.train import RunConfig

    num_envs = 8
    return RunConfig(
        env="bandit",
        method=method,
        env_kwargs={"A": a, "H": h},
        preset="epsilon1",
        steps=trials * 2 * h,
        seed=seed,
        num_envs=num_envs,
        eval_every=eval_every,
        eval_trials=num_envs,
        checkpoint_every=10**9,
        threads=1,
    )


def run_cell(
    a: int, seed: int, *, trials: int, eval_every: int, h: int = 1, method: str = "dream"
) -> dict[str, object]:
    """Train ``method`` on the (A, H) bandit for ``trials`` trials; return the per-seed row."""
    from deep.train import Trainer

    if method not in METHODS:
        raise ValueError(f"method {method!r} is unknown; allowed: {', '.join(METHODS)}")
    config = run_config(a, seed, trials=trials, eval_every=eval_every, h=h, method=method)
    with tempfile.TemporaryDirectory() as tmp:
        summary = Trainer(config, tmp, progress=False).run()
    t = summary["trials_to_informative"]
    capped = not np.isfinite(t)
    return {
        "method": METHODS[method],
        "learner": "neural",
        "H": h,
        "A": a,
        "epsilon": 1.0,
        "seed": seed,
        "T_greedy": float(summary["trials"] if capped else t),
        "capped": bool(capped),
        "final_return": summary["final_test_return"],
        "wall_s": summary["wall_s"],
    }


def summarize(per_seed: pd.DataFrame) -> pd.DataFrame:
    """Mean, sd and a normal 95% CI of T_greedy per A (capped runs counted at the budget)."""
    rows = []
    for (method, a), g in per_seed.groupby(["method", "A"]):
        t = g["T_greedy"].to_numpy(float)
        se = t.std(ddof=1) / np.sqrt(len(t)) if len(t) > 1 else np.nan
        rows.append(
            {
                "method": method,
                "A": a,
                "measure": "T_greedy",
                "n": len(t),
                "n_capped": int(g["capped"].sum()),
                "mean": t.mean(),
                "ci95_low": t.mean() - 1.96 * se,
                "ci95_high": t.mean() + 1.96 * se,
                "median": float(np.median(t)),
            }
        )
    return pd.DataFrame(rows)


def format_summary(summary: pd.DataFrame) -> str:
    """The summary table as the command line prints it."""
    return summary.to_string(index=False)


def plot(summary: pd.DataFrame, tabular: pd.DataFrame | None, path: Path) -> None:
    """Log-log mean T_greedy against A: each neural method (CIs) over the tabular means."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import FixedLocator, NullFormatter, ScalarFormatter

    fig = Figure(figsize=(5.5, 4.2))
    ax = fig.subplots()
    if tabular is not None:
        for method, style in (("dream", "C0--"), ("rl2", "C3--")):
            t = tabular[(tabular["method"] == method) & (tabular["measure"] == "T_greedy")]
            t = t[t["A"] <= summary["A"].max()]
            ax.plot(t["A"], t["mean"], style, marker="o", ms=3, label=f"tabular {method}")
    for method, neural in summary.sort_values("A").groupby("method", sort=True):
        fmt, label = _STYLES.get(str(method), ("C7^-", str(method)))
        low, high = neural["mean"] - neural["ci95_low"], neural["ci95_high"] - neural["mean"]
        err = np.vstack([low.fillna(0.0), high.fillna(0.0)])
        ax.errorbar(neural["A"], neural["mean"], yerr=err, fmt=fmt, capsize=3, label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    a_values = sorted(int(a) for a in summary["A"].unique())
    ax.xaxis.set_major_locator(FixedLocator(a_values))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("|A| (H = 1)")
    ax.set_ylabel("mean trials T_greedy")
    ax.set_title("Sample complexity: neural vs tabular (ε = 1)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    write_png(path, fig, dpi=110)


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point."""
    p = OneLineParser(prog="python -m analysis.neural_sample_complexity")
    p.add_argument("--A", default="2..6", help="action counts, e.g. 2..6")
    p.add_argument("--methods", default="dream,erl2", help=f"comma list of {', '.join(METHODS)}")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--trials", type=int, default=3000, help="trial budget per run")
    p.add_argument("--eval-every", type=int, default=8, help="trials between evaluations")
    p.add_argument("--tabular", default="results/fig3a_h1/summary.csv")
    p.add_argument("--out", default=None, help="output folder (default runs/fig3a_neural)")
    p.add_argument(
        "--from-csv", default=None, metavar="PER_SEED_CSV",
        help="train nothing: rebuild summary.csv and the figure from this per_seed.csv",
    )  # fmt: skip
    args = p.parse_args(argv)
    try:
        if args.from_csv is not None:
            source = Path(args.from_csv)
            if not source.is_file():
                raise UsageError.for_flag("--from-csv", source, "give an existing per_seed.csv")
            out = output_folder(args.out if args.out is not None else source.parent)
            _write_outputs(read_csv(source), read_header(source) or {}, out, args.tabular)
            return 0
        a_values = parse_int_set("--A", args.A, 2)
        methods = parse_choices("--methods", args.methods, tuple(METHODS))
        for flag, value in (("--seeds", args.seeds), ("--trials", args.trials)):
            if value < 1:
                raise UsageError.for_flag(flag, value, "allowed: integers >= 1")
        if args.eval_every < 1:
            raise UsageError.for_flag("--eval-every", args.eval_every, "allowed: integers >= 1")
        out = output_folder(args.out if args.out is not None else "runs/fig3a_neural")
    except UsageError as err:
        print(err.line(), file=sys.stderr)
        return 2
    cells = [(m, a, s) for m in methods for a in a_values for s in range(args.seeds)]
    rows = [
        run_cell(a, s, trials=args.trials, eval_every=args.eval_every, method=m)
        for m, a, s in tqdm(cells, desc="neural cells")
    ]
    per_seed = pd.DataFrame(rows)
    header = {
        "experiment": "analysis.neural_sample_complexity",
        "A": list(a_values),
        "methods": list(methods),
        "seeds": args.seeds,
        "trials": args.trials,
        "eval_every": args.eval_every,
        "preset": "epsilon1",
        **environment(),
    }
    write_csv(out / "per_seed.csv", per_seed, header)
    _write_outputs(per_seed, header, out, args.tabular)
    return 0


def _write_outputs(per_seed: pd.DataFrame, header: dict, out: Path, tabular: str) -> None:
    """``summary.csv`` and the figure (over ``tabular``'s means, if that file exists); print."""
    summary = summarize(per_seed)
    write_csv(out / "summary.csv", summary, header)
    tab_path = Path(tabular)
    plot(summary, read_csv(tab_path) if tab_path.is_file() else None, out / "figure3a_neural.png")
    print(format_summary(summary))


if __name__ == "__main__":
    raise SystemExit(run_main(main, sys.argv[1:]))
