"""Tabular theory half of the DREAM package: the horizon-H bandit of App. C.2 and Prop. 2."""

from tabular._numba_cache import purge_if_stale

purge_if_stale()  # before any kernel is loaded from Numba's cache (see tabular/_numba_cache.py)

from tabular.bandit import BanditFamily  # noqa: E402
from tabular.measures import COLUMNS, LEARNERS, MEASURES, METHODS, measure  # noqa: E402

__all__ = ["COLUMNS", "LEARNERS", "MEASURES", "METHODS", "BanditFamily", "measure"]
