"""Benchmark of the tabular Prop. 2 kernels (Fig. 3a sweep, per-seed kernels, reference).

Run ``python benchmarks/bench_tabular.py`` (about a minute) or ``--quick`` (about 10 s
with a valid Numba cache). It is a script, not a test: it asserts nothing about speed, it
measures and reports (exit status 1 only if a kernel's results disagree with another path).

Sections (every timing uses :func:`time.perf_counter` and keeps the best of N repeats,
because the machine is shared and noisy; trials are ``trials_run`` summed over seeds):

* ``startup``: importing :mod:`tabular.measures` and the first :func:`measure` call of
  each method (loading the Numba cache, or compiling if it is stale), reported apart from
  the sweep; with ``--cold`` (default in the full run) also a fresh process whose Numba
  cache directory is empty, i.e. a full compile.
* ``sweep``: the whole Fig. 3a sweep (``H = 1``, ``A = 2..16``, 1000 seeds, both methods,
  per-trajectory, all measures) through :func:`tabular.measures.measure`, warm; and the
  same sweep through ``python -m analysis.sample_complexity`` in a subprocess (wall time
  including interpreter start, summary, figure and files). The issue's target is
  ``<= 10 s`` wall on 2 cores.
* ``kernel``: trials per second of each per-trajectory kernel on a few cells, five ways in
  one process: the jitted kernel called once per seed from Python, the parallel ``prange``
  batch (``tabular.measures._run_batch``, keys precomputed), :func:`measure` (keys,
  validation and DataFrame included), the kernel's ``.py_func`` (plain Python calling the
  jitted helpers) and the literal reference :class:`tabular.reference.ReferenceLearner`.
  Ratios against the reference (and the ``.py_func``) are printed because absolute rates
  drift with the load; the reference and ``.py_func`` run on a prefix of the seeds and
  their measures are checked against the kernel's (column ``check``).
* ``per-step``: :func:`measure` with ``learner="per-step"`` for DREAM and RL² at ``A = 8``,
  ``H = 1`` with a fixed ``max_trials`` (RL²'s per-step learner has no certificate and
  always runs to the cap), next to the per-trajectory :func:`measure` on the same seeds.

Numba cache. Numba re-validates a cached function against its own source file only, so
after an edit of ``per_step.py`` (or ``rl2.py``, ``dream.py``, ``acting.py``, ``rng.py``)
``measure()`` keeps running the old kernels from ``measures._run_batch``'s cache.
:func:`stale_kernel_sources` detects this from file times; with ``--cache auto`` (default)
the run then uses a private, empty cache directory (``NUMBA_CACHE_DIR``, inherited by the
CLI subprocesses), so the numbers are for the current code and the compile shows up in
the warm-up row. ``--cache fresh`` forces that, ``--cache default`` never does it.

Results go to ``benchmarks/results/bench_tabular.csv`` (written atomically: a temporary
file in the same folder, then :func:`os.replace`), one row per timing, with the machine
facts (platform, CPUs, Numba threads and version, package version, load average) on every
row.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "bench_tabular.csv"
SWEEP_A = tuple(range(2, 17))
KERNEL_CELLS = ((4, 1), (8, 1), (3, 2))
METHODS = ("rl2", "dream")
_COMMON = ("acting", "bandit", "rng")
CACHED_KERNELS = {
    "measures._run_batch": (*_COMMON, "dream", "measures", "per_step", "rl2"),
    "dream.dream_trajectory_seed": (*_COMMON, "dream"),
    "rl2.rl2_trajectory_seed": (*_COMMON, "rl2"),
    "per_step.dream_per_step_seed": (*_COMMON, "per_step"),
    "per_step.rl2_per_step_seed": (*_COMMON, "per_step"),
}
"""Cached entry points (``__pycache__/<module>.<function>-<line>.py311.nbi``) and the
``tabular`` modules whose code Numba compiles into each of them."""


# ----------------------------------------------------------------------------- helpers


@dataclass(frozen=True)
class Plan:
    """Sizes of one benchmark run (full or ``--quick``)."""

    sweep_repeats: int
    sweep_seeds: int
    cli_repeats: int
    cli_seeds: int
    kernel_seeds: int
    kernel_repeats: int
    reference_trials: int
    reference_repeats: int
    per_step_seeds: int
    per_step_max_trials: int
    cold: bool
    min_time: float


FULL = Plan(
    sweep_repeats=3,
    sweep_seeds=1000,
    cli_repeats=2,
    cli_seeds=1000,
    kernel_seeds=2000,
    kernel_repeats=5,
    reference_trials=4000,
    reference_repeats=2,
    per_step_seeds=200,
    per_step_max_trials=20_000,
    cold=True,
    min_time=0.1,
)
QUICK = Plan(
    sweep_repeats=1,
    sweep_seeds=1000,
    cli_repeats=1,
    cli_seeds=100,
    kernel_seeds=300,
    kernel_repeats=3,
    reference_trials=300,
    reference_repeats=1,
    per_step_seeds=50,
    per_step_max_trials=5_000,
    cold=False,
    min_time=0.02,
)


@dataclass
class Row:
    """One timing: what ran, how many trials, the best wall time and derived rates."""

    section: str
    case: str
    method: str = ""
    learner: str = ""
    A: str = ""
    H: str = ""
    epsilon: str = ""
    seeds: int | None = None
    trials: int | None = None
    repeats: int = 1
    best_s: float = float("nan")
    ratio: float | None = None
    ratio_to: str = ""
    check: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def trials_per_s(self) -> float | None:
        """Trials per second of the best repeat (``None`` if not a trial count)."""
        if self.trials is None or not self.best_s > 0:
            return None
        return self.trials / self.best_s


def best_of(repeats: int, func: Callable[[], Any]) -> tuple[float, Any]:
    """Run ``func`` ``repeats`` times; return the smallest wall time and the last result."""
    best = float("inf")
    result = None
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        result = func()
        best = min(best, time.perf_counter() - start)
    return best, result


def timed(
    func: Callable[[], Any],
    repeats: int,
    min_time: float,
    warmup: Callable[[], Any] | None = None,
) -> tuple[float, Any]:
    """Best-of-``repeats`` seconds per call of ``func``, after one untimed warm-up.

    ``warmup`` (default: ``func`` itself) runs first and is not timed, so first-call costs
    (dispatcher specialisation, caches) are excluded. A call shorter than ``min_time`` is
    repeated inside each timing, ``ceil(min_time / first time)`` times, and the mean over
    those inner calls counts as that repeat's time.
    """
    (warmup or func)()
    start = time.perf_counter()
    result = func()
    single = time.perf_counter() - start
    inner = 1 if single >= min_time else math.ceil(min_time / max(single, 1e-9))
    times = [single] if inner == 1 else []
    while len(times) < max(1, repeats):
        start = time.perf_counter()
        for _ in range(inner):
            result = func()
        times.append((time.perf_counter() - start) / inner)
    return min(times), result


def load() -> str:
    """The 1/5/15-minute load averages, as ``uptime`` prints them."""
    try:
        return "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    except OSError:
        return "n/a"


def stale_kernel_sources(package: Path | None = None) -> list[str]:
    """Kernel sources newer than the Numba cache of a kernel that compiles them in.

    Numba invalidates a cached function only when *its own* file changes, not when a
    function it calls (and compiles into itself) changes: after editing ``per_step.py``,
    ``measure()`` keeps running the old per-step code from ``measures._run_batch``'s cache
    until ``measures.py`` changes or the cache is deleted. Returns the sources newer than
    the newest cache index of a kernel that depends on them (``[]`` if none, or no cache).
    """
    package = package or ROOT / "tabular"
    newest: dict[str, float] = {}
    for index in (package / "__pycache__").glob("*.nbi"):
        function = index.name.split("-")[0]
        if function in CACHED_KERNELS:
            newest[function] = max(newest.get(function, 0.0), index.stat().st_mtime)
    stale = set()
    for function, stamp in newest.items():
        for name in CACHED_KERNELS[function]:
            source = package / f"{name}.py"
            if source.is_file() and source.stat().st_mtime > stamp:
                stale.add(f"{name}.py")
    return sorted(stale)


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically: temporary file in the same folder + ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def machine_info() -> dict[str, Any]:
    """Facts that change the timings: platform, CPUs, Numba threads and versions."""
    import numba

    try:
        version = metadata.version("dream-metarl")
    except metadata.PackageNotFoundError:
        version = "not installed"
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = os.cpu_count()
    try:
        layer = numba.threading_layer()
    except ValueError:  # no parallel region has run yet
        layer = "n/a"
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": affinity,
        "numba_threads": numba.get_num_threads(),
        "numba_threading_layer": layer,
        "numba_version": numba.__version__,
        "numpy_version": np.__version__,
        "package_version": version,
    }


def _errstate() -> Any:
    """Silence NumPy's uint64 overflow warnings (SplitMix64 wraps on purpose) in ``.py_func``."""
    return np.errstate(over="ignore")


# ---------------------------------------------------------------------------- sections


def bench_startup(rows: list[Row], plan: Plan) -> None:
    """Import and first-call (cache load / JIT) times, and optionally a cold compile."""
    start = time.perf_counter()
    from tabular import measures

    rows.append(Row("startup", "import tabular.measures", best_s=time.perf_counter() - start))
    for method in METHODS:
        start = time.perf_counter()
        measures.measure(method, 2, 1, 1.0, [0])
        rows.append(
            Row(
                "startup",
                "first measure() call (cache load / JIT)",
                method=method,
                learner="per-trajectory",
                best_s=time.perf_counter() - start,
            )
        )
    if plan.cold:
        code = (
            "import time; t0 = time.perf_counter()\n"
            "from tabular.measures import measure\n"
            "measure('rl2', 2, 1, 1.0, [0]); measure('dream', 2, 1, 1.0, [0])\n"
            "print(time.perf_counter() - t0)\n"
        )
        with tempfile.TemporaryDirectory(prefix="bench_numba_cache_") as cache:
            env = {**os.environ, "NUMBA_CACHE_DIR": cache}
            start = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-c", code],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            wall = time.perf_counter() - start
        ok = done.returncode == 0
        rows.append(
            Row(
                "startup",
                "cold compile, fresh process (empty NUMBA_CACHE_DIR)",
                method="both",
                best_s=wall,
                check="ok" if ok else f"rc={done.returncode}",
                extra={"in_process_s": done.stdout.strip() if ok else ""},
            )
        )


def bench_sweep(rows: list[Row], plan: Plan) -> None:
    """The Fig. 3a sweep through ``measure()`` (warm) and through the CLI in a subprocess."""
    from tabular.measures import measure

    seeds = range(plan.sweep_seeds)

    def sweep() -> dict[str, tuple[float, int]]:
        out = {}
        for method in METHODS:
            start = time.perf_counter()
            trials = 0
            for A in SWEEP_A:
                trials += int(measure(method, A, 1, 1.0, seeds)["trials_run"].sum())
            out[method] = (time.perf_counter() - start, trials)
        return out

    best = float("inf")
    best_parts: dict[str, tuple[float, int]] = {}
    for _ in range(plan.sweep_repeats):
        start = time.perf_counter()
        parts = sweep()
        total = time.perf_counter() - start
        if total < best:
            best, best_parts = total, parts
    a_range = f"{SWEEP_A[0]}..{SWEEP_A[-1]}"
    for method, (seconds, trials) in best_parts.items():
        rows.append(
            Row(
                "sweep",
                "measure(), one method (from the best repeat)",
                method=method,
                learner="per-trajectory",
                A=a_range,
                H="1",
                epsilon="1",
                seeds=plan.sweep_seeds,
                trials=trials,
                repeats=plan.sweep_repeats,
                best_s=seconds,
            )
        )
    rows.append(
        Row(
            "sweep",
            "measure(), full sweep in-process (warm)",
            method="both",
            learner="per-trajectory",
            A=a_range,
            H="1",
            epsilon="1",
            seeds=plan.sweep_seeds,
            trials=sum(t for _, t in best_parts.values()),
            repeats=plan.sweep_repeats,
            best_s=best,
            ratio=best / 10.0,
            ratio_to="10 s target",
        )
    )

    def cli() -> int:
        with tempfile.TemporaryDirectory(prefix="bench_cli_") as out:
            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "analysis.sample_complexity",
                    "--A",
                    a_range,
                    "--H",
                    "1",
                    "--seeds",
                    str(plan.cli_seeds),
                    "--out",
                    out,
                    "--quiet",
                ],
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=False,
            )
        return done.returncode

    seconds, rc = best_of(plan.cli_repeats, cli)
    rows.append(
        Row(
            "sweep",
            "CLI subprocess, wall (interpreter, files, figure)",
            method="both",
            learner="per-trajectory",
            A=a_range,
            H="1",
            epsilon="1",
            seeds=plan.cli_seeds,
            repeats=plan.cli_repeats,
            best_s=seconds,
            ratio=seconds / 10.0,
            ratio_to="10 s target",
            check="ok" if rc == 0 else f"rc={rc}",
        )
    )


def _prefix_for(trials_per_seed: np.ndarray, target: int) -> int:
    """Smallest number of leading seeds whose trials add up to at least ``target``."""
    cum = np.cumsum(trials_per_seed)
    return int(min(len(cum), np.searchsorted(cum, target) + 1))


def bench_kernel_cell(rows: list[Row], plan: Plan, method: str, A: int, H: int) -> None:
    """Four ways to run one cell's kernel, next to the literal reference, same process."""
    from tabular import measures
    from tabular.bandit import BanditFamily
    from tabular.dream import dream_trajectory_seed
    from tabular.reference import ReferenceLearner
    from tabular.rl2 import rl2_trajectory_seed
    from tabular.rng import derive_key

    kernel = rl2_trajectory_seed if method == "rl2" else dream_trajectory_seed
    epsilon = 1.0
    seeds = list(range(plan.kernel_seeds))
    keys = np.array([derive_key(s, A, H) for s in seeds], dtype=np.uint64)
    cap = measures.default_max_trials(method, A, H, epsilon)
    common = {
        "method": method,
        "learner": "per-trajectory",
        "A": str(A),
        "H": str(H),
        "epsilon": "1",
    }

    def loop(subset: np.ndarray) -> np.ndarray:
        return np.array([kernel(A, H, epsilon, k, cap) for k in subset], dtype=np.int64)

    min_time = plan.min_time
    loop_s, results = timed(lambda: loop(keys), plan.kernel_repeats, min_time)
    trials_per_seed = results[:, 3]
    trials = int(trials_per_seed.sum())
    method_id = measures.METHODS.index(method)
    learner_id = measures.LEARNERS.index("per-trajectory")

    def batch() -> np.ndarray:
        out = np.zeros((len(keys), 5), dtype=np.int64)
        measures._run_batch(method_id, learner_id, A, H, epsilon, keys, cap, out)
        return out

    batch_s, batch_out = timed(batch, plan.kernel_repeats, min_time)
    measure_s, frame = timed(
        lambda: measures.measure(method, A, H, epsilon, seeds), plan.kernel_repeats, min_time
    )
    same = np.array_equal(batch_out, results) and int(frame["trials_run"].sum()) == trials

    # reference and .py_func: a prefix of the same seeds with about `reference_trials` trials
    n_small = _prefix_for(trials_per_seed, plan.reference_trials)
    small = keys[:n_small]
    small_trials = int(trials_per_seed[:n_small].sum())
    family = BanditFamily(A, H)

    def py_func() -> list[tuple[int, ...]]:
        with _errstate():
            return [tuple(kernel.py_func(A, H, epsilon, k, cap)) for k in small]

    def reference() -> list[dict[str, int]]:
        return [
            ReferenceLearner(method, family, epsilon, int(k)).run(int(n))
            for k, n in zip(small, trials_per_seed[:n_small], strict=True)
        ]

    def warm_py() -> None:
        with _errstate():
            kernel.py_func(A, H, epsilon, small[0], 20)

    def warm_reference() -> None:
        ReferenceLearner(method, family, epsilon, int(small[0])).run(20)

    py_s, py_out = timed(py_func, plan.reference_repeats, min_time, warm_py)
    ref_s, ref_out = timed(reference, plan.reference_repeats, min_time, warm_reference)
    py_same = [tuple(r) for r in results[:n_small]] == py_out
    ref_same = all(
        (r["T_greedy"], r["T_event"], r["T_certificate"]) == (k[0], k[1], k[2])
        for r, k in zip(ref_out, results[:n_small], strict=True)
    )
    ref_rate = small_trials / ref_s
    py_rate = small_trials / py_s

    def add(case: str, n_seeds: int, n_trials: int, seconds: float, reps: int, check: str) -> None:
        row = Row(
            "kernel",
            case,
            seeds=n_seeds,
            trials=n_trials,
            repeats=reps,
            best_s=seconds,
            check=check,
            **common,
        )
        rate = row.trials_per_s or float("nan")
        row.ratio = rate / ref_rate
        row.ratio_to = "reference"
        row.extra["ratio_vs_py_func"] = rate / py_rate
        rows.append(row)

    seeds_n = len(seeds)
    add("jit kernel, Python loop over seeds", seeds_n, trials, loop_s, plan.kernel_repeats, "")
    add(
        "jit kernel, prange batch (_run_batch)",
        seeds_n,
        trials,
        batch_s,
        plan.kernel_repeats,
        "= loop" if same else "DIFFERS",
    )
    add("measure() (keys + DataFrame)", seeds_n, trials, measure_s, plan.kernel_repeats, "")
    add(
        "kernel .py_func (Python)",
        n_small,
        small_trials,
        py_s,
        plan.reference_repeats,
        "= jit" if py_same else "DIFFERS",
    )
    add(
        "ReferenceLearner.run (literal)",
        n_small,
        small_trials,
        ref_s,
        plan.reference_repeats,
        "= jit" if ref_same else "DIFFERS",
    )


def bench_per_step(rows: list[Row], plan: Plan) -> None:
    """Per-step learners through ``measure()`` at ``A = 8, H = 1`` with a fixed cap."""
    try:
        import tabular.per_step  # noqa: F401
        from tabular.measures import LEARNERS, measure
    except Exception as err:  # the per-step module may be mid-edit by someone else
        rows.append(Row("per-step", f"skipped: {type(err).__name__}: {err}"))
        return
    if "per-step" not in LEARNERS:
        rows.append(Row("per-step", "skipped: no per-step learner"))
        return
    A, H, epsilon = 8, 1, 1.0
    seeds = range(plan.per_step_seeds)
    cap = plan.per_step_max_trials
    for method in METHODS:
        base_s, base = timed(
            lambda m=method: measure(m, A, H, epsilon, seeds),
            plan.kernel_repeats,
            plan.min_time,
        )
        base_rate = int(base["trials_run"].sum()) / base_s
        seconds, frame = timed(
            lambda m=method: measure(m, A, H, epsilon, seeds, learner="per-step", max_trials=cap),
            plan.kernel_repeats,
            plan.min_time,
        )
        row = Row(
            "per-step",
            f"measure(learner='per-step', max_trials={cap})",
            method=method,
            learner="per-step",
            A=str(A),
            H=str(H),
            epsilon="1",
            seeds=plan.per_step_seeds,
            trials=int(frame["trials_run"].sum()),
            repeats=plan.kernel_repeats,
            best_s=seconds,
            check=f"capped {int(frame['capped'].sum())}/{len(frame)}",
        )
        if row.trials_per_s:
            row.ratio = row.trials_per_s / base_rate
            row.ratio_to = "per-trajectory, same seeds"
        rows.append(row)


# ------------------------------------------------------------------------------ output


def _fmt(value: float | None, digits: int = 3) -> str:
    if value is None or value != value:  # None or NaN
        return ""
    if abs(value) >= 1e5 or (0 < abs(value) < 1e-2):
        return f"{value:.{digits - 1}e}"
    return f"{value:.{digits}g}" if abs(value) < 10 else f"{value:,.0f}"


def format_table(rows: Sequence[Row]) -> str:
    """A plain fixed-width table of the rows."""
    header = (
        "section",
        "case",
        "method",
        "A",
        "H",
        "seeds",
        "trials",
        "best s",
        "trials/s",
        "ratio",
        "vs",
        "check",
    )
    body = [
        (
            r.section,
            r.case,
            r.method,
            r.A,
            r.H,
            "" if r.seeds is None else str(r.seeds),
            "" if r.trials is None else f"{r.trials:,}",
            f"{r.best_s:.4f}" if r.best_s == r.best_s else "",
            _fmt(r.trials_per_s),
            _fmt(r.ratio),
            r.ratio_to,
            r.check,
        )
        for r in rows
    ]
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(header)]
    right = {5, 6, 7, 8, 9}

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(b) for b in body)])


def to_csv(rows: Sequence[Row], info: dict[str, Any]) -> str:
    """Tidy CSV text: one row per timing, machine facts on every row."""
    import csv
    import io

    columns = [
        "section",
        "case",
        "method",
        "learner",
        "A",
        "H",
        "epsilon",
        "seeds",
        "trials",
        "repeats",
        "best_s",
        "trials_per_s",
        "ratio",
        "ratio_to",
        "ratio_vs_py_func",
        "check",
        "extra",
        *info,
    ]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        extra = dict(r.extra)
        vs_py = extra.pop("ratio_vs_py_func", None)
        writer.writerow(
            {
                "section": r.section,
                "case": r.case,
                "method": r.method,
                "learner": r.learner,
                "A": r.A,
                "H": r.H,
                "epsilon": r.epsilon,
                "seeds": "" if r.seeds is None else r.seeds,
                "trials": "" if r.trials is None else r.trials,
                "repeats": r.repeats,
                "best_s": f"{r.best_s:.6f}" if r.best_s == r.best_s else "",
                "trials_per_s": "" if r.trials_per_s is None else f"{r.trials_per_s:.1f}",
                "ratio": "" if r.ratio is None else f"{r.ratio:.6g}",
                "ratio_to": r.ratio_to,
                "ratio_vs_py_func": "" if vs_py is None else f"{vs_py:.6g}",
                "check": r.check,
                "extra": ";".join(f"{k}={v}" for k, v in extra.items()),
                **info,
            }
        )
    return buf.getvalue()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark, print the table and write the CSV; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a ~10 s run with smaller sizes")
    parser.add_argument(
        "--cold",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also time a cold compile in a fresh process (default: on unless --quick)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="CSV path")
    parser.add_argument(
        "--cache",
        choices=("auto", "fresh", "default"),
        default="auto",
        help="Numba cache: the package's own ('default'), a private empty one for this run "
        "('fresh': the warm-up compiles), or 'fresh' only if the package's is stale (auto)",
    )
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    if args.cold is not None:
        plan = Plan(**{**plan.__dict__, "cold": args.cold})

    stale = stale_kernel_sources()
    cache_note = "package cache"
    fresh_dir = None
    if args.cache == "fresh" or (args.cache == "auto" and stale):
        if "numba" in sys.modules:
            raise RuntimeError("--cache fresh must be set up before numba is imported")
        # inherited by the CLI subprocesses, which then reuse what the warm-up compiled
        fresh_dir = tempfile.TemporaryDirectory(prefix="bench_numba_cache_")
        os.environ["NUMBA_CACHE_DIR"] = fresh_dir.name
        cache_note = "private fresh cache (warm-up includes the compile)"
    if stale:
        print(
            f"warning: the Numba cache in tabular/__pycache__ is older than {', '.join(stale)}; "
            "measure() would run stale kernels from it (Numba does not track callees). "
            f"Using: {cache_note}."
        )

    load_start = load()
    started = dt.datetime.now(dt.UTC)
    t0 = time.perf_counter()
    print(f"bench_tabular ({'quick' if args.quick else 'full'}); load average {load_start}")
    rows: list[Row] = []
    bench_startup(rows, plan)
    bench_sweep(rows, plan)
    for A, H in KERNEL_CELLS:
        for method in METHODS:
            bench_kernel_cell(rows, plan, method, A, H)
    bench_per_step(rows, plan)
    total = time.perf_counter() - t0
    load_end = load()

    info = {
        **machine_info(),
        "mode": "quick" if args.quick else "full",
        "started_utc": started.isoformat(timespec="seconds"),
        "load_start": load_start,
        "load_end": load_end,
        "total_s": f"{total:.1f}",
        "numba_cache": cache_note,
        "stale_sources": " ".join(stale),
    }
    print()
    print(format_table(rows))
    print()
    print(
        "ratio: trials/s over the ReferenceLearner's on the same cell (kernel rows), "
        "seconds over the 10 s target (sweep rows), trials/s over the per-trajectory "
        "learner's on the same seeds (per-step rows)"
    )
    print(
        f"machine: {info['platform']}, {info['cpu_count']} CPUs ({info['cpus_usable']} usable), "
        f"numba {info['numba_version']} with {info['numba_threads']} threads "
        f"({info['numba_threading_layer']}), dream-metarl {info['package_version']}"
    )
    print(f"load average: {load_start} at start, {load_end} at end; total {total:.1f} s")
    print(f"numba cache: {cache_note}" + (f" (stale: {' '.join(stale)})" if stale else ""))
    atomic_write_text(args.out, to_csv(rows, info))
    print(f"wrote {args.out}")
    if fresh_dir is not None:
        fresh_dir.cleanup()
    bad = [r for r in rows if r.check and ("DIFFERS" in r.check or r.check.startswith("rc="))]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
