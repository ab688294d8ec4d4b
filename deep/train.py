"""Train a meta-RL method on a benchmark: ``python -m deep.train --env distracting_bus ...``.

The run directory holds ``config.json`` (everything needed to rerun or resume), ``metrics.csv``
(one tidy row per evaluation and per training window, with the config line on top),
``checkpoint.pt`` (weights, optimisers, replay, counters and every RNG state) and, once the run
is finished, ``summary.json`` (strict JSON).

Runs cannot be lost:

* a folder that holds a run is never started over: ``--out`` on it is refused (exit 2) unless
  ``--resume`` is given, and ``--resume`` refuses flags that disagree with the saved run
  (``--steps`` may grow: that extends the run);
* the checkpoint is written atomically at every evaluation and at least every
  ``--checkpoint-minutes`` of training (10), so ``kill -9`` loses at most that;
* SIGINT/SIGTERM stop within one env step: the half-played wave is abandoned, the method is
  restored to its state before the wave (the replay only changes when a wave ends), a
  checkpoint is written and the process exits 130. ``--resume DIR`` then gives the same numbers
  as a run that was never interrupted (see ``deep.trial_loop``). A second signal exits at once,
  keeping the last checkpoint;
* a damaged checkpoint, config or metrics file, or an unwritable folder, is reported in one line
  naming the file (exit 2), and the file is left as it is.

Presets: ``paper`` (App. B.4's hyperparameters), ``tiny`` (small replay minima, fast ε
decay: for a first look, tests and smoke runs, not for results) and ``epsilon1`` (``tiny`` with
both policies acting uniformly at random, ε = 1, as in the tabular experiments of Fig. 3).
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import math
import pickle
import signal
import sys
import time
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from common.cli import OneLineParser, UsageError, run_main
from common.io import (
    DamagedFile,
    UnwritableOutput,
    atomic_write_bytes,
    atomic_write_text,
    environment,
    json_text,
    write_csv,
)
from common.runs import read_config, read_metrics, read_summary
from deep.envs.problem import MetaProblemFamily, make, registered_names
from deep.method import MetaRLMethod
from deep.metrics import evaluate, steps_to_informative
from deep.presets import PRESETS
from deep.registry import METHODS, build_method
from deep.trial_loop import WaveInterrupted, run_wave, sample_trials

__all__ = [
    "METHODS",
    "PRESETS",
    "RunConfig",
    "Trainer",
    "env_arg_value",
    "main",
    "parse_env_args",
]


@dataclass(frozen=True)
class RunConfig:
    """One training run (what ``config.json`` holds)."""

    env: str = "distracting_bus"
    method: str = "dream"
    steps: int = 1_000_000
    """Env steps (exploration + exploitation) to train for."""
    seed: int = 0
    preset: str = "paper"
    variant: str | None = None
    """The benchmark's variant ("paper" / "official"); None: the benchmark's default."""
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    """Extra config of the benchmark (e.g. the bandit's A and H)."""
    method_args: dict[str, str] = field(default_factory=dict)
    """Overrides of the method's config fields, ``name → text`` (e.g. bottleneck_weight=3)."""
    num_envs: int = 16
    """Trials played side by side (acting is batched over them)."""
    eval_every: int = 2_000
    """Trials between evaluations (Sec. 6: every 2K trials)."""
    eval_trials: int = 100
    eval_splits: tuple[str, ...] = ("test",)
    """Problem splits evaluated greedily: "test" (held-out, rows ``split=test``) and "train"
    (the training problems, rows ``split=train_eval``: Fig. 7 left)."""
    checkpoint_every: int | None = None
    """Trials between checkpoints; None: at every evaluation (also written every
    ``checkpoint_minutes``, on SIGINT/SIGTERM and at the end)."""
    checkpoint_minutes: float = 10.0
    """Wall-clock minutes of training after which a checkpoint is written at the latest."""
    snapshot_every: int | None = None
    """Env steps between kept snapshots: at the first evaluation past each multiple, a copy of
    the checkpoint is kept as ``snapshots/env_steps_<N>.pt`` (``analysis.diagnostics``,
    ``evaluate_checkpoint`` and ``trial_gifs`` read one as they read a run). None: none kept."""
    device: str = "cpu"
    threads: int = 1
    """torch CPU threads. 1: a sweep runs one process per core, and two threads per run on a
    2-core machine ran several times slower (``benchmarks/bench_train.py``)."""

    def validate(self) -> None:
        """Raise :class:`UsageError` naming the first bad value."""
        if self.env not in registered_names():
            raise UsageError.for_flag(
                "--env", self.env, f"allowed: {', '.join(registered_names())}"
            )
        if self.method not in METHODS:
            raise UsageError.for_flag("--method", self.method, f"allowed: {', '.join(METHODS)}")
        if self.preset not in PRESETS:
            raise UsageError.for_flag("--preset", self.preset, f"allowed: {', '.join(PRESETS)}")
        for flag, value in (
            ("--steps", self.steps),
            ("--num-envs", self.num_envs),
            ("--eval-every", self.eval_every),
            ("--eval-trials", self.eval_trials),
            ("--checkpoint-every", self.checkpoint_every or 1),
            ("--snapshot-every", self.snapshot_every or 1),
        ):
            if value < 1:
                raise UsageError.for_flag(flag, value, "allowed: integers >= 1")
        if not self.checkpoint_minutes > 0:
            raise UsageError.for_flag(
                "--checkpoint-minutes", self.checkpoint_minutes, "allowed: numbers > 0"
            )
        if self.seed < 0:
            raise UsageError.for_flag("--seed", self.seed, "allowed: integers >= 0")
        splits = tuple(self.eval_splits)
        if not splits or "test" not in splits or not set(splits) <= {"test", "train"}:
            raise UsageError.for_flag(
                "--eval-splits", ",".join(splits), "allowed: test or test,train"
            )
        if self.threads < 1:
            raise UsageError.for_flag("--threads", self.threads, "allowed: integers >= 1")
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise UsageError.for_flag("--device", self.device, "no CUDA device here; allowed: cpu")
        if self.device != "cpu" and not self.device.startswith("cuda"):
            raise UsageError.for_flag("--device", self.device, "allowed: cpu, cuda, cuda:N")

    @classmethod
    def from_saved(cls, saved: Mapping[str, Any]) -> RunConfig:
        """The config of a checkpoint; runs saved before threads defaulted to 1 said None."""
        return cls(**{**saved, "threads": saved.get("threads") or 1})

    def resumed_with(
        self, changes: Mapping[str, Any], where: str | Path, steps_done: int
    ) -> RunConfig:
        """The saved config with the flags given to ``--resume`` (which must agree with it).

        Only :data:`RUNTIME_FIELDS` may change, and ``steps`` (the budget: a larger one extends
        the run, it cannot fall below the ``steps_done`` already trained); any other flag whose
        value differs from the saved one is refused, naming the flag.
        """
        for name, value in changes.items():
            saved = getattr(self, name)
            if name in RUNTIME_FIELDS or value == saved:
                continue
            if name == "steps":
                if value >= steps_done:
                    continue
                raise UsageError.for_flag(
                    "--steps",
                    value,
                    f"the run in {where} has trained {steps_done} env steps; allowed: >= "
                    f"{steps_done} (its budget was {saved}; a larger value extends it)",
                )
            raise UsageError.for_flag(
                FLAGS.get(name, "--" + name.replace("_", "-")),
                _flag_text(value),
                f"the run in {where} has {_flag_text(saved)}; allowed: leave it out or give "
                "the saved value when resuming",
            )
        return replace(self, **changes)

    def family(self) -> MetaProblemFamily:
        """The benchmark's problem family."""
        kwargs = dict(self.env_kwargs)
        if self.variant is not None:
            kwargs["variant"] = self.variant
        try:
            return make(self.env, **kwargs)
        except (ValueError, TypeError) as err:
            raise UsageError(f"--env {self.env}: {err}") from None

    def as_recorded(
        self, saved_env: Mapping[str, Any] | None
    ) -> tuple[RunConfig, dict[str, tuple[Any, Any]]]:
        """The config a resumed run goes on with, and the benchmark fields it pins.

        ``saved_env`` is what the checkpoint recorded; the pinned fields come back as
        ``{name: (recorded, today's default)}``. A run goes on with the config it was trained
        with: a field ``env_kwargs`` does not name, whose recorded value is no longer the
        default, is set explicitly (and so written to ``config.json``). Fields the checkpoint
        predates are read with :func:`recorded_env_config`. A field ``env_kwargs`` names is
        left to :meth:`Trainer.load_state_dict`, which refuses a mismatch.
        """
        if saved_env is None:  # checkpoints from before issue 14 kept no benchmark config
            return self, {}
        today = self.family().config
        recorded = recorded_env_config(today, saved_env)
        pinned = {
            k: (v, getattr(today, k))
            for k, v in recorded.items()
            if k not in self.env_kwargs and getattr(today, k, v) != v
        }
        if not pinned:
            return self, {}
        kwargs = {**self.env_kwargs, **{k: v for k, (v, _) in pinned.items()}}
        return replace(self, env_kwargs=kwargs), pinned


def recorded_env_config(config: Any, saved_env: Mapping[str, Any]) -> dict[str, Any]:
    """The benchmark config a checkpoint recorded, every field of ``config``'s class named.

    A field the checkpoint does not name was added since: it takes the value the config's
    ``FIELDS_ADDED`` gives (cooking's ``pot``: the hidden pot, today's default being the
    observed one), else its default, the behaviour the run had. The result is resolved as the
    config class resolves it (cooking's ``held_out=None``: the variant's problem), unless the
    class no longer builds from it, when it is returned as recorded.
    """
    added = getattr(config, "FIELDS_ADDED", {})
    absent = {
        f.name: added.get(f.name, f.default)
        for f in dataclasses.fields(config)
        if f.name in added or f.default is not dataclasses.MISSING
    }
    recorded = {**absent, **saved_env}
    try:
        return asdict(type(config)(**recorded))
    except (TypeError, ValueError):  # a field since removed, or a value no longer allowed
        return recorded


RUNTIME_FIELDS = ("device", "threads", "checkpoint_every", "checkpoint_minutes", "snapshot_every")
"""RunConfig fields that change how a run is executed, not its numbers (free on resume)."""

FLAGS = {"env_kwargs": "--env-arg", "method_args": "--method-arg"}
"""RunConfig fields whose flag is not ``--`` + the field name with dashes."""


def _flag_text(value: Any) -> str:
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in value.items()) or "none"
    if isinstance(value, tuple | list):
        return ",".join(map(str, value))
    return str(value)


EVAL_ROW_SPLIT = {"test": "test", "train": "train_eval"}
"""The ``split`` value of the metrics rows of a greedy evaluation on each problem split (rows
``split=train`` hold the ε-greedy returns of the training trials since the last evaluation)."""


class StopRequested(Exception):
    """Raised after SIGINT/SIGTERM, once the checkpoint has been written."""


def load_checkpoint(path: Path) -> dict[str, Any]:
    """A run's checkpoint; :class:`DamagedFile` (one line, file untouched) if unreadable."""
    try:  # torch.save writes a zip archive, whose directory (at the end) a cut file has lost
        with zipfile.ZipFile(path) as archive:
            archive.namelist()
    except (zipfile.BadZipFile, OSError) as err:
        raise DamagedFile.at(path, f"not a complete checkpoint ({err})") from None
    try:
        state = torch.load(path, weights_only=False)
    except (RuntimeError, EOFError, OSError, pickle.UnpicklingError, ValueError) as err:
        reason = " ".join(str(err).split())[:120] or type(err).__name__
        raise DamagedFile.at(path, f"not a readable checkpoint ({reason})") from None
    if not (isinstance(state, dict) and {"config", "method", "loop", "rows"} <= set(state)):
        raise DamagedFile.at(path, "not a deep.train checkpoint (keys missing)")
    return state


def describe_run(out: Path) -> str | None:
    """One phrase naming the run ``out`` holds (None: it holds none)."""
    if not any((out / name).exists() for name in RUN_FILES):
        return None
    try:
        cfg = read_config(out / "config.json") if (out / "config.json").is_file() else {}
        summary = read_summary(out / "summary.json") if (out / "summary.json").is_file() else {}
    except DamagedFile:
        return "a run (its config.json or summary.json is unreadable)"
    if not isinstance(cfg, dict) or not cfg:
        return "files of a run (" + ", ".join(n for n in RUN_FILES if (out / n).exists()) + ")"
    state = "finished" if summary else "unfinished"
    return (
        f"a run ({cfg.get('method')} on {cfg.get('env')}, seed {cfg.get('seed')}, "
        f"preset {cfg.get('preset')}, {cfg.get('steps')} steps, {state})"
    )


RUN_FILES = ("config.json", "checkpoint.pt", "metrics.csv", "summary.json")
"""The files that make a folder hold a run."""


class Trainer:
    """Runs waves of training trials, evaluates, logs and checkpoints one run."""

    def __init__(self, config: RunConfig, out: str | Path, *, progress: bool = True) -> None:
        config.validate()
        self.config, self.out, self.progress = config, Path(out), progress
        torch.set_num_threads(config.threads)
        self.family = config.family()
        self.env = self.family.make_batched(config.num_envs, config.seed)
        self.eval_env = self.family.make_batched(
            self.family.eval_num_envs(config.num_envs, config.eval_trials), config.seed + 10_000
        )
        n_actions = int(self.env.n_actions)
        try:
            self.method: MetaRLMethod = build_method(
                config.method,
                self.family,
                self.env.observation_space,
                n_actions,
                seed=config.seed,
                device=config.device,
                preset=config.preset,
                overrides=config.method_args,
            )
        except ValueError as err:
            raise UsageError(f"--method {config.method}: {err}") from None
        self.oracle = self.family.reveal_oracle()
        self.problem_rng = np.random.default_rng([config.seed, 1])
        self.trials = 0
        self.env_steps = 0
        self.next_eval = 0
        self.next_checkpoint = config.checkpoint_every or 0
        self.last_snapshot = 0
        """Env steps of the last snapshot (on resume: of the checkpoint resumed from)."""
        self.rows: list[dict[str, Any]] = []
        self.train_returns: list[float] = []
        self.wall = 0.0
        self.stop_requested = False
        self._last_checkpoint = time.monotonic()

    # ------------------------------------------------------------------ state
    @property
    def checkpoint_path(self) -> Path:
        """Where the checkpoint lives."""
        return self.out / "checkpoint.pt"

    def _loop_state(self) -> dict[str, Any]:
        return {
            "trials": self.trials,
            "env_steps": self.env_steps,
            "next_eval": self.next_eval,
            "next_checkpoint": self.next_checkpoint,
            "problem_rng": self.problem_rng.bit_generator.state,
            "train_returns": list(self.train_returns),
            "wall": self.wall,
            "torch_rng": torch.get_rng_state(),
            "env_rng": {  # the sign task's start poses
                name: getattr(self, name).rng_state()
                for name in ("env", "eval_env")
                if hasattr(getattr(self, name), "rng_state")
            },
        }

    def env_config(self) -> dict[str, Any]:
        """Every field of the benchmark's config, defaults included.

        ``--env-arg`` records only the changed ones; with every field saved, a later change of
        a default cannot silently change a run that resumes.
        """
        return asdict(self.family.config)

    def state_dict(self) -> dict[str, Any]:
        """The whole run's state at a wave boundary."""
        return {
            "config": asdict(self.config),
            "env_config": self.env_config(),
            "method": self.method.state_dict(),
            "loop": self._loop_state(),
            "rows": list(self.rows),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`; refuse a benchmark whose config differs from the run's."""
        saved_env = state.get("env_config")  # absent in checkpoints from before issue 14
        if saved_env is not None:
            saved_env = recorded_env_config(self.family.config, saved_env)
        current = self.env_config()
        if saved_env is not None and saved_env != current:
            changed = sorted(k for k in saved_env if saved_env[k] != current.get(k))
            wanted = " ".join(f"--env-arg {k}={saved_env[k]}" for k in changed)
            raise UsageError(
                f"--resume: the run's {self.config.env} config differs from today's defaults "
                f"({', '.join(changed)}); allowed: a new run with {wanted}"
            )
        self.method.load_state_dict(state["method"])
        loop = state["loop"]
        self.trials, self.env_steps = loop["trials"], loop["env_steps"]
        self.last_snapshot = self.env_steps
        self.next_eval, self.next_checkpoint = loop["next_eval"], loop["next_checkpoint"]
        self.problem_rng.bit_generator.state = loop["problem_rng"]
        self.train_returns = list(loop["train_returns"])
        self.wall = loop["wall"]
        torch.set_rng_state(loop["torch_rng"])
        for name, env_state in loop.get("env_rng", {}).items():
            getattr(self, name).set_rng_state(env_state)
        self.rows = list(state["rows"])

    def save_checkpoint(self, snapshot: bool = False) -> None:
        """Write the checkpoint atomically (temporary file, then rename).

        ``snapshot``: also keep the same bytes as :meth:`snapshot_path` (never replaced by a
        later checkpoint).
        """
        buf = io.BytesIO()
        torch.save(self.state_dict(), buf)
        atomic_write_bytes(self.checkpoint_path, buf.getvalue())
        if snapshot:
            self.snapshot_path().parent.mkdir(exist_ok=True)
            atomic_write_bytes(self.snapshot_path(), buf.getvalue())
            self.last_snapshot = self.env_steps
        self._last_checkpoint = time.monotonic()

    def snapshot_path(self, env_steps: int | None = None) -> Path:
        """``out/snapshots/env_steps_<N>.pt`` for ``env_steps`` (default: now)."""
        steps = self.env_steps if env_steps is None else env_steps
        return self.out / "snapshots" / f"env_steps_{steps}.pt"

    def _snapshot_due(self) -> bool:
        """Whether the env steps have passed a multiple of ``snapshot_every`` since the last."""
        every = self.config.snapshot_every
        return every is not None and self.env_steps // every > self.last_snapshot // every

    @classmethod
    def resume(
        cls,
        out: str | Path,
        *,
        progress: bool = True,
        steps: int | None = None,
        changes: Mapping[str, Any] | None = None,
        flag: str = "--resume",
        checkpoint: str | Path | None = None,
    ) -> Trainer:
        """Rebuild the trainer of run directory ``out`` from its checkpoint.

        ``changes`` are RunConfig values given again on the command line: they must agree with
        the saved run (:meth:`RunConfig.resumed_with`); ``steps`` may extend it. A damaged
        checkpoint or metrics file raises :class:`DamagedFile`; ``flag`` names the caller's
        argument in the missing-checkpoint message. ``checkpoint``: another file of the run to
        start from (a snapshot, for analysis; training on from it would replace the run's
        newer files).
        """
        out = Path(out)
        path = out / "checkpoint.pt" if checkpoint is None else Path(checkpoint)
        if not path.is_file():
            raise UsageError.for_flag(flag, str(out), "no checkpoint.pt there")
        state = load_checkpoint(path)
        if (out / "metrics.csv").is_file():
            read_metrics(out / "metrics.csv")
        changes = dict(changes or {})
        if steps is not None:
            changes["steps"] = steps
        done = int(state["loop"]["env_steps"])
        config = RunConfig.from_saved(state["config"]).resumed_with(changes, out, done)
        config, pinned = config.as_recorded(state.get("env_config"))
        for key, (value, default) in pinned.items():
            print(
                f"note: {out} runs with --env-arg {key}={value}, as its checkpoint recorded "
                f"(today's default: {default})",
                file=sys.stderr,
            )
        trainer = cls(config, out, progress=progress)
        trainer.load_state_dict(state)
        return trainer

    # ------------------------------------------------------------------ output
    def metadata(self) -> dict[str, Any]:
        """Config, seed, method hyperparameters and package versions (the CSV header)."""
        return {
            "run": asdict(self.config),
            "env_config": self.env_config(),
            "method_config": self.method.config.to_dict(),
            "torch_version": torch.__version__,
            **environment(),
        }

    def write_metrics(self) -> None:
        """Atomically rewrite ``metrics.csv`` from the rows so far."""
        write_csv(self.out / "metrics.csv", pd.DataFrame(self.rows), self.metadata(), durable=False)

    def _row(self, split: str, values: dict[str, float]) -> dict[str, Any]:
        row = {
            "method": self.config.method,
            "env": self.config.env,
            "seed": self.config.seed,
            "trial": self.trials,
            "env_steps": self.env_steps,
            "split": split,
            **values,
        }
        row.update(self.method.epsilons())
        row["updates"] = self.method.updates
        row["wall_s"] = round(self.wall, 3)
        return row

    def evaluate_now(self) -> dict[str, float]:
        """Evaluate on the test split (the same trials every time) and append the rows."""
        if self.train_returns:
            self.rows.append(self._row("train", {"return": float(np.mean(self.train_returns))}))
            self.train_returns = []
        results = {}
        for split in ("test", "train"):
            if split not in self.config.eval_splits:
                continue
            results[split] = self._evaluate_split(split)
            self.rows.append(self._row(EVAL_ROW_SPLIT[split], results[split]))
        self.write_metrics()
        return results["test"]

    def _evaluate(self, split: str) -> dict[str, float]:
        summary, _ = evaluate(
            self.method,
            self.family,
            n_trials=self.config.eval_trials,
            seed=self.config.seed,
            split=split,
            oracle=self.oracle,
            env=self.eval_env,
        )
        return summary

    def _evaluate_split(self, split: str) -> dict[str, float]:
        """The greedy metrics on ``split``, and ``return_informed`` on the same trials.

        ``return_informed``: the return with exploitation told μ (NaN for methods that cannot
        be told; :meth:`deep.method.MetaRLMethod.informed`). The informed pass replays the
        eval env's random state (the sign task's start poses) from before the usual pass and
        puts it back after, so the usual evaluations see the same trials with or without it.
        """
        has_rng = hasattr(self.eval_env, "rng_state")
        before = self.eval_env.rng_state() if has_rng else None
        summary = self._evaluate(split)
        summary["return_informed"] = math.nan
        if not self.method.informed_acting:
            return summary
        after = self.eval_env.rng_state() if has_rng else None
        if has_rng:
            self.eval_env.set_rng_state(before)
        with self.method.informed():
            summary["return_informed"] = self._evaluate(split)["return"]
        if has_rng:
            self.eval_env.set_rng_state(after)
        return summary

    # ------------------------------------------------------------------ loop
    def _on_signal(self, signum: int, _frame: Any) -> None:
        if self.stop_requested:  # the second signal: stop now, keep the last checkpoint
            raise KeyboardInterrupt
        self.stop_requested = True

    def _prepare_out(self) -> None:
        try:
            self.out.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise UnwritableOutput.at(self.out, err) from None
        if self.env_steps < self.config.steps:  # a shorter run's summary would say "finished"
            (self.out / "summary.json").unlink(missing_ok=True)
        atomic_write_text(self.out / "config.json", json_text(asdict(self.config)))

    def _checkpoint_due(self) -> bool:
        cfg = self.config
        if cfg.checkpoint_every is not None and self.trials >= self.next_checkpoint:
            while self.next_checkpoint <= self.trials:
                self.next_checkpoint += cfg.checkpoint_every
            return True
        return time.monotonic() - self._last_checkpoint >= 60.0 * cfg.checkpoint_minutes

    def run(self) -> dict[str, Any]:
        """Train until ``config.steps`` env steps; returns the summary (also ``summary.json``)."""
        self._prepare_out()
        torch.set_num_threads(self.config.threads)
        old = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        bar = tqdm(
            total=self.config.steps,
            initial=min(self.env_steps, self.config.steps),
            unit="step",
            unit_scale=True,
            disable=not self.progress,
            desc=f"{self.config.method} {self.config.env} s{self.config.seed}",
        )
        self._last_checkpoint = time.monotonic()
        try:
            while self.env_steps < self.config.steps:
                if self.stop_requested:
                    self.save_checkpoint()
                    raise StopRequested
                if self.trials >= self.next_eval:
                    last = self.evaluate_now()
                    self.next_eval += self.config.eval_every
                    if self._snapshot_due():
                        self.save_checkpoint(snapshot=True)
                    elif self.config.checkpoint_every is None:
                        self.save_checkpoint()
                    bar.set_postfix(
                        ret=f"{last['return']:.3f}", reveal=f"{last['reveal_frac']:.2f}"
                    )
                start = time.perf_counter()
                steps = self._wave()
                self.wall += time.perf_counter() - start
                bar.update(min(steps, self.config.steps - bar.n))
                if self._checkpoint_due():
                    self.save_checkpoint()
            if not self.rows or self.rows[-1]["trial"] != self.trials:
                self.evaluate_now()
            self.save_checkpoint(snapshot=self._snapshot_due())
        finally:
            bar.close()
            for s, handler in old.items():
                signal.signal(s, handler)
        summary = self.summary()
        atomic_write_text(self.out / "summary.json", json_text(summary))
        return summary

    def _wave(self) -> int:
        """One wave of training trials; on a stop request, return to before it and stop."""
        cfg = self.config
        before = {"method": self.method.state_dict(replay=False), "loop": self._loop_state()}
        problems, goals = sample_trials(self.family, self.problem_rng, cfg.num_envs, "train", 1)
        ids = np.arange(self.trials, self.trials + cfg.num_envs)
        try:
            trials = run_wave(
                self.env,
                self.family,
                self.method,
                problems,
                goals,
                ids,
                training=True,
                should_stop=lambda: self.stop_requested,
            )
        except WaveInterrupted:
            self.load_state_dict({**before, "rows": self.rows})
            self.save_checkpoint()
            raise StopRequested from None
        steps = int(sum(ep.length.sum() for ep in trials.episodes))
        self.trials += cfg.num_envs
        self.env_steps += steps
        self.train_returns.extend(trials.episodes[1].returns.tolist())
        return steps

    def summary(self) -> dict[str, Any]:
        """Final numbers of the run (non-finite values are written as JSON null)."""
        df = pd.DataFrame(self.rows)
        test = df[df["split"] == "test"]
        informative = steps_to_informative(df)
        return {
            "method": self.config.method,
            "env": self.config.env,
            "seed": self.config.seed,
            "trials": self.trials,
            "env_steps": self.env_steps,
            "final_test_return": float(test["return"].iloc[-1]),
            "best_test_return": float(test["return"].max()),
            "final_reveal_frac": float(test["reveal_frac"].iloc[-1]),
            "steps_to_informative": informative["env_steps"],
            "trials_to_informative": informative["trial"],
            "wall_s": round(self.wall, 1),
            "steps_per_s": round(self.env_steps / self.wall, 1) if self.wall else math.nan,
        }


def _int(text: str) -> int:
    try:
        return int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


HELP = {
    "env": "benchmark",
    "method": "meta-RL method",
    "steps": "env steps (exploration + exploitation) to train for",
    "seed": "seed of every random stream of the run",
    "preset": "hyperparameters: paper (App. B.4), tiny (a first look, smoke tests), epsilon1",
    "variant": "benchmark variant: paper or official (None: the benchmark's default)",
    "env_kwargs": "benchmark config entry KEY=VALUE, repeatable: A=4 (bandit), "
    "train_split=independent (distracting_bus); integers are read as numbers",
    "method_args": "method config field KEY=VALUE, repeatable: bottleneck_weight=3",
    "num_envs": "trials played side by side",
    "eval_every": "trials between evaluations",
    "eval_trials": "greedy test trials per evaluation",
    "eval_splits": "problem splits evaluated greedily: test, or test,train (Fig. 7 left)",
    "checkpoint_every": "trials between checkpoints (None: at every evaluation)",
    "checkpoint_minutes": "training minutes after which a checkpoint is written at the latest",
    "snapshot_every": "env steps between kept copies of the checkpoint, "
    "snapshots/env_steps_<N>.pt, taken at evaluations (None: none kept)",
    "device": "cpu, cuda or cuda:N",
    "threads": "torch CPU threads (1: one process per core is faster, see bench_train)",
}
"""One line per RunConfig field; :func:`_parser` adds each default and the allowed values."""


def _allowed() -> dict[str, str]:
    methods = "; ".join(f"{name} ({entry.about})" for name, entry in METHODS.items())
    return {
        "env": ", ".join(registered_names()),
        "method": methods,
        "preset": ", ".join(PRESETS),
    }


def _parser() -> argparse.ArgumentParser:
    """One flag per :class:`RunConfig` field, its default and allowed values in ``--help``.

    Every flag's parsed default is None, so that ``main`` knows which flags were given (a
    resumed run refuses those that disagree with it).
    """
    p = OneLineParser(
        prog="python -m deep.train",
        description=__doc__.splitlines()[0],
        epilog="A first look (about 30 s on a 2-core CPU; the return climbs from 1/8 to 1.0): "
        "python -m deep.train --env bandit --env-arg A=8 --preset tiny --steps 12000 "
        "--eval-every 100 --seed 1 --out runs/first_look",
    )
    allowed = _allowed()
    for f in dataclasses.fields(RunConfig):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        flag = FLAGS.get(f.name, "--" + f.name.replace("_", "-"))
        text = f"{HELP[f.name]} (default: {_flag_text(default) if default != {} else 'none'}"
        text += f"; allowed: {allowed[f.name]})" if f.name in allowed else ")"
        kind = {int: _int, float: _float}.get(type(default), None)
        if f.name in ("checkpoint_every", "snapshot_every"):
            kind = _int
        if f.name in FLAGS:
            p.add_argument(flag, dest=f.name, action="append", metavar="KEY=VALUE", help=text)
        else:
            p.add_argument(flag, dest=f.name, type=kind or str, default=None, help=text)
    p.add_argument(
        "--out", default=None, help="run directory (default: runs/<env>/<method>/s<seed>)"
    )
    p.add_argument(
        "--resume",
        default=None,
        metavar="DIR",
        help="continue the run in DIR; flags given with it must agree with the run "
        "(--steps may grow: that extends it)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def env_arg_value(text: str) -> int | str:
    """An ``--env-arg`` value: an integer if it reads as one, else the text."""
    try:
        return int(text)
    except ValueError:
        return text


def _pairs(flag: str, items: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise UsageError.for_flag(flag, item, "allowed: KEY=VALUE")
        out[key] = value
    return out


def parse_env_args(items: Sequence[str]) -> dict[str, int | str]:
    """``--env-arg KEY=VALUE`` items as benchmark config entries (:func:`env_arg_value`)."""
    return {k: env_arg_value(v) for k, v in _pairs("--env-arg", items).items()}


def _given(args: argparse.Namespace) -> dict[str, Any]:
    """The RunConfig values given on the command line (typed), and only those."""
    given: dict[str, Any] = {}
    for f in dataclasses.fields(RunConfig):
        value = getattr(args, f.name)
        if value is None:
            continue
        if f.name == "env_kwargs":
            value = parse_env_args(value)
        elif f.name == "method_args":
            value = _pairs("--method-arg", value)
        elif f.name == "eval_splits":
            value = tuple(x.strip() for x in value.split(","))
        given[f.name] = value
    return given


def _trainer(args: argparse.Namespace) -> Trainer:
    given = _given(args)
    progress = not args.no_progress
    if args.resume:
        if args.out and Path(args.out) != Path(args.resume):
            raise UsageError.for_flag("--out", args.out, "give --resume DIR alone to continue")
        return Trainer.resume(args.resume, progress=progress, changes=given)
    config = RunConfig(**given)
    out = Path(args.out or f"runs/{config.env}/{config.method}/s{config.seed}")
    held = describe_run(out)
    if held is not None:
        raise UsageError.for_flag(
            "--out",
            str(out),
            f"holds {held}; continue it with --resume {out}, or choose another --out "
            "(nothing was changed)",
        )
    return Trainer(config, out, progress=progress)


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; returns the exit status."""
    trainer: Trainer | None = None
    try:
        args = _parser().parse_args(argv)
        trainer = _trainer(args)
        summary = trainer.run()
    except UsageError as err:
        print(err.line(), file=sys.stderr)
        return 2
    except StopRequested:
        assert trainer is not None
        print(
            f"interrupted: checkpoint written; continue with "
            f"python -m deep.train --resume {trainer.out}",
            file=sys.stderr,
        )
        return 130
    except KeyboardInterrupt:
        where = "" if trainer is None else f" ({trainer.checkpoint_path})"
        print(
            f"interrupted twice: stopped at once; the last checkpoint{where} is intact",
            file=sys.stderr,
        )
        return 130
    except FloatingPointError as err:
        assert trainer is not None
        where = trainer.checkpoint_path
        usable = f"the last checkpoint ({where}) is usable"
        note = usable if where.is_file() else "no checkpoint was written"
        print(f"error: {err}; {note}", file=sys.stderr)
        return 1
    print(json_text(summary).replace("\n", " "))
    return 0


if __name__ == "__main__":
    raise SystemExit(run_main(main))
