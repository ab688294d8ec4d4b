"""One sweep from start to end: lock ``--out``, check every run directory, execute, gather."""

from __future__ import annotations

import fcntl
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from analysis.sweep.executors import Outcome, run_inline, run_pool, run_ray
from analysis.sweep.runs import expand
from analysis.sweep.spec import SweepSpec
from analysis.sweep.state import run_state
from analysis.sweep.tables import collect, run_metrics, sweep_header, sweep_json
from common.cli import UsageError
from common.io import UnwritableOutput, atomic_write_bytes, csv_text

__all__ = ["SweepReport", "run_sweep"]


def _write_if_changed(path: Path, data: bytes) -> bool:
    """Atomically write ``data`` unless ``path`` already holds exactly these bytes."""
    try:
        if path.is_file() and path.read_bytes() == data:
            return False
        atomic_write_bytes(path, data)
    except OSError as err:  # (a folder that cannot be written raises UnwritableOutput itself)
        raise UnwritableOutput.at(path, err) from None
    return True


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
    try:
        handle = open(out / ".sweep.lock", "a")
    except OSError as err:
        raise UnwritableOutput.at(out, err) from None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError.for_flag("--out", out, "another sweep is running there") from None
        except OSError as err:  # a file system without locks (EINVAL, ENOLCK)
            raise UnwritableOutput(f"{out}: cannot lock .sweep.lock ({err.strerror})") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def _signals_as_interrupt() -> Iterator[None]:
    """SIGINT and SIGTERM stop the sweep the way Ctrl-C does (main thread only).

    SIGINT is set explicitly: a process started in the background by a non-interactive shell
    (``cmd &`` in a script) inherits SIGINT ignored, and Python then installs no handler, so
    ``kill -INT`` on the sweep would do nothing while its workers trained on.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signals = (signal.SIGINT, signal.SIGTERM)
    old = {s: signal.signal(s, signal.default_int_handler) for s in signals}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


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
    another run or a damaged file (:class:`common.io.DamagedFile`, left as it is), and
    :class:`common.io.UnwritableOutput` if ``out`` cannot be written.
    """
    out = Path(out).resolve()
    runs = expand(spec)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UnwritableOutput.at(out, err) from None
    with _lock(out):
        states = {run.path: run_state(out / run.path, run.config) for run in runs}
        for run in runs:  # a damaged metrics.csv stops the sweep now, not after training
            if states[run.path] != "new" and (out / run.path / "metrics.csv").is_file():
                run_metrics(out / run.path)
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
            with _signals_as_interrupt():
                if not tasks:
                    pass
                elif ray_address is not None:
                    gpus = gpus_per_run
                    if gpus is None:
                        gpus = 1.0 if spec.device.startswith("cuda") else 0.0
                    report.interrupted = run_ray(tasks, ray_address, workers, gpus, on_done)
                elif workers == 0:
                    report.interrupted = run_inline(tasks, on_done)
                else:
                    n = min(workers or os.cpu_count() or 1, len(tasks))
                    report.interrupted = run_pool(tasks, n, on_done)
        finally:
            bar.close()
        table = collect(spec, runs, out)
        report.rows = len(table)
        _write_if_changed(out / "runs.csv", csv_text(table, sweep_header(spec)).encode("utf-8"))
    return report
