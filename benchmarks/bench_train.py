"""Training speed of neural DREAM on this machine, and what bounds it (not a timed test).

``python benchmarks/bench_train.py [--env distracting_bus] [--baseline d925754] [--steps 12000]``

Every figure is a ratio against a baseline measured in the same invocation (machines here are
noisy; absolute times drift):

1. **One update** (App. B.4: batch 32, both agents updating), at one torch thread:
   FLOPs per update from ``torch.utils.flop_counter`` plus the oneDNN LSTM's matmuls (a formula
   registered here: 8·H·(I + H) per step and row forward, twice that backward), the matmul
   peak of this core *at the update's own shapes* (every mm/addmm/bmm shape the update
   dispatches, timed alone in fp32), milliseconds per update, achieved GFLOP/s and its
   fraction of that peak; and bf16 autocast (``--method-arg autocast_bf16=true``) against fp32.
2. **Threads**: the update at 1 and 2 torch threads, on an idle machine and with a second
   process keeping the other core busy (how a sweep loads it).
3. **Every method**: one ``update()`` of each registered method (its paper config, replay
   minima lowered) as the ratio to DREAM's, timed in the same process.
4. **End to end against ``--baseline``** (a git revision, checked out into a temporary
   worktree): ``python -m deep.train`` on ``--env`` with both agents updating from the start
   (replay minima lowered to 32 trials), (a) two runs at the same time at default flags, as
   a sweep or a user running two seeds uses a 2-core machine, and (b) one run at
   ``--threads 1``; wall seconds of each and the ratio baseline / this tree.

Prints the table and writes ``benchmarks/results/bench_train.csv`` (atomically).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common.cli import run_main  # noqa: E402
from common.io import environment, write_csv  # noqa: E402
from deep.registry import METHODS  # noqa: E402
from deep.train import RunConfig, Trainer  # noqa: E402

aten = torch.ops.aten
MINIMA = {"min_explore_replay": "32", "min_exploit_replay": "32"}
"""Both agents update from 32 stored trials (the paper's minima are 8000 and 500), so an
end-to-end run is updates from its third wave on."""


# ----------------------------------------------------------------------------- FLOPs
def _lstm_forward_flops(input_shape, w_ih_shape, w_hh_shape, *args, out_shape=None, **kw) -> int:
    """2·(4H·I + 4H·H) per step and row: the gate matmuls of one LSTM layer."""
    steps_rows = input_shape[0] * input_shape[1]
    return 2 * steps_rows * w_ih_shape[0] * (w_ih_shape[1] + w_hh_shape[1])


def _lstm_backward_flops(input_shape, w_ih_shape, w_hh_shape, *args, out_shape=None, **kw) -> int:
    """Twice the forward: the gradients of the inputs and of the weights."""
    return 2 * _lstm_forward_flops(input_shape, w_ih_shape, w_hh_shape)


LSTM_FORMULAS = {
    aten.mkldnn_rnn_layer: _lstm_forward_flops,
    aten.mkldnn_rnn_layer_backward: _lstm_backward_flops,
}


class MatmulShapes(TorchDispatchMode):
    """Records the (m, k, n, batch) of every fp32 matmul an update dispatches."""

    def __init__(self) -> None:
        super().__init__()
        self.shapes: Counter[tuple[int, int, int, int]] = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func in (aten.mm.default, aten.addmm.default):
            a, b = args[-2], args[-1]
            self.shapes[(a.shape[0], a.shape[1], b.shape[1], 1)] += 1
        elif func in (aten.bmm.default, aten.baddbmm.default):
            a, b = args[-2], args[-1]
            self.shapes[(a.shape[1], a.shape[2], b.shape[2], a.shape[0])] += 1
        return func(*args, **(kwargs or {}))


def matmul_peak(shapes: Counter[tuple[int, int, int, int]], seconds: float = 2.0) -> float:
    """GFLOP/s of plain fp32 matmuls of these shapes, in the update's proportions."""
    tensors = {s: (torch.randn(s[3], s[0], s[1]), torch.randn(s[3], s[1], s[2])) for s in shapes}

    def once() -> None:
        for s, count in shapes.items():
            a, b = tensors[s]
            for _ in range(count):
                torch.bmm(a, b) if s[3] > 1 else torch.mm(a[0], b[0])

    flops = sum(2 * m * k * n * bt * c for (m, k, n, bt), c in shapes.items())
    return flops / _seconds_per_call(once, seconds) / 1e9


def _seconds_per_call(fn: Callable[[], object], budget: float) -> float:
    fn()
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < budget or calls < 5:
        fn()
        calls += 1
    return (time.perf_counter() - start) / calls


# ----------------------------------------------------------------------------- one update
def ready_trainer(
    env: str, threads: int, method_args: dict[str, str], tmp: str, method: str = "dream"
) -> Trainer:
    """A trainer whose replay holds enough trials for every component to update."""
    fields = {f.name for f in dataclasses.fields(METHODS[method].default_config())}
    minima = {k: v for k, v in {**MINIMA, "min_replay": "32"}.items() if k in fields}
    config = RunConfig(
        env=env,
        method=method,
        steps=10**9,
        eval_every=10**9,
        threads=threads,
        method_args={**minima, **method_args},
    )
    trainer = Trainer(config, tmp, progress=False)
    learner = trainer.method
    real_update = learner.update
    learner.update = lambda: {}  # type: ignore[method-assign]
    while len(learner.replay) < 256:
        trainer._wave()
    learner.update = real_update  # type: ignore[method-assign]
    return trainer


def update_numbers(env: str, seconds: float) -> dict[str, float]:
    """FLOPs, peak, ms per update (fp32 and bf16 autocast) at one torch thread."""
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        learner = ready_trainer(env, 1, {}, tmp).method
        counter = FlopCounterMode(display=False, custom_mapping=LSTM_FORMULAS)
        with counter:
            learner.update()
        total = counter.get_total_flops()
        lstm = sum(v for op, v in counter.get_flop_counts()["Global"].items() if "rnn" in str(op))
        shapes = MatmulShapes()
        with shapes:
            learner.update()
        fp32 = _seconds_per_call(learner.update, seconds)
    with tempfile.TemporaryDirectory() as tmp:
        bf16_learner = ready_trainer(env, 1, {"autocast_bf16": "true"}, tmp).method
        bf16 = _seconds_per_call(bf16_learner.update, seconds)
    peak = matmul_peak(shapes.shapes, seconds)
    achieved = total / fp32 / 1e9
    return {
        "update GFLOP (all)": total / 1e9,
        "update GFLOP (LSTM, oneDNN)": lstm / 1e9,
        "matmul peak at the update's shapes (GFLOP/s, fp32, 1 thread)": peak,
        "update ms (fp32, 1 thread)": fp32 * 1e3,
        "update GFLOP/s achieved": achieved,
        "fraction of the matmul peak": achieved / peak,
        "compute floor ms (GFLOP / peak)": total / 1e9 / peak * 1e3,
        "env steps/s bound by updates (1 per 4 steps)": 4 / fp32,
        "bf16 autocast speed-up (fp32 ms / bf16 ms)": fp32 / bf16,
    }


_LOAD = "import torch\ntorch.set_num_threads(1)\na = torch.randn(512, 512)\nwhile True: a @ a\n"


def thread_numbers(env: str, seconds: float) -> dict[str, float]:
    """Update ms at 1 and 2 threads, idle and with the other core busy."""
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        learner = ready_trainer(env, 1, {}, tmp).method
        for loaded in (False, True):
            load = subprocess.Popen([sys.executable, "-c", _LOAD]) if loaded else None
            try:
                times = {}
                for threads in (1, 2):
                    torch.set_num_threads(threads)
                    times[threads] = _seconds_per_call(learner.update, seconds)
            finally:
                if load is not None:
                    load.kill()
                    load.wait()
            tag = "loaded" if loaded else "idle"
            out[f"update ms, 1 thread, {tag}"] = times[1] * 1e3
            out[f"update ms, 2 threads, {tag}"] = times[2] * 1e3
            out[f"1-thread speed-up over 2 threads, {tag}"] = times[2] / times[1]
    torch.set_num_threads(1)
    return out


def method_numbers(env: str, seconds: float) -> dict[str, float]:
    """One update of every registered method, as the ratio to DREAM's (1 thread)."""
    torch.set_num_threads(1)
    ms = {}
    for method in METHODS:
        with tempfile.TemporaryDirectory() as tmp:
            learner = ready_trainer(env, 1, {}, tmp, method).method
            ms[method] = _seconds_per_call(learner.update, seconds) * 1e3
    return {
        f"update of {m} / DREAM's ({ms['dream']:.1f} ms)": v / ms["dream"] for m, v in ms.items()
    }


# ----------------------------------------------------------------------------- end to end
def _train_cmd(env: str, steps: int, seed: int, out: Path, extra: list[str]) -> list[str]:
    args = ["--env", env, "--steps", str(steps), "--seed", str(seed), "--eval-every", "100000"]
    for key, value in MINIMA.items():
        args += ["--method-arg", f"{key}={value}"]
    return [sys.executable, "-m", "deep.train", *args, "--no-progress", "--out", str(out), *extra]


def wall_of(tree: Path, commands: list[list[str]]) -> float:
    """Seconds until every command, started together in ``tree``, has finished."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    start = time.perf_counter()
    procs = [
        subprocess.Popen(c, cwd=tree, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for c in commands
    ]
    for p in procs:
        _, err = p.communicate()
        if p.returncode != 0:
            raise RuntimeError(f"{' '.join(commands[0][:4])} in {tree}: {err.decode()[-500:]}")
    return time.perf_counter() - start


def end_to_end(env: str, steps: int, baseline: str) -> dict[str, float]:
    """Wall seconds of (a) two runs at default flags and (b) one at --threads 1, both trees."""
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "baseline"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(base), baseline],
            check=True,
        )
        try:
            for tree, tag in ((base, "baseline"), (ROOT, "this tree")):
                runs = Path(tmp) / tag.replace(" ", "_")
                pair = [_train_cmd(env, steps, s, runs / f"pair{s}", []) for s in (0, 1)]
                out[f"two runs at default flags, {tag} (s)"] = wall_of(tree, pair)
                one = [_train_cmd(env, steps, 0, runs / "one", ["--threads", "1"])]
                out[f"one run at --threads 1, {tag} (s)"] = wall_of(tree, one)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)])
    for what in ("two runs at default flags", "one run at --threads 1"):
        out[f"{what}: speed-up over {baseline}"] = (
            out[f"{what}, baseline (s)"] / out[f"{what}, this tree (s)"]
        )
    return out


def main() -> int:
    """Run the benchmark; returns the exit status."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--env", default="distracting_bus")
    p.add_argument("--steps", type=int, default=12_000, help="env steps of each end-to-end run")
    p.add_argument("--baseline", default="d925754", help="git revision to compare against")
    p.add_argument("--seconds", type=float, default=3.0, help="timing budget per figure")
    p.add_argument("--skip", default="", help="comma list of: update, threads, methods, end_to_end")
    p.add_argument("--out", default=str(ROOT / "benchmarks/results/bench_train.csv"))
    args = p.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    numbers: dict[str, float] = {}
    if "update" not in skip:
        numbers.update(update_numbers(args.env, args.seconds))
    if "threads" not in skip:
        numbers.update(thread_numbers(args.env, args.seconds))
    if "methods" not in skip:
        numbers.update(method_numbers(args.env, args.seconds))
    if "end_to_end" not in skip:
        numbers.update(end_to_end(args.env, args.steps, args.baseline))
    table = pd.DataFrame({"figure": list(numbers), "value": list(numbers.values())})
    print(f"env {args.env}, DREAM paper config, batch 32, {os.cpu_count()} CPUs")
    print(table.to_string(index=False, float_format=lambda v: f"{v:,.3f}"))
    header = {
        "benchmark": "bench_train",
        "env": args.env,
        "baseline": args.baseline,
        "steps": args.steps,
        "torch_version": torch.__version__,
        **environment(),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_csv(args.out, table, header)
    return 0


if __name__ == "__main__":
    raise SystemExit(run_main(main))
