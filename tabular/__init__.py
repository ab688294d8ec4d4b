"""Tabular theory half of the DREAM package: the horizon-H bandit of App. C.2 and Prop. 2."""

from tabular.bandit import BanditFamily
from tabular.measures import COLUMNS, LEARNERS, MEASURES, METHODS, measure

__all__ = ["COLUMNS", "LEARNERS", "MEASURES", "METHODS", "BanditFamily", "measure"]
