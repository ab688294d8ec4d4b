"""Presets and command-line overrides of a method's config dataclass.

Every method's hyperparameters live in its own frozen dataclass (``DreamConfig``, ...). A run
names a *preset* that adjusts the fields the dataclass has, and may override single fields
(``--method-arg bottleneck_weight=3``), which is how the sensitivity grids of App. B.2 are
expressed:

* ``paper`` — the dataclass defaults (App. B.4);
* ``tiny`` — small replay minima, fast ε decay, larger learning rate: tests and smoke runs,
  not results;
* ``epsilon1`` — ``tiny`` with every ε schedule fixed at 1 (uniformly random acting, the
  tabular experiments' setting of Fig. 3; learning is off-policy and only greedy policies are
  evaluated).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from deep.dqn import LinearSchedule

__all__ = ["PRESETS", "apply_overrides", "apply_preset", "parse_override"]

PRESETS = ("paper", "tiny", "epsilon1")

C = TypeVar("C")

_TINY: dict[str, Any] = {
    "batch_size": 8,
    "min_explore_replay": 16,
    "min_exploit_replay": 16,
    "min_replay": 16,
    "replay_capacity": 2_000,
    "target_sync_every": 400,
    "lr": 1e-3,
}
_TINY_EPSILON = LinearSchedule(1.0, 0.05, 4_000)
_ALWAYS_RANDOM = LinearSchedule(1.0, 1.0, 0)


def _schedule_fields(cfg: Any) -> list[str]:
    return [f.name for f in dataclasses.fields(cfg) if _schedule_fields_has(cfg, f.name)]


def apply_preset(preset: str, cfg: C) -> C:
    """``cfg`` with the preset's values for the fields it has (see the module docstring)."""
    if preset not in PRESETS:
        raise ValueError(f"preset {preset!r} is unknown; allowed: {', '.join(PRESETS)}")
    if preset == "paper":
        return cfg
    names = {f.name for f in dataclasses.fields(cfg)}  # type: ignore[arg-type]
    changes = {k: v for k, v in _TINY.items() if k in names}
    schedule = _TINY_EPSILON if preset == "tiny" else _ALWAYS_RANDOM
    changes.update({name: schedule for name in _schedule_fields(cfg)})
    return dataclasses.replace(cfg, **changes)  # type: ignore[type-var]


def _field_type(cfg: Any, name: str) -> Any:
    hints = typing.get_type_hints(type(cfg))
    return hints[name]


def parse_override(cfg: Any, key: str, text: str) -> Any:
    """The value of field ``key`` of ``cfg`` parsed from ``text`` by the field's type."""
    scalar = {f.name for f in dataclasses.fields(cfg) if not _schedule_fields_has(cfg, f.name)}
    if key not in scalar:
        raise ValueError(
            f"method config has no field {key!r}; allowed: {', '.join(sorted(scalar))}"
        )
    kind = _field_type(cfg, key)
    options = _literal_options(kind)
    if options is not None:
        if text not in options:
            raise ValueError(f"{key}={text!r} is invalid; allowed: {', '.join(options)}")
        return text
    base = _strip_optional(kind)
    try:
        if base is bool:
            if text.lower() not in ("true", "false", "1", "0"):
                raise ValueError
            return text.lower() in ("true", "1")
        if base is int:
            return int(text.replace("_", ""))
        if base is float:
            return float(text)
    except ValueError:
        kinds = {bool: "true or false", int: "an integer", float: "a number"}
        raise ValueError(f"{key}={text!r} is invalid; allowed: {kinds[base]}") from None
    return text


def _schedule_fields_has(cfg: Any, name: str) -> bool:
    return isinstance(getattr(cfg, name), LinearSchedule)


def _literal_options(kind: Any) -> tuple[str, ...] | None:
    if typing.get_origin(kind) is typing.Literal:
        return tuple(str(a) for a in typing.get_args(kind))
    return None


def _strip_optional(kind: Any) -> Any:
    if isinstance(kind, types.UnionType) or typing.get_origin(kind) is typing.Union:
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        return args[0] if len(args) == 1 else kind
    return kind


def apply_overrides(cfg: C, overrides: Mapping[str, str]) -> C:
    """``cfg`` with fields set from ``KEY → text`` (parsed by type; bad keys/values raise)."""
    if not overrides:
        return cfg
    changes = {k: parse_override(cfg, k, v) for k, v in overrides.items()}
    return dataclasses.replace(cfg, **changes)  # type: ignore[type-var]
