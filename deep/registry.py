"""Every registered method, and the one route from a run's words to a method's config.

A run names a method, a benchmark, a preset and field overrides; :func:`build_config` turns
them into the method's typed config in one fixed order, the same for ``deep.train`` and
``analysis.sweep``:

1. the method's defaults (its config class, or a named constructor such as
   ``DreamConfig.no_bottleneck``);
2. the benchmark's adjustments (data on the family: ``family.method_config_changes[role]``,
   e.g. c = 0 for DREAM on the MiniWorld sign task, App. B.4);
3. the preset (:mod:`deep.presets`);
4. the ``--method-arg KEY=VALUE`` overrides, parsed by each field's type.

The method modules are imported here, lazily, and nowhere else by name.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from deep.presets import apply_overrides, apply_preset

__all__ = ["METHODS", "MethodEntry", "build_config", "build_method", "for_benchmark"]

C = TypeVar("C")


@dataclass(frozen=True)
class MethodEntry:
    """Where a method lives, imported only when a run uses it.

    ``module.cls`` is the method; ``module.config`` its config (a class or a
    ``Class.constructor`` path); ``about`` one line for ``--help``; ``label`` the name
    tables print (the paper's, where it has one).
    """

    module: str
    cls: str
    config: str
    about: str
    label: str

    def method_class(self) -> type:
        """The method's class (imports its module)."""
        return getattr(importlib.import_module(self.module), self.cls)

    def default_config(self) -> Any:
        """The method's config before any benchmark, preset or override."""
        factory: Any = importlib.import_module(self.module)
        for part in self.config.split("."):
            factory = getattr(factory, part)
        return factory()


METHODS: dict[str, MethodEntry] = {
    "dream": MethodEntry("deep.dream", "Dream", "DreamConfig", "DREAM, App. B.4 defaults", "DREAM"),
    "dream_no_bottleneck": MethodEntry(
        "deep.dream",
        "Dream",
        "DreamConfig.no_bottleneck",
        "DREAM without bottleneck (Fig. 6): no penalty, noise kept",
        "DREAM (no bottleneck)",
    ),
    "dream_no_bottleneck_no_noise": MethodEntry(
        "deep.dream",
        "Dream",
        "DreamConfig.no_bottleneck_no_noise",
        "ablation: DREAM without the penalty and without the encoder noise",
        "DREAM (no bottleneck, no noise)",
    ),
    "dream_official": MethodEntry(
        "deep.dream",
        "Dream",
        "DreamConfig.official",
        "DREAM with the authors' code's values",
        "DREAM (authors' values)",
    ),
    "dream_e2e_exploration": MethodEntry(
        "deep.dream_ablations",
        "DreamE2EExploration",
        "E2EExplorationConfig",
        "ablation: DREAM's exploration learned from exploitation returns",
        "DREAM (exploration from exploitation returns)",
    ),
    "dream_dynamics": MethodEntry(
        "deep.dream_ablations",
        "DreamDynamics",
        "DynamicsConfig",
        "ablation: DREAM's exploration rewarded for predicting dynamics instead of z",
        "DREAM (dynamics exploration reward)",
    ),
    "erl2": MethodEntry("deep.erl2", "ERL2", "ERL2Config", "E-RL² (App. B.3)", "E-RL²"),
    "import": MethodEntry(
        "deep.import_policy", "Import", "ImportConfig", "IMPORT (App. B.3)", "IMPORT"
    ),
    "varibad": MethodEntry(
        "deep.varibad", "VariBad", "VariBadConfig", "VariBAD (App. B.3)", "VariBAD"
    ),
}
"""Method name → where it lives (imported only when a run uses it)."""


def for_benchmark(cfg: C, family: Any) -> C:
    """``cfg`` with the family's adjustments for its role that name one of its fields."""
    changes = getattr(family, "method_config_changes", {}).get(cfg.role, {})  # type: ignore[attr-defined]
    names = {f.name for f in dataclasses.fields(cfg)}
    return dataclasses.replace(cfg, **{k: v for k, v in changes.items() if k in names})  # type: ignore[type-var]


def build_config(method: str, family: Any, preset: str, overrides: Mapping[str, str]) -> Any:
    """The config of ``method`` on ``family``: defaults → benchmark → preset → overrides.

    Raises ``KeyError`` for an unknown method and ``ValueError`` (one line naming the value and
    what is allowed) for a bad preset or override.
    """
    cfg = for_benchmark(METHODS[method].default_config(), family)
    return apply_overrides(apply_preset(preset, cfg), overrides)


def build_method(
    method: str,
    family: Any,
    observation_space: Any,
    n_actions: int,
    *,
    seed: int,
    device: str = "cpu",
    preset: str = "paper",
    overrides: Mapping[str, str] | None = None,
) -> Any:
    """The method ready to train: its class, with :func:`build_config`'s config."""
    cfg = build_config(method, family, preset, overrides or {})
    cls = METHODS[method].method_class()
    return cls(family, observation_space, n_actions, cfg, seed, device)
