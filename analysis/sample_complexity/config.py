"""The sweep as typed data: one :class:`Setting` per cell ``method x learner x H x epsilon x A``.

:class:`SweepConfig` holds everything that sets the numbers (it is embedded in every result
file); :class:`RunOptions` holds what does not (output folder, memory budget, progress bar).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from analysis.sample_complexity import fingerprint
from common import io as aio
from tabular.measures import METHODS

EXPERIMENT = "analysis.sample_complexity"
"""Name recorded in every result file."""


@dataclass(frozen=True)
class SweepConfig:
    """The sweep: which cells and seeds are simulated (everything that sets the numbers)."""

    methods: tuple[str, ...] = METHODS
    """Meta-RL methods compared (Fig. 3a: RL² and DREAM); ``--methods``."""

    learners: tuple[str, ...] = ("per-trajectory",)
    """Tabular learner forms: ``per-trajectory`` (App. C.2's analysis) and/or ``per-step``
    (Q-learning on the real MDP); ``--learner``."""

    H: tuple[int, ...] = (1,)
    """Horizons ``H`` (Sec. 5.2 is ``H = 1``; ``K = M = A**H``); ``--H``."""

    A: tuple[int, ...] = tuple(range(2, 17))
    """Numbers of actions ``|A|``, the x axis of Fig. 3a; ``--A``."""

    epsilon: tuple[float, ...] = (1.0,)
    """Exploration rates of both epsilon-greedy policies (Prop. 2: ``epsilon = 1``);
    ``--epsilon``."""

    first_seed: int = 0
    """First seed; a cell runs seeds ``first_seed .. first_seed + n_seeds - 1``;
    ``--first-seed``."""

    n_seeds: int = 1000
    """Seeds per cell (Fig. 3a: 1000); ``--seeds``."""

    max_trials: int | None = None
    """Cap on trials per seed (``None``: :func:`tabular.measures.default_max_trials`);
    ``--max-trials``."""

    def header(self) -> dict[str, Any]:
        """The config line embedded in every result CSV (deterministic: no times, no paths)."""
        return {
            "experiment": EXPERIMENT,
            "package_version": aio.package_version(),
            "kernels_sha256": fingerprint.kernel_fingerprint(),
            "sweep": jsonable(asdict(self)),
        }


@dataclass(frozen=True)
class RunOptions:
    """Where results go and how the run behaves (none of it changes the numbers)."""

    out: Path
    """Output directory (``--out``; default ``runs/sample_complexity``, or the folder of
    ``--from-csv``)."""

    from_csv: Path | None = None
    """Rebuild tables and figure from this ``per_seed.csv`` instead of simulating."""

    max_memory_gb: float | None = None
    """Memory budget (GiB) for the kernels' tables of one cell (``None``: half of free RAM)."""

    quiet: bool = False
    """Hide the progress bar."""

    @property
    def max_memory_bytes(self) -> int | None:
        """``max_memory_gb`` in bytes."""
        return None if self.max_memory_gb is None else int(self.max_memory_gb * 2**30)


@dataclass(frozen=True)
class Setting:
    """One cell of the sweep: a method, learner, ``H``, ``A``, ``epsilon`` and seed range."""

    method: str
    """``"rl2"`` or ``"dream"``."""
    learner: str
    """``"per-trajectory"`` or ``"per-step"``."""
    H: int
    """Horizon."""
    A: int
    """Number of actions."""
    epsilon: float
    """Exploration rate."""
    first_seed: int
    """First seed of the range."""
    n_seeds: int
    """Number of consecutive seeds."""
    max_trials: int | None = None
    """Cap on trials per seed (``None``: the kernel's default)."""

    @property
    def seeds(self) -> range:
        """The seeds of this cell."""
        return range(self.first_seed, self.first_seed + self.n_seeds)

    @property
    def name(self) -> str:
        """File stem of the cell's resume file."""
        last = self.first_seed + self.n_seeds - 1
        return (
            f"{self.method}_{self.learner}_H{self.H}_A{self.A}_eps{float(self.epsilon)!r}"
            f"_s{self.first_seed}-{last}"
        )


def settings(config: SweepConfig) -> tuple[Setting, ...]:
    """The cells of ``config``, ordered method, learner, H, epsilon, A."""
    return tuple(
        Setting(m, lrn, H, A, float(eps), config.first_seed, config.n_seeds, config.max_trials)
        for m in config.methods
        for lrn in config.learners
        for H in config.H
        for eps in config.epsilon
        for A in config.A
    )


SETTINGS = settings(SweepConfig())
"""The default sweep of Fig. 3a: both methods, per-trajectory, ``H = 1``, ``A = 2..16``,
``epsilon = 1``, 1000 seeds each."""


def jsonable(value: Any) -> Any:
    """Tuples -> lists, paths -> strings, recursively (for JSON)."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value
