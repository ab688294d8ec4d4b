"""Decoder refit: is a held-out failure the trained decoder's, or any decoder's on this data.

On a held-out problem μ DREAM acts on z = g_ω(τ^exp), a point the decoder reaches by
generalising from the training problems: nothing in training pins it. The trained g_ω got
there through the whole run, against a target f_ψ(μ) that moved as the encoder trained and
with L_task-traj's gradient besides (App. A). A refit asks what the checkpoint's data alone
determines: a decoder of the same architecture, freshly initialised with seed ``init``, is
fitted to the checkpoint's replay with L_decoder alone,

    L_decoder(ω) = E[Σ_{t ≤ T} ‖f_ψ(μ) − g_ω(τ^exp_{:t})‖²]   (App. A; the checkpoint's f_ψ, fixed),

by Adam with the run's batch size and gradient clip. Every ``eval_every`` steps the fit is
swapped in for g_ω (π^exp, π^task and f_ψ unchanged) and greedy trials are played on held-out
and training problems; the trained decoder is played on the same trials (``fit`` "trained").

* Fresh fits that play the held-out problem well, where the trained decoder does not, while both
  fit the training problems as well: the data and the codes determine a good held-out code, and
  the trained decoder's generalisation is what fails (its history).
* Fresh fits that fail as well: the training kitchens do not pin the held-out code, or π^task
  cannot use it (compare :mod:`.composite`'s return on f̂(μ)).

A refit may also use another architecture (:data:`DECODERS`): ``pooled``
(:class:`deep.networks.PooledTrajectoryDecoder`) replaces the LSTM by a maximum over the
transitions, so the code depends on the set of things exploration saw and not on their
order; whether that generalises to the held-out combination is the question it answers.

``python -m analysis.diagnostics RUN --out DIR --refit-fits N`` writes ``decoder_refit.csv``.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from analysis.diagnostics.code_swap import held_out_sample, trial_goals
from deep.networks import TRAJECTORY_DECODERS
from deep.trial_loop import run_wave

__all__ = [
    "DECODERS",
    "REFIT_COLUMNS",
    "fresh_decoder",
    "refit_summary",
    "refit_table",
    "using_decoder",
]

DECODERS = TRAJECTORY_DECODERS
"""The architectures a refit can take: App. B.3's LSTM decoder, and the set-pooling one."""

REFIT_COLUMNS = (
    "fit",
    "decoder",
    "init",
    "steps",
    "split",
    "trials",
    "return",
    "decoder_error",
    "dist_additive",
    "dist_nearest_code",
    "loss",
)
"""Columns of :func:`refit_table`."""

TRAINED = -1
"""``init`` of the trained decoder's rows."""


@contextmanager
def using_decoder(method: Any, decoder: nn.Module) -> Iterator[None]:
    """``method`` acts and learns with ``decoder`` as g_ω inside the block."""
    trained = method.decoder
    method.decoder = decoder
    try:
        yield
    finally:
        method.decoder = trained


def fresh_decoder(method: Any, init: int, architecture: str = "lstm") -> nn.Module:
    """A decoder of ``architecture`` (:data:`DECODERS`) for ``method``, seeded with ``init``.

    It embeds states as ``method``'s decoder does (a copy of its state embedder, every layer
    re-initialised); nothing is shared with the trained decoder.
    """
    if architecture not in DECODERS:
        raise ValueError(f"decoder {architecture!r}; allowed: {', '.join(DECODERS)}")
    trained = method.decoder
    with torch.random.fork_rng(devices=[]):  # seeded init; the global RNG is left alone
        torch.manual_seed(init)
        state = copy.deepcopy(trained.state)
        for module in state.modules():
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()
        decoder = DECODERS[architecture](state, method.n_actions, method.config.z_dim)
    return decoder.to(next(trained.parameters()).device).requires_grad_(True)


def _trials(
    trainer: Any, problems: np.ndarray, trials: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray] | None]:
    """Held out, then training: (problems ``[n]``, goals ``[n, 1]``) of the played trials.

    None in place of the held-out pair when ``problems`` is empty.
    """
    family = trainer.family
    held_out = [
        (np.full(trials, mu), trial_goals(family, int(mu), trials, seed)) for mu in problems
    ]
    test = (
        (np.concatenate([p for p, _ in held_out]), np.concatenate([g for _, g in held_out]))
        if held_out
        else None
    )
    rng = np.random.default_rng([seed, 6])
    train_ids = family.problem_ids("train")
    train_problems = rng.choice(train_ids, size=trials)
    goals = np.array([[family.sample_goal(rng, int(p))] for p in train_problems])
    return [test, (train_problems, goals)]


def _evaluate(
    trainer: Any,
    trials: Sequence[tuple[np.ndarray, np.ndarray] | None],
    codes: np.ndarray,
    additive: np.ndarray | None,
    train_ids: np.ndarray,
    seed: int,
) -> list[dict[str, Any]]:
    """The current decoder's rows: one per split, over the same trials every time."""
    family, method = trainer.family, trainer.method
    rows = []
    for split, played_on in zip(("test", "train"), trials, strict=True):
        if played_on is None:
            continue
        problems, goals = played_on
        n = len(problems)
        with torch.no_grad():
            played = run_wave(
                family.make_batched(n, seed), family, method, problems, goals, np.arange(n),
                training=False,
            )  # fmt: skip
            g = method.encode_trajectory(played.episodes[0]).double().cpu().numpy()
        nearest = ((g[:, None] - codes[train_ids][None]) ** 2).sum(-1).min(1)
        own = ((g - codes[problems]) ** 2).sum(-1).mean()
        rows.append(
            {
                "split": split,
                "trials": n,
                "return": float(played.episodes[1].returns.mean()),
                "decoder_error": float(own) if split == "train" else np.nan,
                "dist_additive": float(((g - additive[problems]) ** 2).sum(-1).mean())
                if additive is not None and split == "test"
                else np.nan,
                "dist_nearest_code": float(nearest.mean()),
            }
        )
    return rows


def refit_table(
    trainer: Any,
    additive: np.ndarray | None,
    *,
    fits: int,
    architectures: Sequence[str] = ("lstm",),
    steps: int = 2000,
    eval_every: int = 500,
    lr: float = 1e-3,
    trials: int = 50,
    swap_problems: int = 4,
    seed: int = 12345,
) -> pd.DataFrame | None:
    """The trained decoder and ``fits`` fresh refits per architecture, evaluated as they fit.

    Refits of each architecture in ``architectures`` (:data:`DECODERS`) use inits 0..fits−1.

    ``additive`` holds f̂(μ) for every problem ID (:func:`.composite.additive_codes`; None
    without factors). Held-out problems: :func:`.code_swap.held_out_sample`'s, ``trials``
    trials each on the code swap's goals; training problems: ``trials`` seeded trials. Columns
    :data:`REFIT_COLUMNS`: ``fit`` ("trained" or "fresh"), ``decoder`` (the architecture;
    the trained decoder's is its run's), ``init`` (−1 for the trained
    decoder), ``steps`` (refit steps; 0 for the trained decoder), ``split`` ("test", "train"),
    ``return`` (greedy, z = g(τ^exp)), ``decoder_error`` (training problems: mean ‖g − f(μ)‖²),
    ``dist_additive`` (held out: mean ‖g − f̂(μ)‖²), ``dist_nearest_code`` (mean squared
    distance from g to the nearest training code), ``loss`` (the refit's L_decoder over its
    last ``eval_every`` batches). None for a family without held-out problems or an empty
    replay.
    """
    method = trainer.method
    held_out = held_out_sample(trainer, swap_problems, seed)
    for architecture in architectures:
        if architecture not in DECODERS:
            raise ValueError(f"decoder {architecture!r}; allowed: {', '.join(DECODERS)}")
    if fits < 0 or steps < 1 or eval_every < 1 or trials < 1:
        raise ValueError(
            f"fits={fits}, steps={steps}, eval_every={eval_every}, trials={trials}; allowed: "
            "fits >= 0, the others >= 1"
        )
    if not len(held_out) or len(method.replay) == 0:
        return None
    family = trainer.family
    ids = np.arange(family.n_problems)
    train_ids = np.asarray(family.problem_ids("train"))
    with torch.no_grad():
        labels = ids * int(getattr(method.config, "id_labels", 1))
        codes = method.encode_problem(labels, noise=False).double().cpu().numpy()
    played_on = _trials(trainer, held_out, trials, seed)
    own = method.config.decoder
    rows = [
        {"fit": "trained", "decoder": own, "init": TRAINED, "steps": 0, "loss": np.nan, **row}
        for row in _evaluate(trainer, played_on, codes, additive, train_ids, seed)
    ]
    cfg = method.config
    for architecture, init in itertools.product(architectures, range(fits)):
        decoder = fresh_decoder(method, init, architecture)
        optimizer = torch.optim.Adam(decoder.parameters(), lr=lr)
        rng = np.random.default_rng([seed, init, 5])
        losses: list[float] = []
        for step in range(1, steps + 1):
            batch = method.replay.sample(cfg.batch_size, rng)
            with using_decoder(method, decoder):
                sampled = method.sample_inputs(batch, grad=True)
            loss = method.decoder_loss(sampled.f, sampled.g, sampled.explore.length)
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(decoder.parameters(), cfg.grad_clip)
            optimizer.step()
            losses.append(float(loss.detach()))
            if step % eval_every == 0 or step == steps:
                with using_decoder(method, decoder):
                    evaluated = _evaluate(trainer, played_on, codes, additive, train_ids, seed)
                mean_loss = float(np.mean(losses))
                losses = []
                rows += [
                    {
                        "fit": "fresh",
                        "decoder": architecture,
                        "init": init,
                        "steps": step,
                        "loss": mean_loss,
                        **row,
                    }
                    for row in evaluated
                ]
    return pd.DataFrame(rows)[list(REFIT_COLUMNS)]


def refit_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per fit, decoder and split at each fit's last step: the trained one beside the refits.

    Columns ``fit``, ``decoder``, ``split``, ``fits`` (inits averaged), ``steps``, ``return``,
    ``return_min``, ``return_max``, ``decoder_error``, ``dist_additive``.
    """
    keys = ["fit", "decoder", "init"]
    last = table[table["steps"] == table.groupby(keys)["steps"].transform("max")]
    agg = last.groupby(["fit", "decoder", "split"], sort=False).agg(
        fits=("init", "nunique"),
        steps=("steps", "max"),
        **{"return": ("return", "mean")},
        return_min=("return", "min"),
        return_max=("return", "max"),
        decoder_error=("decoder_error", "mean"),
        dist_additive=("dist_additive", "mean"),
    )
    return agg.reset_index()
