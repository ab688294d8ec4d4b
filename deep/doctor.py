"""Check that this machine can run the 3D sign benchmark: ``python -m deep.doctor``.

Prints one line each: the versions of Python and the packages the envs use, which OpenGL
backend renders MiniWorld (headless EGL, with the GL vendor and renderer), whether ``xvfb-run``
(the fallback) is on the PATH, and the speed of the sign env (steps per second over 200 random
steps, resets included). Exit status 0 if rendering works, 1 otherwise, with a one-line reason.

The rendering probe runs in a child process: a broken GL stack can kill a process outright,
and the probe should not leave a GL context in this one.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from importlib import metadata

from common.cli import OneLineParser, UsageError, run_main

__all__ = ["main", "probe_rendering"]

PACKAGES = ("numpy", "torch", "gymnasium", "miniworld", "pyglet")
PROBE_STEPS = 200
PROBE_TIMEOUT_S = 180

_PROBE = """
import json, sys, time
from deep.envs import _headless
_headless.configure()
import numpy as np
from deep.envs.sign import SignEnv
env = SignEnv()
from pyglet.gl import gl_info
env.reset(seed=0)
actions = np.random.default_rng(0).integers(0, 4, size=int(sys.argv[1]))
start = time.perf_counter()
for a in actions:
    _, _, terminated, truncated, _ = env.step(int(a))
    if terminated or truncated:
        env.reset()
seconds = time.perf_counter() - start
print(json.dumps({
    "vendor": gl_info.get_vendor(), "renderer": gl_info.get_renderer(),
    "version": gl_info.get_version(), "steps": len(actions), "seconds": seconds,
}))
"""


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _reason(stderr: str, returncode: int) -> str:
    """The last line of a traceback (``Type: message``), or how the process died."""
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    if returncode < 0:
        detail = f" ({lines[-1]})" if lines else ""
        return f"the probe was killed by signal {-returncode}{detail}"
    return lines[-1] if lines else f"the probe exited with status {returncode}"


def probe_rendering(steps: int = PROBE_STEPS) -> dict[str, object]:
    """Run the sign env in a child process; ``{"ok": bool, ...}`` with GL facts or a reason."""
    env = dict(os.environ)
    env.setdefault("PYGLET_HEADLESS", "True")
    env.setdefault("LP_NUM_THREADS", "0")
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _PROBE, str(steps)],
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT_S,
            env=env,
        )
    except subprocess.TimeoutExpired:
        return {"ok": False, "reason": f"the rendering probe took over {PROBE_TIMEOUT_S} s"}
    if proc.returncode != 0:
        return {"ok": False, "reason": _reason(proc.stderr, proc.returncode)}
    try:
        facts = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        return {"ok": False, "reason": f"unexpected probe output: {proc.stdout.strip()[:200]!r}"}
    return {"ok": True, **facts}


def main(argv: list[str] | None = None) -> int:
    """Print the report; return the exit status (``--help``: what it checks, and nothing run)."""
    parser = OneLineParser(
        prog="python -m deep.doctor",
        description=__doc__.split("\n\n")[0] + " " + __doc__.split("\n\n")[1],
    )
    try:
        parser.parse_args(argv)
    except UsageError as err:
        print(err.line(), file=sys.stderr)
        return 2
    print(f"python: {platform.python_version()} ({sys.executable})")
    for package in PACKAGES:
        print(f"{package}: {_version(package)}")
    xvfb = shutil.which("xvfb-run")
    headless = os.environ.get("PYGLET_HEADLESS", "True").lower() in ("1", "true", "yes")
    backend = "headless EGL" if headless else f"X display {os.environ.get('DISPLAY')!r}"
    xvfb_line = (
        f"xvfb-run: {xvfb}"
        if xvfb
        else "xvfb-run: not on PATH (fallback only; Debian: apt-get install xvfb xauth)"
    )
    if _version("miniworld") == "not installed":
        print("rendering: not tried")
        print(xvfb_line)
        print("FAIL: miniworld is not installed (pip install miniworld==2.1.0)")
        return 1
    result = probe_rendering()
    if not result["ok"]:
        print(f"rendering: {backend} FAILED: {result['reason']}")
        print(xvfb_line)
        hint = "run under `xvfb-run -a`" if xvfb else "install xvfb and run under `xvfb-run -a`"
        hint += " or install libegl1 libegl-mesa0 libgl1 libgl1-mesa-dri libglu1-mesa"
        print(f"FAIL: MiniWorld cannot render ({backend}); {hint}")
        return 1
    print(
        f"rendering: {backend} OK; GL vendor {result['vendor']!r}, "
        f"renderer {result['renderer']!r}, version {result['version']!r}"
    )
    print(xvfb_line)
    steps, seconds = int(str(result["steps"])), float(str(result["seconds"]))
    print(f"sign env: {steps} random steps (80x60, resets included): {steps / seconds:.0f} steps/s")
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
