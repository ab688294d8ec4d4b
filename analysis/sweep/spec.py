"""A sweep's spec: the :class:`SweepSpec` dataclasses, parsing and validating raw spec data.

See :mod:`analysis.sweep` for the meaning of every key. Every bad key or value raises a
one-line :class:`common.cli.UsageError` naming its place (``<file> <key>`` or the flag).
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from common.cli import UsageError, parse_int_set
from common.io import compact_json
from deep.envs.problem import registered_names
from deep.presets import PRESETS
from deep.registry import METHODS
from deep.train import RunConfig

__all__ = [
    "DEFAULT_SETTING",
    "ENV_KEYS",
    "EVAL_SPLITS",
    "RUN_KEYS",
    "SPEC_KEYS",
    "SPLITS",
    "EnvEntry",
    "SweepSpec",
    "Where",
    "load_spec_file",
    "parse_spec",
]

_RUN_DEFAULTS = RunConfig()
"""The run fields a spec leaves out get these values."""
RUN_KEYS = (
    "steps",
    "preset",
    "num_envs",
    "eval_every",
    "eval_trials",
    "checkpoint_every",
    "snapshot_every",
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
DEFAULT_SETTING = "default"
"""The setting name of runs of a sweep without ``settings``."""
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+=-]*")
_NAME_RULE = "a name of letters, digits and _ . + = - (starting with a letter or digit)"


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
    checkpoint_every: int | None = _RUN_DEFAULTS.checkpoint_every
    snapshot_every: int | None = _RUN_DEFAULTS.snapshot_every
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
        if self.snapshot_every is None:  # left out when unset: older sweep.json files stay
            del out["snapshot_every"]
        out["eval_splits"] = list(self.eval_splits)
        return out


class Where:
    """Names the place of a bad value: a flag, or ``<file> <key>``."""

    def __init__(self, source: str, flags: Mapping[str, str]) -> None:
        self.source, self.flags = source, flags

    def __call__(self, key: str) -> str:
        """The place of ``key``: its flag, else ``<source> <key>``."""
        return self.flags.get(key, f"{self.source} {key}")

    def error(self, key: str, value: Any, allowed: str) -> UsageError:
        """The error ``<place of key> <value>: <allowed>``."""
        shown = value if isinstance(value, str) else compact_json(value)
        return UsageError.for_flag(self(key), shown, allowed)


def _name(where: Where, key: str, value: Any) -> str:
    if not (isinstance(value, str) and _NAME.fullmatch(value)):
        raise where.error(key, value, f"allowed: {_NAME_RULE}")
    return value


def _int(where: Where, key: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise where.error(key, value, f"allowed: an integer >= {minimum}")
    return value


def _names(where: Where, key: str, value: Any, allowed: Sequence[str]) -> tuple[str, ...]:
    rule = f"allowed: a non-empty list of distinct names from {', '.join(allowed)}"
    if not isinstance(value, list) or not value:
        raise where.error(key, value, rule)
    for item in value:
        if item not in allowed:
            raise where.error(key, item, rule)
    if len(set(value)) != len(value):
        raise where.error(key, value, rule)
    return tuple(value)


def _overrides(where: Where, key: str, value: Any) -> dict[str, str]:
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


def _env_entry(where: Where, item: Any) -> EnvEntry:
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


def _seeds(where: Where, value: Any) -> tuple[int, ...]:
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


def _run_fields(where: Where, data: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in (
        "steps", "num_envs", "eval_every", "eval_trials", "checkpoint_every", "snapshot_every",
        "threads",
    ):  # fmt: skip
        if key in ("checkpoint_every", "snapshot_every") and data.get(key, 0) is None:
            out[key] = None  # RunConfig's "at every evaluation" / "none kept"
        elif key in data:
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
    where = Where(source, flags or {})
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
    except UnicodeDecodeError:
        raise UsageError.for_flag("spec", path, "cannot be read (not UTF-8 text)") from None
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
