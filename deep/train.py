"""Train a meta-RL method on a benchmark: ``python -m deep.train --env distracting_bus ...``.

The run directory holds ``config.json`` (everything needed to rerun or resume), ``metrics.csv``
(one tidy row per evaluation and per training window, with the config line on top),
``checkpoint.pt`` (weights, optimisers, replay, counters and every RNG state; written
atomically every ``--checkpoint-every`` trials and on SIGINT/SIGTERM) and ``summary.json``.
``--resume DIR`` continues a run from its checkpoint and gives the same numbers as a run that
was never interrupted (the loop only stops between waves of trials; see ``deep.trial_loop``).

Presets: ``paper`` (App. B.4's hyperparameters), ``tiny`` (small replay minima, fast ε
decay: for tests and smoke runs, not for results) and ``epsilon1`` (``tiny`` with both
policies acting uniformly at random, ε = 1, as in the tabular experiments of Fig. 3: learning
is off-policy and only the greedy policies are evaluated).
"""

from __future__ import annotations

import argparse
import importlib
import io
import json
import math
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from analysis._cli import OneLineParser, UsageError
from analysis.io import atomic_write_bytes, atomic_write_text, environment, write_csv
from deep.envs.problem import MetaProblemFamily, make, registered_names
from deep.metrics import evaluate, reveal_oracle, steps_to_informative
from deep.presets import PRESETS, apply_overrides, apply_preset
from deep.trial_loop import make_env, run_wave, sample_trials

__all__ = ["METHODS", "PRESETS", "RunConfig", "Trainer", "env_arg_value", "main"]


@dataclass(frozen=True)
class MethodSpec:
    """Where a method lives, imported only when a run uses it.

    The method is ``module.cls(family, space, n_actions, config, seed, device)``; its config
    comes from ``module.config`` (a dataclass, or a classmethod building one).
    """

    module: str
    cls: str
    config: str
    about: str

    def build(
        self,
        family: MetaProblemFamily,
        space: Any,
        n_actions: int,
        seed: int,
        device: str,
        preset: str,
        env_name: str,
        overrides: dict[str, str],
    ) -> Any:
        """The method with its config: defaults, the env's adjustments, preset, overrides."""
        module = importlib.import_module(self.module)
        config_factory: Any = module
        for part in self.config.split("."):
            config_factory = getattr(config_factory, part)
        cfg = config_factory()
        if hasattr(cfg, "for_env"):
            cfg = cfg.for_env(env_name)
        cfg = apply_overrides(apply_preset(preset, cfg), overrides)
        return getattr(module, self.cls)(family, space, n_actions, cfg, seed, device)


METHODS: dict[str, MethodSpec] = {
    "dream": MethodSpec("deep.dream", "Dream", "DreamConfig", "DREAM, App. B.4 defaults"),
    "dream_no_bottleneck": MethodSpec(
        "deep.dream", "Dream", "DreamConfig.no_bottleneck", "DREAM without bottleneck (Fig. 6)"
    ),
    "dream_official": MethodSpec(
        "deep.dream", "Dream", "DreamConfig.official", "DREAM with the authors' code's values"
    ),
    "dream_e2e_exploration": MethodSpec(
        "deep.dream_ablations",
        "DreamE2EExploration",
        "E2EExplorationConfig",
        "ablation: DREAM's exploration learned from exploitation returns",
    ),
    "dream_dynamics": MethodSpec(
        "deep.dream_ablations",
        "DreamDynamics",
        "DynamicsConfig",
        "ablation: DREAM's exploration rewarded for predicting dynamics instead of z",
    ),
    "erl2": MethodSpec("deep.erl2", "ERL2", "ERL2Config", "E-RL² (App. B.3)"),
    "import": MethodSpec("deep.import_policy", "Import", "ImportConfig", "IMPORT (App. B.3)"),
    "varibad": MethodSpec("deep.varibad", "VariBad", "VariBadConfig", "VariBAD (App. B.3)"),
}
"""Method name → where it lives (imported only when a run uses it)."""


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
    checkpoint_every: int = 20_000
    """Trials between checkpoints (also written on SIGINT/SIGTERM and at the end)."""
    device: str = "cpu"
    threads: int | None = None
    """torch CPU threads (None: torch's default)."""

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
            ("--checkpoint-every", self.checkpoint_every),
        ):
            if value < 1:
                raise UsageError.for_flag(flag, value, "allowed: integers >= 1")
        if self.seed < 0:
            raise UsageError.for_flag("--seed", self.seed, "allowed: integers >= 0")
        splits = tuple(self.eval_splits)
        if not splits or "test" not in splits or not set(splits) <= {"test", "train"}:
            raise UsageError.for_flag(
                "--eval-splits", ",".join(splits), "allowed: test or test,train"
            )
        if self.threads is not None and self.threads < 1:
            raise UsageError.for_flag("--threads", self.threads, "allowed: integers >= 1")
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise UsageError.for_flag("--device", self.device, "no CUDA device here; allowed: cpu")
        if self.device != "cpu" and not self.device.startswith("cuda"):
            raise UsageError.for_flag("--device", self.device, "allowed: cpu, cuda, cuda:N")

    def family(self) -> MetaProblemFamily:
        """The benchmark's problem family."""
        kwargs = dict(self.env_kwargs)
        if self.variant is not None:
            kwargs["variant"] = self.variant
        try:
            return make(self.env, **kwargs)
        except (ValueError, TypeError) as err:
            raise UsageError(f"--env {self.env}: {err}") from None


EVAL_ROW_SPLIT = {"test": "test", "train": "train_eval"}
"""The ``split`` value of the metrics rows of a greedy evaluation on each problem split (rows
``split=train`` hold the ε-greedy returns of the training trials since the last evaluation)."""


class StopRequested(Exception):
    """Raised between waves after SIGINT/SIGTERM (the checkpoint has been written)."""


class Trainer:
    """Runs waves of training trials, evaluates, logs and checkpoints one run."""

    def __init__(self, config: RunConfig, out: str | Path, *, progress: bool = True) -> None:
        config.validate()
        self.config, self.out, self.progress = config, Path(out), progress
        if config.threads is not None:
            # numba's OpenMP pool, once started (by analysis.io.environment() at the first
            # metrics write), resets the OpenMP thread count torch uses: start it first.
            import numba

            numba.get_num_threads()
            torch.set_num_threads(config.threads)
        self.family = config.family()
        self.env = make_env(self.family, config.num_envs, config.seed)
        self.eval_env = make_env(
            self.family,
            config.num_envs if self.family.name == "sign" else min(config.eval_trials, 100),
            config.seed + 10_000,
        )
        n_actions = int(self.env.n_actions)
        try:
            self.method = METHODS[config.method].build(
                self.family,
                self.env.observation_space,
                n_actions,
                config.seed,
                config.device,
                config.preset,
                config.env,
                dict(config.method_args),
            )
        except ValueError as err:
            raise UsageError(f"--method {config.method}: {err}") from None
        self.oracle = reveal_oracle(self.family)
        self.problem_rng = np.random.default_rng([config.seed, 1])
        self.trials = 0
        self.env_steps = 0
        self.next_eval = 0
        self.next_checkpoint = config.checkpoint_every
        self.rows: list[dict[str, Any]] = []
        self.train_returns: list[float] = []
        self.wall = 0.0
        self.stop_requested = False

    # ------------------------------------------------------------------ state
    @property
    def checkpoint_path(self) -> Path:
        """Where the checkpoint lives."""
        return self.out / "checkpoint.pt"

    def state_dict(self) -> dict[str, Any]:
        """The whole run's state at a wave boundary."""
        return {
            "config": asdict(self.config),
            "method": self.method.state_dict(),
            "loop": {
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
            },
            "rows": list(self.rows),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        self.method.load_state_dict(state["method"])
        loop = state["loop"]
        self.trials, self.env_steps = loop["trials"], loop["env_steps"]
        self.next_eval, self.next_checkpoint = loop["next_eval"], loop["next_checkpoint"]
        self.problem_rng.bit_generator.state = loop["problem_rng"]
        self.train_returns = list(loop["train_returns"])
        self.wall = loop["wall"]
        torch.set_rng_state(loop["torch_rng"])
        for name, env_state in loop.get("env_rng", {}).items():
            getattr(self, name).set_rng_state(env_state)
        self.rows = list(state["rows"])

    def save_checkpoint(self) -> None:
        """Write the checkpoint atomically (temporary file, then rename)."""
        buf = io.BytesIO()
        torch.save(self.state_dict(), buf)
        atomic_write_bytes(self.checkpoint_path, buf.getvalue())

    @classmethod
    def resume(cls, out: str | Path, *, progress: bool = True, steps: int | None = None) -> Trainer:
        """Rebuild the trainer of run directory ``out`` from its checkpoint."""
        out = Path(out)
        path = out / "checkpoint.pt"
        if not path.is_file():
            raise UsageError.for_flag("--resume", str(out), "no checkpoint.pt there")
        state = torch.load(path, weights_only=False)
        config = RunConfig(**state["config"])
        if steps is not None:
            config = replace(config, steps=steps)
        trainer = cls(config, out, progress=progress)
        trainer.load_state_dict(state)
        return trainer

    # ------------------------------------------------------------------ output
    def metadata(self) -> dict[str, Any]:
        """Config, seed, method hyperparameters and package versions (the CSV header)."""
        cfg = getattr(self.method, "config", None)
        return {
            "run": asdict(self.config),
            "method_config": cfg.to_dict() if hasattr(cfg, "to_dict") else None,
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
        row.update(getattr(self.method, "epsilons", dict)())
        row["updates"] = getattr(self.method, "updates", 0)
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
            results[split], _ = evaluate(
                self.method,
                self.family,
                n_trials=self.config.eval_trials,
                seed=self.config.seed,
                split=split,
                oracle=self.oracle,
                env=self.eval_env,
            )
            self.rows.append(self._row(EVAL_ROW_SPLIT[split], results[split]))
        self.write_metrics()
        return results["test"]

    # ------------------------------------------------------------------ loop
    def _on_signal(self, signum: int, _frame: Any) -> None:
        self.stop_requested = True

    def run(self) -> dict[str, Any]:
        """Train until ``config.steps`` env steps; returns the summary (also ``summary.json``)."""
        self.out.mkdir(parents=True, exist_ok=True)
        if self.env_steps < self.config.steps:  # a shorter run's summary would say "finished"
            (self.out / "summary.json").unlink(missing_ok=True)
        atomic_write_text(self.out / "config.json", json.dumps(asdict(self.config), indent=2))
        old = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        bar = tqdm(
            total=self.config.steps,
            initial=min(self.env_steps, self.config.steps),
            unit="step",
            unit_scale=True,
            disable=not self.progress,
            desc=f"{self.config.method} {self.config.env} s{self.config.seed}",
        )
        try:
            last = None
            while self.env_steps < self.config.steps:
                if self.stop_requested:
                    self.save_checkpoint()
                    raise StopRequested
                if self.trials >= self.next_eval:
                    last = self.evaluate_now()
                    self.next_eval += self.config.eval_every
                    bar.set_postfix(
                        ret=f"{last['return']:.3f}", reveal=f"{last['reveal_frac']:.2f}"
                    )
                start = time.perf_counter()
                steps = self._wave()
                self.wall += time.perf_counter() - start
                bar.update(min(steps, self.config.steps - bar.n))
                if self.trials >= self.next_checkpoint:
                    self.save_checkpoint()
                    self.next_checkpoint += self.config.checkpoint_every
            if not self.rows or self.rows[-1]["trial"] != self.trials:
                self.evaluate_now()
            self.save_checkpoint()
        finally:
            bar.close()
            for s, handler in old.items():
                signal.signal(s, handler)
        summary = self.summary()
        atomic_write_text(self.out / "summary.json", json.dumps(summary, indent=2))
        return summary

    def _wave(self) -> int:
        cfg = self.config
        problems, goals = sample_trials(self.family, self.problem_rng, cfg.num_envs, "train", 1)
        ids = np.arange(self.trials, self.trials + cfg.num_envs)
        trials = run_wave(self.env, self.family, self.method, problems, goals, ids, training=True)
        steps = int(sum(ep.length.sum() for ep in trials.episodes))
        self.trials += cfg.num_envs
        self.env_steps += steps
        self.train_returns.extend(trials.episodes[1].returns.tolist())
        return steps

    def summary(self) -> dict[str, Any]:
        """Final numbers of the run."""
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


def _parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="python -m deep.train", description=__doc__.splitlines()[0])
    p.add_argument("--env", default="distracting_bus", help="benchmark name")
    p.add_argument("--method", default="dream", help=f"one of {', '.join(METHODS)}")
    p.add_argument("--steps", type=_int, default=1_000_000, help="env steps to train for")
    p.add_argument("--seed", type=_int, default=0)
    p.add_argument("--preset", default="paper", help="paper (App. B.4) or tiny (smoke tests)")
    p.add_argument("--variant", default=None, help="benchmark variant: paper or official")
    p.add_argument(
        "--env-arg",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="benchmark config entry, e.g. --env-arg A=4 (bandit), "
        "--env-arg train_split=independent (distracting_bus); integers are read as numbers",
    )
    p.add_argument(
        "--method-arg",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="method config field, e.g. --method-arg bottleneck_weight=3",
    )
    p.add_argument("--num-envs", type=_int, default=16, help="trials played side by side")
    p.add_argument("--eval-every", type=_int, default=2_000, help="trials between evaluations")
    p.add_argument("--eval-trials", type=_int, default=100)
    p.add_argument(
        "--eval-splits",
        default="test",
        help="problem splits evaluated greedily: test, or test,train (Fig. 7 left)",
    )
    p.add_argument("--checkpoint-every", type=_int, default=20_000, help="trials")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--threads", type=_int, default=None, help="torch CPU threads")
    p.add_argument(
        "--out", default=None, help="run directory (default runs/<env>/<method>/s<seed>)"
    )
    p.add_argument("--resume", default=None, metavar="DIR", help="continue the run in DIR")
    p.add_argument("--no-progress", action="store_true")
    return p


def env_arg_value(text: str) -> int | str:
    """An ``--env-arg`` value: an integer if it reads as one, else the text."""
    try:
        return int(text)
    except ValueError:
        return text


def _env_kwargs(items: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise UsageError.for_flag("--env-arg", item, "allowed: KEY=VALUE")
        out[key] = env_arg_value(value)
    return out


def _method_args(items: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise UsageError.for_flag("--method-arg", item, "allowed: KEY=VALUE")
        out[key] = value
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; returns the exit status."""
    try:
        args = _parser().parse_args(argv)
        if args.resume:
            trainer = Trainer.resume(args.resume, progress=not args.no_progress)
        else:
            config = RunConfig(
                env=args.env,
                method=args.method,
                steps=args.steps,
                seed=args.seed,
                preset=args.preset,
                variant=args.variant,
                env_kwargs=_env_kwargs(args.env_arg),
                method_args=_method_args(args.method_arg),
                num_envs=args.num_envs,
                eval_every=args.eval_every,
                eval_trials=args.eval_trials,
                eval_splits=tuple(x.strip() for x in args.eval_splits.split(",")),
                checkpoint_every=args.checkpoint_every,
                device=args.device,
                threads=args.threads,
            )
            out = args.out or f"runs/{config.env}/{config.method}/s{config.seed}"
            trainer = Trainer(config, out, progress=not args.no_progress)
        summary = trainer.run()
    except UsageError as err:
        print(err.line(), file=sys.stderr)
        return 2
    except StopRequested:
        print(
            f"interrupted: checkpoint written; continue with "
            f"python -m deep.train --resume {trainer.out}",
            file=sys.stderr,
        )
        return 130
    except FloatingPointError as err:
        where = trainer.checkpoint_path
        usable = f"the last checkpoint ({where}) is usable"
        note = usable if where.is_file() else "no checkpoint was written"
        print(f"error: {err}; {note}", file=sys.stderr)
        return 1
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
