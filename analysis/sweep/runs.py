"""A sweep's runs: the expansion of a spec into runs, and the check that each one builds."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from analysis.sweep.spec import DEFAULT_SETTING, RUN_KEYS, SweepSpec, Where
from common.cli import UsageError
from deep.registry import METHODS, build_config
from deep.train import RunConfig

__all__ = ["Run", "check_runs", "expand", "one_line"]


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


def _settings(spec: SweepSpec) -> dict[str, dict[str, str]]:
    return spec.settings if spec.settings is not None else {DEFAULT_SETTING: {}}


def expand(spec: SweepSpec) -> list[Run]:
    """The runs of ``spec``, in the order env, method, setting, seed (always the same)."""
    shared = {key: getattr(spec, key) for key in RUN_KEYS}
    runs = []
    for entry in spec.envs:
        for method in spec.methods:
            for setting, overrides in _settings(spec).items():
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


def one_line(err: BaseException) -> str:
    """An exception as one line (a UsageError's own message, else ``Type: message``)."""
    text = str(err) if isinstance(err, UsageError) else f"{type(err).__name__}: {err}"
    return " ".join(text.split())


def check_runs(spec: SweepSpec, source: str = "spec") -> None:
    """Build every env family and method config of ``spec`` once: bad values fail here.

    Configs come from :func:`deep.registry.build_config` (the route ``deep.train`` takes), one
    layer of overrides at a time so that the error names the layer at fault. Raises
    :class:`UsageError` naming the env, method, setting or override.
    """
    where = Where(source, {})
    try:
        defaults = RunConfig()
        dataclasses.replace(defaults, **{k: getattr(spec, k) for k in RUN_KEYS}).validate()
    except UsageError as err:
        raise UsageError(f"{source}: {err}") from None
    families = {}
    for entry in spec.envs:
        config = RunConfig(env=entry.env, variant=entry.variant, env_kwargs=entry.env_kwargs)
        try:
            families[entry.label] = config.family()
        except UsageError as err:
            detail = str(err).removeprefix(f"--env {entry.env}: ")
            raise where.error("envs", entry.label, detail) from None
    for method in spec.methods:
        for entry in spec.envs:
            _check_method(spec, method, families[entry.label], where)


def _check_method(spec: SweepSpec, method: str, family: Any, where: Where) -> None:
    """Build ``method``'s config on ``family``: bare, with each layer of overrides added."""

    def build(overrides: Mapping[str, str]) -> None:
        build_config(method, family, spec.preset, overrides)

    entry = METHODS[method]
    try:
        build({})
    except ImportError as err:
        allowed = f"its module {entry.module} cannot be imported ({err})"
        raise where.error("methods", method, allowed) from None
    except Exception as err:  # a module being written: missing class, bad default
        allowed = f"its config {entry.module}.{entry.config} cannot be built ({one_line(err)})"
        raise where.error("methods", method, allowed) from None
    shared = dict(spec.method_args)
    try:
        build(shared)
    except ValueError as err:
        raise where.error("method_args", spec.method_args, f"{method}: {err}") from None
    own = spec.method_overrides.get(method, {})
    shared |= own
    try:
        build(shared)
    except ValueError as err:
        raise where.error("method_overrides", {method: own}, str(err)) from None
    for name, overrides in _settings(spec).items():
        try:
            build({**shared, **overrides})
        except ValueError as err:
            raise where.error("settings", name, f"{method}: {err}") from None
