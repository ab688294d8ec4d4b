"""``python -m analysis.sweep``: the command line (flags replace the spec file's values)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from analysis.sweep.runner import run_sweep
from analysis.sweep.runs import check_runs, expand
from analysis.sweep.spec import RUN_KEYS, SweepSpec, load_spec_file, parse_spec
from analysis.sweep.state import evaluated_steps, run_state
from common.cli import OneLineParser, UsageError
from deep.registry import METHODS
from deep.train import env_arg_value

__all__ = ["DESCRIPTION", "main"]

DESCRIPTION = (
    "One sweep of training runs, methods × envs × settings × seeds: resumable, local or on Ray."
)


def _int_arg(text: str) -> int:
    try:
        return int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None


def _float_arg(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number >= 0")
    return value


def _parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="python -m analysis.sweep", description=DESCRIPTION)
    p.add_argument("spec", nargs="?", default=None, help="sweep file (.json or .toml)")
    g = p.add_argument_group("sweep (replace the file's values)")
    g.add_argument("--name", default=None, help="sweep name (default: the file's stem)")
    g.add_argument("--methods", default=None, help=f"comma list of {', '.join(METHODS)}")
    g.add_argument(
        "--envs",
        default=None,
        help="comma list: labels of the file's env entries (kept with their env kwargs) "
        "or benchmark names",
    )
    g.add_argument("--seeds", default=None, help="0..2 or 0,1,2")
    g.add_argument(
        "--setting",
        action="append",
        default=None,
        metavar="NAME[:KEY=VALUE,...]",
        help="a named setting, e.g. lambda3:bottleneck_weight=3 (repeat for more)",
    )
    g.add_argument(
        "--method-arg",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="method config field for every run",
    )
    g.add_argument(
        "--env-arg",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="benchmark config entry for every env (integers are read as numbers)",
    )
    g.add_argument("--variant", default=None, help="benchmark variant for every env")
    g.add_argument(
        "--splits", default=None, help="rows kept: test, train_eval and/or train, comma-separated"
    )
    for key in RUN_KEYS:
        kind: Any = str if key in ("preset", "device") else _int_arg
        if key == "eval_splits":
            kind = lambda text: [x.strip() for x in text.split(",")]  # noqa: E731
        g.add_argument("--" + key.replace("_", "-"), type=kind, default=None)
    e = p.add_argument_group("execution (not part of the sweep's results)")
    e.add_argument("--out", default=None, help="output directory (default runs/sweeps/<name>)")
    e.add_argument(
        "--workers",
        type=_int_arg,
        default=None,
        help="worker processes (default: CPU count; 0: in this process) or local Ray CPUs",
    )
    e.add_argument(
        "--ray",
        default=None,
        metavar="ADDRESS",
        help="run as Ray tasks: local (start an instance), auto or ray://host:port",
    )
    e.add_argument("--gpus-per-run", type=_float_arg, default=None, help="Ray GPUs per run")
    e.add_argument("--dry-run", action="store_true", help="list the runs and what each needs")
    e.add_argument("--no-progress", action="store_true")
    return p


def _pairs(flag: str, items: Sequence[str], allowed: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise UsageError.for_flag(flag, item, allowed)
        out[key] = value
    return out


def _cli_settings(items: Sequence[str]) -> dict[str, dict[str, str]]:
    allowed = "allowed: NAME or NAME:KEY=VALUE[,KEY=VALUE...]"
    out: dict[str, dict[str, str]] = {}
    for item in items:
        name, _, body = item.partition(":")
        if name in out:
            raise UsageError.for_flag("--setting", item, f"{allowed}, names distinct")
        pairs = [p for p in body.split(",") if p] if body else []
        out[name] = _pairs("--setting", pairs, allowed) if pairs else {}
    return out


def _spec_data(args: argparse.Namespace) -> tuple[dict[str, Any], str, str, dict[str, str]]:
    """Raw spec data (file, then flags), its source, default name, and key → flag."""
    data: dict[str, Any] = {}
    source, default_name = "command line", "sweep"
    if args.spec is not None:
        data = load_spec_file(args.spec)
        source, default_name = str(args.spec), Path(args.spec).stem
    flags: dict[str, str] = {}

    def put(key: str, value: Any, flag: str) -> None:
        data[key] = value
        flags[key] = flag

    for key, flag in (("methods", "--methods"), ("envs", "--envs"), ("splits", "--splits")):
        text = getattr(args, key)
        if text is not None:
            items = [item.strip() for item in text.split(",") if item.strip()]
            put(key, _select_envs(data.get("envs"), items) if key == "envs" else items, flag)
    if args.seeds is not None:
        put("seeds", args.seeds, "--seeds")
    if args.name is not None:
        put("name", args.name, "--name")
    if args.setting is not None:
        put("settings", _cli_settings(args.setting), "--setting")
    if args.method_arg:
        base = data.get("method_args", {})
        extra = _pairs("--method-arg", args.method_arg, "allowed: KEY=VALUE")
        put("method_args", {**(base if isinstance(base, dict) else {}), **extra}, "--method-arg")
    for key in RUN_KEYS:
        value = getattr(args, key)
        if value is not None:
            put(key, value, "--" + key.replace("_", "-"))
    _cli_env_changes(data, args.env_arg, args.variant)
    return data, source, default_name, flags


def _select_envs(spec_envs: Any, names: Sequence[str]) -> list[Any]:
    """The env entries ``--envs`` names.

    Each name is the label of one of the file's env entries (kept whole, with its variant and
    env kwargs) or, failing that, a benchmark name with its defaults.
    """
    entries = spec_envs if isinstance(spec_envs, list) else []
    by_label: dict[str, Any] = {}
    for item in entries:
        if isinstance(item, str):
            by_label.setdefault(item, item)
        elif isinstance(item, dict) and isinstance(item.get("label", item.get("env")), str):
            by_label.setdefault(item.get("label", item.get("env")), item)
    return [by_label.get(name, name) for name in names]


def _cli_env_changes(data: dict[str, Any], env_args: Sequence[str], variant: str | None) -> None:
    """Apply ``--env-arg`` and ``--variant`` to every env entry of ``data``."""
    pairs = _pairs("--env-arg", env_args, "allowed: KEY=VALUE")
    env_kwargs: dict[str, Any] = {key: env_arg_value(text) for key, text in pairs.items()}
    if not (env_kwargs or variant is not None) or not isinstance(data.get("envs"), list):
        return
    entries = []
    for item in data["envs"]:
        entry = dict(item) if isinstance(item, dict) else {"env": item}
        if env_kwargs:
            old = entry.get("env_kwargs")
            entry["env_kwargs"] = {**(old if isinstance(old, dict) else {}), **env_kwargs}
        if variant is not None:
            entry["variant"] = variant
        entries.append(entry)
    data["envs"] = entries


def _dry_run_lines(spec: SweepSpec, out: Path) -> list[str]:
    """One tab-separated line per run: state, run dir[, env steps done] (all checked first)."""
    lines = []
    for run in expand(spec):
        state = run_state(out / run.path, run.config)
        done = evaluated_steps(out / run.path) if state == "resume" else None
        extra = "" if done is None else f"\t{done:,} of {run.config.steps:,} env steps"
        lines.append(f"{state}\t{out / run.path}{extra}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; returns the exit status (0 done, 1 a run failed, 2 bad input, 130)."""
    try:
        args = _parser().parse_args(argv)
        if args.workers is not None and args.workers < 0:
            raise UsageError.for_flag("--workers", args.workers, "allowed: integers >= 0")
        if args.workers == 0 and args.ray is not None:
            raise UsageError.for_flag("--workers", 0, "allowed with --ray: integers >= 1")
        data, source, default_name, flags = _spec_data(args)
        spec = parse_spec(data, source, default_name=default_name, flags=flags)
        check_runs(spec, source)
        out = Path(args.out) if args.out else Path("runs") / "sweeps" / spec.name
        if args.dry_run:
            print("\n".join(_dry_run_lines(spec, out)))
            return 0
        report = run_sweep(
            spec,
            out,
            workers=args.workers,
            ray_address=args.ray,
            gpus_per_run=args.gpus_per_run,
            progress=not args.no_progress,
        )
    except UsageError as err:
        print(err.line(), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: rerun the same command to continue", file=sys.stderr)
        return 130
    if report.interrupted:
        print(
            f"interrupted: {report.count('interrupted')} run(s) stopped, each resumes from its "
            "last checkpoint; rerun the same command to continue",
            file=sys.stderr,
        )
    print(json.dumps({"out": str(out), **report.summary()}))
    return report.exit_code
