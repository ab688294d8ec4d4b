"""Running a sweep's runs: one run here, and the executors (inline, process pool, Ray).

A run is a task ``(asdict(RunConfig), run_dir)``; :func:`execute` trains, resumes or skips it
and returns its :class:`Outcome` (never raises). An executor calls ``on_done`` once per task and
returns whether the sweep was interrupted (Ctrl-C / SIGTERM): running trainers then checkpoint
at their next wave and queued runs are cancelled.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analysis.sweep.runs import one_line
from analysis.sweep.state import run_state
from common.cli import UsageError
from deep.train import RunConfig, StopRequested, Trainer

__all__ = ["OnDone", "Outcome", "Task", "execute", "run_inline", "run_pool", "run_ray"]


@dataclass(frozen=True)
class Outcome:
    """What became of one run: trained, resumed, skipped, failed, interrupted or cancelled."""

    path: str
    status: str
    error: str = ""


_STOP: Any = None
"""The pool's stop event in a worker process (None elsewhere)."""


def _init_worker(stop: Any) -> None:
    """Pool worker set-up: the stop event; Ctrl-C reaches only a running trainer's handler."""
    global _STOP
    _STOP = stop
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextmanager
def _stop_watch(trainer: Trainer) -> Iterator[None]:
    """Ask ``trainer`` to stop (checkpoint at its next wave) once the pool's stop event is set."""
    if _STOP is None:
        yield
        return
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            if _STOP.wait(0.2):
                trainer.stop_requested = True
                return

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def execute(config: Mapping[str, Any], run_dir: str) -> Outcome:
    """Train, resume or skip one run in this process (what a pool worker or Ray task runs)."""
    out = Path(run_dir)
    trainer: Trainer | None = None
    try:
        cfg = RunConfig(**config)
        state = run_state(out, cfg)
        if state == "finished":
            return Outcome(run_dir, "skipped")
        if _STOP is not None and _STOP.is_set():
            return Outcome(run_dir, "cancelled")
        if state == "resume":
            trainer = Trainer.resume(out, progress=False, steps=cfg.steps)
        else:
            trainer = Trainer(cfg, out, progress=False)
        with _stop_watch(trainer):
            trainer.run()
        return Outcome(run_dir, "resumed" if state == "resume" else "trained")
    except StopRequested:
        return Outcome(run_dir, "interrupted", "checkpoint written")
    except Exception as err:
        message = one_line(err)
        if isinstance(err, FloatingPointError) and trainer is not None:
            usable = trainer.checkpoint_path.is_file()
            message += "; the last checkpoint is usable" if usable else "; no checkpoint written"
        return Outcome(run_dir, "failed", message)


Task = tuple[dict[str, Any], str]
OnDone = Callable[[Outcome], None]


def run_inline(tasks: Sequence[Task], on_done: OnDone) -> bool:
    """One run after another in this process; returns whether the sweep was interrupted."""
    for i, (config, run_dir) in enumerate(tasks):
        outcome = execute(config, run_dir)
        on_done(outcome)
        if outcome.status == "interrupted":
            for _, rest in tasks[i + 1 :]:
                on_done(Outcome(rest, "cancelled"))
            return True
    return False


def _future_outcome(future: Future[Outcome], run_dir: str) -> Outcome:
    if future.cancelled():
        return Outcome(run_dir, "cancelled")
    try:
        return future.result()
    except Exception as err:  # a worker that died (BrokenProcessPool) or failed to unpickle
        return Outcome(run_dir, "failed", one_line(err))


def run_pool(tasks: Sequence[Task], workers: int, on_done: OnDone) -> bool:
    """A spawn-context process pool; returns whether the sweep was interrupted."""
    ctx = multiprocessing.get_context("spawn")
    stop = ctx.Event()
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=ctx, initializer=_init_worker, initargs=(stop,)
    ) as pool:
        futures: dict[Future[Outcome], str] = {}
        reported: set[Future[Outcome]] = set()

        def report(future: Future[Outcome]) -> None:
            reported.add(future)
            on_done(_future_outcome(future, futures[future]))

        try:
            for config, run_dir in tasks:
                futures[pool.submit(execute, config, run_dir)] = run_dir
            pending = set(futures)
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in sorted(done, key=lambda f: futures[f]):
                    report(future)
        except KeyboardInterrupt:
            stop.set()  # running trainers checkpoint at their next wave; queued runs skip
            left = [f for f in futures if f not in reported]
            for future in left:
                future.cancel()
            for future in left:  # waits for the running ones
                report(future)
            return True
    return False


def run_ray(
    tasks: Sequence[Task], address: str, workers: int | None, gpus: float, on_done: OnDone
) -> bool:
    """Ray tasks of one CPU each; returns whether the sweep was interrupted."""
    try:
        import ray
    except ImportError:
        raise UsageError.for_flag(
            "--ray", address, "ray is not installed (pip install 'dream-metarl[sweep]')"
        ) from None
    started = not ray.is_initialized()
    if started:
        kwargs: dict[str, Any] = {"logging_level": logging.WARNING}
        if address == "local":
            kwargs |= {"num_cpus": workers, "include_dashboard": False}
        try:
            ray.init(address=address, **kwargs)
        except (ConnectionError, ValueError, RuntimeError) as err:
            raise UsageError.for_flag(
                "--ray", address, f"cannot start or join Ray ({err})"
            ) from None
        if threading.current_thread() is threading.main_thread():
            # ray.init installs a SIGTERM handler that ends the driver at once: stop as on Ctrl-C
            signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        remote = ray.remote(num_cpus=1, num_gpus=gpus, max_retries=0)(execute)
        refs: dict[Any, str] = {}
        reported: set[Any] = set()
        try:
            for config, run_dir in tasks:
                refs[remote.remote(config, run_dir)] = run_dir
            pending = list(refs)
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for ref in done:
                    reported.add(ref)
                    on_done(_ray_outcome(ray, ref, refs[ref]))
        except KeyboardInterrupt:
            left = [ref for ref in refs if ref not in reported]
            for ref in left:
                ray.cancel(ref)
            for ref in left:
                on_done(_ray_outcome(ray, ref, refs[ref]))
            return True
        return False
    finally:
        if started:
            ray.shutdown()


def _ray_outcome(ray: Any, ref: Any, run_dir: str) -> Outcome:
    try:
        return ray.get(ref)
    except ray.exceptions.TaskCancelledError:
        return Outcome(run_dir, "interrupted", "cancelled; its last checkpoint is kept")
    except Exception as err:  # the worker died, or Ray failed
        return Outcome(run_dir, "failed", one_line(err))
