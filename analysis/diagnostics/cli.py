"""``python -m analysis.diagnostics RUN_DIR --out DIR``: every diagnostic of one DREAM checkpoint.

:func:`compute` wires the independent pieces together (greedy trials, embeddings, probes,
t-SNE, exploration counts), :func:`write` writes them, :func:`run_diagnostics` does both; the
CLI and ``notebooks/diagnostics.py`` call the same functions. Files in ``--out`` (written
atomically; an existing file of the same name is replaced, as every analysis CLI here does),
each CSV with one ``# {json}`` header line holding the run's config, the checkpoint's env steps,
these options and the package version:

* ``embeddings.csv`` (:mod:`.embeddings`), ``probe.csv`` and ``probe_summary.csv``
  (:mod:`.probe`), ``tsne.csv`` and ``tsne.png`` (Fig. 12, :mod:`.tsne`, :mod:`.figures`);
* ``exploration.csv``, ``exploration_cells.csv`` (grid worlds) and ``exploration.png``
  (Fig. 11, :mod:`.exploration`), ``exploration_problems.csv`` (the same trials per problem:
  reveal fraction, reveal step, idle steps, the first trial's actions);
* ``code_swap.csv`` and ``code_swap_summary.csv`` (:mod:`.code_swap`; families with held-out
  problems): held-out problems played on every training problem's code; ``code_landing.csv``
  (:func:`.code_swap.landing_table`): the training code nearest each problem's g(τ^exp), and
  how near against the smallest gap between two training codes; ``code_composite.csv``
  (:mod:`.composite`): each held-out problem played on the code its factors compose when f
  is fitted as a sum over the factors; ``decoder_refit.csv`` and ``decoder_refit.png``
  (:mod:`.decoder_refit`, only with ``--refit-fits N``): the trained decoder beside N
  decoders fitted afresh to the replay;
* ``exploitation_goals.csv`` and ``exploitation_goal_summary.csv`` (:mod:`.exploitation`): every
  (problem, goal) pair of the training problems played told μ, beside its exact optimum and
  π^task's own value of the first state; ``exploitation_goal_kinds.csv`` (families with more
  than one kind of goal, cooking's "a, a" and "a, b"): the same per kind;
  ``exploitation_stage_probe.csv`` (families whose task has stages, a recurrent π^task): the
  stage probed from the observation and from π^task's memory;
* ``code_noise.csv``, ``gradient_terms.csv`` and ``replay_progress.csv`` (:mod:`.training_signal`):
  how much of μ the training-time code f(μ) + ρε still tells, each term's share of the
  exploitation optimiser's gradient on replay batches (its clip factor), and how far the
  replay's exploitation episodes got through their task (families that measure it).

A folder without ``checkpoint.pt`` (``error: run DIR: no checkpoint.pt there``), a run of a
method without f(μ) and g(τ^exp), a damaged checkpoint, a bad number and an ``--out`` that is a
file or cannot be written are one line on stderr and exit status 2, before any trial is played.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from analysis.checkpoints import check_writable, load_run
from analysis.diagnostics.code_swap import (
    format_code_swap,
    held_out_sample,
    landing_table,
    sufficiency_summary,
    swap_summary,
    swap_table,
)
from analysis.diagnostics.composite import additive_codes, composite_table
from analysis.diagnostics.decoder_refit import DECODERS, refit_summary, refit_table
from analysis.diagnostics.embeddings import embedding_table
from analysis.diagnostics.exploitation import (
    format_goal_summary,
    goal_kind_summary,
    goal_summary,
    goal_table,
    stage_probe,
)
from analysis.diagnostics.exploration import cell_table, exploration_table, problem_table
from analysis.diagnostics.figures import draw_exploration, draw_refit, draw_tsne, write_png
from analysis.diagnostics.play import play_splits, require_encoders
from analysis.diagnostics.probe import (
    PROTOCOLS,
    format_probe_summary,
    probe_summary,
    probe_table,
)
from analysis.diagnostics.training_signal import (
    code_noise_table,
    gradient_terms_table,
    replay_progress_table,
)
from analysis.diagnostics.tsne import tsne_table
from common.cli import (
    OneLineParser,
    UsageError,
    int_at_least,
    parse_choices,
    parse_positive_float,
    run_main,
)
from common.io import PACKAGE, output_folder, package_version, write_csv
from deep.train import Trainer

__all__ = ["Diagnostics", "DiagnosticsConfig", "compute", "main", "run_diagnostics", "write"]


@dataclass(frozen=True)
class DiagnosticsConfig:
    """One diagnostics job (everything but ``run`` and ``out`` goes into every file's header)."""

    run: Path
    """The run folder holding ``checkpoint.pt``."""
    out: Path
    """The folder the files are written to (created if missing)."""
    trials: int = 200
    """Greedy trials per split (training problems, held-out problems)."""
    seed: int = 12345
    """Seed of the trials (the same as ``analysis.evaluate_checkpoint``'s), the probes' folds and
    t-SNE."""
    folds: int = 5
    """K of the probes' K-fold protocols."""
    swap_trials: int = 50
    """Trials of each held-out problem per code in the code swap (0: no code swap)."""
    swap_problems: int = 4
    """Held-out problems in the code swap (the first of a seeded permutation)."""
    probe_episodes: int = 400
    """Exploitation episodes of the stage probe (0: no probe)."""
    grad_batches: int = 20
    """Replay batches of the gradient terms (0: none)."""
    refit_fits: int = 0
    """Decoders fitted afresh to the replay (:mod:`.decoder_refit`; 0: no refit)."""
    refit_steps: int = 2000
    """Adam steps of each refit."""
    refit_decoders: tuple[str, ...] = ("lstm",)
    """The refits' architectures (:data:`.decoder_refit.DECODERS`), ``refit_fits`` each."""
    refit_lr: float = 1e-3
    """The refits' Adam learning rate."""
    threads: int = 1
    """torch, BLAS and OpenMP threads."""


@dataclass(frozen=True)
class Diagnostics:
    """Every table of one checkpoint's diagnostics, and the header their files carry."""

    embeddings: pd.DataFrame
    probe: pd.DataFrame
    probe_summary: pd.DataFrame
    tsne: pd.DataFrame | None
    """None: the family declares no factors to colour by."""
    exploration: pd.DataFrame
    cells: pd.DataFrame
    """Empty for families without a grid."""
    problems: pd.DataFrame
    """:func:`~.exploration.problem_table`: each problem's exploration, reveal and idle steps."""
    code_swap: pd.DataFrame | None
    """:func:`~.code_swap.swap_table`; None: no held-out problems, or ``swap_trials`` 0."""
    composite: pd.DataFrame | None
    """:func:`~.composite.composite_table` on the code swap's trials; None as ``code_swap``, or
    a family without factors."""
    decoder_refit: pd.DataFrame | None
    """:func:`~.decoder_refit.refit_table`; None: no refit asked, or no held-out problems."""
    exploitation: pd.DataFrame
    """:func:`~.exploitation.goal_table` of the training problems."""
    stage_probe: pd.DataFrame | None
    """:func:`~.exploitation.stage_probe`; None: no stages, no memory, or no probe asked."""
    code_noise: pd.DataFrame
    """:func:`~.training_signal.code_noise_table` of the training problems."""
    gradient_terms: pd.DataFrame | None
    """:func:`~.training_signal.gradient_terms_table`; None: ``grad_batches`` 0."""
    replay_progress: pd.DataFrame | None
    """:func:`~.training_signal.replay_progress_table`; None: no progress measure."""
    factors: tuple[Any, ...]
    """The family's :class:`~deep.envs.problem.ProblemFactor` s."""
    header: dict[str, Any]
    title: str
    """``method on env, seed s, N env steps``: the figures' subtitle."""
    files: dict[str, Path] = field(default_factory=dict)
    """Name → path of each file written (empty until :func:`write`)."""


def compute(
    trainer: Trainer,
    *,
    trials: int = 200,
    seed: int = 12345,
    folds: int = 5,
    swap_trials: int = 50,
    swap_problems: int = 4,
    probe_episodes: int = 400,
    grad_batches: int = 20,
    refit_fits: int = 0,
    refit_steps: int = 2000,
    refit_decoders: Sequence[str] = ("lstm",),
    refit_lr: float = 1e-3,
    threads: int = 1,
) -> Diagnostics:
    """Play the greedy trials of both splits once and compute every diagnostic from them."""
    require_encoders(trainer, trainer.out)
    family, config = trainer.family, trainer.config
    plays = play_splits(trainer, trials, seed)
    factors = tuple(family.factors())
    embeddings = embedding_table(family, trainer.method, plays)
    probe = probe_table(embeddings, factors, folds=folds, seed=seed, threads=threads)
    tsne = tsne_table(embeddings, seed=seed, threads=threads) if factors else None
    held_out = held_out_sample(trainer, swap_problems, seed) if swap_trials else []
    code_swap = (
        swap_table(trainer, held_out, family.problem_ids("train"), trials=swap_trials, seed=seed)
        if len(held_out)
        else None
    )
    composite = composite_table(trainer, embeddings, factors, code_swap, seed=seed)
    decoder_refit = (
        refit_table(
            trainer,
            additive_codes(embeddings, factors)[0] if factors else None,
            fits=refit_fits,
            architectures=refit_decoders,
            steps=refit_steps,
            lr=refit_lr,
            eval_every=max(1, refit_steps // 4),
            trials=swap_trials or 50,
            swap_problems=swap_problems,
            seed=seed,
        )
        if refit_fits
        else None
    )
    exploitation = goal_table(trainer, "train", seed=seed)
    probe_rows = (
        stage_probe(trainer, episodes=probe_episodes, folds=folds, seed=seed)
        if probe_episodes
        else None
    )
    gradient_terms = (
        gradient_terms_table(trainer, batches=grad_batches, seed=seed) if grad_batches else None
    )
    header = {
        "experiment": "analysis.diagnostics",
        "package": PACKAGE,
        "package_version": package_version(),
        "run": str(trainer.out),
        "config": asdict(config),
        "env_config": trainer.env_config(),
        "method_config": trainer.method.config.to_dict(),
        "checkpoint_env_steps": int(trainer.method.env_steps),
        "diagnostics": {
            "trials": trials,
            "seed": seed,
            "folds": folds,
            "swap_trials": swap_trials,
            "swap_problems": swap_problems,
            "probe_episodes": probe_episodes,
            "grad_batches": grad_batches,
            "refit_fits": refit_fits,
            "refit_steps": refit_steps,
            "refit_decoders": list(refit_decoders),
            "refit_lr": refit_lr,
        },
        "probe_protocols": PROTOCOLS,
        "note": "f(mu) of a held-out problem ID is an untrained embedding row: probes and t-SNE "
        "of f use training IDs only",
    }
    return Diagnostics(
        embeddings=embeddings,
        probe=probe,
        probe_summary=probe_summary(probe),
        tsne=tsne,
        exploration=exploration_table(family, plays),
        cells=cell_table(family, plays),
        problems=problem_table(plays, trainer.oracle),
        code_swap=code_swap,
        composite=composite,
        decoder_refit=decoder_refit,
        exploitation=exploitation,
        stage_probe=probe_rows,
        code_noise=code_noise_table(trainer, seed=seed),
        gradient_terms=gradient_terms,
        replay_progress=replay_progress_table(trainer),
        factors=factors,
        header=header,
        title=f"{config.method} on {config.env}, seed {config.seed}, "
        f"{trainer.method.env_steps:,} env steps",
    )


def prepare_out(out: Path) -> None:
    """Create ``out`` (and its parents); one-line :class:`UsageError` if that is impossible."""
    output_folder(out)
    check_writable(out / "probe.csv")


def write(diag: Diagnostics, out: Path) -> Diagnostics:
    """Write every table and both figures to ``out``; the same diagnostics with ``files`` set."""
    prepare_out(out)
    files: dict[str, Path] = {}
    tables = {
        "embeddings": diag.embeddings,
        "probe": diag.probe,
        "probe_summary": diag.probe_summary,
        "tsne": diag.tsne,
        "exploration": diag.exploration,
        "exploration_cells": None if diag.cells.empty else diag.cells,
        "exploration_problems": diag.problems,
        "code_swap": diag.code_swap,
        "code_swap_summary": None if diag.code_swap is None else swap_summary(diag.code_swap),
        "code_landing": landing_table(diag.embeddings, diag.factors),
        "code_composite": diag.composite,
        "decoder_refit": diag.decoder_refit,
        "exploitation_goals": diag.exploitation,
        "exploitation_goal_summary": goal_summary(diag.exploitation),
        "exploitation_goal_kinds": goal_kind_summary(diag.exploitation),
        "exploitation_stage_probe": diag.stage_probe,
        "code_noise": diag.code_noise,
        "gradient_terms": diag.gradient_terms,
        "replay_progress": diag.replay_progress,
    }
    for name, table in tables.items():
        if table is not None:
            files[name] = out / f"{name}.csv"
            write_csv(files[name], table, diag.header)
    if diag.tsne is not None:
        fig = draw_tsne(diag.tsne, diag.factors, diag.title)
        files["tsne_png"] = write_png(fig, out / "tsne.png", diag.header)
    fig = draw_exploration(diag.exploration, diag.cells, diag.title)
    files["exploration_png"] = write_png(fig, out / "exploration.png", diag.header)
    if diag.decoder_refit is not None:
        fig = draw_refit(diag.decoder_refit, diag.title)
        files["decoder_refit_png"] = write_png(fig, out / "decoder_refit.png", diag.header)
    return replace(diag, files=files)


def run_diagnostics(config: DiagnosticsConfig) -> Diagnostics:
    """Load the run, refuse it early if it cannot be diagnosed, compute and write everything."""
    trainer = load_run(config.run)
    require_encoders(trainer, config.run)
    prepare_out(config.out)  # --out's errors before the trials are played
    diag = compute(
        trainer,
        trials=config.trials,
        seed=config.seed,
        folds=config.folds,
        swap_trials=config.swap_trials,
        swap_problems=config.swap_problems,
        probe_episodes=config.probe_episodes,
        grad_batches=config.grad_batches,
        refit_fits=config.refit_fits,
        refit_steps=config.refit_steps,
        refit_decoders=config.refit_decoders,
        refit_lr=config.refit_lr,
        threads=config.threads,
    )
    return write(diag, config.out)


def _config(argv: Sequence[str] | None) -> DiagnosticsConfig:
    p = OneLineParser(
        prog="python -m analysis.diagnostics", description=(__doc__ or "").split("\n")[0]
    )
    p.add_argument(
        "run",
        help="run directory holding checkpoint.pt (a DREAM method's run), or a snapshot "
        "RUN/snapshots/env_steps_N.pt",
    )
    p.add_argument("--out", required=True, help="folder for the CSVs and figures")
    p.add_argument("--trials", default="200", help="greedy trials per split")
    p.add_argument("--seed", default="12345", help="seed of the trials, folds and t-SNE")
    p.add_argument("--folds", default="5", help="K of the probes' K-fold protocols")
    p.add_argument(
        "--swap-trials",
        default="50",
        help="code swap: trials per held-out problem and code (0: no swap)",
    )
    p.add_argument("--swap-problems", default="4", help="code swap: held-out problems played")
    p.add_argument(
        "--probe-episodes",
        default="400",
        help="stage probe: exploitation episodes (0: no probe; families with task stages)",
    )
    p.add_argument(
        "--grad-batches", default="20", help="replay batches of the gradient terms (0: none)"
    )
    p.add_argument(
        "--refit-fits",
        default="0",
        help="decoders fitted afresh to the replay with L_decoder alone, beside the trained one "
        "(0: none; each takes about a minute on cooking)",
    )
    p.add_argument("--refit-steps", default="2000", help="Adam steps of each decoder refit")
    p.add_argument(
        "--refit-decoders",
        default="lstm",
        help=f"comma-separated architectures of the refits ({', '.join(DECODERS)}); "
        "--refit-fits of each",
    )
    p.add_argument("--refit-lr", default="0.001", help="Adam learning rate of the decoder refits")
    p.add_argument("--threads", default="1", help="torch / BLAS / OpenMP threads")
    args = p.parse_args(argv)
    minimum = {
        "trials": 2,
        "seed": 0,
        "folds": 2,
        "swap_trials": 0,
        "swap_problems": 1,
        "probe_episodes": 0,
        "grad_batches": 0,
        "refit_fits": 0,
        "refit_steps": 1,
        "threads": 1,
    }
    numbers = {
        k: int_at_least(f"--{k.replace('_', '-')}", getattr(args, k), low)
        for k, low in minimum.items()
    }
    decoders = parse_choices("--refit-decoders", args.refit_decoders, tuple(DECODERS))
    return DiagnosticsConfig(
        run=Path(args.run),
        out=Path(args.out),
        refit_decoders=decoders,
        refit_lr=parse_positive_float("--refit-lr", args.refit_lr),
        **numbers,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; see the module docstring."""
    try:
        config = _config(argv)
        torch.set_num_threads(config.threads)
        diag = run_diagnostics(config)
    except UsageError as err:
        print(err.line(), file=sys.stderr)
        return 2
    print(diag.title)
    print(format_probe_summary(diag.probe_summary))
    if diag.code_swap is not None:
        print(format_code_swap(sufficiency_summary(diag.code_swap)))
    print(format_goal_summary(goal_summary(diag.exploitation)))
    kinds = goal_kind_summary(diag.exploitation)
    if kinds is not None:
        print(format_goal_summary(kinds))
    refit = None if diag.decoder_refit is None else refit_summary(diag.decoder_refit)
    tables = (diag.stage_probe, diag.code_noise, diag.gradient_terms, diag.replay_progress, refit)
    for table in tables:
        if table is not None:
            print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    for name, path in diag.files.items():
        print(f"{name}: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_main(main, sys.argv[1:]))
