"""Tabular theory half of the DREAM package: the horizon-H bandit of App. C.2 and Prop. 2.

Importing the package has no side effects: the names below are loaded on first access
(PEP 562), and Numba's cache is checked by the kernel modules themselves
(:func:`tabular._numba_cache.ensure_fresh`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tabular.bandit import BanditFamily
    from tabular.measures import COLUMNS, LEARNERS, MEASURES, METHODS, measure

_EXPORTS = {
    "BanditFamily": "tabular.bandit",
    "COLUMNS": "tabular.measures",
    "LEARNERS": "tabular.measures",
    "MEASURES": "tabular.measures",
    "METHODS": "tabular.measures",
    "measure": "tabular.measures",
}

__all__ = ["COLUMNS", "LEARNERS", "MEASURES", "METHODS", "BanditFamily", "measure"]


def __getattr__(name: str) -> Any:
    """Import the module that defines ``name`` on first access and cache the value here."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The module's names, the lazy exports included."""
    return sorted({*globals(), *_EXPORTS})
