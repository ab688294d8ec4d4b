"""What π^task learns from at a checkpoint: the code's noise, each loss term's gradient.

How much of μ survives the encoder's noise, and each term's share of the exploitation
optimiser's gradient:

* :func:`code_noise_table` — training-time z = f_ψ(μ) + ρε, ε ~ N(0, I) (Sec. 4.2's
  F_ψ(z | μ)). For every training problem, ``draws`` noisy codes are decoded to the problem
  whose f(μ') is nearest: the Bayes decision among equally likely problems under isotropic
  Gaussian noise, so its accuracy is the most any exploitation policy trained on noisy codes
  could read. Rows: ``mu`` (the problem itself) and each factor of μ (is the decoded
  problem's value of that factor right?), with the chance level of always guessing the most
  common value. The ``min_gap`` column is the median over problems of the squared distance
  to the nearest other code, beside ``noise`` = E‖ρε‖² = ρ²·dim z.
* :func:`gradient_terms_table` — on ``batches`` replay batches, every term of the objective
  DREAM's exploitation optimiser steps on (App. A: L_task-id, L_task-traj, λ·L_bottleneck,
  L_decoder; :meth:`deep.dream.Dream.task_loss_terms`) with its value and its gradient norm
  over the optimiser's parameters and over Q_task's alone, and a ``total`` row for their sum
  with ``clip_scale`` = min(1, grad_clip / ‖∇ total‖), the factor every parameter's step is
  scaled by before Adam. Adam normalises each parameter's gradient by its running RMS, so a
  constant factor cancels; a term that dominates the norm changes the others' steps only
  through the factor's fluctuation from batch to batch (``clip_scale`` min / max).

* :func:`replay_progress_table` — the data π^task learns from: the exploitation episodes in
  the checkpoint's replay, oldest first in ``bins`` equal parts, by kind of goal, with how far
  each got through its task (:meth:`~deep.envs.problem.MetaProblemFamily.exploitation_progress`,
  cooking's furthest recipe step over 4): its mean, the share that reached each quarter and
  the share that completed. A step the stored episodes almost never reach is one whose
  values π^task has almost no data for. Families whose observation shows the goal and that
  measure progress (cooking); None for the others.

``python -m analysis.diagnostics RUN --out DIR`` writes all three (``code_noise.csv``,
``gradient_terms.csv``, ``replay_progress.csv``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

__all__ = ["code_noise_table", "gradient_terms_table", "replay_progress_table"]


def code_noise_table(trainer: Any, *, draws: int = 200, seed: int = 12345) -> pd.DataFrame:
    """Nearest-code decoding of μ and of its factors from z = f(μ) + ρε (module docstring)."""
    family, method = trainer.family, trainer.method
    ids = np.asarray(family.problem_ids("train"), dtype=np.int64)
    k = int(getattr(method.config, "id_labels", 1))
    codes = method.encode_problem(ids * k, noise=False).cpu().numpy().astype(np.float64)
    rho = float(method.config.encoder_std)
    rng = np.random.default_rng(seed)
    noisy = codes[:, None] + rho * rng.standard_normal((len(ids), draws, codes.shape[1]))
    dist = ((noisy[:, :, None, :] - codes[None, None]) ** 2).sum(-1)  # [P, draws, P]
    decoded = dist.argmin(-1)
    gaps = ((codes[:, None] - codes[None]) ** 2).sum(-1)
    np.fill_diagonal(gaps, np.inf)
    common = {
        "rho": rho,
        "noise": rho**2 * codes.shape[1],
        "min_gap": float(np.median(gaps.min(1))) if len(ids) > 1 else float("nan"),
        "mean_norm_sq": float((codes**2).sum(1).mean()),
        "problems": len(ids),
        "draws": draws,
    }
    rows = [
        {
            "target": "mu",
            "relevant": True,
            "accuracy": float((decoded == np.arange(len(ids))[:, None]).mean()),
            "chance": 1.0 / len(ids),
            **common,
        }
    ]
    values = pd.DataFrame([family.problem_factors(int(p)) for p in ids])
    for factor in family.factors():
        truth = values[factor.name].to_numpy()
        rows.append(
            {
                "target": factor.name,
                "relevant": factor.relevant,
                "accuracy": float((truth[decoded] == truth[:, None]).mean()),
                "chance": float(pd.Series(truth).value_counts(normalize=True).iloc[0]),
                **common,
            }
        )
    return pd.DataFrame(rows)


def _norm(grads: tuple[torch.Tensor | None, ...], keep: list[bool]) -> float:
    squares = (
        float((g.float() ** 2).sum())
        for g, k in zip(grads, keep, strict=True)
        if k and g is not None
    )
    return float(sum(squares)) ** 0.5


def gradient_terms_table(
    trainer: Any, *, batches: int = 20, seed: int = 12345
) -> pd.DataFrame | None:
    """Each exploitation term's value and gradient norm on replay batches (module docstring).

    The batches are drawn from the checkpoint's replay with their own generator; the noise
    draws use a generator seeded with ``seed`` (the method's own is restored afterwards).
    None when the replay is empty (a checkpoint written before any trial).
    """
    method = trainer.method
    if len(method.replay) == 0:
        return None
    params = [p for group in method.optimizers["task"].param_groups for p in group["params"]]
    task_q = {id(p) for p in method.task_q.parameters()}
    on_q = [id(p) in task_q for p in params]
    everywhere = [True] * len(params)
    rng = np.random.default_rng(seed)
    saved = method.gen.get_state()
    method.gen.manual_seed(seed)
    rows = []
    try:
        for b in range(batches):
            batch = method.replay.sample(method.config.batch_size, rng)
            terms = method.task_loss_terms(method.sample_inputs(batch, grad=True))
            per_term = {}
            for name, loss in terms.items():
                if not loss.requires_grad:  # a term without parameters (λ = 0)
                    per_term[name] = (None,) * len(params)
                else:
                    per_term[name] = torch.autograd.grad(
                        loss, params, retain_graph=True, allow_unused=True
                    )
            # the objective's gradient is the sum of the terms' (no extra backward pass)
            per_term["total"] = tuple(_sum_grads(g) for g in zip(*per_term.values(), strict=True))
            losses = {name: float(loss.detach()) for name, loss in terms.items()}
            losses["total"] = sum(losses.values())
            for name, grads in per_term.items():
                rows.append(
                    {
                        "batch": b,
                        "term": name,
                        "loss": losses[name],
                        "grad_norm": _norm(grads, everywhere),
                        "grad_norm_task_q": _norm(grads, on_q),
                    }
                )
    finally:
        method.gen.set_state(saved)
    per_batch = pd.DataFrame(rows)
    total = per_batch[per_batch["term"] == "total"].set_index("batch")["grad_norm"]
    clip = np.minimum(1.0, method.config.grad_clip / total.clip(lower=1e-12))
    out = per_batch.groupby("term", sort=False)[["loss", "grad_norm", "grad_norm_task_q"]].mean()
    out["norm_vs_total"] = out["grad_norm"] / out.loc["total", "grad_norm"]
    out["clip_scale"] = np.where(out.index == "total", clip.mean(), np.nan)
    out["clip_scale_min"] = np.where(out.index == "total", clip.min(), np.nan)
    out["clip_scale_max"] = np.where(out.index == "total", clip.max(), np.nan)
    out["clipped_fraction"] = np.where(
        out.index == "total", float((total > method.config.grad_clip).mean()), np.nan
    )
    out["batches"] = batches
    return out.reset_index()


def _sum_grads(grads: Sequence[torch.Tensor | None]) -> torch.Tensor | None:
    """The sum of one parameter's gradients over the terms; None where no term reaches it."""
    present = [g for g in grads if g is not None]
    return torch.stack(present).sum(0) if present else None


def replay_progress_table(trainer: Any, *, bins: int = 4) -> pd.DataFrame | None:
    """How far the replay's exploitation episodes got, by age and kind of goal (module doc).

    Rows: ``bins`` parts of the stored trials in the order they were stored (``first_trial``
    and ``last_trial`` count trials since the run's start) × goal kind, then one row per kind
    over the whole replay (``bin`` −1).
    """
    family, method = trainer.family, trainer.method
    replay = method.replay
    if len(replay) == 0:
        return None
    data = {name: arr[: len(replay)] for name, arr in replay.data.items()}
    first_obs = {
        name[len("exploit_obs_") :]: arr[:, 0]
        for name, arr in data.items()
        if name.startswith("exploit_obs_")
    }
    goals = family.observed_goals(first_obs)
    if goals is None:
        return None
    lengths, actions = data["exploit_length"], data["exploit_actions"]
    progress = []
    for i in range(len(replay)):
        done = family.exploitation_progress(
            int(data["problem"][i]), int(goals[i]), actions[i, : int(lengths[i])]
        )
        if done is None:
            return None
        progress.append(done)
    # slot k holds the (added − size + age)-th trial: the ring buffer's oldest is at ``next``
    age = (np.arange(len(replay)) - replay.next) % len(replay)
    stored = pd.DataFrame(
        {
            "trial": replay.added - len(replay) + age,
            "goal_kind": [family.goal_kind(int(g)) for g in goals],
            "progress": progress,
        }
    ).sort_values("trial", kind="stable")
    stored["bin"] = np.arange(len(stored)) * bins // len(stored)
    rows = []
    for (part, kind), group in [
        *stored.groupby(["bin", "goal_kind"], sort=True),
        *(((-1, k), g) for k, g in stored.groupby("goal_kind", sort=True)),
    ]:
        share = {
            f"reached_{q:.2f}": float((group["progress"] >= q - 1e-9).mean())
            for q in (0.25, 0.5, 0.75)
        }
        rows.append(
            {
                "bin": part,
                "first_trial": int(group["trial"].min()),
                "last_trial": int(group["trial"].max()),
                "goal_kind": kind,
                "episodes": len(group),
                "progress_mean": float(group["progress"].mean()),
                **share,
                "completed": float((group["progress"] >= 1 - 1e-9).mean()),
            }
        )
    return pd.DataFrame(rows)
