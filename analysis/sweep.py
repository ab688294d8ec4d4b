"""One sweep of training runs, methods × envs × settings × seeds: resumable, local or on Ray.

``python -m analysis.sweep sweeps/fig6.json`` trains every run of a sweep with
:class:`deep.train.Trainer` and gathers the evaluation rows of all of them in one tidy
``<out>/runs.csv``. A sweep is data (bsuite's ``SETTINGS``): a JSON or TOML file with the keys
below, or the same keys as flags (``--methods dream,erl2 --envs map --seeds 0..2 ...``; a flag
replaces the file's value):

* ``methods`` — names from :data:`deep.train.METHODS`;
* ``envs`` — benchmark names, or objects ``{"env": "bandit", "env_kwargs": {"A": 3},
  "variant": null, "label": "bandit_A3"}`` (the label, by default the name, names the run
  directory and fills the ``env`` column of ``runs.csv``);
* ``seeds`` — a list of integers or a range ``"0..2"``;
* ``settings`` — named ``--method-arg`` overrides, ``{"lambda3": {"bottleneck_weight": 3}}``;
  every run gets one of them (leave it out for a single setting, ``default``, that adds no
  directory level);
* ``method_args`` — overrides every run gets (a setting's own values win);
* ``method_overrides`` — overrides for the runs of one method, ``{"varibad":
  {"decode_beliefs": 8}}`` (they win over ``method_args``; a setting's values win over them);
* ``splits`` — which rows of each run's ``metrics.csv`` go into ``runs.csv``: ``test`` (the
  default: greedy evaluation on held-out problems), ``train_eval`` (greedy evaluation on the
  training problems, for runs with ``eval_splits`` ``["test", "train"]``) and/or ``train`` (mean
  ε-greedy training returns of each evaluation window);
* ``steps``, ``preset``, ``num_envs``, ``eval_every``, ``eval_trials``, ``eval_splits``,
  ``checkpoint_every``, ``device``, ``threads`` — the :class:`deep.train.RunConfig` fields
  (``threads``: torch threads per run, default 1);
* ``name`` (default: the file's stem) and ``note`` (free text, kept in ``sweep.json``).

Runs are listed in the order env, method, setting, seed, and run ``r`` lives in
``<out>/<env>/<method>[/<setting>]/s<seed>`` with the usual files of ``python -m deep.train``.
Each run executes in a worker process, with one torch thread: a spawn-context process pool
(``--workers N``, default the CPU count; ``0`` runs them one after the other in this process) or
Ray tasks of one CPU each (``--ray local`` starts a local instance, ``--ray auto`` /
``--ray ray://host:port`` joins a cluster). A run whose ``summary.json`` exists for the same
config is skipped; one with a ``checkpoint.pt`` and no summary is resumed from it, exactly
(``deep.train``: same numbers as an uninterrupted run), so rerunning a killed sweep loses and
duplicates nothing. A run directory holding a different config stops the sweep before it
starts (a larger ``steps`` is fine: the run is extended). A failing run does not stop the
others: the sweep prints ``failed: <run dir>: <error>`` and exits with status 1. Ctrl-C (or
SIGTERM) asks the running trainers to checkpoint at their next wave, and exits with 130.

``<out>/sweep.json`` holds the normalised spec, the package version and the run directories;
``<out>/runs.csv`` every finished run's rows of the chosen splits, with columns ``method, env,
setting, seed, trial, env_steps, split, return, ...`` and without the timing column
``wall_s``, in the runs' order. Both are written atomically and only when their bytes change,
and neither depends on how the sweep was executed (pool, Ray, order, interruptions).
"""

from __future__ import annotations

import argparse
import dataclasses
import fcntl
import importlib
import json
import logging
import multiprocessing
import os
import re
import signal
import sys
import threading
import tomllib
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from tqdm import tqdm

from analysis._cli import OneLineParser, UsageError, parse_int_set
from analysis.io import (
    PACKAGE,
    atomic_write_bytes,
    compact_json,
    csv_text,
    package_version,
    read_csv,
)
from deep.envs.problem import registered_names
from deep.presets import PRESETS, apply_overrides, apply_preset
from deep.train import METHODS, RunConfig, StopRequested, Trainer, env_arg_value

__all__ = [
    "DEFAULT_SETTING",
    "RUN_KEYS",
    "SPEC_KEYS",
    "TIMING_COLUMNS",
    "EnvEntry",
    "Outcome",
    "Run",
    "RunConflict",
    "SweepReport",
    "SweepSpec",
    "check_runs",
    "collect",
    "execute",
    "expand",
    "load_spec_file",
    "main",
    "method_config",
    "parse_spec",
    "run_state",
    "run_sweep",
    "sweep_json",
]

_RUN_DEFAULTS = RunConfig()
RUN_KEYS = (
    "steps",
    "preset",
    "num_envs",
    "eval_every",
    "eval_trials",
    "checkpoint_every",
    "device",
    "threads",
    "eval_splits",
)
"""Spec keys that are :class:`deep.train.RunConfig` fields, shared by every run."""
SPEC_KEYS = (
    "name",
    "note",
    "methods",
    "envs",
    "seeds",
    "settings",
    "method_args",
    "method_overrides",
    "splits",
    *RUN_KEYS,
)
"""Every key a sweep spec may have."""
ENV_KEYS = ("env", "label", "variant", "env_kwargs")
SPLITS = ("train", "test", "train_eval")
EVAL_SPLITS = ("test", "train")
"""Problem splits a run may evaluate greedily (``RunConfig.eval_splits``)."""
TIMING_COLUMNS = ("wall_s",)
"""Columns of ``metrics.csv`` left out of ``runs.csv`` (they differ between executions)."""
ID_COLUMNS = ("method", "env", "setting", "seed")
DEFAULT_SETTING = "default"
"""The setting name of runs of a sweep without ``settings``."""
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+=-]*")
_NAME_RULE = "a name of letters, digits and _ . + = - (starting with a letter or digit)"

State = Literal["new", "resume", "finished"]


# ----------------------------------------------------------------------------- the spec
@dataclass(frozen=True)
class EnvEntry:
    """One benchmark of a sweep: registered name, its config, and the label of its runs."""

    env: str
    label: str
    variant: str | None = None
    env_kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep (see the module docstring for the meaning of every key)."""

    name: str
    methods: tuple[str, ...]
    envs: tuple[EnvEntry, ...]
    seeds: tuple[int, ...]
    settings: dict[str, dict[str, str]] | None = None
    """Setting name → method-config overrides; None: one setting without a directory level."""
    method_args: dict[str, str] = field(default_factory=dict)
    method_overrides: dict[str, dict[str, str]] = field(default_factory=dict)
    """Method name → overrides for its runs only."""
    splits: tuple[str, ...] = ("test",)
    steps: int = _RUN_DEFAULTS.steps
    preset: str = _RUN_DEFAULTS.preset
    num_envs: int = _RUN_DEFAULTS.num_envs
    eval_every: int = _RUN_DEFAULTS.eval_every
    eval_trials: int = _RUN_DEFAULTS.eval_trials
    checkpoint_every: int = _RUN_DEFAULTS.checkpoint_every
    device: str = _RUN_DEFAULTS.device
    threads: int = 1
    eval_splits: tuple[str, ...] = ("test",)
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The normalised spec as plain JSON data (parsing it again gives the same spec)."""
        out: dict[str, Any] = {"name": self.name}
        if self.note is not None:
            out["note"] = self.note
        out |= {
            "methods": list(self.methods),
            "envs": [asdict(e) for e in self.envs],
            "seeds": list(self.seeds),
            "settings": self.settings,
            "method_args": self.method_args,
        }
        if self.method_overrides:  # left out when empty: older sweep.json files stay the same
            out["method_overrides"] = self.method_overrides
        out["splits"] = list(self.splits)
        out |= {key: getattr(self, key) for key in RUN_KEYS}
        out["eval_splits"] = list(self.eval_splits)
        return out


class _Where:
    """Names the place of a bad value: a flag, or ``<file> <key>``."""

    def __init__(self, source: str, flags: Mapping[str, str]) -> None:
        self.source, self.flags = source, flags

    def __call__(self, key: str) -> str:
        return self.flags.get(key, f"{self.source} {key}")

    def error(self, key: str, value: Any, allowed: str) -> UsageError:
        shown = value if isinstance(value, str) else compact_json(value)
        return UsageError.for_flag(self(key), shown, allowed)


def _name(where: _Where, key: str, value: Any) -> str:
    if not (isinstance(value, str) and _NAME.fullmatch(value)):
        raise where.error(key, value, f"allowed: {_NAME_RULE}")
    return value


def _int(where: _Where, key: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise where.error(key, value, f"allowed: an integer >= {minimum}")
    return value


def _names(where: _Where, key: str, value: Any, allowed: Sequence[str]) -> tuple[str, ...]:
    rule = f"allowed: a non-empty list of distinct names from {', '.join(allowed)}"
    if not isinstance(value, list) or not value:
        raise where.error(key, value, rule)
    for item in value:
        if item not in allowed:
            raise where.error(key, item, rule)
    if len(set(value)) != len(value):
        raise where.error(key, value, rule)
    return tuple(value)


def _overrides(where: _Where, key: str, value: Any) -> dict[str, str]:
    """``{field: text}`` from a JSON object whose values are strings, numbers or booleans."""
    rule = "allowed: an object of method-config field → string, number or boolean"
    if not isinstance(value, dict):
        raise where.error(key, value, rule)
    out = {}
    for name, item in value.items():
        if isinstance(item, bool):
            text = "true" if item else "false"
        elif isinstance(item, str | int | float):
            text = str(item)
        else:
            raise where.error(key, {name: item}, rule)
        if not name or not text:
            raise where.error(key, {name: item}, rule)
        out[str(name)] = text
    return out


def _env_entry(where: _Where, item: Any) -> EnvEntry:
    names = registered_names()
    rule = (
        f"allowed: a benchmark name ({', '.join(names)}) or an object with keys "
        f"{', '.join(ENV_KEYS)} (env required)"
    )
    if isinstance(item, str):
        item = {"env": item}
    if not isinstance(item, dict) or "env" not in item:
        raise where.error("envs", item, rule)
    for key in item:
        if key not in ENV_KEYS:
            raise where.error("envs", item, f"unknown key {key!r}; {rule}")
    if item["env"] not in names:
        raise where.error("envs", item["env"], rule)
    label = _name(where, "envs", item.get("label", item["env"]))
    variant = item.get("variant")
    if variant is not None and not isinstance(variant, str):
        raise where.error("envs", item, "allowed: variant null or a string (paper, official)")
    kwargs = item.get("env_kwargs", {})
    if not isinstance(kwargs, dict):
        raise where.error("envs", item, "allowed: env_kwargs an object of config entries")
    return EnvEntry(item["env"], label, variant, dict(kwargs))


def _seeds(where: _Where, value: Any) -> tuple[int, ...]:
    if isinstance(value, str):
        return parse_int_set(where("seeds"), value, 0)
    rule = 'allowed: a non-empty list of distinct integers >= 0, or a range such as "0..2"'
    if not isinstance(value, list) or not value:
        raise where.error("seeds", value, rule)
    for seed in value:
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise where.error("seeds", seed, rule)
    if len(set(value)) != len(value):
        raise where.error("seeds", value, rule)
    return tuple(value)


def _run_fields(where: _Where, data: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("steps", "num_envs", "eval_every", "eval_trials", "checkpoint_every", "threads"):
        if key in data:
            out[key] = _int(where, key, data[key], 1)
    if "preset" in data:
        if data["preset"] not in PRESETS:
            raise where.error("preset", data["preset"], f"allowed: {', '.join(PRESETS)}")
        out["preset"] = data["preset"]
    if "eval_splits" in data:
        value = data["eval_splits"]
        names = _names(where, "eval_splits", value, EVAL_SPLITS)
        if "test" not in names:
            raise where.error("eval_splits", value, 'allowed: ["test"] or ["test", "train"]')
        out["eval_splits"] = tuple(x for x in EVAL_SPLITS if x in names)
    if "device" in data:
        device = data["device"]
        if not isinstance(device, str) or not (device == "cpu" or device.startswith("cuda")):
            raise where.error("device", device, "allowed: cpu, cuda, cuda:N")
        out["device"] = device
    return out


def parse_spec(
    data: Any,
    source: str = "spec",
    *,
    default_name: str = "sweep",
    flags: Mapping[str, str] | None = None,
) -> SweepSpec:
    """Validate raw spec data (a parsed JSON/TOML object) into a :class:`SweepSpec`.

    Raises :class:`UsageError` naming the first bad key or value and what is allowed; the
    place is ``<source> <key>``, or the flag in ``flags`` (key → flag) that gave the value.
    """
    where = _Where(source, flags or {})
    if not isinstance(data, dict):
        raise UsageError(
            f"{source}: a sweep spec is a JSON/TOML object with keys {', '.join(SPEC_KEYS)}"
        )
    for key in data:
        if key not in SPEC_KEYS:
            raise UsageError(f"{source}: unknown key {key!r}; allowed: {', '.join(SPEC_KEYS)}")
    for key in ("methods", "envs", "seeds"):
        if key not in data:
            raise UsageError(f"{source}: missing key {key!r} (methods, envs and seeds are needed)")
    envs_raw = data["envs"]
    if not isinstance(envs_raw, list) or not envs_raw:
        raise where.error("envs", envs_raw, "allowed: a non-empty list of benchmarks")
    envs = tuple(_env_entry(where, item) for item in envs_raw)
    labels = [e.label for e in envs]
    for label in labels:
        if labels.count(label) > 1:
            raise where.error("envs", label, "labels must differ: give each entry its own label")
    settings = data.get("settings")
    if settings is not None:
        if not isinstance(settings, dict) or not settings:
            raise where.error(
                "settings", settings, "allowed: a non-empty object of name → overrides, or null"
            )
        settings = {
            _name(where, "settings", name): _overrides(where, "settings", values)
            for name, values in settings.items()
        }
    methods = _names(where, "methods", data["methods"], tuple(METHODS))
    per_method = data.get("method_overrides", {})
    if not isinstance(per_method, dict):
        raise where.error(
            "method_overrides", per_method, "allowed: an object of method name → overrides"
        )
    for name in per_method:
        if name not in methods:
            raise where.error(
                "method_overrides", name, f"allowed: methods of this sweep ({', '.join(methods)})"
            )
    method_overrides = {
        name: _overrides(where, "method_overrides", values) for name, values in per_method.items()
    }
    splits = data.get("splits", ["test"])
    note = data.get("note")
    if note is not None and not isinstance(note, str):
        raise where.error("note", note, "allowed: a string")
    return SweepSpec(
        name=_name(where, "name", data.get("name", default_name)),
        methods=methods,
        envs=envs,
        seeds=_seeds(where, data["seeds"]),
        settings=settings,
        method_args=_overrides(where, "method_args", data.get("method_args", {})),
        method_overrides=method_overrides,
        splits=_names(where, "splits", splits, SPLITS),
        note=note,
        **_run_fields(where, data),
    )


def load_spec_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The raw data of a ``.json`` or ``.toml`` sweep file (one-line UsageError if unreadable)."""
    path = Path(path)
    if path.suffix not in (".json", ".toml"):
        raise UsageError.for_flag("spec", path, "allowed: a .json or .toml sweep file")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise UsageError.for_flag("spec", path, f"cannot be read ({err.strerror})") from None
    try:
        data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except json.JSONDecodeError as err:
        raise UsageError(
            f"{path}: invalid JSON at line {err.lineno} column {err.colno}: {err.msg}"
        ) from None
    except tomllib.TOMLDecodeError as err:
        raise UsageError(f"{path}: invalid TOML: {err}") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path}: a sweep spec is an object with keys {', '.join(SPEC_KEYS)}")
    return data


# ----------------------------------------------------------------------------- runs
@dataclass(frozen=True)
class Run:
    """One training run of a sweep."""

    env: str
    """The env entry's label."""
    method: str
    setting: str
    seed: int
    config: RunConfig
    path: str
    """Run directory relative to the sweep's output directory (``/``-separated)."""


def expand(spec: SweepSpec) -> list[Run]:
    """The runs of ``spec``, in the order env, method, setting, seed (always the same)."""
    settings = spec.settings if spec.settings is not None else {DEFAULT_SETTING: {}}
    shared = {key: getattr(spec, key) for key in RUN_KEYS}
    runs = []
    for entry in spec.envs:
        for method in spec.methods:
            for setting, overrides in settings.items():
                for seed in spec.seeds:
                    config = RunConfig(
                        env=entry.env,
                        method=method,
                        seed=seed,
                        variant=entry.variant,
                        env_kwargs=dict(entry.env_kwargs),
                        method_args={
                            **spec.method_args,
                            **spec.method_overrides.get(method, {}),
                            **overrides,
                        },
                        **shared,
                    )
                    level = [] if spec.settings is None else [setting]
                    path = "/".join([entry.label, method, *level, f"s{seed}"])
                    runs.append(Run(entry.label, method, setting, seed, config, path))
    return runs


def method_config(method: str, preset: str, env_name: str, overrides: Mapping[str, str]) -> Any:
    """The config dataclass a run of ``method`` gets (as :meth:`deep.train.MethodSpec.build`).

    Defaults, then the env's adjustments (``for_env``), the preset and the overrides; raises
    ImportError when the method's module is missing and ValueError for a bad override.
    """
    spec = METHODS[method]
    factory: Any = importlib.import_module(spec.module)
    for part in spec.config.split("."):
        factory = getattr(factory, part)
    cfg = factory()
    if hasattr(cfg, "for_env"):
        cfg = cfg.for_env(env_name)
    return apply_overrides(apply_preset(preset, cfg), overrides)


def check_runs(spec: SweepSpec, source: str = "spec") -> None:
    """Build every env family and method config of ``spec`` once: bad values fail here.

    Raises :class:`UsageError` naming the env, method, setting or override at fault.
    """
    where = _Where(source, {})
    try:
        dataclasses.replace(_RUN_DEFAULTS, **{k: getattr(spec, k) for k in RUN_KEYS}).validate()
    except UsageError as err:
        raise UsageError(f"{source}: {err}") from None
    for entry in spec.envs:
        config = RunConfig(env=entry.env, variant=entry.variant, env_kwargs=entry.env_kwargs)
        try:
            config.family()
        except UsageError as err:
            detail = str(err).removeprefix(f"--env {entry.env}: ")
            raise where.error("envs", entry.label, detail) from None
    settings = spec.settings if spec.settings is not None else {DEFAULT_SETTING: {}}
    for method in spec.methods:
        for entry in spec.envs:
            try:
                base = method_config(method, spec.preset, entry.env, {})
            except ImportError as err:
                raise where.error(
                    "methods",
                    method,
                    f"its module {METHODS[method].module} cannot be imported ({err})",
                ) from None
            except Exception as err:  # a module being written: missing class, bad default
                where_cfg = f"{METHODS[method].module}.{METHODS[method].config}"
                raise where.error(
                    "methods", method, f"its config {where_cfg} cannot be built ({_one_line(err)})"
                ) from None
            try:
                base = apply_overrides(base, spec.method_args)
            except ValueError as err:
                raise where.error("method_args", spec.method_args, f"{method}: {err}") from None
            own = spec.method_overrides.get(method, {})
            try:
                base = apply_overrides(base, own)
            except ValueError as err:
                raise where.error("method_overrides", {method: own}, str(err)) from None
            for name, overrides in settings.items():
                try:
                    apply_overrides(base, overrides)
                except ValueError as err:
                    raise where.error("settings", name, f"{method}: {err}") from None


class RunConflict(UsageError):
    """A run directory holds a run of another config."""


_EXECUTION_ONLY = frozenset({"checkpoint_every"})
"""RunConfig fields that change how a run is executed, not its numbers (resume is exact)."""


def run_state(run_dir: str | os.PathLike[str], config: RunConfig) -> State:
    """What the sweep must do for the run of ``config`` in ``run_dir``.

    ``"finished"``: ``summary.json`` of the same config that reached its ``steps``;
    ``"resume"``: a checkpoint of the same config (interrupted, or finished with fewer
    ``steps``: it is extended, and an extension interrupted is resumed); ``"new"``:
    nothing usable there. Raises :class:`RunConflict` if ``config.json`` differs in any
    other field but ``checkpoint_every``, or the run there is longer than the sweep asks.
    """
    run_dir = Path(run_dir)
    path = run_dir / "config.json"
    if not path.is_file():
        return "new"
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return "new"  # run() writes it first, atomically: unreadable means never started
    new = json.loads(json.dumps(asdict(config)))
    for key in sorted((set(old) | set(new)) - _EXECUTION_ONLY):
        if key != "steps" and old.get(key) != new.get(key):
            raise RunConflict(
                f"{run_dir} holds another run ({key}: {compact_json(old.get(key))} there, "
                f"{compact_json(new.get(key))} in the sweep); use another --out or remove it"
            )
    if old.get("steps", 0) > config.steps:
        raise RunConflict(
            f"{run_dir} holds a longer run (steps: {old['steps']} there, {config.steps} in the "
            "sweep); use another --out or remove it"
        )
    if old["steps"] == config.steps and _summary_steps(run_dir) >= config.steps:
        return "finished"  # (a summary of fewer steps: left by a stage this run extends)
    return "resume" if (run_dir / "checkpoint.pt").is_file() else "new"


def _summary_steps(run_dir: Path) -> int:
    """Env steps ``run_dir/summary.json`` reports (-1: none, or unreadable)."""
    try:
        return int(json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))["env_steps"])
    except (OSError, ValueError, KeyError, TypeError):
        return -1


def _evaluated_steps(run_dir: Path) -> int | None:
    """Env steps of the last evaluation in ``run_dir/metrics.csv`` (None: none yet)."""
    try:
        df = read_csv(run_dir / "metrics.csv")
    except (OSError, ValueError):
        return None
    return int(df["env_steps"].max()) if len(df) and "env_steps" in df else None


# ----------------------------------------------------------------------------- one run
@dataclass(frozen=True)
class Outcome:
    """What became of one run: trained, resumed, skipped, failed, interrupted or cancelled."""

    path: str
    status: str
    error: str = ""


_STOP: Any = None
"""The pool's stop event in a worker process (None elsewhere)."""


def _init_worker(stop: Any) -> None:
    """Pool worker set-up: the stop event; Ctrl-C reaches only a running trainer's handler."""
    global _STOP
    _STOP = stop
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextmanager
def _stop_watch(trainer: Trainer) -> Iterator[None]:
    """Ask ``trainer`` to stop (checkpoint at its next wave) once the pool's stop event is set."""
    if _STOP is None:
        yield
        return
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            if _STOP.wait(0.2):
                trainer.stop_requested = True
                return

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def _one_line(err: BaseException) -> str:
    text = str(err) if isinstance(err, UsageError) else f"{type(err).__name__}: {err}"
    return " ".join(text.split())


def execute(config: Mapping[str, Any], run_dir: str) -> Outcome:
    """Train, resume or skip one run in this process (what a pool worker or Ray task runs)."""
    out = Path(run_dir)
    trainer: Trainer | None = None
    try:
        cfg = RunConfig(**config)
        state = run_state(out, cfg)
        if state == "finished":
            return Outcome(run_dir, "skipped")
        if _STOP is not None and _STOP.is_set():
            return Outcome(run_dir, "cancelled")
        if state == "resume":
            trainer = Trainer.resume(out, progress=False, steps=cfg.steps)
        else:
            trainer = Trainer(cfg, out, progress=False)
        with _stop_watch(trainer):
            trainer.run()
        return Outcome(run_dir, "resumed" if state == "resume" else "trained")
    except StopRequested:
        return Outcome(run_dir, "interrupted", "checkpoint written")
    except Exception as err:
        message = _one_line(err)
        if isinstance(err, FloatingPointError) and trainer is not None:
            usable = trainer.checkpoint_path.is_file()
            message += "; the last checkpoint is usable" if usable else "; no checkpoint written"
        return Outcome(run_dir, "failed", message)


# ----------------------------------------------------------------------------- executors
Task = tuple[dict[str, Any], str]
OnDone = Callable[[Outcome], None]


def _run_inline(tasks: Sequence[Task], on_done: OnDone) -> bool:
    """One run after another in this process; returns whether the sweep was interrupted."""
    for i, (config, run_dir) in enumerate(tasks):
        outcome = execute(config, run_dir)
        on_done(outcome)
        if outcome.status == "interrupted":
            for _, rest in tasks[i + 1 :]:
                on_done(Outcome(rest, "cancelled"))
            return True
    return False


def _future_outcome(future: Future[Outcome], run_dir: str) -> Outcome:
    if future.cancelled():
        return Outcome(run_dir, "cancelled")
    try:
        return future.result()
    except Exception as err:  # a worker that died (BrokenProcessPool) or failed to unpickle
        return Outcome(run_dir, "failed", _one_line(err))


def _run_pool(tasks: Sequence[Task], workers: int, on_done: OnDone) -> bool:
    """A spawn-context process pool; returns whether the sweep was interrupted."""
    ctx = multiprocessing.get_context("spawn")
    stop = ctx.Event()
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=ctx, initializer=_init_worker, initargs=(stop,)
    ) as pool:
        futures: dict[Future[Outcome], str] = {}
        reported: set[Future[Outcome]] = set()

        def report(future: Future[Outcome]) -> None:
            reported.add(future)
            on_done(_future_outcome(future, futures[future]))

        try:
            for config, run_dir in tasks:
                futures[pool.submit(execute, config, run_dir)] = run_dir
            pending = set(futures)
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in sorted(done, key=lambda f: futures[f]):
                    report(future)
        except KeyboardInterrupt:
            stop.set()  # running trainers checkpoint at their next wave; queued runs skip
            left = [f for f in futures if f not in reported]
            for future in left:
                future.cancel()
            for future in left:  # waits for the running ones
                report(future)
            return True
    return False


def _run_ray(
    tasks: Sequence[Task], address: str, workers: int | None, gpus: float, on_done: OnDone
) -> bool:
    """Ray tasks of one CPU each; returns whether the sweep was interrupted."""
    try:
        import ray
    except ImportError:
        raise UsageError.for_flag(
            "--ray", address, "ray is not installed (pip install 'dream-metarl[sweep]')"
        ) from None
    started = not ray.is_initialized()
    if started:
        kwargs: dict[str, Any] = {"logging_level": logging.WARNING}
        if address == "local":
            kwargs |= {"num_cpus": workers, "include_dashboard": False}
        try:
            ray.init(address=address, **kwargs)
        except (ConnectionError, ValueError, RuntimeError) as err:
            raise UsageError.for_flag(
                "--ray", address, f"cannot start or join Ray ({err})"
            ) from None
        if threading.current_thread() is threading.main_thread():
            # ray.init installs a SIGTERM handler that ends the driver at once: stop as on Ctrl-C
            signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        remote = ray.remote(num_cpus=1, num_gpus=gpus, max_retries=0)(execute)
        refs: dict[Any, str] = {}
        reported: set[Any] = set()
        try:
            for config, run_dir in tasks:
                refs[remote.remote(config, run_dir)] = run_dir
            pending = list(refs)
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for ref in done:
                    reported.add(ref)
                    on_done(_ray_outcome(ray, ref, refs[ref]))
        except KeyboardInterrupt:
            left = [ref for ref in refs if ref not in reported]
            for ref in left:
                ray.cancel(ref)
            for ref in left:
                on_done(_ray_outcome(ray, ref, refs[ref]))
            return True
        return False
    finally:
        if started:
            ray.shutdown()


def _ray_outcome(ray: Any, ref: Any, run_dir: str) -> Outcome:
    try:
        return ray.get(ref)
    except ray.exceptions.TaskCancelledError:
        return Outcome(run_dir, "interrupted", "cancelled; its last checkpoint is kept")
    except Exception as err:  # the worker died, or Ray failed
        return Outcome(run_dir, "failed", _one_line(err))


# ----------------------------------------------------------------------------- the sweep
def _write_if_changed(path: Path, data: bytes) -> bool:
    """Atomically write ``data`` unless ``path`` already holds exactly these bytes."""
    if path.is_file() and path.read_bytes() == data:
        return False
    atomic_write_bytes(path, data)
    return True


def _header(spec: SweepSpec) -> dict[str, Any]:
    return {"package": PACKAGE, "package_version": package_version(), "sweep": spec.to_dict()}


def sweep_json(spec: SweepSpec, runs: Sequence[Run]) -> str:
    """The text of ``sweep.json``: spec, package version and run directories."""
    doc = {**_header(spec), "runs": [run.path for run in runs]}
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def collect(spec: SweepSpec, runs: Sequence[Run], out: str | os.PathLike[str]) -> pd.DataFrame:
    """The rows of ``runs.csv``: every finished run's ``metrics.csv`` rows of ``spec.splits``.

    Values are kept as the text each run wrote; ``method, env (label), setting, seed`` come
    first, timing columns are dropped, runs follow the sweep's order, columns the order of
    their first appearance (missing values are written as ``NA``).
    """
    frames = []
    for run in runs:
        run_dir = Path(out) / run.path
        try:
            if run_state(run_dir, run.config) != "finished":
                continue
        except RunConflict:
            continue
        if not (run_dir / "metrics.csv").is_file():
            continue
        df = pd.read_csv(run_dir / "metrics.csv", comment="#", dtype=str, keep_default_na=False)
        df = df[df["split"].isin(spec.splits)]
        df = df.drop(columns=[c for c in (*TIMING_COLUMNS, *ID_COLUMNS) if c in df.columns])
        ids = {"method": run.method, "env": run.env, "setting": run.setting, "seed": run.seed}
        for i, (name, value) in enumerate(ids.items()):
            df.insert(i, name, str(value))
        frames.append(df)
    if not frames:
        return pd.DataFrame(columns=list(ID_COLUMNS))
    return pd.concat(frames, ignore_index=True, sort=False)


@dataclass
class SweepReport:
    """What a sweep did."""

    runs: int
    outcomes: list[Outcome] = field(default_factory=list)
    skipped: int = 0
    rows: int = 0
    interrupted: bool = False

    def count(self, status: str) -> int:
        """Number of runs with ``status``."""
        return sum(o.status == status for o in self.outcomes)

    @property
    def exit_code(self) -> int:
        """130 if interrupted, 1 if a run failed, else 0."""
        if self.interrupted:
            return 130
        return 1 if self.count("failed") else 0

    def summary(self) -> dict[str, Any]:
        """Counts per outcome (the JSON line ``main`` prints)."""
        counts = {s: self.count(s) for s in ("trained", "resumed", "failed", "interrupted")}
        return {
            "runs": self.runs,
            "done_before": self.skipped + self.count("skipped"),
            **counts,
            "cancelled": self.count("cancelled"),
            "rows": self.rows,
        }


@contextmanager
def _lock(out: Path) -> Iterator[None]:
    """One sweep at a time per output directory (an advisory ``flock``)."""
    with open(out / ".sweep.lock", "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError.for_flag("--out", out, "another sweep is running there") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM stops the sweep the way Ctrl-C does (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def run_sweep(
    spec: SweepSpec,
    out: str | os.PathLike[str],
    *,
    workers: int | None = None,
    ray_address: str | None = None,
    gpus_per_run: float | None = None,
    progress: bool = True,
) -> SweepReport:
    """Run every unfinished run of ``spec`` under ``out``; write ``sweep.json`` and ``runs.csv``.

    ``workers``: pool size (None: CPU count; 0: in this process), or the CPUs of a local Ray
    instance; ``ray_address``: None for the pool, else ``"local"`` or a cluster address;
    ``gpus_per_run``: GPUs each Ray task asks for (None: 1 on a CUDA device, else 0). A Ray
    connection this process already holds is used as it is (and left open).
    Raises :class:`UsageError` (one line) before training anything if a run directory holds
    another run.
    """
    out = Path(out).resolve()
    runs = expand(spec)
    out.mkdir(parents=True, exist_ok=True)
    with _lock(out):
        states = {run.path: run_state(out / run.path, run.config) for run in runs}
        _write_if_changed(out / "sweep.json", sweep_json(spec, runs).encode("utf-8"))
        tasks = [
            (asdict(run.config), str(out / run.path))
            for run in runs
            if states[run.path] != "finished"
        ]
        report = SweepReport(runs=len(runs), skipped=len(runs) - len(tasks))
        bar = tqdm(
            total=len(runs),
            initial=report.skipped,
            unit="run",
            desc=f"sweep {spec.name}",
            disable=not progress,
            file=sys.stderr,
        )

        def on_done(outcome: Outcome) -> None:
            report.outcomes.append(outcome)
            bar.update(1)
            if outcome.status == "failed":
                tqdm.write(f"failed: {outcome.path}: {outcome.error}", file=sys.stderr)

        try:
            with _sigterm_as_interrupt():
                if not tasks:
                    pass
                elif ray_address is not None:
                    gpus = gpus_per_run
                    if gpus is None:
                        gpus = 1.0 if spec.device.startswith("cuda") else 0.0
                    report.interrupted = _run_ray(tasks, ray_address, workers, gpus, on_done)
                elif workers == 0:
                    report.interrupted = _run_inline(tasks, on_done)
                else:
                    n = min(workers or os.cpu_count() or 1, len(tasks))
                    report.interrupted = _run_pool(tasks, n, on_done)
        finally:
            bar.close()
        table = collect(spec, runs, out)
        report.rows = len(table)
        _write_if_changed(out / "runs.csv", csv_text(table, _header(spec)).encode("utf-8"))
    return report


# ----------------------------------------------------------------------------- command line
def _int_arg(text: str) -> int:
    try:
        return int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None


def _float_arg(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number >= 0")
    return value


def _parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="python -m analysis.sweep", description=__doc__.splitlines()[0])
    p.add_argument("spec", nargs="?", default=None, help="sweep file (.json or .toml)")
    g = p.add_argument_group("sweep (replace the file's values)")
    g.add_argument("--name", default=None, help="sweep name (default: the file's stem)")
    g.add_argument("--methods", default=None, help=f"comma list of {', '.join(METHODS)}")
    g.add_argument("--envs", default=None, help="comma list of benchmark names")
    g.add_argument("--seeds", default=None, help="0..2 or 0,1,2")
    g.add_argument(
        "--setting",
        action="append",
        default=None,
        metavar="NAME[:KEY=VALUE,...]",
        help="a named setting, e.g. lambda3:bottleneck_weight=3 (repeat for more)",
    )
    g.add_argument(
        "--method-arg",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="method config field for every run",
    )
    g.add_argument(
        "--env-arg",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="benchmark config entry for every env (integers are read as numbers)",
    )
    g.add_argument("--variant", default=None, help="benchmark variant for every env")
    g.add_argument(
        "--splits", default=None, help="rows kept: test, train_eval and/or train, comma-separated"
    )
    for key in RUN_KEYS:
        kind: Any = str if key in ("preset", "device") else _int_arg
        if key == "eval_splits":
            kind = lambda text: [x.strip() for x in text.split(",")]  # noqa: E731
        g.add_argument("--" + key.replace("_", "-"), type=kind, default=None)
    e = p.add_argument_group("execution (not part of the sweep's results)")
    e.add_argument("--out", default=None, help="output directory (default runs/sweeps/<name>)")
    e.add_argument(
        "--workers",
        type=_int_arg,
        default=None,
        help="worker processes (default: CPU count; 0: in this process) or local Ray CPUs",
    )
    e.add_argument(
        "--ray",
        default=None,
        metavar="ADDRESS",
        help="run as Ray tasks: local (start an instance), auto or ray://host:port",
    )
    e.add_argument("--gpus-per-run", type=_float_arg, default=None, help="Ray GPUs per run")
    e.add_argument("--dry-run", action="store_true", help="list the runs and what each needs")
    e.add_argument("--no-progress", action="store_true")
    return p


def _pairs(flag: str, items: Sequence[str], allowed: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise UsageError.for_flag(flag, item, allowed)
        out[key] = value
    return out


def _cli_settings(items: Sequence[str]) -> dict[str, dict[str, str]]:
    allowed = "allowed: NAME or NAME:KEY=VALUE[,KEY=VALUE...]"
    out: dict[str, dict[str, str]] = {}
    for item in items:
        name, _, body = item.partition(":")
        if name in out:
            raise UsageError.for_flag("--setting", item, f"{allowed}, names distinct")
        pairs = [p for p in body.split(",") if p] if body else []
        out[name] = _pairs("--setting", pairs, allowed) if pairs else {}
    return out


def _spec_data(args: argparse.Namespace) -> tuple[dict[str, Any], str, str, dict[str, str]]:
    """Raw spec data (file, then flags), its source, default name, and key → flag."""
    data: dict[str, Any] = {}
    source, default_name = "command line", "sweep"
    if args.spec is not None:
        data = load_spec_file(args.spec)
        source, default_name = str(args.spec), Path(args.spec).stem
    flags: dict[str, str] = {}

    def put(key: str, value: Any, flag: str) -> None:
        data[key] = value
        flags[key] = flag

    for key, flag in (("methods", "--methods"), ("envs", "--envs"), ("splits", "--splits")):
        text = getattr(args, key)
        if text is not None:
            put(key, [item.strip() for item in text.split(",") if item.strip()], flag)
    if args.seeds is not None:
        put("seeds", args.seeds, "--seeds")
    if args.name is not None:
        put("name", args.name, "--name")
    if args.setting is not None:
        put("settings", _cli_settings(args.setting), "--setting")
    if args.method_arg:
        base = data.get("method_args", {})
        extra = _pairs("--method-arg", args.method_arg, "allowed: KEY=VALUE")
        put("method_args", {**(base if isinstance(base, dict) else {}), **extra}, "--method-arg")
    for key in RUN_KEYS:
        value = getattr(args, key)
        if value is not None:
            put(key, value, "--" + key.replace("_", "-"))
    _cli_env_changes(data, args.env_arg, args.variant)
    return data, source, default_name, flags


def _cli_env_changes(data: dict[str, Any], env_args: Sequence[str], variant: str | None) -> None:
    """Apply ``--env-arg`` and ``--variant`` to every env entry of ``data``."""
    pairs = _pairs("--env-arg", env_args, "allowed: KEY=VALUE")
    env_kwargs: dict[str, Any] = {key: env_arg_value(text) for key, text in pairs.items()}
    if not (env_kwargs or variant is not None) or not isinstance(data.get("envs"), list):
        return
    entries = []
    for item in data["envs"]:
        entry = dict(item) if isinstance(item, dict) else {"env": item}
        if env_kwargs:
            old = entry.get("env_kwargs")
            entry["env_kwargs"] = {**(old if isinstance(old, dict) else {}), **env_kwargs}
        if variant is not None:
            entry["variant"] = variant
        entries.append(entry)
    data["envs"] = entries


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; returns the exit status (0 done, 1 a run failed, 2 bad input, 130)."""
    try:
        args = _parser().parse_args(argv)
        if args.workers is not None and args.workers < 0:
            raise UsageError.for_flag("--workers", args.workers, "allowed: integers >= 0")
        if args.workers == 0 and args.ray is not None:
            raise UsageError.for_flag("--workers", 0, "allowed with --ray: integers >= 1")
        data, source, default_name, flags = _spec_data(args)
        spec = parse_spec(data, source, default_name=default_name, flags=flags)
        check_runs(spec, source)
        out = Path(args.out) if args.out else Path("runs") / "sweeps" / spec.name
        if args.dry_run:
            for run in expand(spec):
                state = run_state(out / run.path, run.config)
                done = _evaluated_steps(out / run.path) if state == "resume" else None
                extra = "" if done is None else f"\t{done:,} of {run.config.steps:,} env steps"
                print(f"{state}\t{out / run.path}{extra}")
            return 0
        report = run_sweep(
            spec,
            out,
            workers=args.workers,
            ray_address=args.ray,
            gpus_per_run=args.gpus_per_run,
            progress=not args.no_progress,
        )
    except UsageError as err:
        print(err.line(), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: rerun the same command to continue", file=sys.stderr)
        return 130
    if report.interrupted:
        print(
            f"interrupted: {report.count('interrupted')} run(s) stopped, each resumes from its "
            "last checkpoint; rerun the same command to continue",
            file=sys.stderr,
        )
    print(json.dumps({"out": str(out), **report.summary()}))
    return report.exit_code


if __name__ == "__main__":
    from analysis.sweep import main as _main  # the importable module, so workers find execute

    raise SystemExit(_main())
